"""What a recipe's training step costs beside `make run`'s DCGAN step, in CPU time, and so how many of its steps
fit in `make run`'s CPU time (5,000 DCGAN steps): the figure benchmarks/conditional.py --steps takes.

Both recipes train in one process, in alternating blocks of steps after a warm-up, so that whatever else loads
the machine falls on both alike (two separate probes taken minutes apart under a changing load disagreed by up
to 20%). Steps are bare: no logs, samples or checkpoints, which cost both recipes the same. Run it one-thread.

    OMP_NUM_THREADS=1 python benchmarks/step_cost.py --recipe "cgan (concat; G: label joins z)"
    python benchmarks/step_cost.py --quick          # a smoke test: a few short blocks
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from conditional import RECIPES as CONDITIONAL_RECIPES
from ganforge.data import load_data
from ganforge.recipes import resolve
from ganforge.train.rundir import RunDir
from ganforge.train.trainer import Trainer
from mnist_recipes import QUIET, REFERENCE
from mnist_recipes import RECIPES as MNIST_RECIPES

RECIPES: dict[str, dict[str, Any]] = {**MNIST_RECIPES, **CONDITIONAL_RECIPES}


def trainer(recipe: dict[str, Any], folder: Path) -> Trainer:
    config = resolve({**recipe, **QUIET, "train.steps": 10**9})
    return Trainer(config, RunDir(folder), load_data(config.data))


def block_seconds(run: Trainer, steps: int) -> float:
    start = time.process_time()
    run.train_steps(steps)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="cgan (concat; G: label joins z)", help="a recipe name: "
                        + "; ".join(RECIPES))
    parser.add_argument("--rounds", type=int, default=24, help="timed blocks per recipe (after one warm-up block)")
    parser.add_argument("--block", type=int, default=50, help="steps per block")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 steps")
    args = parser.parse_args()
    if args.recipe not in RECIPES:
        parser.error(f"unknown recipe {args.recipe!r}; recipes: {'; '.join(RECIPES)}")
    if args.quick:
        args.rounds, args.block = 3, 3
    reference_steps = int(REFERENCE.get("train.steps", 5000))
    with tempfile.TemporaryDirectory() as folder:
        runs = {"reference": trainer(REFERENCE, Path(folder) / "reference"),
                "recipe": trainer(RECIPES[args.recipe], Path(folder) / "recipe")}
        for run in runs.values():
            run.train_steps(args.block)  # warm-up: allocator, first-call costs
        seconds: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, run in runs.items():
                seconds[name].append(block_seconds(run, args.block) / args.block)
    reference, recipe = (statistics.fmean(seconds[name]) for name in runs)
    ratios = [b / a for a, b in zip(seconds["reference"], seconds["recipe"], strict=True)]
    ratio = recipe / reference
    print(f"step cost beside make run's DCGAN: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.rounds} alternating blocks of {args.block} steps each")
    print("| recipe | DCGAN CPU s/step | recipe CPU s/step | ratio (blocks' min-max) | steps in make run's CPU time |")
    print("|---|---|---|---|---|")
    print(f"| {args.recipe} | {reference:.4f} | {recipe:.4f} | {ratio:.3f} ({min(ratios):.2f}-{max(ratios):.2f}) | "
          f"{round(reference_steps / ratio)} |")


if __name__ == "__main__":
    main()
