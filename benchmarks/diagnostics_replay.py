"""The live diagnostics, replayed over finished runs: which warnings today's checks raise from each run's log.

Each record of a run's metrics.jsonl (its warnings skipped) goes to `Diagnostics` in order, as the trainer fed it,
with the family's kind of verdicts (probabilities or raw scores). Samples are not in the log, so mode collapse (a
check on fixed-noise samples) is not replayed; every other check is. The table sets the warnings raised now beside
those the run recorded live, so a change to a check can be measured on runs that went wrong (or right) before it.

    python benchmarks/diagnostics_replay.py RUN [RUN ...]
    python benchmarks/diagnostics_replay.py --quick          # a 100-step vanilla GAN on ring, in a scratch folder
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import ganforge
from ganforge.diagnostics import Diagnostics
from ganforge.errors import GanforgeError
from ganforge.families import FAMILIES
from ganforge.train.rundir import RunDir


def replay(run: Path) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(warnings today's checks raise from the run's log, warnings the run recorded live), as (step, kind)."""
    config = RunDir(run).read_config()
    watch = Diagnostics(real_diversity=0.0, probability_verdicts=FAMILIES[config.model.family].scores_are_logits)
    raised: list[tuple[int, str]] = []
    recorded: list[tuple[int, str]] = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record: dict[str, Any] = json.loads(line)
        if "warning" in record:
            recorded.append((record["step"], record["warning"]))
            continue
        raised += [(record["step"], diagnosis.kind) for diagnosis in watch.observe(record)]
    return raised, recorded


def shown(warnings: list[tuple[int, str]]) -> str:
    return ", ".join(f"{kind} at {step}" for step, kind in warnings) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path, help="run folders")
    parser.add_argument("--quick", action="store_true", help="replay a 100-step ring run (a smoke test)")
    args = parser.parse_args()
    if not args.quick and not args.runs:
        parser.error("name run folders, or --quick")
    with tempfile.TemporaryDirectory() as scratch:
        runs = list(args.runs)
        if args.quick:
            ganforge.train({"data.source": "ring", "model.family": "vanilla", "train.steps": 100,
                            "train.log_every": 10, "train.progress": False, "train.checkpoint_every": 100,
                            "train.sample_every": 100}, out=Path(scratch) / "ring")
            runs.append(Path(scratch) / "ring")
        print("| run | family | warnings raised now (replayed) | warnings recorded live |")
        print("|---|---|---|---|")
        for run in runs:
            try:
                raised, recorded = replay(run)
                family = RunDir(run).read_config().model.family
            except (GanforgeError, OSError) as error:
                raise SystemExit(f"error: run folder '{run}': {error}") from None
            print(f"| {run.name} | {family} | {shown(raised)} | {shown(recorded)} |")


if __name__ == "__main__":
    main()
