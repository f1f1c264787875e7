"""A small schema language for what is read back from a run folder (state.json, generator.json, metrics.jsonl).

Files written by ganforge always match; a file damaged by a crash, a disk fault or a hand edit is refused in
one line naming the file, the field and what was expected, before any of it reaches torch or numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganforge.errors import CheckpointError


class Mismatch(Exception):
    def __init__(self, where: str, value: Any, expected: str) -> None:
        super().__init__(where)
        self.where, self.value, self.expected = where, value, expected


class Schema:
    expected = "a value"

    def check(self, value: Any, where: str) -> None:
        if not self.accepts(value):
            raise Mismatch(where, value, self.expected)

    def accepts(self, value: Any) -> bool:
        return True


@dataclass
class Int(Schema):
    min: int | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        return "an integer" + (f" >= {self.min}" if self.min is not None else "")

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and (self.min is None or value >= self.min)


class Float(Schema):
    expected = "a finite number"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Str(Schema):
    expected = "a string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)


class Bool(Schema):
    expected = "true or false"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class Choice(Schema):
    def __init__(self, *values: Any) -> None:
        self.values = values
        self.expected = "one of " + ", ".join(repr(v) for v in values)

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)


@dataclass
class Nullable(Schema):
    inner: Schema

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"{self.inner.expected} or null"

    def check(self, value: Any, where: str) -> None:
        if value is not None:
            self.inner.check(value, where)


@dataclass
class ListOf(Schema):
    expected = "a list"
    item: Schema
    length: int | None = None

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, list) or (self.length is not None and len(value) != self.length):
            size = f" of {self.length} items" if self.length is not None else ""
            raise Mismatch(where, value, f"a list{size}")
        for i, item in enumerate(value):
            self.item.check(item, f"{where}[{i}]")


class Tuple(Schema):
    expected = "a list"

    def __init__(self, *items: Schema) -> None:
        self.items = items

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, list) or len(value) != len(self.items):
            raise Mismatch(where, value, f"a list of {len(self.items)} items")
        for i, (item, schema) in enumerate(zip(value, self.items, strict=True)):
            schema.check(item, f"{where}[{i}]")


@dataclass
class MapOf(Schema):
    expected = "an object"
    value: Schema = field(default_factory=Schema)

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise Mismatch(where, value, "an object")
        for key, item in value.items():
            self.value.check(item, f"{where}.{key}" if where else str(key))


@dataclass
class Fields(Schema):
    """An object with these required fields (and these optional ones); other keys are allowed."""

    expected = "an object"

    required: dict[str, Schema]
    optional: dict[str, Schema] = field(default_factory=dict)

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise Mismatch(where, value, "an object")
        for name, schema in self.required.items():
            inner = f"{where}.{name}" if where else name
            if name not in value:
                raise Mismatch(inner, None, f"{schema.expected} (the field is missing)")
            schema.check(value[name], inner)
        for name, schema in self.optional.items():
            if name in value:
                schema.check(value[name], f"{where}.{name}" if where else name)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate(value: Any, schema: Schema, path: Path, fix: str) -> None:
    """Raise CheckpointError naming `path`, the field and what was expected, if `value` does not fit."""
    try:
        schema.check(value, "")
    except Mismatch as bad:
        if bad.where:
            found = "missing" if bad.value is None and "missing" in bad.expected else _shown(bad.value)
            detail = f"field '{bad.where}' is {found}; expected {bad.expected.replace(' (the field is missing)', '')}"
        else:
            detail = f"it holds {_shown(bad.value)}; expected {bad.expected}"
        raise CheckpointError(f"'{path}' is damaged: {detail}; {fix}") from None
