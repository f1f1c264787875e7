"""ganforge.metrics: the same metric on tensors, arrays, features, folders, data sets and runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import ganforge
from ganforge import metrics
from ganforge.errors import ConfigError, DataError
from ganforge.metrics.fid import fid_from_features

from conftest import tiny, write_image


def test_feature_arrays_are_used_as_they_are() -> None:
    generator = torch.Generator().manual_seed(0)
    real, fake = torch.randn(300, 6, generator=generator), torch.randn(300, 6, generator=generator) + 0.5
    assert metrics.fid(real, fake.numpy()) == pytest.approx(fid_from_features(real, fake))
    precision, recall = metrics.precision_recall(real, real)
    assert precision == recall == 1.0


def test_a_data_set_against_itself_scores_zero_in_mnist_features() -> None:
    digits = ganforge.data.load_data(ganforge.DataConfig(source="mnist", max_samples=300)).x
    assert metrics.fid("mnist", digits.float() / 255, features="mnist", n=300) == pytest.approx(0.0, abs=1e-4)
    every_digit = ganforge.data.load_data(ganforge.DataConfig(source="mnist")).x  # sorted by class: 300 are all 0s
    score, _ = metrics.inception_score(every_digit[torch.randperm(5000)[:1000]], features="mnist", splits=2)
    assert 9.0 < score <= 10.0  # real digits: confident predictions, uniform over 10 classes


def test_runs_and_folders_are_sampled_and_loaded(tmp_path: Path) -> None:
    ganforge.train(tiny(data__source="mnist", data__max_samples=64, data__resolution=28), out=tmp_path / "run")
    for i in range(4):
        write_image(tmp_path / "imgs" / f"{i}.png", (28, 28), mode="L", seed=i)
    value = metrics.fid(tmp_path / "imgs", tmp_path / "run", features="mnist", n=4)
    assert np.isfinite(value) and value > 0
    nhwc = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28, 1), dtype=np.uint8)
    assert np.isfinite(metrics.kid(nhwc, tmp_path / "run", features="mnist", n=4, subset_size=4)[0])


def test_bad_inputs_are_named() -> None:
    with pytest.raises(DataError, match="neither a run folder"):
        metrics.fid("nowhere", "mnist", features="mnist")
    with pytest.raises(ConfigError, match="unknown feature extractor"):
        metrics.fid("mnist", "mnist", features="vgg16", n=10)
