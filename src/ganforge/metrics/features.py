"""Feature extractors behind one interface, as FID/KID/IS/precision-recall need them (Heusel et al. 2017; clean-fid)."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from ganforge.errors import ConfigError, DataError

__all__ = ["EXTRACTORS", "Extracted", "FeatureExtractor", "as_uint8", "check_images", "get_extractor"]


@dataclass(frozen=True)
class Extracted:
    """Per-image features (N, D) and, where the network has a classifier head, class probabilities (N, K)."""

    features: Tensor
    probabilities: Tensor | None = None


def check_images(images: Tensor) -> Tensor:
    """Validate a batch of images: (N, C, H, W), C in {1, 3}, uint8 or float in [0, 1]."""
    if not isinstance(images, Tensor):
        raise DataError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise DataError(f"images must have shape (N, C, H, W) with C = 1 or 3; got {tuple(images.shape)}")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise DataError(f"images must not be empty; got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images
    if not images.is_floating_point():
        raise DataError(f"images must be uint8 (0-255) or float (0-1); got dtype {images.dtype}")
    low, high = float(images.min()), float(images.max())
    if not (low >= 0.0 and high <= 1.0):  # also rejects NaN, whose comparisons are all False
        raise DataError(f"float images must lie in [0, 1]; got values in [{low:.4g}, {high:.4g}] "
                        "(decode net output with DataSpec.decode, or pass uint8)")
    return images


def as_uint8(images: Tensor) -> Tensor:
    """Quantise like saving a PNG, so generated floats and real uint8 data take the same path."""
    if images.dtype == torch.uint8:
        return images
    return images.float().mul(255.0).round_().clamp_(0, 255).to(torch.uint8)


class FeatureExtractor(ABC):
    """Images in, features (and maybe class probabilities) out, with a record of exactly how."""

    name: str = ""
    default_batch_size: int = 32

    def extract(self, images: Tensor, batch_size: int | None = None, progress: bool = False) -> Extracted:
        """Features of (N, C, H, W) images, uint8 or float in [0, 1], as float64 on the CPU."""
        images = check_images(images)
        size = batch_size or self.default_batch_size
        if size < 1:
            raise ConfigError(f"batch_size must be at least 1; got {size}")
        feats: list[Tensor] = []
        probs: list[Tensor] = []
        bar = tqdm(total=len(images), desc=f"{self.name} features", unit="img", file=sys.stderr,
                   disable=not progress, leave=False)
        with bar, torch.inference_mode():
            for start in range(0, len(images), size):
                batch = images[start:start + size]
                features, probabilities = self._batch(batch)
                feats.append(features.detach().to("cpu", torch.float64))
                if probabilities is not None:
                    probs.append(probabilities.detach().to("cpu", torch.float64))
                bar.update(len(batch))
        return Extracted(torch.cat(feats), torch.cat(probs) if probs else None)

    @abstractmethod
    def _batch(self, images: Tensor) -> tuple[Tensor, Tensor | None]:
        """Features (and probabilities or None) of one validated batch."""

    @abstractmethod
    def protocol(self) -> dict[str, Any]:
        """JSON-able description of how features are computed, recorded beside every metric value."""


def _inception(**kwargs: Any) -> FeatureExtractor:
    from ganforge.metrics.inception import InceptionFeatures  # lazy: torch.jit and the 87 MB file only when asked

    return InceptionFeatures(**kwargs)


def _mnist(**kwargs: Any) -> FeatureExtractor:
    from ganforge.metrics.classifier import MNISTFeatures

    return MNISTFeatures(**kwargs)


def _fashion_mnist(**kwargs: Any) -> FeatureExtractor:
    from ganforge.metrics.classifier import FashionMNISTFeatures

    return FashionMNISTFeatures(**kwargs)


EXTRACTORS: dict[str, Callable[..., FeatureExtractor]] = {"inception": _inception, "mnist": _mnist,
                                                          "fashion-mnist": _fashion_mnist}


def get_extractor(name: str, **kwargs: Any) -> FeatureExtractor:
    """The registered extractor `name`, built with `kwargs` (e.g. device='cuda')."""
    if name not in EXTRACTORS:
        raise ConfigError(f"unknown feature extractor '{name}'; choose one of: {', '.join(EXTRACTORS)}")
    return EXTRACTORS[name](**kwargs)
