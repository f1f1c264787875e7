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
    if total == 0:
        reverse_kl = math.inf
    else:
        p = counts.double() / total
        present = p > 0
        reverse_kl = float((p[present] * torch.log(p[present] * len(centres))).sum())
    return ModeCoverage(int((counts > 0).sum()), len(centres), float(good.double().mean()), reverse_kl,
                        tuple(int(c) for c in counts))
