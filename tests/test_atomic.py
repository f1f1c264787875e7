"""Atomic writes: a failure mid-write leaves the old file untouched and no temp files behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganforge.atomic import write_atomic, write_text_atomic


def test_failed_write_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    write_text_atomic(target, "old")

    def broken(temp: Path) -> None:
        temp.write_text("half")
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        write_atomic(target, broken)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_write_replaces_and_creates_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.txt"
    write_text_atomic(target, "1")
    write_text_atomic(target, "2")
    assert target.read_text() == "2"
