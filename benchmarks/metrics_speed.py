"""Evaluation speed: images/s through ganforge's Inception extractor, and the wall time of one FID,
against torchmetrics' FrechetInceptionDistance driving the same TorchScript network, in one process.

Both FIDs compare two disjoint sets of real MNIST digits (n each). torchmetrics gets the network
wrapped as its feature module with the resize it would use itself (torch bilinear to 299x299);
ganforge uses its clean-fid preprocessing (PIL bicubic). The network forward dominates both.

    python benchmarks/metrics_speed.py --n 10000        # the issue's setting (about 2 x 25 min on a 2-core CPU)
    python benchmarks/metrics_speed.py --n 500          # what BENCHMARKS.md records for the CPU
    python benchmarks/metrics_speed.py --quick          # a smoke test
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.config import DataConfig
from ganforge.data import load_data
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.inception import RESOLUTION, InceptionFeatures, load_network


class TorchmetricsInception(nn.Module):
    """The same TorchScript trunk as torchmetrics' feature module: uint8 in, torch resize, 2048-d out."""

    num_features = 2048

    def __init__(self, device: torch.device) -> None:
        super().__init__()
        self.network = load_network(device)

    def forward(self, images: Tensor) -> Tensor:
        x = images.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)
        return self.network((x - 128.0) / 128.0)


def digits(n: int) -> tuple[Tensor, Tensor]:
    """Two disjoint sets of n real digits (uint8, 1 x 28 x 28), drawn with a fixed seed."""
    data = load_data(DataConfig(source="mnist")).x
    if 2 * n > len(data):
        data = data.repeat(2 * n // len(data) + 1, 1, 1, 1)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
    return data[order[:n]], data[order[n : 2 * n]]


def ganforge_fid(real: Tensor, fake: Tensor, device: torch.device) -> tuple[float, float, float]:
    """(FID, seconds for the whole FID, seconds of feature extraction alone), at the extractor's own batch size."""
    start = time.perf_counter()
    extractor = InceptionFeatures(device)
    real_features, fake_features = extractor.extract(real).features, extractor.extract(fake).features
    extracted = time.perf_counter()
    value = fid_from_features(real_features, fake_features)
    return value, time.perf_counter() - start, extracted - start


def torchmetrics_fid(real: Tensor, fake: Tensor, device: torch.device, batch: int) -> tuple[float, float]:
    from torchmetrics.image.fid import FrechetInceptionDistance

    start = time.perf_counter()
    metric = FrechetInceptionDistance(feature=TorchmetricsInception(device)).to(device)
    for images, is_real in ((real, True), (fake, False)):
        for chunk in images.split(batch):
            metric.update(chunk.to(device), real=is_real)
    value = float(metric.compute())
    return value, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="samples per set (real and fake)")
    parser.add_argument("--batch", type=int, default=32, help="torchmetrics' update size (a typical user's)")
    parser.add_argument("--same-batch", action="store_true",
                        help="also time torchmetrics at ganforge's own batch size (isolates the batch size's share)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="32 samples per set: a smoke test")
    args = parser.parse_args()
    n = 32 if args.quick else args.n
    device = torch.device(args.device)
    real, fake = digits(n)
    load_network(device)  # load and verify once, outside both timings
    warm = InceptionFeatures(device)
    warm.extract(real[: args.batch], args.batch)  # first-call JIT profiling, outside both timings

    # The extractor's rate is read off ganforge's FID itself: a separate pass would cost another n images.
    ours, ours_seconds, extraction_seconds = ganforge_fid(real, fake, device)
    extractor_rate = 2 * n / extraction_seconds
    theirs, theirs_seconds = torchmetrics_fid(real, fake, device, args.batch)
    print(f"FID speed: {n} real vs {n} real MNIST digits, device {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"  ganforge Inception extractor   {extractor_rate:8.2f} images/s (batch {warm.default_batch_size})")
    print(f"  ganforge FID                   {ours_seconds:8.1f} s  (FID {ours:.4f}, PIL bicubic resize)")
    print(f"  torchmetrics FID, same network {theirs_seconds:8.1f} s  (FID {theirs:.4f}, torch bilinear resize, "
          f"batch {args.batch})")
    print(f"  speed ratio ganforge / torchmetrics: {theirs_seconds / ours_seconds:.3f}x")
    if args.same_batch:
        _, same_seconds = torchmetrics_fid(real, fake, device, warm.default_batch_size)
        print(f"  torchmetrics FID at batch {warm.default_batch_size}    {same_seconds:8.1f} s  "
              f"(speed ratio {same_seconds / ours_seconds:.3f}x)")


if __name__ == "__main__":
    main()
