"""FID against pytorch-fid's formula, torchmetrics' FrechetInceptionDistance and an exact low-rank form."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg
from torchmetrics.image.fid import FrechetInceptionDistance

from ganforge.errors import ConfigError
from ganforge.metrics.fid import feature_statistics, fid_from_features, frechet_distance


def pytorch_fid_frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                                 eps: float = 1e-6) -> float:
    """pytorch-fid's calculate_frechet_distance (without its deprecated sqrtm disp argument)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"Imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def features(n: int, d: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = rng.standard_normal((d, d)) / np.sqrt(d)  # correlated features, as real embeddings are
    return (rng.standard_normal((n, d)) @ mixing) * scale + shift


def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize(("n", "d"), [(2000, 64), (1000, 192)])
def test_matches_pytorch_fid_formula(n: int, d: int) -> None:
    real, fake = features(n, d, seed=0), features(n + 100, d, seed=1, scale=1.3, shift=0.05)
    expected = pytorch_fid_frechet_distance(*feature_statistics(real), *feature_statistics(fake))
    assert relative_difference(fid_from_features(real, fake), expected) <= 1e-5


@pytest.mark.slow
def test_matches_pytorch_fid_formula_on_2048_dim_features() -> None:
    # scipy's sqrtm of a 2048 x 2048 product takes tens of seconds on a laptop CPU, hence slow
    real, fake = features(3000, 2048, seed=2), features(3000, 2048, seed=3, scale=1.1, shift=0.02)
    expected = pytorch_fid_frechet_distance(*feature_statistics(real), *feature_statistics(fake))
    assert relative_difference(fid_from_features(real, fake), expected) <= 1e-5


class FixedLinearFeatures(torch.nn.Module):
    """A fixed random projection of 3x8x8 images to 48 features, standing in for Inception."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weight", torch.randn(3 * 8 * 8, 48, generator=torch.Generator().manual_seed(7)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1).double() @ self.weight.double()


def test_matches_torchmetrics_with_the_same_feature_module() -> None:
    generator = torch.Generator().manual_seed(0)
    real_images = torch.rand(400, 3, 8, 8, generator=generator)
    fake_images = torch.rand(300, 3, 8, 8, generator=generator) ** 1.5
    extractor = FixedLinearFeatures()
    # no num_features attribute: torchmetrics probes the module with a float image of input_img_size
    metric = FrechetInceptionDistance(feature=extractor, normalize=True, input_img_size=(3, 8, 8))
    metric.update(real_images, real=True)
    metric.update(fake_images, real=False)
    expected = float(metric.compute())
    with torch.no_grad():
        ours = fid_from_features(extractor(real_images), extractor(fake_images))
    assert relative_difference(ours, expected) <= 1e-5


def low_rank_fid(real: np.ndarray, fake: np.ndarray) -> float:
    """Exact FID when N < D: the eigenvalues of S1 S2 are the squared singular values of A B^T / sqrt(..)."""
    a, b = real - real.mean(0), fake - fake.mean(0)
    n, m = len(real) - 1, len(fake) - 1
    trace_sqrt = np.linalg.svd(a @ b.T, compute_uv=False).sum() / np.sqrt(n * m)
    diff = real.mean(0) - fake.mean(0)
    return float(diff @ diff + (a * a).sum() / n + (b * b).sum() / m - 2 * trace_sqrt)


@pytest.mark.parametrize(("n", "d"), [(20, 50), (40, 40), (60, 120)])
def test_singular_covariances_match_the_exact_low_rank_form(n: int, d: int) -> None:
    real, fake = features(n, d, seed=4), features(n + 5, d, seed=5, scale=0.7, shift=0.3)
    assert relative_difference(fid_from_features(real, fake), low_rank_fid(real, fake)) <= 1e-6


def test_identical_features_give_zero() -> None:
    real = features(500, 32, seed=6)
    assert abs(fid_from_features(real, real)) < 1e-8


def test_constant_features_give_the_squared_mean_distance() -> None:
    real, fake = np.ones((10, 4)), np.full((12, 4), 3.0)
    assert fid_from_features(real, fake) == pytest.approx(16.0, abs=1e-12)


def test_accepts_torch_tensors_and_numpy_alike() -> None:
    real, fake = features(300, 16, seed=8), features(300, 16, seed=9, shift=0.5)
    assert fid_from_features(torch.from_numpy(real).float(), torch.from_numpy(fake)) == pytest.approx(
        fid_from_features(real.astype(np.float32), fake), rel=1e-12)


def test_feature_statistics_are_float64_mean_and_unbiased_covariance() -> None:
    x = features(50, 6, seed=10).astype(np.float32)
    mu, sigma = feature_statistics(x)
    assert mu.dtype == sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("real", "fake", "message"), [
    (np.zeros(10), np.zeros((10, 3)), "real must be a 2-D"),
    (np.zeros((10, 3)), np.zeros((10, 4)), "same feature dimension"),
    (np.zeros((1, 3)), np.zeros((10, 3)), "real needs at least 2 samples"),
    (np.zeros((10, 3)), np.full((10, 3), np.nan), "fake contains NaN or inf"),
    (np.zeros((10, 3)), np.full((10, 3), np.inf), "fake contains NaN or inf"),
])
def test_bad_features_raise_config_error(real: np.ndarray, fake: np.ndarray, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        fid_from_features(real, fake)


def test_mismatched_statistics_raise_config_error() -> None:
    mu, sigma = np.zeros(3), np.eye(3)
    with pytest.raises(ConfigError, match="sigma2 must have shape"):
        frechet_distance(mu, sigma, mu, np.eye(4))
    with pytest.raises(ConfigError, match="mu1 must be a 1-D"):
        frechet_distance(sigma, sigma, mu, sigma)
    with pytest.raises(ConfigError, match="sigma1 contains NaN"):
        frechet_distance(mu, np.full((3, 3), np.nan), mu, sigma)
