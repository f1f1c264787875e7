"""Class-conditional recipes on MNIST at `make run`'s CPU time: does G make the digit it is asked for, and how good
is each class? Beside them, the unconditional recommended recipe at the same CPU time.

The reference is configs/mnist_dcgan.toml as `make run` trains it (5,000 steps); every recipe is timed on two
short probes, then trained for as many steps as fit in the reference's CPU time (benchmarks/mnist_recipes.py's
method). Scores, all in ganforge's MNIST-classifier space, 10,000 samples asked for class i mod 10:
label accuracy (the classifier names the asked-for digit; real held-out digits: 98.9%), intra-class FID (each
class's 1,000 samples against its 500 real digits, mean over classes), FID against all 5,000 real digits, and the
KL of the predicted-class histogram to the real one. The unconditional rows have only FID and class KL.

    python benchmarks/conditional.py                                  # every recipe below
    python benchmarks/conditional.py --recipes "cgan (concat; G: label joins z)" --seeds 2
    python benchmarks/conditional.py --probe-reference --recipes "projection D (DCGAN)" --first-seed 1  # seed 1 alone
    python benchmarks/conditional.py --probe-reference --recipes A,B  # reference time from probes (split runs)
    python benchmarks/conditional.py --recipes A --steps 4032 --seeds 2  # a fixed step count: the same on any load
    python benchmarks/conditional.py --quick                          # a smoke test
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

import ganforge
from ganforge.config import DataConfig
from ganforge.data import load_data
from ganforge.evaluate import Evaluator, plan
from ganforge.recipes import RECOMMENDED
from mnist_recipes import PROBE_STEPS, REFERENCE, train_timed

RECIPES: dict[str, dict[str, Any]] = {
    "cgan (concat; G: label joins z)": {**REFERENCE, "model.family": "cgan"},
    "cgan (G by conditional BatchNorm)": {**REFERENCE, "model.family": "cgan", "model.g_condition": "batchnorm"},
    # cgan's EMA default is 0.995 (G averaged over ~200 steps); the rows measured before it was, with 0.999:
    "cgan (EMA decay 0.999)": {**REFERENCE, "model.family": "cgan", "train.ema_decay": 0.999},
    "projection D (DCGAN)": {**REFERENCE, "model.condition": "projection"},
    "acgan (auxiliary classifier)": {**REFERENCE, "model.family": "acgan"},
    "recommended + projection D": {"data.source": "mnist", **RECOMMENDED["image"], "model.condition": "projection"},
    "recommended + concat": {"data.source": "mnist", **RECOMMENDED["image"], "model.condition": "concat"},
    "recommended + auxiliary": {"data.source": "mnist", **RECOMMENDED["image"], "model.condition": "auxiliary"},
    "recommended (unconditional)": {"data.source": "mnist", **RECOMMENDED["image"]},
}


def score(run: ganforge.Run, n: int) -> dict[str, float]:
    config = run.config
    data = load_data(DataConfig(source="mnist"))
    classes = 10 if config.model.condition not in ("none", "auto") else 0
    metrics = "fid,classes" + (",accuracy,intra_fid" if classes else "")
    evaluator = Evaluator(config, data, plan(config, "image", metrics, "mnist", classes), n, num_classes=classes)

    def generate(count: int, seed: int, labels: torch.Tensor | None) -> torch.Tensor:
        return run.sample(count, seed=seed, labels=None if labels is None else labels.tolist())

    results = evaluator(generate, seed=0)
    return {key.split("/", 1)[1]: value for key, value in results.items() if not key.split("/", 1)[1].startswith(
        "class_")} | {"class_kl": results["mnist/class_kl"]}


def cpu_per_step(recipe: dict[str, Any], most: int, root: Path) -> float:
    """CPU seconds per step: the difference of two probes (setup cancels out)."""
    short, long = (min(p, most) for p in PROBE_STEPS)
    (_, short_cpu), (_, long_cpu) = (train_timed(recipe, p, root / "probe") for p in (short, long))
    return (long_cpu - short_cpu) / (long - short) if long > short else long_cpu / long


def row(name: str, seed: int, steps: int, seconds: float, scores: dict[str, float]) -> str:
    def cell(key: str, form: str) -> str:
        return format(scores[key], form) if key in scores else "-"

    return (f"| {name} | {seed} | {steps} | {seconds:.0f} | {cell('label_accuracy', '.2%')} | "
            f"{cell('intra_fid', '.2f')} | {cell('fid', '.2f')} | {cell('class_kl', '.4f')} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default="all", help="comma list of recipe names (default: all)")
    parser.add_argument("--n", type=int, default=10_000, help="samples scored per generator")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (to split seeds over processes)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip training the reference: use --budget CPU seconds instead")
    parser.add_argument("--budget", type=float, default=0.0, help="CPU seconds per recipe with --no-reference")
    parser.add_argument("--probe-reference", action="store_true",
                        help="estimate the reference's CPU time from two short probes instead of training it (its "
                             "steps x its CPU per step; for recipes split over processes on a noisy machine)")
    parser.add_argument("--steps", type=int, default=0,
                        help="train each recipe exactly this many steps, no budget (e.g. the steps that a measured "
                             "step-cost ratio fits into make run's CPU time; a seed's run is the same on any load)")
    parser.add_argument("--quick", action="store_true", help="20 reference steps, 500 samples, one recipe")
    args = parser.parse_args()
    reference_steps = 20 if args.quick else int(REFERENCE.get("train.steps", 5000))
    names = list(RECIPES) if args.recipes == "all" else args.recipes.split(",")
    unknown = [name for name in names if name not in RECIPES]
    if unknown:  # names hold no commas, so a comma list splits cleanly
        parser.error(f"unknown recipe {unknown[0]!r}; recipes: {'; '.join(RECIPES)}")
    if args.quick:
        names, args.n = ["cgan (concat; G: label joins z)"], 500
    print(f"conditional MNIST at make run's CPU time: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.n} samples scored in MNIST-classifier features")
    print("| recipe | seed | steps | CPU s | label accuracy | intra-class FID | FID | class KL |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        budget = args.budget
        if args.steps:  # no budget to find: the recipes train a fixed number of steps
            print(f"every recipe trains {args.steps} steps", flush=True)
        elif args.probe_reference:
            budget = reference_steps * cpu_per_step(REFERENCE, reference_steps, root)
            print(f"reference CPU time estimated from probes: {budget:.0f} s for {reference_steps} steps", flush=True)
        elif not args.no_reference:
            run, budget = train_timed(REFERENCE, reference_steps, root / "reference")
            print(row("make run (DCGAN, unconditional)", 0, reference_steps, budget, score(run, args.n)), flush=True)
        for name in names:
            steps = args.steps or max(1, round(budget / cpu_per_step(RECIPES[name], reference_steps, root)))
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                run, seconds = train_timed(RECIPES[name], steps, root / "candidate", seed)
                print(row(name, seed, steps, seconds, score(run, args.n)), flush=True)


if __name__ == "__main__":
    main()
