"""Kernel Inception Distance on feature arrays, following Binkowski et al. 2018 (arXiv:1801.01401)."""

from __future__ import annotations

import torch
from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.metrics.fid import ArrayLike, as_features, check_same_dim


def _polynomial_kernel(x: Tensor, y: Tensor) -> Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


def _unbiased_mmd2(x: Tensor, y: Tensor) -> Tensor:
    """Unbiased MMD^2 of two equal-size samples: the diagonals of k(x, x) and k(y, y) are left out."""
    m = x.shape[0]
    k_xx, k_yy = _polynomial_kernel(x, x), _polynomial_kernel(y, y)
    within = k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()
    return within / (m * (m - 1)) - 2 * _polynomial_kernel(x, y).sum() / m**2


def kid_from_features(
    real: ArrayLike, fake: ArrayLike, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Mean and (population) std of the unbiased polynomial-kernel MMD^2 over random subsets.

    Matches torchmetrics' KernelInceptionDistance: each subset draws torch.randperm(len(real)) and then
    torch.randperm(len(fake)) from a generator seeded with `seed`. subset_size is capped at the smaller set.
    """
    x = as_features(real, "real", min_samples=2)
    y = as_features(fake, "fake", min_samples=2).to(x.device)
    check_same_dim(x, y)
    if subsets < 1:
        raise ConfigError(f"subsets must be at least 1, got {subsets}")
    if subset_size < 2:
        raise ConfigError(f"subset_size must be at least 2 (the unbiased estimator leaves one out), got {subset_size}")
    m = min(subset_size, x.shape[0], y.shape[0])
    generator = torch.Generator().manual_seed(seed)
    scores = torch.empty(subsets, dtype=torch.float64)
    for s in range(subsets):
        real_idx = torch.randperm(x.shape[0], generator=generator)[:m].to(x.device)
        fake_idx = torch.randperm(y.shape[0], generator=generator)[:m].to(x.device)
        scores[s] = float(_unbiased_mmd2(x[real_idx], y[fake_idx]))
    return float(scores.mean()), float(scores.std(correction=0))
