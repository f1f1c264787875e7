"""Fashion-MNIST at fixed CPU budgets, beside Lucic et al. 2018's best FIDs (issue 17).

Each recipe trains on the 60,000 training images at one thread. A short probe estimates its CPU cost per step;
the run then trains in stages (each resumes the last checkpoint, which is exact) and stops at every budget in
`--budgets` (process CPU seconds of training, scoring excluded; each stage's setup, a couple of seconds to load
the data and build the nets, is counted, which one uninterrupted run would pay once). At each stop it scores:

- FID in ganforge's Fashion-MNIST classifier features, `--n` samples against the 10,000 test images (fast);
- unless `--no-inception`: FID with the standard Inception (2015-12-05 pool3), `--inception-n` samples against
  the 10,000 test images (the study's protocol) and against a fixed 10,000 of the training images.

Both Inception scores share one set of sample features. With `--keep-runs DIR` each stop's generator is also copied
to `DIR/<recipe>-seed<S>-at-<budget>s`, a folder `ganforge eval` scores: `--no-inception` then trains on while
another process scores the stops with the study's protocol (the command is printed at each stop).
The table puts our rows beside the study's Fashion-MNIST column; `--json` writes every row with its protocol
(ganforge.evaluate's records). The recommended recipe (configs/fashion_mnist.toml) trains DCGAN's settings, so
`--recipes all` trains it once, under its own name, and says so.

    python benchmarks/fashion_mnist.py                                   # all recipes, 1800,3600,7200 CPU s
    python benchmarks/fashion_mnist.py --recipes recommended --seed 1 --keep-runs runs/fashion-bench
    python benchmarks/fashion_mnist.py --no-inception --budgets 600      # classifier FID only
    python benchmarks/fashion_mnist.py --quick                           # a smoke test: tiny budgets

Inception at one thread runs at 2.8-4.9 images/s on the 2-core KVM machine of BENCHMARKS.md (faster machines: ~14
at two threads), i.e. 35-60 CPU minutes per 10,000 images: once for each real set (cached per machine) and once per
stop for the samples. A full run of three recipes at three budgets adds about 6 CPU hours of scoring there.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import ganforge
from ganforge.config import Config, read_toml
from ganforge.data import load_data
from ganforge.evaluate import Evaluator, cached_features, inception_available, plan
from ganforge.metrics.features import as_uint8, get_extractor
from ganforge.metrics.fid import fid_from_features
from ganforge.recipes import CONFIGS_DIR, resolve

DCGAN = read_toml(CONFIGS_DIR / "mnist_dcgan.toml")
RECIPES: dict[str, dict[str, Any]] = {
    # configs/fashion_mnist.toml: the Fashion recipe, tuned for CPU time. Since 2026-12-02 it trains make run's DCGAN
    # settings (until then R3GAN's loss + lazy R1/R2, D halving to 3 px: BENCHMARKS.md's first rows), so with both
    # in --recipes, 'dcgan' is the same run and is trained once (distinct_recipes).
    "recommended": read_toml(CONFIGS_DIR / "fashion_mnist.toml"),
    # make run's DCGAN (configs/mnist_dcgan.toml) on Fashion-MNIST.
    "dcgan": {**DCGAN, "data.source": "fashion-mnist"},
    # WGAN-GP with its family defaults (Adam 1e-4, betas (0, 0.9), n_critic 5, penalty 10, DCGAN nets without BN in
    # the critic). Its step is one critic update; G is updated every 5th step.
    "wgan-gp": {"data.source": "fashion-mnist", "model.family": "wgan-gp"},
}
DESCRIPTIONS = {"recommended": "recommended (configs/fashion_mnist.toml: DCGAN's settings)",
                "dcgan": "DCGAN (make run's settings)",
                "wgan-gp": "WGAN-GP (family defaults)"}
# Training alone is timed: no evaluation inside training, no progress bar, one thread, the training split.
BENCH = {"train.progress": False, "train.diagnostics": False, "train.eval_every": 0, "train.threads": 1,
         "data.split": "train"}

# Lucic et al. 2018, "Are GANs Created Equal?", Table 2, Fashion-MNIST column: FID (mean ± std over the re-runs
# of the best setting of a 100-setting search; InfoGAN-style nets, 20 epochs, 10,000 samples against the
# 10,000 test images, TF-GAN's Inception 2015-12-05 pool_3). Transcribed from two citing papers that agree
# (docs/fashion_mnist.md, "The yardstick"); the VAE row was not found in a readable copy.
LUCIC_FASHION: dict[str, str] = {
    "MM GAN": "29.6 ± 1.6", "NS GAN": "26.5 ± 1.6", "LSGAN": "30.7 ± 2.2", "WGAN": "21.5 ± 1.6",
    "WGAN GP": "24.5 ± 2.1", "DRAGAN": "27.7 ± 1.2", "BEGAN": "22.9 ± 0.9",
    "VAE": "not verified (issue 17 remembers ≈ 58.7)",
}
PROBE_STEPS = (40, 120)  # the CPU cost of a step is the difference of two probes (setup cancels out)
QUICK_PROBE_STEPS = (2, 6)


class Stop:
    """One scored stop of one recipe: its CPU budget, what training took, and the scores with their protocols.
    (A plain class: tests load this file without registering it as a module, which dataclasses need.)"""

    def __init__(self, recipe: str, seed: int, budget_s: float, cpu_s: float, steps: int) -> None:
        self.recipe, self.seed, self.budget_s, self.cpu_s, self.steps = recipe, seed, budget_s, cpu_s, steps
        self.scores: dict[str, float] = {}
        self.protocols: dict[str, Any] = {}


def recipe_config(name: str, seed: int, steps: int, keep: int = 2) -> dict[str, Any]:
    """The recipe's overrides for a run of `steps` steps, timed as BENCH sets it."""
    return {**RECIPES[name], **BENCH, "train.seed": seed, "train.steps": steps, "train.checkpoint_every": steps,
            "train.sample_every": steps, "train.log_every": max(1, min(500, steps // 10)),
            "train.keep_checkpoints": keep}


def training_settings(name: str) -> Config:
    """The recipe's resolved config less what does not change the trained weights (its length, logging, sampling,
    checkpoint and evaluation cadence, which the benchmark sets per stage)."""
    config = resolve({**RECIPES[name], **BENCH})
    train = dataclasses.replace(config.train, steps=0, log_every=0, sample_every=0, checkpoint_every=0,
                                eval_metrics="", eval_features="", eval_samples=0, keep_checkpoints=0)
    return dataclasses.replace(config, train=train)


def distinct_recipes(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """`names` less each recipe that trains the same settings as an earlier one, and {dropped: the one it repeats}."""
    settings = {name: training_settings(name) for name in names}  # each recipe resolved once
    kept: list[str] = []
    repeats: dict[str, str] = {}
    for name in names:
        same = next((earlier for earlier in kept if settings[earlier] == settings[name]), None)
        if same is None:
            kept.append(name)
        else:
            repeats[name] = same
    return kept, repeats


def step_cost(cpu: tuple[float, float], probes: tuple[int, int]) -> float:
    """CPU seconds per step from two probes' CPU seconds: their difference over their step difference (setup
    cancels out). On a loaded machine short probes can come out in the wrong order; then the longer probe's mean
    (setup included, so an overestimate) is the safe figure, as a stage that overshoots its budget wastes hours."""
    difference = (cpu[1] - cpu[0]) / (probes[1] - probes[0])
    mean = cpu[1] / probes[1]
    return difference if difference > 0.2 * mean else mean


def stage_target(steps: int, cpu: float, budget: float, per_step: float) -> int:
    """The step a stage should end at to reach `budget` CPU s from `steps` steps done in `cpu` s: at least one
    step further."""
    return steps + max(1, round((budget - cpu) / per_step))


def cpu_per_step(name: str, seed: int, folder: Path, probes: tuple[int, int]) -> float:
    """CPU seconds per training step at one thread, from two probe runs."""
    cpu = []
    for steps in probes:
        start = time.process_time()
        ganforge.train(recipe_config(name, seed, steps), out=folder / f"probe-{name}", overwrite=True)
        cpu.append(time.process_time() - start)
    shutil.rmtree(folder / f"probe-{name}", ignore_errors=True)
    return step_cost((cpu[0], cpu[1]), probes)


class Scorer:
    """FID of a run's samples in Fashion-MNIST classifier features (test set) and, optionally, Inception features
    (test set and a fixed 10,000 training images), each with ganforge.evaluate's protocol record."""

    def __init__(self, config_overrides: dict[str, Any], n: int, inception_n: int) -> None:
        self.config = resolve(config_overrides)
        self.data = load_data(self.config.data)
        self.n, self.inception_n = n, inception_n
        self.evaluators: dict[str, Evaluator] = {
            "fashion-mnist/test": self._evaluator("fashion-mnist", n, "test")}
        if inception_n:
            for split in ("test", "train"):
                self.evaluators[f"inception/{split}"] = self._evaluator("inception", inception_n, split)

    def _evaluator(self, features: str, n: int, real: str) -> Evaluator:
        return Evaluator(self.config, self.data, plan(self.config, "image", "fid", features), n, real=real)

    def __call__(self, run: ganforge.Run, seed: int) -> tuple[dict[str, float], dict[str, Any]]:
        """Scores keyed 'features/split' and the protocol of each; one set of samples, features computed once per
        extractor."""
        count = max(self.n, self.inception_n)  # the samples `ganforge eval RUN --seed SEED` scores: seed + offset
        images = torch.cat([as_uint8(run.sample(min(1000, count - start), seed=seed + start))
                            for start in range(0, count, 1000)])
        scores: dict[str, float] = {}
        protocols: dict[str, Any] = {}
        fakes: dict[str, Any] = {}
        for key, evaluator in self.evaluators.items():
            name = key.split("/")[0]
            extractor = evaluator.extractors[name]
            if name not in fakes:
                fakes[name] = extractor.extract(images[: evaluator.n]).features
            real = cached_features(extractor, evaluator.real_images(), evaluator.real_split(), progress=False)
            scores[key] = fid_from_features(real.features, fakes[name])
            protocols[key] = {**evaluator.protocol(), "sample_seed": seed}
        return scores, protocols


SNAPSHOT_FILES = ("config.toml", "generator.json", "generator.safetensors")


def export_snapshot(run: Path, snapshot: Path) -> Path:
    """A copy of the run's exported generator (all `sample` and `ganforge eval` need), so that a stop can be
    scored in another process while training goes on."""
    shutil.rmtree(snapshot, ignore_errors=True)
    snapshot.mkdir(parents=True)
    for name in SNAPSHOT_FILES:
        shutil.copy2(run / name, snapshot / name)
    return snapshot


def run_recipe(name: str, seed: int, budgets: list[float], folder: Path, probes: tuple[int, int],
               scorer: Scorer | None, keep: bool) -> list[Stop]:
    """Train `name` in stages that end at each CPU budget, scoring at every stop; prints a line per stop."""
    per_step = cpu_per_step(name, seed, folder, probes)
    print(f"  {name}: {per_step:.4f} CPU s per step at one thread (probes {probes[0]} and {probes[1]} steps), "
          f"{3600 / per_step:,.0f} steps per CPU hour", flush=True)
    out = folder / f"{name}-seed{seed}"
    stops: list[Stop] = []
    cpu, steps = 0.0, 0
    for budget in budgets:
        target = stage_target(steps, cpu, budget, per_step)
        config = recipe_config(name, seed, target, keep=len(budgets) + 1 if keep else 2)
        start = time.process_time()
        if steps == 0:
            run = ganforge.train(config, out=out, overwrite=True)
        else:
            run = ganforge.resume(out, train__steps=target, train__checkpoint_every=target,
                                  train__sample_every=target, train__log_every=config["train.log_every"])
        spent = time.process_time() - start
        per_step = spent / (target - steps)  # this machine's cost now (includes the stage's setup)
        cpu, steps = cpu + spent, target
        stop = Stop(name, seed, budget, cpu, steps)
        if keep:
            snapshot = export_snapshot(out, folder / f"{name}-seed{seed}-at-{budget:g}s")
            print(f"  stop {name} / seed {seed} / budget {budget:g} s: {steps} steps, {cpu:.1f} CPU s; generator "
                  f"kept in {snapshot} (score it: ganforge eval {snapshot} --features inception --n 10000 "
                  "--real-split test,train)", flush=True)
        if scorer is not None:
            scoring = time.process_time()
            stop.scores, stop.protocols = scorer(run, seed)
            shown = ", ".join(f"FID {key} {value:.2f}" for key, value in stop.scores.items())
            print(f"  stop {name} / seed {seed} / budget {budget:g} s: {steps} steps, {cpu:.1f} CPU s; {shown} "
                  f"(scoring {time.process_time() - scoring:.1f} CPU s)", flush=True)
        stops.append(stop)
    return stops


def cell(stop: Stop, key: str) -> str:
    value = stop.scores.get(key)
    return "-" if value is None else f"{value:.2f}"


def table(stops: list[Stop], n: int, inception_n: int) -> str:
    """Markdown: our rows at each budget, then the study's Fashion-MNIST rows in the Inception/test column."""
    inception = inception_n > 0
    samples = f"{inception_n:,}" if inception else "10,000"  # skipped: the column names the study's protocol
    lines = [f"| recipe | seed | budget (CPU s) | CPU s | steps | FID Fashion-classifier ({n:,} vs test) "
             f"| FID Inception ({samples} vs test) | FID Inception ({samples} vs train) |",
             "|---|---|---|---|---|---|---|---|"]
    for stop in stops:
        lines.append(f"| {DESCRIPTIONS[stop.recipe]} | {stop.seed} | {stop.budget_s:g} | {stop.cpu_s:.0f} | "
                     f"{stop.steps} | {cell(stop, 'fashion-mnist/test')} | "
                     f"{cell(stop, 'inception/test') if inception else 'skipped'} | "
                     f"{cell(stop, 'inception/train') if inception else 'skipped'} |")
    for model, fid in LUCIC_FASHION.items():
        lines.append(f"| Lucic et al. 2018: {model} | 50 re-runs of the best of 100 settings | 20 epochs (GPU) | - "
                     f"| 15,625 (batch 64) | - | {fid} | - |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default="all", help=f"comma list of {', '.join(RECIPES)} (default: all)")
    parser.add_argument("--budgets", default="1800,3600,7200", help="CPU seconds of training at which to score")
    parser.add_argument("--seed", type=int, default=0, help="training seed (and the samples' seed)")
    parser.add_argument("--n", type=int, default=10_000, help="samples for the classifier FID (vs the test set)")
    parser.add_argument("--inception-n", type=int, default=None,
                        help="samples for the Inception FIDs (default 10,000; --quick: 0, i.e. skipped)")
    parser.add_argument("--no-inception", action="store_true", help="score in classifier features only")
    parser.add_argument("--keep-runs", default="", metavar="DIR",
                        help="keep each run (every stop's checkpoint) and each stop's generator in a folder of its own")
    parser.add_argument("--json", default="", metavar="PATH", help="write every row and its protocol as JSON")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: budgets of 1 and 2 CPU s, 200 samples, no Inception unless --inception-n")
    args = parser.parse_args()
    names = list(RECIPES) if args.recipes == "all" else [n.strip() for n in args.recipes.split(",") if n.strip()]
    unknown = [n for n in names if n not in RECIPES]
    if unknown or not names:
        raise SystemExit(f"unknown recipe '{','.join(unknown) or args.recipes}'; choose from: {', '.join(RECIPES)}")
    names, repeats = distinct_recipes(names)
    for name, same in repeats.items():
        print(f"note: recipe '{name}' trains the same settings as '{same}'; its rows are '{same}''s rows")
    budgets = sorted(float(b) for b in args.budgets.split(","))
    probes = PROBE_STEPS
    if args.quick:  # Inception is skipped: one FID in its 2,048-d features alone costs seconds
        budgets, probes, args.n = [1.0, 2.0], QUICK_PROBE_STEPS, 200
    if args.inception_n is None:
        args.inception_n = 0 if args.quick else 10_000
    inception = not args.no_inception and args.inception_n > 0
    if inception and not inception_available():
        print("note: Inception FID skipped: the Inception network is not installed (pip install 'ganforge[fid]')")
        inception = False
    if inception and args.inception_n < 2:
        raise SystemExit(f"--inception-n must be at least 2 (an FID needs a covariance), got {args.inception_n}")
    torch.set_num_threads(1)
    print(f"Fashion-MNIST at CPU budgets {', '.join(f'{b:g}' for b in budgets)} s: torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread, seed {args.seed}; FID in Fashion-MNIST classifier features on "
          f"{args.n} samples vs the 10,000 test images"
          + (f"; Inception FID on {args.inception_n} samples vs {min(args.inception_n, 10_000)} test images and "
             f"vs a fixed {args.inception_n} of the training images" if inception else "; Inception FID skipped"),
          flush=True)
    stops: list[Stop] = []
    get_extractor("fashion-mnist")  # trains the classifier once, outside any timing, if it is not cached
    with tempfile.TemporaryDirectory() if not args.keep_runs else contextlib.nullcontext(args.keep_runs) as folder:
        for name in names:
            scorer = Scorer({**RECIPES[name], **BENCH}, args.n, args.inception_n if inception else 0)
            if scorer.config.train.lr_decay != "none":
                raise SystemExit(f"recipe '{name}' decays its learning rate over train.steps, so a stop before its "
                                 "end is not the recipe at that budget; this benchmark needs a constant rate")
            stops += run_recipe(name, args.seed, budgets, Path(folder), probes, scorer, bool(args.keep_runs))
    print(table(stops, args.n, args.inception_n if inception else 0))
    if args.json:
        Path(args.json).write_text(json.dumps([stop.__dict__ for stop in stops], indent=2, default=str))
        print(f"written to {args.json}")


if __name__ == "__main__":
    main()
