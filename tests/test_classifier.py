"""The MNIST domain classifier: accuracy, on-disk cache, extractor outputs and input handling."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig
from ganforge.data import TensorData, load_data
from ganforge.errors import GanforgeError
from ganforge.metrics import classifier
from ganforge.metrics.classifier import (
    MIN_ACCURACY,
    ClassifierRecipe,
    MNISTFeatures,
    load_classifier,
    random_affine,
    stacked_mnist_modes,
    stacked_mnist_probabilities,
    stratified_split,
)
from ganforge.metrics.features import get_extractor


@pytest.fixture(scope="session")
def cache(session_cache: Path) -> Iterator[Path]:
    """The session's GANFORGE_CACHE (conftest), with the classifier trained into it once."""
    load_classifier()
    yield session_cache


@pytest.fixture(scope="session")
def mnist(cache: Path) -> MNISTFeatures:
    return get_extractor("mnist")  # type: ignore[return-value]


@pytest.fixture(scope="session")
def digits() -> TensorData:
    return load_data(DataConfig(source="mnist"))


def held_out(digits: TensorData) -> tuple[torch.Tensor, torch.Tensor]:
    recipe = ClassifierRecipe()
    _, indices = stratified_split(digits.y, recipe.held_out_per_class, recipe.seed)
    return digits.x[indices], digits.y[indices]


def copy_cache(source: Path, target: Path) -> Path:
    shutil.copytree(source / "classifiers", target / "classifiers")
    return next((target / "classifiers").glob("*.json"))


def test_split_is_stratified_disjoint_and_fixed(digits: TensorData) -> None:
    train, held = stratified_split(digits.y, 100, 0)
    assert len(train) == 4000 and len(held) == 1000 and not set(train.tolist()) & set(held.tolist())
    assert torch.bincount(digits.y[held]).tolist() == [100] * 10
    assert held.equal(stratified_split(digits.y, 100, 0)[1]) and not held.equal(stratified_split(digits.y, 100, 1)[1])


def test_augmentation_without_movement_is_the_identity() -> None:
    images = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(random_affine(images, torch.Generator().manual_seed(0), 0.0, 0.0, 0.0), images, atol=1e-5)


def test_augmentation_moves_a_centred_blob_by_at_most_max_shift() -> None:
    images = torch.zeros(64, 1, 28, 28)
    images[:, :, 12:16, 12:16] = 1.0  # centred: rotation and scale do not move its centre of mass
    moved = random_affine(images, torch.Generator().manual_seed(0), 2.0, 10.0, 0.1)[:, 0]
    mass = moved.sum(dim=(1, 2))
    grid = torch.arange(28.0)
    rows = (moved.sum(2) * grid).sum(1) / mass - 13.5
    cols = (moved.sum(1) * grid).sum(1) / mass - 13.5
    assert rows.abs().max() <= 2.02 and cols.abs().max() <= 2.02 and rows.abs().max() > 1.0
    assert ((mass / 16.0 - 1.0).abs() <= 0.25).all()  # scaled by at most 10% per side


def test_cached_classifier_reaches_98_percent_on_held_out_digits(mnist: MNISTFeatures, digits: TensorData) -> None:
    x, y = held_out(digits)
    accuracy = float((mnist.probabilities(x).argmax(1) == y).double().mean())
    assert accuracy >= MIN_ACCURACY
    assert abs(accuracy - mnist.meta["held_out_accuracy"]) <= 0.002  # the recorded number is the real one


def test_cache_round_trips_without_retraining(mnist: MNISTFeatures, digits: TensorData, cache: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached classifier was retrained")

    monkeypatch.setattr(classifier, "train_classifier", no_training)
    again = MNISTFeatures()
    x = digits.x[:40]
    assert torch.equal(again.probabilities(x), mnist.probabilities(x))
    meta = json.loads(next((cache / "classifiers").glob("mnist-*.json")).read_text())
    assert meta["recipe"] == ClassifierRecipe().to_dict() and meta["architecture"]["feature_dim"] == mnist.feature_dim
    assert (cache / "classifiers" / f"mnist-{meta['recipe_hash']}.safetensors").is_file()


def test_classifier_below_the_accuracy_bar_is_refused(cache: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GanforgeError, match="below the required"):
        load_classifier(min_accuracy=0.9999)
    meta_path = copy_cache(cache, tmp_path)
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "held_out_accuracy": 0.9}))
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    with pytest.raises(GanforgeError, match=r"only 90\.00% held-out accuracy"):
        MNISTFeatures()


def test_damaged_cache_entry_is_retrained_with_a_warning(mnist: MNISTFeatures, cache: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    meta_path = copy_cache(cache, tmp_path)
    meta_path.with_suffix(".safetensors").write_bytes(b"truncated")
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path))
    calls: list[ClassifierRecipe] = []
    monkeypatch.setattr(classifier, "train_classifier",
                        lambda recipe, progress: calls.append(recipe) or (mnist.net, 0.99))
    load_classifier()
    assert len(calls) == 1 and "ignoring cached classifier" in capsys.readouterr().err
    load_classifier()  # the rewritten entry is whole again
    assert len(calls) == 1


def test_features_have_the_documented_width_and_probabilities_sum_to_one(mnist: MNISTFeatures,
                                                                          digits: TensorData) -> None:
    out = mnist.extract(digits.x[:30])
    assert out.features.shape == (30, mnist.feature_dim) and out.features.dtype == torch.float64
    assert f"({mnist.feature_dim}," in mnist.protocol()["features"]
    assert out.probabilities is not None and out.probabilities.shape == (30, 10)
    assert torch.allclose(out.probabilities.sum(1), torch.ones(30, dtype=torch.float64))


def test_float_rgb_and_other_sizes_are_accepted(mnist: MNISTFeatures, digits: TensorData) -> None:
    x, y = held_out(digits)
    x, y = x[::20], y[::20]
    grey = mnist.extract(x)
    rgb = mnist.extract(x.expand(-1, 3, -1, -1).float() / 255.0)
    assert torch.equal(rgb.features, grey.features)  # equal channels: luma is the grey value itself
    larger = torch.from_numpy(np.stack([np.asarray(Image.fromarray(im[0]).resize((32, 32), Image.Resampling.BICUBIC))
                                        for im in x.numpy()]))[:, None]
    probabilities = mnist.probabilities(larger)
    assert probabilities.shape == (50, 10) and float((probabilities.argmax(1) == y).double().mean()) >= 0.9


def test_stacked_mnist_reads_one_digit_per_channel(mnist: MNISTFeatures, digits: TensorData) -> None:
    x, _ = held_out(digits)
    singles = x[:12]
    stacked = singles.view(4, 3, 28, 28)  # image i holds digits 3i, 3i+1, 3i+2 in R, G, B
    probabilities = stacked_mnist_probabilities(stacked, mnist)
    predicted = mnist.probabilities(singles).argmax(1).view(4, 3)
    assert probabilities.shape == (4, 3, 10)
    assert stacked_mnist_modes(probabilities).tolist() == (predicted @ torch.tensor([100, 10, 1])).tolist()
