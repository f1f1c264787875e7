"""The extractor interface: registry, input validation, batching and quantisation."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import Tensor

from ganforge.errors import ConfigError, DataError
from ganforge.metrics import features as features_module
from ganforge.metrics.features import EXTRACTORS, FeatureExtractor, as_uint8, check_images, get_extractor


class MeanPixel(FeatureExtractor):
    """A stand-in extractor: per-channel means of the quantised images, counting its batches."""

    name = "mean"
    default_batch_size = 3

    def __init__(self) -> None:
        self.batches: list[int] = []

    def _batch(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        self.batches.append(len(images))
        return as_uint8(images).float().mean(dim=(2, 3)), None

    def protocol(self) -> dict[str, Any]:
        return {"extractor": self.name}


def test_registry_names_inception_and_the_domain_classifiers() -> None:
    assert set(EXTRACTORS) == {"inception", "mnist", "fashion-mnist"}


def test_unknown_extractor_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"unknown feature extractor 'vgg'.*inception, mnist, fashion-mnist"):
        get_extractor("vgg")


def test_get_extractor_passes_keyword_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setitem(features_module.EXTRACTORS, "mnist", lambda **kwargs: seen.update(kwargs) or MeanPixel())
    assert isinstance(get_extractor("mnist", device="cpu"), MeanPixel) and seen == {"device": "cpu"}


@pytest.mark.parametrize(("images", "message"), [
    (torch.zeros(2, 28, 28), r"shape \(N, C, H, W\)"),
    (torch.zeros(2, 2, 8, 8), r"C = 1 or 3"),
    (torch.zeros(0, 1, 8, 8), r"must not be empty"),
    (torch.zeros(2, 1, 8, 8, dtype=torch.int64), r"uint8.*or float"),
    (torch.full((2, 1, 8, 8), -0.5), r"\[0, 1\]"),
    (torch.full((2, 3, 8, 8), 255.0), r"\[0, 1\]"),
    (torch.full((1, 1, 8, 8), float("nan")), r"\[0, 1\]"),
])
def test_invalid_images_are_refused(images: Tensor, message: str) -> None:
    with pytest.raises(DataError, match=message):
        MeanPixel().extract(images)


def test_non_tensor_input_is_refused() -> None:
    with pytest.raises(DataError, match="torch.Tensor"):
        check_images([[0.0]])  # type: ignore[arg-type]


def test_float_images_are_quantised_like_uint8() -> None:
    values = torch.tensor([0.0, 0.5 / 255, 0.49, 1.0]).view(1, 1, 2, 2)
    assert as_uint8(values).flatten().tolist() == [0, 0, 125, 255]  # round half to even, as PNG writers via numpy


def test_extract_batches_and_returns_float64_rows_in_order() -> None:
    extractor = MeanPixel()
    images = torch.arange(7, dtype=torch.uint8).view(7, 1, 1, 1).expand(7, 3, 4, 4)
    out = extractor.extract(images)
    assert extractor.batches == [3, 3, 1]
    assert out.features.dtype == torch.float64 and out.features.shape == (7, 3) and out.probabilities is None
    assert out.features[:, 0].tolist() == list(range(7))
    assert extractor.extract(images, batch_size=5).features.equal(out.features)
    with pytest.raises(ConfigError, match="batch_size"):
        extractor.extract(images, batch_size=-1)
