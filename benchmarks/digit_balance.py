"""Digit balance on single-channel MNIST: does a recipe draw every digit as often as the data has it?

The stacked-MNIST KL that kept the recommended recipe above PacGAN's 0.05 (while its D stopped at 7 px) was its
channels' digit imbalance (BENCHMARKS.md). That imbalance shows on plain MNIST too, at an eighth of the steps,
so variants are screened here (this screen found D's third halving, now in the recipe): each variant trains
the recommended image recipe with its overrides, then 10,000 samples are classified by ganforge's MNIST
classifier. Printed per run: the KL of the digit histogram to uniform, each digit's share,
the mean classifier confidence, the share below 0.9, and the CPU seconds of training.

    python benchmarks/digit_balance.py --variants "recommended,D to 7 px" --seeds 2 --steps 10000
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import ganforge
from ganforge.metrics.classifier import MNISTFeatures
from ganforge.metrics.modes import kl_to_uniform
from ganforge.recipes import RECOMMENDED

VARIANTS: dict[str, dict[str, Any]] = {
    "recommended": {},
    "minibatch std": {"model.minibatch_std": True},
    "D to 7 px": {"model.d_min_px": 8},  # the recipe before D's third halving
}
SAMPLES = 10_000


def digit_balance(probabilities: torch.Tensor) -> dict[str, Any]:
    """KL of the predicted-digit histogram to uniform, the shares, and the classifier's confidence."""
    confidence, digits = probabilities.max(-1)
    counts = torch.bincount(digits, minlength=probabilities.shape[1])
    shares = counts.double() / len(digits)
    return {"digit_kl": kl_to_uniform(counts), "shares": shares.tolist(), "confidence": float(confidence.mean()),
            "below_0.9": float((confidence < 0.9).float().mean())}


def one_run(variant: str, seed: int, steps: int, samples: int) -> tuple[dict[str, Any], float]:
    overrides = {**RECOMMENDED["image"], **VARIANTS[variant], "data.source": "mnist", "train.steps": steps,
                 "train.seed": seed, "train.progress": False, "train.diagnostics": False,
                 "train.sample_every": steps, "train.checkpoint_every": steps}
    with tempfile.TemporaryDirectory() as folder:
        start = time.process_time()
        run = ganforge.train(overrides, out=Path(folder) / "run")
        seconds = time.process_time() - start
        images = torch.cat([run.sample(min(1000, samples - i), seed=i) for i in range(0, samples, 1000)])
    return digit_balance(MNISTFeatures(device="cpu").probabilities(images)), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: as the BENCHMARKS figures)")
    parser.add_argument("--quick", action="store_true", help="one seed, 20 steps, 1,000 samples, two variants")
    args = parser.parse_args()
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; expected some of: {', '.join(VARIANTS)}")
    samples = SAMPLES
    if args.quick:
        variants, args.seeds, args.steps, samples = ["recommended", "D to 7 px"], 1, 20, 1000
    torch.set_num_threads(args.threads)
    print(f"digit balance on MNIST: {args.seeds} seeds x {args.steps} steps, {samples} samples, "
          f"{args.threads} threads, torch {torch.__version__}")
    print(f"{'variant':14s} {'seed':>4s} {'digit KL':>9s}  {'share % of digits 0..9':52s} {'conf':>6s} "
          f"{'<0.9':>6s} {'CPU s':>8s}")
    for variant in variants:
        for seed in range(args.seeds):
            result, seconds = one_run(variant, seed, args.steps, samples)
            shares = " ".join(f"{100 * s:4.1f}" for s in result["shares"])
            assert math.isfinite(result["digit_kl"])
            print(f"{variant:14s} {seed:4d} {result['digit_kl']:9.4f}  {shares:52s} {result['confidence']:6.3f} "
                  f"{result['below_0.9']:6.3f} {seconds:8.1f}", flush=True)


if __name__ == "__main__":
    main()
