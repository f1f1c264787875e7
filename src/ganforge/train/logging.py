"""One collector for named scalars: averages them per log interval into metrics.jsonl and the progress bar."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ganforge.console import warn

BAR_FIELDS = (("D/loss", "D"), ("G/loss", "G"), ("D/real", "D(x)"), ("D/fake", "D(G(z))"))


def truncate_after(path: Path, step: int) -> None:
    """Drop records past `step` (a resumed run rewrites them), keeping the file valid JSON lines."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            break  # a torn last line from a crash
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


class MetricsLogger:
    """Averages reported scalars between log steps; writes one JSON record per log step."""

    def __init__(self, path: Path | None, start_step: int, total_steps: int, batch_size: int,
                 progress: bool) -> None:
        self.path, self.batch_size = path, batch_size
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.last_step, self.last_time = start_step, time.perf_counter()
        if path is not None:
            truncate_after(path, start_step)
        self.file = open(path, "a", encoding="utf-8") if path is not None else None  # noqa: SIM115
        self.bar = tqdm(total=total_steps, initial=start_step, disable=not progress, unit="step",
                        dynamic_ncols=True, file=sys.stderr, mininterval=0.5)

    def add(self, prefix: str, values: dict[str, float]) -> None:
        for key, value in values.items():
            name = f"{prefix}/{key}"
            self.sums[name] = self.sums.get(name, 0.0) + value
            self.counts[name] = self.counts.get(name, 0) + 1

    def advance(self) -> None:
        self.bar.update(1)

    def write(self, step: int) -> dict[str, Any]:
        """Close the interval ending at `step` and emit its record."""
        return self.emit(self.summarize(step))

    def summarize(self, step: int) -> dict[str, Any]:
        """Means of the interval ending at `step` (not yet written, so others can add to it)."""
        now = time.perf_counter()
        elapsed = max(now - self.last_time, 1e-9)
        record: dict[str, Any] = {"step": step}
        record.update({k: self.sums[k] / self.counts[k] for k in sorted(self.sums)})
        record["images_per_s"] = (step - self.last_step) * self.batch_size / elapsed
        record["time"] = time.time()
        self.sums, self.counts = {}, {}
        self.last_step, self.last_time = step, now
        return record

    def emit(self, record: dict[str, Any]) -> dict[str, Any]:
        """One record to metrics.jsonl and the bar's text."""
        if self.file is not None:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()
        if "images_per_s" in record:  # a training record (evaluation records only go to the file)
            shown = [f"{label} {record[key]:.3f}" for key, label in BAR_FIELDS if key in record]
            self.bar.set_postfix_str(" | ".join([*shown, f"{record['images_per_s']:.0f} img/s"]), refresh=False)
        return record

    def warning(self, step: int, kind: str, message: str) -> None:
        """A diagnostic: printed above the bar and kept in metrics.jsonl."""
        self.bar.clear()
        warn(f"step {step}: {message}")
        if self.file is not None:
            self.file.write(json.dumps({"step": step, "warning": kind, "message": message}) + "\n")
            self.file.flush()

    def close(self) -> None:
        self.bar.close()
        if self.file is not None:
            self.file.close()
            self.file = None


def is_finite(value: float) -> bool:
    return math.isfinite(value)
