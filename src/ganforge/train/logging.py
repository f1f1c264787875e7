"""One collector for named scalars: averages them per log interval into metrics.jsonl and the progress bar.

Phases report 0-d tensors; they stay on the device until a periodic event (log, sample grid, evaluation,
checkpoint) needs them, so a step costs no host sync. At that point every pending value is checked: the
first NaN or infinity is reported with its step and name, and the trainer stops before writing anything.

With a sink (train.tensorboard), every record written and every warning also goes to TensorBoard, from this
one place: its scalars are metrics.jsonl's values at metrics.jsonl's steps.

metrics.jsonl is strict JSON: a non-finite number is written as null and named in the record's
"nonfinite" field ({"D/loss": "inf"}); `read_metrics` restores it.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from tqdm import tqdm

from ganforge.atomic import write_atomic
from ganforge.console import warn
from ganforge.errors import CheckpointError

if TYPE_CHECKING:
    from ganforge.train.tensorboard import TensorBoardSink

BAR_FIELDS = (("D/loss", "D"), ("G/loss", "G"), ("D/real", "D(x)"), ("D/fake", "D(G(z))"))
# A loss or gradient norm beyond this has blown up even while finite: BCE at 1e12 means logits of 1e12, and such a
# run hits inf a few steps later (dcgan at LR 1e6 sits at losses ~1e15 with zero gradients instead).
EXPLODED = 1e12
NONFINITE_NAMES = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


@dataclass(frozen=True)
class NonFinite:
    """The first non-finite (or exploded, beyond EXPLODED) value reported: at which step, under which name."""

    step: int
    name: str
    value: float

    def describe(self) -> str:
        if math.isfinite(self.value):
            return f"the {self.name} reached {self.value:.3g} at step {self.step} (beyond {EXPLODED:g}: blown up)"
        return f"the {self.name} became {self.value} at step {self.step}"


def _nonfinite_name(value: float) -> str:
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def to_json_line(record: dict[str, Any]) -> str:
    """One strict-JSON line: non-finite floats become null and are listed under "nonfinite"."""
    flagged = {k: _nonfinite_name(v) for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)}
    if flagged:
        record = {**{k: (None if k in flagged else v) for k, v in record.items()}, "nonfinite": flagged}
    return json.dumps(record, allow_nan=False)


def from_json_line(line: str) -> dict[str, Any]:
    record = json.loads(line, parse_constant=lambda name: {"NaN": math.nan, "Infinity": math.inf,
                                                            "-Infinity": -math.inf}[name])
    if not isinstance(record, dict) or not isinstance(record.get("step"), int) or isinstance(record["step"], bool):
        raise ValueError("not a record with an integer 'step'")
    flagged = record.pop("nonfinite", None)
    if isinstance(flagged, dict):
        record.update({k: NONFINITE_NAMES[v] for k, v in flagged.items() if v in NONFINITE_NAMES})
    return record


def _parse_lines(path: Path) -> tuple[list[bytes], list[dict[str, Any]], bool]:
    """Raw lines, their records, and whether the file ends mid-line. A torn last line (a crash mid-write) is
    dropped; damage anywhere else is refused."""
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    torn_tail = bool(raw) and not raw.endswith(b"\n")
    kept, records = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(from_json_line(line.decode("utf-8")))
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            if torn_tail and number == len(lines):
                break
            raise CheckpointError(f"'{path}' line {number} is not a metrics record ({exc}); delete or repair that "
                                  "line (each line is one JSON object with an integer 'step')") from None
        kept.append(line)
    return kept, records, torn_tail


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl file, non-finite values restored."""
    if not path.is_file():
        return []
    return _parse_lines(path)[1]


def truncate_after(path: Path, step: int) -> None:
    """Drop records past `step` (a resumed run writes them again). The file is replaced atomically, and only
    when something is dropped: a kill at any moment leaves either the old or the new file, whole."""
    if not path.is_file():
        return
    lines, records, torn_tail = _parse_lines(path)
    keep = [line for line, record in zip(lines, records, strict=True) if record["step"] <= step]
    if len(keep) == len(lines) and not torn_tail:  # appending after a torn line would damage the next record
        return
    payload = b"".join(line + b"\n" for line in keep)
    write_atomic(path, lambda temp: temp.write_bytes(payload))


