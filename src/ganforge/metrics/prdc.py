"""k-NN precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020) on feature arrays."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.metrics.fid import ArrayLike, as_features, check_same_dim

_BLOCK_ELEMENTS = 2**25  # 128 MB of float32 distances per block: 10,000 x 10,000 in a few blocks


def _prepare(real: ArrayLike, fake: ArrayLike, k: int) -> tuple[Tensor, Tensor]:
    x = as_features(real, "real", torch.float32, min_samples=2)
    y = as_features(fake, "fake", torch.float32, min_samples=2).to(x.device)
    check_same_dim(x, y)
    if not 1 <= k < min(x.shape[0], y.shape[0]):
        raise ConfigError(f"k must be between 1 and the smaller set size minus 1 "
                          f"({min(x.shape[0], y.shape[0]) - 1}), got {k}")
    # distances are translation invariant; centring keeps |a|^2 + |b|^2 - 2ab from cancelling in float32
    centre = x.mean(dim=0, dtype=torch.float64).float()
    return x - centre, y - centre


def _row_blocks(rows: Tensor, cols: Tensor) -> Iterator[tuple[int, Tensor]]:
    """Yield (start, squared distances of a block of rows to all cols), within the block memory budget."""
    step = max(1, _BLOCK_ELEMENTS // cols.shape[0])
    cols_sq = cols.square().sum(dim=1)
    for start in range(0, rows.shape[0], step):
        block = rows[start : start + step]
        d2 = block @ cols.T
        d2.mul_(-2).add_(block.square().sum(dim=1, keepdim=True)).add_(cols_sq)
        yield start, d2.clamp_min_(0)


def _knn_radii_sq(x: Tensor, k: int) -> Tensor:
    """Squared distance from each point to its k-th nearest other point."""
    radii = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for start, d2 in _row_blocks(x, x):
        # the k+1 smallest include the point itself at distance 0
        radii[start : start + d2.shape[0]] = d2.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3) -> tuple[float, float]:
    """Fraction of fake samples inside some real k-NN ball, and of real samples inside some fake k-NN ball."""
    x, y = _prepare(real, fake, k)
    real_radii, fake_radii = _knn_radii_sq(x, k), _knn_radii_sq(y, k)
    fake_inside = 0
    real_inside = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for start, d2 in _row_blocks(y, x):
        fake_inside += int((d2 <= real_radii).any(dim=1).sum())
        real_inside |= (d2 <= fake_radii[start : start + d2.shape[0], None]).any(dim=0)
    return fake_inside / y.shape[0], float(real_inside.double().mean())


def density_coverage(real: ArrayLike, fake: ArrayLike, k: int = 5) -> tuple[float, float]:
    """Mean count of real k-NN balls holding each fake sample over k, and fraction of real balls holding a fake."""
    x, y = _prepare(real, fake, k)
    real_radii = _knn_radii_sq(x, k)
    memberships = 0
    covered = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for _, d2 in _row_blocks(y, x):
        inside = d2 <= real_radii
        memberships += int(inside.sum())
        covered |= inside.any(dim=0)
    return memberships / (k * y.shape[0]), float(covered.double().mean())
