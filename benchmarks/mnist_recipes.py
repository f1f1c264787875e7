"""`make run`'s DCGAN against other image recipes at equal CPU time, scored by FID in MNIST-classifier features.

The reference is configs/mnist_dcgan.toml as `make run` trains it (5,000 steps). Each other recipe is
first timed on two short probes, then trained for as many steps as fit in the reference's CPU time. Every
generator is scored with 5,000 samples against the 5,000 real digits (ganforge's MNIST classifier).

    python benchmarks/mnist_recipes.py                       # reference + every recipe below
    python benchmarks/mnist_recipes.py --recipes recommended --seeds 2
    python benchmarks/mnist_recipes.py --quick               # a smoke test: tiny budgets
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import ganforge
from ganforge import metrics
from ganforge.config import read_toml
from ganforge.recipes import CONFIGS_DIR, RECOMMENDED

REFERENCE = read_toml(CONFIGS_DIR / "mnist_dcgan.toml")
RECIPES: dict[str, dict[str, Any]] = {
    "DCGAN + linear LR decay": {**REFERENCE, "train.lr_decay": "linear"},
    "PacDCGAN2 + linear LR decay": {**REFERENCE, "model.pack": 2, "train.lr_decay": "linear"},
    "SN + hinge (sngan) on DCGAN nets": {**REFERENCE, "model.family": "sngan"},
    "R3GAN on its own ResNets (width 32)": {"data.source": "mnist", "model.family": "r3gan", "model.g_width": 32,
                                       "model.d_width": 32, "train.reg_every": 4},
    "recommended": {"data.source": "mnist", **RECOMMENDED["image"]},
    # The recipe before D's third halving (D stops at 7 px instead of 3).
    "recommended, D to 7 px (d_min_px 8)": {"data.source": "mnist", **RECOMMENDED["image"], "model.d_min_px": 8},
    # Denton et al.'s pyramid (7 px MLP GAN, then the 14 px and 28 px bands) as configs/mnist_lapgan.toml has it.
    "LAPGAN (configs/mnist_lapgan.toml)": read_toml(CONFIGS_DIR / "mnist_lapgan.toml"),
}
QUIET = {"train.progress": False, "train.diagnostics": False}
PROBE_STEPS = (100, 300)  # the CPU cost of a step is the difference of two probes (setup cancels out)


def train_timed(recipe: dict[str, Any], steps: int, folder: Path, seed: int = 0) -> tuple[ganforge.Run, float]:
    """Train `steps` steps; returns the run and the process CPU seconds it took."""
    config = {**recipe, **QUIET, "train.seed": seed, "train.steps": steps, "train.sample_every": steps,
              "train.checkpoint_every": steps, "train.log_every": max(1, steps // 20)}
    start = time.process_time()
    run = ganforge.train(config, out=folder, overwrite=True)
    return run, time.process_time() - start


def train_and_score(name: str, recipe: dict[str, Any], steps: int, folder: Path, seed: int, n: int) -> float:
    """Train, score by FID in MNIST features, print the table row; returns the training's CPU seconds."""
    _, seconds = train_timed(recipe, steps, folder, seed)
    score = metrics.fid("mnist", folder, features="mnist", n=n)
    print(f"{name:34s} {seed:>4d} {steps:>7d} {seconds:>8.1f} {score:>22.2f}", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default="all", help="comma list of recipe names (default: all)")
    parser.add_argument("--n", type=int, default=5000, help="samples scored per generator")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per recipe (and for the reference)")
    parser.add_argument("--quick", action="store_true", help="20 reference steps, 500 samples, one recipe")
    args = parser.parse_args()
    reference_steps = 20 if args.quick else int(REFERENCE.get("train.steps", 5000))
    names = list(RECIPES) if args.recipes == "all" else args.recipes.split(",")
    if args.quick:
        names, args.n = ["DCGAN + linear LR decay"], 500
    print(f"MNIST recipes at equal CPU time: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"FID in MNIST-classifier features on {args.n} samples")
    print(f"{'recipe':34s} {'seed':>4s} {'steps':>7s} {'CPU s':>8s} {'FID (MNIST features)':>22s}")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        budgets = [train_and_score("make run (configs/mnist_dcgan.toml)", REFERENCE, reference_steps,
                                   root / "reference", seed, args.n) for seed in range(args.seeds)]
        budget = sum(budgets) / len(budgets)
        for name in names:
            short, long = (min(p, reference_steps) for p in PROBE_STEPS)
            (_, short_cpu), (_, long_cpu) = (train_timed(RECIPES[name], p, root / "probe") for p in (short, long))
            per_step = (long_cpu - short_cpu) / (long - short) if long > short else long_cpu / long
            steps = max(1, round(budget / per_step))
            for seed in range(args.seeds):
                train_and_score(name, RECIPES[name], steps, root / "candidate", seed, args.n)


if __name__ == "__main__":
    main()
