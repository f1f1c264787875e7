"""pix2pix against an L1-only U-Net of the same size and steps on MNIST: edges -> digits and denoising at std 0.3.

Both models are the `pix2pix` family with the same nets, seed, data and steps; the L1-only U-Net sets
train.pretrain_steps = train.steps, so D never trains and G learns from the L1 distance alone (the baseline the
adversarial term has to beat; Isola et al. 2017 Table 1 compare the same pair). Training data: the built-in `mnist`
with `data.split train` (4,000 digits); every score is on the 1,000 held-out digits' pairs, by `ganforge eval`'s
image-to-image evaluation (ganforge.evaluate_pairs): PSNR / SSIM against the clean targets, FID / KID in
ganforge's MNIST-classifier features against the targets, and label preservation (the MNIST classifier names the
source digit's label). The input itself is the baseline every table starts with; "target" is the classifier's
accuracy on the real held-out digits (the ceiling).

    python benchmarks/translation.py                         # both tasks, 3,000 steps each model
    python benchmarks/translation.py --tasks noise0.3 --steps 1000
    python benchmarks/translation.py --quick                 # a smoke test
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import ganforge
from ganforge.evaluate_pairs import evaluate_pairs

TASKS = {"edges": "edges -> digits", "noise0.3": "denoising, Gaussian noise std 0.3"}
MODELS = {"L1-only U-Net": True, "pix2pix (L1 100 + adversarial)": False}
METRICS = ("psnr", "ssim", "mnist_fid", "mnist_kid", "label_accuracy")


def train_timed(config: dict[str, Any], folder: Path) -> tuple[ganforge.Run, float]:
    start = time.process_time()
    run = ganforge.train(config, out=folder, overwrite=True)
    return run, time.process_time() - start


def row(name: str, steps: str, cpu: str, results: dict[str, Any], method: str) -> str:
    cells = []
    for metric in METRICS:
        value = results.get(f"{method}/{metric}")
        if value is None:
            cells.append("-")
        elif metric == "label_accuracy":
            cells.append(f"{100 * value:.2f}%")
        else:
            cells.append(f"{value:.4f}" if metric == "ssim" else f"{value:.2f}")
    return f"| {name} | {steps} | {cpu} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma list of {', '.join(TASKS)}")
    parser.add_argument("--steps", type=int, default=3000, help="training steps of each model")
    parser.add_argument("--batch-size", type=int, default=16, help="the paper's 1 to 10; ours 16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=None, help="held-out pairs scored (default: all 1,000)")
    parser.add_argument("--quick", action="store_true", help="a few steps, 100 pairs: a smoke test")
    args = parser.parse_args()
    tasks = args.tasks.split(",")
    unknown = [task for task in tasks if task not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {', '.join(unknown)}; choose from {', '.join(TASKS)}")
    extra: dict[str, Any] = {}
    if args.quick:
        args.steps, args.n = 2, 100
        extra = {"data.max_samples": 64, "model.g_width": 8, "model.d_width": 8}
    print(f"pix2pix vs L1-only U-Net on MNIST: torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.steps} steps, batch {args.batch_size}, seed {args.seed}; scores on held-out pairs")
    with tempfile.TemporaryDirectory() as folder:
        for task in tasks:
            print(f"\n{TASKS[task]} (data.pairs {task})")
            print("| model | steps | CPU s | PSNR (dB) | SSIM | FID (MNIST features) | KID (MNIST features) "
                  "| label accuracy |")
            print("|---|---|---|---|---|---|---|---|")
            records = {}
            for name, l1_only in MODELS.items():
                every = max(1, args.steps // 5)
                config = {"model.family": "pix2pix", "data.source": "mnist", "data.split": "train",
                          "data.pairs": task, "train.steps": args.steps, "train.batch_size": args.batch_size,
                          "train.seed": args.seed, "train.pretrain_steps": args.steps if l1_only else 0,
                          "train.progress": False, "train.log_every": every, "train.sample_every": args.steps,
                          "train.checkpoint_every": args.steps, **extra}
                run, cpu = train_timed(config, Path(folder) / task / str(len(records)))
                records[name] = (evaluate_pairs(run, metrics="psnr,ssim,fid,kid,labels", features="mnist",
                                                n=args.n, seed=args.seed), cpu)
            first = next(iter(records.values()))[0]
            print(row("the input itself", "-", "-", first["results"], "input"))
            for name, (record, cpu) in records.items():
                print(row(name, str(args.steps), f"{cpu:.0f}", record["results"], "G"))
            print(row("target (real held-out digits)", "-", "-", first["results"], "target"))
            print(f"({first['protocol']['n_pairs']} pairs; {first['protocol']['data']})")


if __name__ == "__main__":
    main()
