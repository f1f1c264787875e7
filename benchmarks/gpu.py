"""The GPU path: images/s of the recommended image recipe at 64 and 128 px for fp32, bf16 autocast,
channels_last and torch.compile; the share of GPU time spent in kernels (torch.profiler); and the wall time of
one FID of 10,000 generated images against 10,000 real ones with the standard Inception.

All training data is moved to the GPU once (no per-step host copies). Each row trains the recommended image
recipe (R3GAN's loss + lazy R1/R2 on DCGAN nets) on MNIST resized to the resolution, 3 channels, batch 64;
images/s is measured over `--steps` steps after `--warmup` steps (compilation and cuDNN autotuning happen there).

    python benchmarks/gpu.py                     # on a CUDA machine: the table for BENCHMARKS.md
    python benchmarks/gpu.py --quick             # tiny sizes on whatever device there is (a smoke test)
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import torch

from ganforge.config import DataConfig
from ganforge.data import TensorData, load_data
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.inception import InceptionFeatures
from ganforge.recipes import resolve
from ganforge.train.rundir import RunDir
from ganforge.train.trainer import Trainer

VARIANTS: dict[str, dict[str, object]] = {
    "fp32": {"train.precision": "fp32", "train.channels_last": False},
    "fp32 + channels_last": {"train.precision": "fp32", "train.channels_last": True},
    "bf16 autocast": {"train.precision": "bf16", "train.channels_last": False},
    "bf16 + channels_last": {"train.precision": "bf16", "train.channels_last": True},
    "bf16 + channels_last + compile": {"train.precision": "bf16", "train.channels_last": True, "train.compile": True},
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def trainer_for(data: TensorData, resolution: int, steps: int, device: str, variant: dict[str, object],
                folder: Path, width: int) -> Trainer:
    config = resolve({"data.source": "mnist", "data.resolution": resolution, "data.channels": 3,
                      "train.steps": steps, "train.batch_size": 64, "train.device": device,
                      "train.progress": False, "train.diagnostics": False, "train.log_every": 100,
                      "train.sample_every": 10**9, "train.checkpoint_every": 10**9, "model.g_width": width,
                      "model.d_width": width, **variant})
    trainer = Trainer(config, RunDir(folder / "run"), data)
    trainer.run.root.mkdir(parents=True, exist_ok=True)
    trainer._save = lambda step: folder  # type: ignore[method-assign,assignment,return-value]  # not timed: no I/O
    trainer.save_sample_grid = lambda path: None  # type: ignore[method-assign]
    return trainer


def run_until(trainer: Trainer, step: int) -> None:
    config = trainer.config
    trainer.config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=step))
    trainer.fit()


def images_per_second(trainer: Trainer, warmup: int, steps: int) -> float:
    """Train `warmup` steps, then time `steps` more."""
    device = trainer.backend.device
    run_until(trainer, warmup)
    synchronize(device)
    start = time.perf_counter()
    run_until(trainer, warmup + steps)
    synchronize(device)
    return steps * trainer.config.train.batch_size / (time.perf_counter() - start)


def kernel_share(trainer: Trainer, steps: int) -> float | None:
    """Fraction of wall time the GPU spends in kernels over `steps` steps (None without CUDA)."""
    if trainer.backend.device.type != "cuda":
        return None
    from torch.profiler import ProfilerActivity, profile

    synchronize(trainer.backend.device)
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        run_until(trainer, trainer.step + steps)
        synchronize(trainer.backend.device)
    wall_us = (time.perf_counter() - start) * 1e6
    kernels = sum(e.device_time_total for e in prof.key_averages() if e.device_type.name == "CUDA"
                  and not e.key.startswith(("Memcpy", "Memset")))
    return min(1.0, kernels / wall_us)


def fid_wall_time(trainer: Trainer, real: TensorData, n: int, device: str) -> tuple[float, float]:
    """(seconds, FID) for n generated images against n real ones, on `device`, features included."""
    start = time.perf_counter()
    extractor = InceptionFeatures(device)
    generated = trainer.generate(trainer.family.sample_latent(n, "cpu", torch.Generator().manual_seed(0)))
    count = min(n, len(real))
    real_images = real.x[:count]
    fake = extractor.extract(generated, batch_size=200).features
    genuine = extractor.extract(real_images, batch_size=200).features
    value = fid_from_features(genuine, fake)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--resolutions", default="64,128")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--fid-n", type=int, default=10_000)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no compile: a smoke test")
    args = parser.parse_args()
    variants = dict(VARIANTS)
    if args.quick:
        args.resolutions, args.steps, args.warmup, args.fid_n, args.width = "16", 2, 1, 0, 8
        variants.pop("bf16 + channels_last + compile")
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"device {name}, torch {torch.__version__}, batch 64, {args.steps} timed steps after {args.warmup}")
    with tempfile.TemporaryDirectory() as folder:
        for resolution in (int(r) for r in args.resolutions.split(",")):
            data = load_data(DataConfig(source="mnist", resolution=resolution, channels=3))
            data = data.to(torch.device(args.device))  # all data on the device: no per-step host copies
            print(f"\n{resolution} px | images/s | GPU time in kernels")
            last = None
            for label, variant in variants.items():
                trainer = trainer_for(data, resolution, args.warmup + args.steps, args.device, variant,
                                      Path(folder) / f"{resolution}-{len(label)}", args.width)
                rate = images_per_second(trainer, args.warmup, args.steps)
                share = kernel_share(trainer, min(args.steps, 20))
                print(f"{label} | {rate:.1f} | {'n/a' if share is None else f'{share:.0%}'}", flush=True)
                last = trainer
            if args.fid_n and last is not None:
                seconds, value = fid_wall_time(last, load_data(DataConfig(source="mnist", channels=3)), args.fid_n,
                                               args.device)
                print(f"FID of {args.fid_n} generated vs {min(args.fid_n, 5000)} real MNIST digits: {seconds:.1f} s "
                      f"wall (FID {value:.1f})")


if __name__ == "__main__":
    main()
