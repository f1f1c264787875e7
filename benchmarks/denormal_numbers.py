"""What denormal numbers (below float32's normal range, 1.2e-38) cost a training step on this CPU, and what
flushing them to zero (as the trainer does on the CPU) saves.

One backward pass of the SRGAN recipe's D (`configs/photos_srgan.toml`) on 192 px crops: once with its loss as
it is, once with the loss scaled by 1e-39 so that its gradients are denormal (as they become where a saturated
D's or a decaying optimiser state's values sink toward zero), each with flushing off and on. Run it one-thread.

    OMP_NUM_THREADS=1 python benchmarks/denormal_numbers.py
    python benchmarks/denormal_numbers.py --quick          # a smoke test: one small crop, two passes
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from ganforge.data.spec import DataSpec
from ganforge.families import FAMILIES
from ganforge.recipes import load_user_overrides, resolve

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "photos_srgan.toml"
DENORMAL_SCALE = 1e-39


def discriminator(resolution: int) -> torch.nn.Module:
    config = resolve(load_user_overrides(str(RECIPE), {"data.resolution": resolution}))
    spec = DataSpec(name="photos", kind="image", shape=(3, resolution, resolution), pairs="downscale4",
                    source_shape=(3, resolution // 4, resolution // 4))
    return FAMILIES["srgan"](config, spec).nets["discriminator"]


def backward_ms(net: torch.nn.Module, crops: torch.Tensor, scale: float, flush: bool, passes: int) -> float:
    torch.set_flush_denormal(flush)
    times = []
    for _ in range(passes):
        net.zero_grad()
        start = time.perf_counter()
        (net(crops).mean() * scale).backward()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16, help="crops per pass (the paper's batch)")
    parser.add_argument("--resolution", type=int, default=192, help="crop side in pixels (the recipe's)")
    parser.add_argument("--passes", type=int, default=5, help="timed passes per cell (the median is printed)")
    parser.add_argument("--quick", action="store_true", help="one 32 px crop, two passes")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.resolution, args.passes = 1, 32, 2
    if not torch.set_flush_denormal(False):
        raise SystemExit("error: this CPU cannot flush denormal numbers (torch.set_flush_denormal is unsupported)")
    torch.manual_seed(0)
    net = discriminator(args.resolution)
    crops = torch.rand(args.batch, 3, args.resolution, args.resolution) * 2 - 1
    net(crops).mean().backward()  # warm-up
    print(f"D of {RECIPE.name}, {args.batch} crops of {args.resolution} px, threads {torch.get_num_threads()}; "
          f"median of {args.passes} backward passes (ms)")
    print(f"{'gradients':<28}{'flush off':>12}{'flush on':>12}")
    cells = {}
    for label, scale in (("normal", 1.0), (f"denormal (loss x {DENORMAL_SCALE:g})", DENORMAL_SCALE)):
        off, on = (backward_ms(net, crops, scale, flush, args.passes) for flush in (False, True))
        cells[label] = (off, on)
        print(f"{label:<28}{off:>12.1f}{on:>12.1f}")
    torch.set_flush_denormal(False)
    (normal_off, _), (denormal_off, denormal_on) = cells.values()
    print(f"denormal gradients without flushing: {denormal_off / normal_off:.1f}x the normal pass; "
          f"with flushing: {denormal_on / normal_off:.2f}x")


if __name__ == "__main__":
    main()