class MetricsLogger:
    """Averages reported scalars between log steps; writes one JSON record per log step."""

    def __init__(self, path: Path | None, start_step: int, total_steps: int, batch_size: int,
                 progress: bool, sink: TensorBoardSink | None = None) -> None:
        self.path, self.batch_size, self.sink = path, batch_size, sink
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.pending: dict[str, tuple[list[str], list[int], list[Tensor]]] = {}
        self.last_time = time.perf_counter()
        self.images = 0  # real samples drawn since the last record: steps of a staged run differ in batch size
        if path is not None:
            truncate_after(path, start_step)
        self.file = open(path, "a", encoding="utf-8") if path is not None else None  # noqa: SIM115
        self.bar = tqdm(total=total_steps, initial=start_step, disable=not progress, unit="step",
                        dynamic_ncols=True, file=sys.stderr, mininterval=0.5)

    def add(self, prefix: str, step: int, values: dict[str, Tensor]) -> None:
        """Values of one phase at one (1-based) step, as 0-d tensors; kept on the device until `flush`."""
        names, steps, rows = self.pending.setdefault(prefix, (list(values), [], []))
        if list(values) != names:  # a phase whose logged names changed: close what is pending first
            self.flush()
            names, steps, rows = self.pending.setdefault(prefix, (list(values), [], []))
        steps.append(step)
        rows.append(torch.stack([v.detach().float().reshape(()) for v in values.values()]))

    def flush(self) -> NonFinite | None:
        """Move pending values to the interval's sums (one host sync); the first non-finite or exploded one."""
        worst: NonFinite | None = None
        for prefix, (names, steps, rows) in self.pending.items():
            table = torch.stack(rows).cpu()
            bad = ~torch.isfinite(table) | (table.abs() > EXPLODED)
            if bad.any():
                row, column = (int(i) for i in bad.nonzero()[0])
                if worst is None or steps[row] < worst.step:
                    worst = NonFinite(steps[row], f"{prefix} {names[column]}", float(table[row, column]))
                continue
            for name, total in zip(names, table.sum(0).tolist(), strict=True):
                key = f"{prefix}/{name}"
                self.sums[key] = self.sums.get(key, 0.0) + total
                self.counts[key] = self.counts.get(key, 0) + len(steps)
        self.pending = {}
        return worst

    def advance(self) -> None:
        """One step done, at the current `batch_size`."""
        self.images += self.batch_size
        self.bar.update(1)

    def summarize(self, step: int) -> dict[str, Any]:
        """Means of the interval ending at `step` (not yet written, so others can add to it)."""
        self.flush()
        now = time.perf_counter()
        elapsed = max(now - self.last_time, 1e-9)
        record: dict[str, Any] = {"step": step}
        record.update({k: self.sums[k] / self.counts[k] for k in sorted(self.sums)})
        record["images_per_s"] = self.images / elapsed
        record["time"] = time.time()
        self.sums, self.counts, self.images = {}, {}, 0
        self.last_time = now
        return record

    def emit(self, record: dict[str, Any]) -> dict[str, Any]:
        """One record to metrics.jsonl (and TensorBoard's scalars) and the bar's text."""
        if self.file is not None:
            self.file.write(to_json_line(record) + "\n")
            self.file.flush()
        if self.sink is not None:
            self.sink.scalars(record)
        if "images_per_s" in record:  # a training record (evaluation records only go to the file)
            shown = [f"{label} {record[key]:.3f}" for key, label in BAR_FIELDS if key in record]
            self.bar.set_postfix_str(" | ".join([*shown, f"{record['images_per_s']:.0f} img/s"]), refresh=False)
        return record

    def warning(self, step: int, kind: str, message: str) -> None:
        """A diagnostic: printed above the bar and kept in metrics.jsonl (and TensorBoard's text)."""
        self.bar.clear()
        warn(f"step {step}: {message}")
        if self.file is not None:
            self.file.write(to_json_line({"step": step, "warning": kind, "message": message}) + "\n")
            self.file.flush()
        if self.sink is not None:
            self.sink.text(f"warnings/{kind}", message, step)

    def close(self) -> None:
        self.bar.close()
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.sink is not None:
            self.sink.close()
            self.sink = None
