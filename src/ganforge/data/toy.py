"""2-D Gaussian mixtures of PacGAN (Lin et al. 2018): ring of 8 and grid of 25."""

from __future__ import annotations

import math

import numpy as np

TOY_SAMPLES = 100_000
TOY_DATA_SEED = 1234  # the training set is the same for every run


def ring_centres(modes: int = 8, radius: float = 1.0) -> np.ndarray:
    angles = 2 * math.pi * np.arange(modes) / modes
    return np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)


def grid_centres(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    coords = -spacing * (side - 1) / 2 + spacing * np.arange(side)
    return np.array([(x, y) for x in coords for y in coords], dtype=np.float64)


TOY_MIXTURES: dict[str, tuple[np.ndarray, float]] = {
    "ring": (ring_centres(), 0.01),   # 8 modes on a circle of radius 1, std 0.01
    "grid": (grid_centres(), 0.05),   # 25 modes at (-4 + 2i, -4 + 2j), std 0.05
}


def sample_mixture(name: str, n: int = TOY_SAMPLES, seed: int = TOY_DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """n points from the named mixture, equal weights; returns (points float32, component index)."""
    centres, std = TOY_MIXTURES[name]
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(centres), size=n)
    points = centres[labels] + std * rng.standard_normal((n, 2))
    return points.astype(np.float32), labels.astype(np.int64)
