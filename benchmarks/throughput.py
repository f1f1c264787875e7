"""DCGAN training throughput: ganforge's trainer against a plain PyTorch loop written like pytorch/examples dcgan.

Both run in this process on the same data (scikit-learn's digits resized to the benchmark size, 3
channels), with the same nets, BCE, Adam(2e-4, 0.5) and one fake batch per step reused for both updates.
Runs alternate (ganforge, reference, ganforge, ...) and the median images/s of each is reported.

    python benchmarks/throughput.py                  # 64x64, batch 64, 3 channels (the issue's setting)
    python benchmarks/throughput.py --quick          # tiny sizes, a smoke test
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ganforge.config import from_overrides
from ganforge.data import TensorData, load_data
from ganforge.train.rundir import RunDir
from ganforge.train.trainer import Trainer


def reference_nets(nz: int, ngf: int, ndf: int, nc: int) -> tuple[nn.Module, nn.Module]:
    """pytorch/examples dcgan/main.py's Generator and Discriminator (64x64)."""
    generator = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
    discriminator = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def weights_init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)

    generator.apply(weights_init)
    discriminator.apply(weights_init)
    return generator, discriminator


def reference_loop(data: TensorData, steps: int, batch_size: int, nz: int, width: int, device: torch.device) -> float:
    """The pytorch/examples DCGAN iteration; returns images/s."""
    torch.manual_seed(0)
    net_g, net_d = reference_nets(nz, width, width, data.spec.shape[0])
    net_g.to(device)
    net_d.to(device)
    criterion = nn.BCELoss()
    optimizer_d = torch.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_g = torch.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    order = torch.randperm(len(data))
    start = time.perf_counter()
    for i in range(steps):
        index = order[(i * batch_size) % (len(data) - batch_size):][:batch_size]
        real = data.batch(index, device)["x"]
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        net_d.zero_grad()
        label = torch.full((batch_size,), 1.0, device=device)
        output = net_d(real).view(-1)
        error_real = criterion(output, label)
        error_real.backward()
        noise = torch.randn(batch_size, nz, 1, 1, device=device)
        fake = net_g(noise)
        label.fill_(0.0)
        output = net_d(fake.detach()).view(-1)
        error_fake = criterion(output, label)
        error_fake.backward()
        optimizer_d.step()
        # (2) Update G: maximize log(D(G(z)))
        net_g.zero_grad()
        label.fill_(1.0)
        output = net_d(fake).view(-1)
        error_g = criterion(output, label)
        error_g.backward()
        optimizer_g.step()
        _ = (error_real + error_fake).item(), error_g.item()  # the example prints these every step
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - start)


def ganforge_loop(data: TensorData, steps: int, batch_size: int, nz: int, width: int, device: torch.device,
                  ema: bool, overrides: dict[str, object] | None = None, fused_adam: bool = False,
                  warmup: int = 0) -> float:
    """ganforge's Trainer.fit() for `steps` steps, logging included; returns images/s of the steps.

    `overrides` are config keys (e.g. train.channels_last); `fused_adam` swaps in torch's fused Adam;
    `warmup` steps run before the clock starts (torch.compile compiles during them).
    """
    settings = {
        "data.source": "digits", "model.family": "dcgan", "model.arch": "dcgan", "model.d_norm": "batch",
        "model.g_loss": "non-saturating", "model.latent_dim": nz, "model.g_width": width, "model.d_width": width,
        "train.steps": warmup + steps, "train.batch_size": batch_size, "train.ema": ema, "train.progress": False,
        "train.log_every": 50, "train.sample_every": 10**9, "train.checkpoint_every": 10**9,
        "train.device": device.type, "train.threads": torch.get_num_threads(), **(overrides or {}),
    }
    config = from_overrides(settings)
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(config, RunDir(Path(folder) / "run"), data)
        trainer.run.root.mkdir()
        if fused_adam:
            for name, optimizer in trainer.optimizers.items():
                group = optimizer.param_groups[0]
                trainer.optimizers[name] = torch.optim.Adam(trainer.nets[name].parameters(), lr=group["lr"],
                                                            betas=group["betas"], fused=True)
        # The final checkpoint and sample grid are work the reference does not do: time them apart.
        excluded: list[float] = []

        def timed(function: Callable[..., object]) -> Callable[..., object]:
            def wrapper(*args: object) -> object:
                begin = time.perf_counter()
                result = function(*args)
                excluded.append(time.perf_counter() - begin)
                return result
            return wrapper

        trainer._save = timed(trainer._save)  # type: ignore[method-assign]
        trainer.save_sample_grid = timed(trainer.save_sample_grid)  # type: ignore[method-assign]
        if warmup:
            trainer.config = from_overrides({**settings, "train.steps": warmup})
            trainer.fit()
            trainer.config = config
        excluded.clear()
        start = time.perf_counter()
        trainer.fit()
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start - sum(excluded)
    return steps * batch_size / elapsed


# One row per change measured (issue 14): what each gave on top of the defaults, or what the default replaced.
VARIANTS: dict[str, dict[str, object]] = {
    "ganforge (EMA on)": {"ema": True},
    "ganforge (EMA off)": {"ema": False},
    "ganforge, NCHW (no channels_last)": {"ema": True, "overrides": {"train.channels_last": False}},
    "ganforge + fused Adam": {"ema": True, "fused_adam": True},
    "ganforge + torch.compile": {"ema": True, "overrides": {"train.compile": True}, "warmup": 3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=64, help="ngf = ndf")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each loop")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="add the torch.compile row (minutes of compiling)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.resolution, args.batch, args.width, args.steps, args.repeats = 64, 8, 4, 3, 1
    device = torch.device(args.device)
    data = load_data(from_overrides({"data.source": "digits", "data.resolution": args.resolution,
                                     "data.channels": 3}).data)
    nz = 100
    variants = [name for name in VARIANTS if "compile" not in name or args.compile]
    for loop in (reference_loop, ganforge_loop):  # warm-up (allocator, kernels), not timed
        kwargs = {"ema": True} if loop is ganforge_loop else {}
        loop(data, 2, args.batch, nz, args.width, device, **kwargs)
    results: dict[str, list[float]] = {"reference": [], **{name: [] for name in variants}}
    for _ in range(args.repeats):
        results["reference"].append(reference_loop(data, args.steps, args.batch, nz, args.width, device))
        for name in variants:
            results[name].append(ganforge_loop(data, args.steps, args.batch, nz, args.width, device,
                                               **VARIANTS[name]))  # type: ignore[arg-type]
    print(f"DCGAN {args.resolution}x{args.resolution}x3, batch {args.batch}, width {args.width}, device {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.steps} steps x {args.repeats} runs")
    reference = results["reference"]
    for name, values in results.items():
        # The ratio is the median of each run's ratio to the reference run beside it: neighbours in time share
        # the machine's state, which drifts by more than the effects measured here on a shared VM.
        paired = statistics.median(v / r for v, r in zip(values, reference, strict=True))
        print(f"  {name:34s} {statistics.median(values):8.1f} images/s (runs: {', '.join(f'{v:.1f}' for v in values)})"
              f"  ratio to reference {paired:.3f}")


if __name__ == "__main__":
    main()
