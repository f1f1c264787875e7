"""Fréchet Inception Distance on feature arrays, following Heusel et al. 2017 (arXiv:1706.08500)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ganforge.errors import ConfigError

ArrayLike = np.ndarray | Tensor


def as_features(x: ArrayLike, name: str, dtype: torch.dtype = torch.float64, min_samples: int = 1) -> Tensor:
    """Validate an (N, D) feature array and return it as a detached tensor of `dtype` on its own device."""
    t = torch.as_tensor(x).detach()
    if t.ndim != 2 or t.shape[1] == 0:
        raise ConfigError(f"{name} must be a 2-D (N, D) array of features, got shape {tuple(t.shape)}")
    if t.shape[0] < min_samples:
        raise ConfigError(f"{name} needs at least {min_samples} samples, got {t.shape[0]}")
    t = t.to(dtype)
    # checked after the cast: a float64 value beyond float32's range becomes inf here
    if not bool(torch.isfinite(t).all()):
        raise ConfigError(f"{name} contains NaN or inf values; check the feature extractor's inputs")
    return t


def check_same_dim(real: Tensor, fake: Tensor) -> None:
    """Raise ConfigError unless both feature arrays have the same number of columns."""
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(
            f"real and fake must have the same feature dimension, got {real.shape[1]} and {fake.shape[1]}")


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of (N, D) features, in float64."""
    x = as_features(features, "features", min_samples=2).cpu()
    mu = x.mean(dim=0)
    centred = x - mu
    sigma = centred.T @ centred / (x.shape[0] - 1)
    return mu.numpy(), sigma.numpy()


def _cholesky_or_none(a: Tensor) -> Tensor | None:
    factor, info = torch.linalg.cholesky_ex(a)
    return factor if int(info) == 0 else None


def _trace_sqrt_product(sigma1: Tensor, sigma2: Tensor) -> Tensor:
    """Tr sqrt(S1 S2) for symmetric PSD S1, S2, as the sum of sqrt-eigenvalues of L^T S2 L with S1 = L L^T."""
    # eig(S1 S2) = eig(L^T S2 L), which is symmetric PSD: eigvalsh is cheaper and more accurate than the
    # general sqrtm/eigvals of the non-symmetric product, and Cholesky is the cheapest factor L.
    factor, other = _cholesky_or_none(sigma1), sigma2
    if factor is None:
        factor, other = _cholesky_or_none(sigma2), sigma1
    if factor is None:
        # both singular (fewer samples than dims): the symmetric square root is a factor that always exists
        w, v = torch.linalg.eigh(sigma1)
        factor, other = v * w.clamp_min(0).sqrt(), sigma2
    m = factor.T @ other @ factor
    eigenvalues = torch.linalg.eigvalsh((m + m.T) / 2)
    # rounding leaves tiny negative eigenvalues where the true ones are 0
    return eigenvalues.clamp_min(0).sqrt().sum()


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)) between two Gaussians; covariances may be singular."""
    m1, m2 = (torch.as_tensor(m).detach().cpu().double() for m in (mu1, mu2))
    s1, s2 = (torch.as_tensor(s).detach().cpu().double() for s in (sigma1, sigma2))
    if m1.ndim != 1:
        raise ConfigError(f"mu1 must be a 1-D mean vector, got shape {tuple(m1.shape)}")
    d = m1.shape[0]
    for name, value, shape in (("mu2", m2, (d,)), ("sigma1", s1, (d, d)), ("sigma2", s2, (d, d))):
        if tuple(value.shape) != shape:
            raise ConfigError(f"{name} must have shape {shape} to match mu1, got {tuple(value.shape)}")
        if not bool(torch.isfinite(value).all()):
            raise ConfigError(f"{name} contains NaN or inf values")
    if not bool(torch.isfinite(m1).all()):
        raise ConfigError("mu1 contains NaN or inf values")
    diff = m1 - m2
    distance = diff @ diff + s1.trace() + s2.trace() - 2 * _trace_sqrt_product(s1, s2)
    return float(distance)


def fid_from_features(real: ArrayLike, fake: ArrayLike) -> float:
    """FID between (N, D) real and (M, D) fake features (numpy arrays or torch tensors)."""
    x = as_features(real, "real", min_samples=2)
    y = as_features(fake, "fake", min_samples=2)
    check_same_dim(x, y)
    return frechet_distance(*feature_statistics(x), *feature_statistics(y))
