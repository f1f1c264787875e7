"""Inception Score on known distributions and against torchmetrics' InceptionScore on the same splits."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torchmetrics.image.inception import InceptionScore

from ganforge.errors import ConfigError
from ganforge.metrics.inception_score import inception_score_from_probs


def test_uniform_one_hot_predictions_score_the_number_of_classes() -> None:
    classes = 10
    # cyclic labels put every class equally often in each contiguous split
    probs = np.eye(classes)[np.arange(1000) % classes]
    mean, std = inception_score_from_probs(probs, splits=10)
    assert mean == pytest.approx(classes, abs=1e-6)
    assert std == pytest.approx(0.0, abs=1e-6)


def test_identical_predictions_score_one() -> None:
    probs = torch.softmax(torch.randn(1, 7, generator=torch.Generator().manual_seed(0)), dim=1).repeat(500, 1)
    mean, std = inception_score_from_probs(probs, splits=5)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_splits_are_contiguous_slices_with_population_std() -> None:
    # first half confident over 4 classes (IS 4), second half identical predictions (IS 1)
    probs = np.concatenate([np.eye(4)[np.arange(40) % 4], np.full((40, 4), 0.25)])
    mean, std = inception_score_from_probs(probs, splits=2)
    assert mean == pytest.approx(2.5)
    assert std == pytest.approx(1.5)


class Identity(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_matches_torchmetrics_on_the_same_splits() -> None:
    logits = torch.randn(600, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # its "saves all features in a buffer" notice
        metric = InceptionScore(feature=Identity(), splits=6)
    metric.update(logits)
    # torchmetrics shuffles with the global generator before chunking; reproduce that shuffle
    with torch.random.fork_rng():
        torch.manual_seed(3)
        order = torch.randperm(600)
        torch.manual_seed(3)
        expected_mean, expected_std = (float(v) for v in metric.compute())
    mean, std = inception_score_from_probs(torch.softmax(logits[order], dim=1), splits=6)
    assert abs(mean - expected_mean) / expected_mean <= 1e-5
    # torchmetrics reports the Bessel-corrected std, the original code (and we) the population std
    assert std == pytest.approx(expected_std * math.sqrt(5 / 6), rel=1e-5)


@pytest.mark.parametrize(("probs", "splits", "message"), [
    (np.full(10, 0.1), 1, "probs must be a 2-D"),
    (np.full((4, 2), np.nan), 1, "probs contains NaN"),
    (np.full((4, 2), 2.0), 1, "rows summing to 1"),
    (np.array([[1.5, -0.5]]), 1, "non-negative"),
    (np.full((4, 2), 0.5), 5, "splits must be between 1 and the number of samples"),
    (np.full((4, 2), 0.5), 0, "splits must be between 1 and the number of samples"),
])
def test_bad_input_raises_config_error(probs: np.ndarray, splits: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        inception_score_from_probs(probs, splits=splits)
