"""Metrics on tensors, arrays, folders, data sets or runs: `ganforge.metrics.fid(real, fake, features=...)`.

Inputs may be images ((N, C, H, W) uint8 or floats in [0, 1]; NHWC arrays too), a run folder (sampled),
a built-in data set name, an image folder, or an array file. 2-D (N, D) inputs are taken as features
already. `features` names an extractor ("inception", "mnist", "fashion-mnist") or passes one. Each metric imports
no trainer.
"""

from __future__ import annotations

from torch import Tensor

from ganforge.errors import ConfigError
from ganforge.metrics.features import Extracted, FeatureExtractor, get_extractor
from ganforge.metrics.fid import fid_from_features
from ganforge.metrics.image_quality import mean_psnr, mean_ssim, psnr, rgb_to_y, ssim
from ganforge.metrics.inception_score import inception_score_from_probs
from ganforge.metrics.kid import kid_from_features
from ganforge.metrics.modes import ModeCoverage, mode_coverage
from ganforge.metrics.prdc import density_coverage as _density_coverage
from ganforge.metrics.prdc import precision_recall as _precision_recall
from ganforge.metrics.sources import Source, resolve_source

__all__ = ["ModeCoverage", "density_coverage", "features_of", "fid", "inception_score", "kid", "mean_psnr",
           "mean_ssim", "mode_coverage", "precision_recall", "psnr", "rgb_to_y", "ssim"]


def features_of(source: Source, features: str | FeatureExtractor = "inception", n: int | None = None,
                seed: int = 0, device: str = "cpu") -> Extracted:
    """Features (and class probabilities, if the extractor has a head) of any supported input."""
    resolved = resolve_source(source, n, seed, device)
    if resolved.ndim == 2:
        return Extracted(resolved.double(), None)
    extractor = get_extractor(features, device=device) if isinstance(features, str) else features
    return extractor.extract(resolved)


def _pair(real: Source, fake: Source, features: str | FeatureExtractor, n: int | None, seed: int,
          device: str) -> tuple[Tensor, Tensor]:
    extractor = get_extractor(features, device=device) if isinstance(features, str) else features
    return (features_of(real, extractor, n, seed, device).features,
            features_of(fake, extractor, n, seed, device).features)


def fid(real: Source, fake: Source, features: str | FeatureExtractor = "inception", n: int | None = None,
        seed: int = 0, device: str = "cpu") -> float:
    """Fréchet distance between the feature Gaussians of real and fake (Heusel et al. 2017)."""
    return fid_from_features(*_pair(real, fake, features, n, seed, device))


def kid(real: Source, fake: Source, features: str | FeatureExtractor = "inception", n: int | None = None,
        seed: int = 0, device: str = "cpu", subsets: int = 100, subset_size: int = 1000) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): mean and std over subsets."""
    real_features, fake_features = _pair(real, fake, features, n, seed, device)
    size = min(subset_size, len(real_features), len(fake_features))
    return kid_from_features(real_features, fake_features, subsets=subsets, subset_size=size, seed=seed)


def inception_score(samples: Source, features: str | FeatureExtractor = "mnist", n: int | None = None,
                    seed: int = 0, device: str = "cpu", splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016) from a classifier's probabilities: mean and std over splits."""
    extracted = features_of(samples, features, n, seed, device)
    if extracted.probabilities is None:
        raise ConfigError("the Inception Score needs class probabilities; the chosen feature extractor has no "
                          "classifier head (use features='mnist' for digits)")
    return inception_score_from_probs(extracted.probabilities, splits=splits)


def precision_recall(real: Source, fake: Source, features: str | FeatureExtractor = "inception",
                     n: int | None = None, seed: int = 0, device: str = "cpu", k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019)."""
    return _precision_recall(*_pair(real, fake, features, n, seed, device), k=k)


def density_coverage(real: Source, fake: Source, features: str | FeatureExtractor = "inception",
                     n: int | None = None, seed: int = 0, device: str = "cpu", k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020)."""
    return _density_coverage(*_pair(real, fake, features, n, seed, device), k=k)
