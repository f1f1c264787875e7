"""Mode coverage on Gaussian mixtures, the protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018).

A sample is high quality when it lies within 3 std of its nearest mode centre; a mode is captured when
it is the nearest mode of at least one high-quality sample; the reverse KL compares the histogram of
high-quality samples over modes with the uniform one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class ModeCoverage:
    modes_captured: int
    modes_total: int
    high_quality: float        # fraction of samples within 3 std of a mode
    reverse_kl: float          # KL(histogram of high-quality samples || uniform)
    counts: tuple[int, ...]    # high-quality samples per mode

    def as_dict(self) -> dict[str, float | int]:
        return {"modes": self.modes_captured, "modes_total": self.modes_total,
                "high_quality": self.high_quality, "reverse_kl": self.reverse_kl}


def mode_coverage(samples: Tensor, centres: Tensor, std: float, threshold: float = 3.0) -> ModeCoverage:
    """Score (N, 2) samples against (K, 2) mode centres of a mixture with the given std."""
    samples, centres = samples.double(), centres.double()
    distances = torch.cdist(samples, centres)
    nearest_distance, nearest = distances.min(dim=1)
    good = nearest_distance <= threshold * std
    counts = torch.bincount(nearest[good], minlength=len(centres))
    total = int(counts.sum())
    reverse_kl = math.inf if total == 0 else kl_to_uniform(counts)
    return ModeCoverage(int((counts > 0).sum()), len(centres), float(good.double().mean()), reverse_kl,
                        tuple(int(c) for c in counts))


def kl_to_uniform(counts: Tensor) -> float:
    """KL(histogram || uniform over its len(counts) bins) of non-negative counts with a positive sum."""
    p = counts.double() / counts.sum()
    p = p[p > 0]
    return float((p * (p * len(counts)).log()).sum())


def stacked_mode_kls(digits: Tensor, classes: int = 10) -> dict[str, float]:
    """Stacked MNIST's reverse KL split in two: digits (N, channels) of class 0..classes-1 give the mode
    histogram's KL to uniform over classes**channels modes, the sum of each channel's digit-histogram KL to
    uniform over `classes`, and the rest (the channels' total correlation, >= 0), since
    KL(joint || uniform) = sum of the marginals' KLs + total correlation. A generator with unbalanced digits
    shows it in `digit_kl`; one that ties its channels' digits together in `dependence_kl`."""
    if digits.ndim != 2 or len(digits) == 0:
        raise ValueError(f"digits must be a non-empty (N, channels) tensor; got shape {tuple(digits.shape)}")
    channels = digits.shape[1]
    weights = classes ** torch.arange(channels - 1, -1, -1)
    modes = (digits.long() * weights).sum(1)
    total = kl_to_uniform(torch.bincount(modes, minlength=classes ** channels))
    marginal = sum(kl_to_uniform(torch.bincount(digits[:, c].long(), minlength=classes)) for c in range(channels))
    return {"modes_kl": total, "digit_kl": marginal, "dependence_kl": total - marginal}
