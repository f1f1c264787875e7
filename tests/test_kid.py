"""KID against torchmetrics' KernelInceptionDistance (same subsets) and a brute-force unbiased MMD^2."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from torchmetrics.image.kid import KernelInceptionDistance

from ganforge.errors import ConfigError
from ganforge.metrics.kid import kid_from_features


class Identity(torch.nn.Module):
    """Features in, the same features out: torchmetrics then scores exactly the arrays we score."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def torchmetrics_kid(real: torch.Tensor, fake: torch.Tensor, subsets: int, subset_size: int,
                     seed: int) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # its "saves all features in a buffer" notice
        metric = KernelInceptionDistance(feature=Identity(), subsets=subsets, subset_size=subset_size)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    # torchmetrics draws its subsets from the global generator; seeding it the same way reproduces ours
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def sample(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def test_matches_torchmetrics_on_the_same_random_subsets() -> None:
    real, fake = sample(300, 32, seed=0), sample(250, 32, seed=1, shift=0.3)
    ours = kid_from_features(real, fake, subsets=20, subset_size=100, seed=5)
    expected = torchmetrics_kid(real, fake, subsets=20, subset_size=100, seed=5)
    assert relative_difference(ours[0], expected[0]) <= 1e-5
    assert relative_difference(ours[1], expected[1]) <= 1e-5


def test_matches_torchmetrics_on_one_subset_of_everything() -> None:
    real, fake = sample(200, 64, seed=2), sample(200, 64, seed=3, shift=0.2)
    ours, _ = kid_from_features(real.numpy(), fake.numpy(), subsets=1, subset_size=200)
    expected, _ = torchmetrics_kid(real, fake, subsets=1, subset_size=200, seed=123)  # permutation is irrelevant
    assert relative_difference(ours, expected) <= 1e-5


def brute_force_mmd2(x: list[list[float]], y: list[list[float]]) -> float:
    d, m = len(x[0]), len(x)

    def k(a: list[float], b: list[float]) -> float:
        return (sum(p * q for p, q in zip(a, b, strict=True)) / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2))
    xy = sum(k(a, b) for a in x for b in y)
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / m**2


def test_subset_average_equals_brute_force_on_the_drawn_subsets() -> None:
    real, fake = sample(30, 4, seed=4), sample(25, 4, seed=5, shift=0.5)
    generator = torch.Generator().manual_seed(9)
    scores = []
    for _ in range(3):
        real_idx = torch.randperm(30, generator=generator)[:12]
        fake_idx = torch.randperm(25, generator=generator)[:12]
        scores.append(brute_force_mmd2(real[real_idx].tolist(), fake[fake_idx].tolist()))
    mean, std = kid_from_features(real, fake, subsets=3, subset_size=12, seed=9)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)


def test_same_seed_reproduces_and_another_seed_differs() -> None:
    real, fake = sample(120, 8, seed=6), sample(120, 8, seed=7, shift=0.2)
    first = kid_from_features(real, fake, subsets=5, subset_size=50, seed=1)
    assert kid_from_features(real, fake, subsets=5, subset_size=50, seed=1) == first
    assert kid_from_features(real, fake, subsets=5, subset_size=50, seed=2) != first


def test_subset_size_is_capped_at_the_smaller_set() -> None:
    real, fake = sample(40, 8, seed=8), sample(30, 8, seed=9, shift=0.2)
    assert kid_from_features(real, fake, subsets=3, subset_size=1000) == kid_from_features(
        real, fake, subsets=3, subset_size=30)


def test_shifted_distribution_scores_higher_than_the_same_distribution() -> None:
    real = sample(400, 16, seed=10)
    same, _ = kid_from_features(real, sample(400, 16, seed=11), subsets=10, subset_size=200)
    shifted, _ = kid_from_features(real, sample(400, 16, seed=12, shift=0.5), subsets=10, subset_size=200)
    assert abs(same) < 0.01 < shifted


@pytest.mark.parametrize(("real", "fake", "kwargs", "message"), [
    (np.zeros((10, 3, 1)), np.zeros((10, 3)), {}, "real must be a 2-D"),
    (np.zeros((10, 3)), np.zeros((10, 5)), {}, "same feature dimension"),
    (np.zeros((10, 3)), np.zeros((1, 3)), {}, "fake needs at least 2 samples"),
    (np.full((10, 3), np.nan), np.zeros((10, 3)), {}, "real contains NaN or inf"),
    (np.zeros((10, 3)), np.zeros((10, 3)), {"subsets": 0}, "subsets must be at least 1"),
    (np.zeros((10, 3)), np.zeros((10, 3)), {"subset_size": 1}, "subset_size must be at least 2"),
])
def test_bad_input_raises_config_error(real: np.ndarray, fake: np.ndarray, kwargs: dict[str, int],
                                       message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        kid_from_features(real, fake, **kwargs)
