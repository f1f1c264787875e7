"""Precision/recall and density/coverage against brute-force k-NN loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganforge.errors import ConfigError
from ganforge.metrics import prdc
from ganforge.metrics.prdc import density_coverage, precision_recall


def knn_radius(points: list[list[float]], i: int, k: int) -> float:
    """Distance from points[i] to its k-th nearest other point."""
    return sorted(math.dist(points[i], q) for j, q in enumerate(points) if j != i)[k - 1]


def brute_force_prdc(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float, float, float]:
    r, f = real.tolist(), fake.tolist()
    real_radii = [knn_radius(r, i, k) for i in range(len(r))]
    fake_radii = [knn_radius(f, j, k) for j in range(len(f))]
    precision = sum(any(math.dist(y, x) <= real_radii[i] for i, x in enumerate(r)) for y in f) / len(f)
    recall = sum(any(math.dist(x, y) <= fake_radii[j] for j, y in enumerate(f)) for x in r) / len(r)
    density = sum(math.dist(y, x) <= real_radii[i] for i, x in enumerate(r) for y in f) / (k * len(f))
    coverage = sum(any(math.dist(y, x) <= real_radii[i] for y in f) for i, x in enumerate(r)) / len(r)
    return precision, recall, density, coverage


def point_sets(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # partly overlapping clouds so no metric is trivially 0 or 1
    return rng.standard_normal((60, 5)), rng.standard_normal((50, 5)) * 1.4 + 0.6


@pytest.mark.parametrize(("seed", "k"), [(0, 3), (1, 5), (2, 1)])
def test_matches_brute_force(seed: int, k: int) -> None:
    real, fake = point_sets(seed)
    precision, recall, density, coverage = brute_force_prdc(real, fake, k)
    assert 0 < precision < 1 and 0 < recall < 1 and 0 < coverage < 1  # the check would catch a swap
    assert precision_recall(real, fake, k=k) == pytest.approx((precision, recall), abs=1e-12)
    assert density_coverage(real, fake, k=k) == pytest.approx((density, coverage), abs=1e-12)


def test_small_blocks_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    real, fake = point_sets(3)
    expected = precision_recall(real, fake), density_coverage(real, fake)
    monkeypatch.setattr(prdc, "_BLOCK_ELEMENTS", 7 * 60)  # 7-row blocks, with a ragged last block
    assert (precision_recall(real, fake), density_coverage(real, fake)) == expected


def test_far_from_the_origin_matches_brute_force_at_the_origin() -> None:
    real, fake = point_sets(6)
    # multiples of 1/1024 stay exact in float32 near 1e4, so only the distance arithmetic can differ
    real, fake = np.round(real * 1024) / 1024, np.round(fake * 1024) / 1024
    precision, recall, density, coverage = brute_force_prdc(real, fake, 3)
    assert precision_recall(real + 1e4, fake + 1e4) == pytest.approx((precision, recall), abs=1e-12)
    assert density_coverage(real + 1e4, fake + 1e4, k=3) == pytest.approx((density, coverage), abs=1e-12)


def test_identical_sets_have_full_precision_recall_and_coverage() -> None:
    real = np.random.default_rng(4).standard_normal((200, 64))
    assert precision_recall(real, real) == (1.0, 1.0)
    assert density_coverage(real, real)[1] == 1.0


def test_disjoint_sets_score_zero() -> None:
    real = torch.randn(80, 8, generator=torch.Generator().manual_seed(5))
    assert precision_recall(real, real + 100) == (0.0, 0.0)
    assert density_coverage(real, real + 100) == (0.0, 0.0)


@pytest.mark.parametrize(("real", "fake", "k", "message"), [
    (np.zeros(10), np.zeros((10, 3)), 3, "real must be a 2-D"),
    (np.zeros((10, 3)), np.zeros((10, 2)), 3, "same feature dimension"),
    (np.zeros((10, 3)), np.full((10, 3), np.inf), 3, "fake contains NaN or inf"),
    (np.zeros((10, 3)), np.zeros((4, 3)), 4, "k must be between 1 and the smaller set size minus 1"),
    (np.zeros((10, 3)), np.zeros((10, 3)), 0, "k must be between 1"),
])
def test_bad_input_raises_config_error(real: np.ndarray, fake: np.ndarray, k: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        precision_recall(real, fake, k=k)
    with pytest.raises(ConfigError, match=message):
        density_coverage(real, fake, k=k)
