"""Mode collapse on PacGAN's protocol (Lin et al. 2018): ring of 8 and grid of 25 Gaussians, and stacked MNIST.

Each row is a recipe (a plain GAN, packing, and each stabiliser) trained for the same number of steps
with several seeds; 2,500 samples per run are scored (modes captured, % within 3 std, reverse KL of
the mode histogram to uniform), stacked MNIST with 26,000 samples through ganforge's MNIST classifier.
Published rows (PacGAN Table 1 and 3) are printed beside ours.

    python benchmarks/mode_collapse.py --data ring,grid --seeds 10 --workers 2
    python benchmarks/mode_collapse.py --data stacked-mnist --seeds 2 --steps 3000
    python benchmarks/mode_collapse.py --data stacked-mnist --rows DCGAN --seeds 1 --steps 60000 --score-every 10000
    python benchmarks/mode_collapse.py --data stacked-mnist --rows DCGAN --seeds 1 --first-seed 1  # seed 1 alone
    python benchmarks/mode_collapse.py --data stacked-mnist --rows recommended --seeds 1 --steps 80000 \
        --score-every 10000 --keep-runs runs/bench                 # keeps every stage's checkpoint
    python benchmarks/mode_collapse.py --data stacked-mnist --score-run runs/branch   # score one run folder
    python benchmarks/mode_collapse.py --quick              # a smoke test: one seed, a few steps

Rows run their seeds in `--workers` processes of one thread each (on a 2-core CPU, 2 workers train
about twice as many runs per hour as one process with two threads; CPU s/run is then per process).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch

import ganforge
from ganforge.data.toy import TOY_MIXTURES
from ganforge.evaluate import STACKED_SAMPLES, stacked_modes
from ganforge.metrics.modes import mode_coverage
from ganforge.recipes import RECOMMENDED

# The toy-data rows: one GAN recipe each, on top of the shared settings below.
TOY_BASE: dict[str, Any] = {"model.family": "vanilla", "model.latent_dim": 16, "model.mlp_hidden": 256,
                            "model.mlp_layers": 3, "train.batch_size": 512, "train.lr_g": 1e-3, "train.lr_d": 1e-3,
                            "train.betas": (0.5, 0.9)}
TOY_ROWS: dict[str, dict[str, Any]] = {
    "GAN": {},
    "PacGAN2": {"model.pack": 2},
    "PacGAN3": {"model.pack": 3, "train.batch_size": 510},
    "PacGAN4": {"model.pack": 4},
    "minibatch std": {"model.minibatch_std": True},
    "R1 (gamma 0.1)": {"train.r1_gamma": 0.1},
    "R2 (gamma 0.1)": {"train.r2_gamma": 0.1},
    "spectral norm in D": {"model.d_norm": "spectral"},
    "instance noise 0.1": {"train.instance_noise": 0.1},
    "label smoothing 0.1": {"train.label_smoothing": 0.1},
    "SN + hinge (sngan)": {"model.family": "sngan"},
    "WGAN-GP": {"model.family": "wgan-gp", "train.lr_g": 1e-4, "train.lr_d": 1e-4, "train.betas": (0.0, 0.9)},
    "unrolled D (3 steps)": {"train.unrolled_steps": 3},
    "TTUR (lr_d = 4 lr_g)": {"train.lr_g": 5e-4, "train.lr_d": 2e-3},
    "R3GAN (RpGAN + R1 + R2)": {"model.family": "r3gan", "train.betas": (0.0, 0.99)},
    "recommended": "recommended",  # type: ignore[dict-item]
    # The recommended recipe's settings with the plain GAN loss and R1 alone: is R3GAN's loss worth its cost?
    "recommended with plain loss + R1": {**RECOMMENDED["vector"], "model.family": "vanilla", "train.r2_gamma": 0.0},
    # Several discriminators (model.discriminators K), each with its own init, optimiser and mini-batch; G
    # against their mean (GMAN), their softmax-weighted mean, or (MD-GAN) each D on its own shard of the data.
    "GAN + 2 D's (mean)": {"model.discriminators": 2},
    "GAN + 3 D's (mean)": {"model.discriminators": 3},
    "GAN + 3 D's (softmax)": {"model.discriminators": 3, "model.d_combine": "softmax"},
    "GAN + 3 D's (MD-GAN shards)": {"model.discriminators": 3, "model.d_data": "shards"},
}
STACKED_BASE: dict[str, Any] = {"model.family": "dcgan", "data.source": "stacked-mnist", "train.batch_size": 64}
STACKED_ROWS: dict[str, dict[str, Any]] = {
    "DCGAN": {},
    "PacDCGAN2": {"model.pack": 2},
    "PacDCGAN3": {"model.pack": 3, "train.batch_size": 63},
    "PacDCGAN4": {"model.pack": 4},
    "DCGAN + DiffAugment": {"train.augment": "diffaugment"},
    "recommended": "recommended",  # type: ignore[dict-item]  (R3GAN's loss on DCGAN nets)
    # The same, with both learning rates held for the first three quarters of --steps, then decayed linearly to 0.
    "recommended + LR decay (last quarter)": "recommended, decayed",  # type: ignore[dict-item]
    # The recipe before D's third halving (its D stops at 7 px instead of 3): KL 0.059 at 80,000 steps.
    "recommended, D to 7 px (d_min_px 8)": "recommended, D to 7 px",  # type: ignore[dict-item]
    "DCGAN + 2 D's (mean)": {"model.discriminators": 2},
    "DCGAN + 3 D's (mean)": {"model.discriminators": 3},
}

PUBLISHED = {  # PacGAN (Lin et al. 2018), Tables 1 and 3: modes, % high quality, reverse KL
    ("grid", "GAN"): (17.3, 94.8, 0.70),
    ("grid", "PacGAN4"): (24.8, 93.6, 0.04),
    ("ring", "PacGAN2"): (7.9, 95.6, 0.07),
    ("stacked-mnist", "PacDCGAN2"): (1000.0, None, 0.06),
}


def recipe_for(data: str, row: str, steps: int, seed: int) -> dict[str, Any]:
    common = {"train.steps": steps, "train.seed": seed, "train.progress": False, "train.diagnostics": False,
              "train.sample_every": steps, "train.checkpoint_every": steps, "train.log_every": max(1, steps // 10)}
    if data == "stacked-mnist":
        chosen = STACKED_ROWS[row]
        if chosen == "recommended, decayed":
            recipe = {**RECOMMENDED["image"], "train.lr_decay": "linear", "train.lr_decay_start": 3 * steps // 4}
        elif chosen == "recommended, D to 7 px":
            recipe = {**RECOMMENDED["image"], "model.d_min_px": 8}
        else:
            recipe = RECOMMENDED["image"] if chosen == "recommended" else {**STACKED_BASE, **chosen}
        return {**recipe, "data.source": data, **common}
    chosen = TOY_ROWS[row]
    recipe = RECOMMENDED["vector"] if chosen == "recommended" else {**TOY_BASE, **chosen}
    return {**recipe, "data.source": data, **common}


def score(run: ganforge.Run, data: str, seed: int) -> dict[str, float]:
    if data == "stacked-mnist":
        images = torch.cat([run.sample(1000, seed=seed * 100_000 + i) for i in range(0, STACKED_SAMPLES, 1000)])
        result = stacked_modes(images[:STACKED_SAMPLES], "cpu")
        return {"modes": result["modes"], "high_quality": math.nan, "reverse_kl": result["modes_kl"],
                "digit_kl": result["digit_kl"], "dependence_kl": result["dependence_kl"]}
    centres, std = TOY_MIXTURES[data]
    coverage = mode_coverage(run.sample(2500, seed=seed), torch.tensor(centres), std)
    return {"modes": coverage.modes_captured, "high_quality": 100 * coverage.high_quality,
            "reverse_kl": coverage.reverse_kl}


def stage_ends(steps: int, score_every: int, decay_start: int | None) -> list[int]:
    """The steps a staged run stops at to be scored: every `score_every` steps, but none inside an LR decay
    (a stage there would need the decay's end, which only the last stage has), and always `steps`."""
    last = steps if decay_start is None else decay_start
    ends = list(range(score_every, last + 1, score_every)) if score_every > 0 else []
    return ends if ends and ends[-1] == steps else [*ends, steps]


def one_run(data: str, row: str, steps: int, seed: int, threads: int, score_every: int = 0,
            keep: str = "") -> tuple[dict[str, float], float]:
    """Train and score one seed of one row; returns (scores, CPU seconds of training).

    With `score_every`, the run trains in stages (resuming from each stage's checkpoint, which is exact) and
    prints the scores after every stage, so a long run shows its curve as it goes. A row that decays its LR
    trains its stages before the decay at a constant LR (as its schedule has it) and the decay in one stage.
    With `keep`, the run folder (with every stage's checkpoint) stays in that folder, to be resumed or branched.
    """
    recipe = recipe_for(data, row, steps, seed)
    decays = recipe.get("train.lr_decay", "none") != "none"
    decay_start = int(recipe.get("train.lr_decay_start", 0)) if decays else None
    ends = stage_ends(steps, score_every, decay_start)
    if score_every and decay_start == 0:
        raise SystemExit(f"row '{row}' decays its learning rate from step 0, so it has no stage to score before "
                         "--steps; run it without --score-every")
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() if not keep else contextlib.nullcontext(keep) as folder:
        out = Path(folder) / f"{data}-{row.replace(' ', '_').replace('/', '_')}-seed{seed}"
        kept = {"train.keep_checkpoints": steps // (score_every or steps) + 1} if keep else {}
        first = {**recipe_for(data, row, ends[0], seed), **kept}
        if decays and ends[0] < steps:  # the schedule's constant part, as a run of its own length
            first.update({"train.lr_decay": "none", "train.lr_decay_start": 0})
        start = time.process_time()
        run = ganforge.train(first, out=out, overwrite=bool(keep))
        seconds = time.process_time() - start
        for done, stage in itertools.pairwise(ends):
            scores = score(run, data, seed)
            quality = "" if math.isnan(scores["high_quality"]) else f"high quality {scores['high_quality']:.1f}%, "
            split = (f" (digit imbalance {scores['digit_kl']:.3f} + dependence {scores['dependence_kl']:.3f})"
                     if "digit_kl" in scores else "")
            print(f"  stage {data} / {row} / seed {seed} / step {done}: modes {scores['modes']:g}, "
                  f"{quality}reverse KL {scores['reverse_kl']:.3f}{split}, CPU s {seconds:.1f}", flush=True)
            schedule = {"train__lr_decay": recipe["train.lr_decay"],
                        "train__lr_decay_start": decay_start} if decays and stage == steps else {}
            start = time.process_time()
            run = ganforge.resume(out, train__steps=stage, train__checkpoint_every=score_every or steps,
                                  train__sample_every=score_every or steps, **schedule)
            seconds += time.process_time() - start
        return score(run, data, seed), seconds


def mean_se(values: list[float], digits: int = 2) -> str:
    """Mean ± standard error of the finite values; says how many runs it leaves out (reverse KL is infinite
    for a run with no sample near any mode)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "-"
    mean = statistics.fmean(finite)
    se = statistics.stdev(finite) / math.sqrt(len(finite)) if len(finite) > 1 else 0.0
    shown = f"{mean:.{digits}f} ± {se:.{digits}f}"
    return shown if len(finite) == len(values) else f"{shown} ({len(finite)} of {len(values)} runs finite)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="ring,grid", help="comma list of ring, grid, stacked-mnist")
    parser.add_argument("--rows", default="all", help="comma list of row names (default: all)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="the first seed (to split seeds over processes)")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=1, help="processes running seeds side by side")
    parser.add_argument("--score-every", type=int, default=0,
                        help="also score every this many steps, printing a stage line (0: only at the end)")
    parser.add_argument("--keep-runs", default="", metavar="DIR",
                        help="keep each run folder, with every stage's checkpoint, in DIR (to resume or branch it)")
    parser.add_argument("--score-run", default="", metavar="RUN",
                        help="only score an existing run folder (e.g. a branch made with ganforge resume) on --data")
    parser.add_argument("--quick", action="store_true", help="one seed, 20 steps, ring, two rows")
    args = parser.parse_args()
    if args.score_run:
        run = ganforge.load(args.score_run)  # sampled with the seeds a benchmark run of its seed uses
        scores = score(run, args.data, seed=run.config.train.seed)
        shown = ", ".join(f"{key} {value:.3f}" for key, value in scores.items())
        print(f"{args.score_run} (step {run.step}) on {args.data}: {shown}")
        return
    datasets = args.data.split(",")
    if args.quick:
        datasets, args.seeds, args.steps, args.rows = ["ring"], 1, 20, "GAN,PacGAN2"
    print(f"mode collapse benchmark: {args.seeds} seeds x {args.steps} steps, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    for data in datasets:
        rows = list(STACKED_ROWS if data == "stacked-mnist" else TOY_ROWS)
        if args.rows != "all":
            rows = [r for r in rows if r in args.rows.split(",")]
        print(f"\n{data}: {'row':26s} {'modes':>14s} {'high quality %':>16s} {'reverse KL':>14s} {'CPU s/run':>10s}"
              f"   published (modes / % / KL)")
        # Every (row, seed) of this data set goes to the pool at once, so workers never idle between rows.
        threads = 1 if args.workers > 1 else torch.get_num_threads()
        jobs = {row: [(data, row, args.steps, seed, threads, args.score_every, args.keep_runs)
                      for seed in range(args.first_seed, args.first_seed + args.seeds)] for row in rows}
        with ProcessPoolExecutor(args.workers) if args.workers > 1 else contextlib.nullcontext() as pool:
            futures = {row: [pool.submit(one_run, *job) for job in jobs[row]] for row in rows} if pool else {}
            for row in rows:
                results: dict[str, list[float]] = {"modes": [], "high_quality": [], "reverse_kl": []}
                seconds: list[float] = []
                outcomes = [f.result() for f in futures[row]] if pool else [one_run(*job) for job in jobs[row]]
                for scores, cpu in outcomes:
                    seconds.append(cpu)
                    for key in results:
                        results[key].append(scores[key])
                published = PUBLISHED.get((data, row))
                shown = " / ".join("-" if v is None else f"{v:g}" for v in published) if published else ""
                print(f"{'':{len(data) + 2}s}{row:26s} {mean_se(results['modes']):>14s} "
                      f"{mean_se(results['high_quality']):>16s} {mean_se(results['reverse_kl'], 3):>14s} "
                      f"{statistics.fmean(seconds):>10.1f}   {shown}", flush=True)
                if args.seeds > 1:  # per seed, so a mean can be read for what it hides
                    print(f"{'':{len(data) + 4}s}per seed (modes / % / KL): " + ", ".join(
                        f"{m:g} / {h:.1f} / {k:.3f}" for m, h, k in zip(*results.values(), strict=True)), flush=True)


if __name__ == "__main__":
    main()
