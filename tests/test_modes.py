"""Mode coverage (VEEGAN/PacGAN protocol) against a brute-force count."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.data.toy import TOY_MIXTURES, sample_mixture
from ganforge.metrics.modes import mode_coverage


def brute_force(samples: torch.Tensor, centres: torch.Tensor, std: float) -> tuple[int, float, float]:
    counts = [0] * len(centres)
    good = 0
    for point in samples.tolist():
        distances = [math.dist(point, c) for c in centres.tolist()]
        best = min(range(len(centres)), key=distances.__getitem__)
        if distances[best] <= 3 * std:
            counts[best] += 1
            good += 1
    kl = sum(c / good * math.log(c / good * len(centres)) for c in counts if c)
    return sum(c > 0 for c in counts), good / len(samples), kl


def test_real_data_covers_every_mode_with_near_zero_kl() -> None:
    centres, std = TOY_MIXTURES["grid"]
    points, _ = sample_mixture("grid", n=2500, seed=9)
    score = mode_coverage(torch.from_numpy(points), torch.tensor(centres), std)
    assert score.modes_captured == 25 and score.high_quality > 0.98 and score.reverse_kl < 0.02


def test_counts_match_brute_force_on_a_collapsed_generator() -> None:
    centres, std = TOY_MIXTURES["ring"]
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(120, 2, generator=generator, dtype=torch.float64)
    samples = torch.tensor(centres[:3]).repeat(40, 1) + 0.015 * noise
    samples = torch.cat([samples, torch.randn(30, 2, generator=generator, dtype=torch.float64)])
    score = mode_coverage(samples, torch.tensor(centres), std)
    modes, quality, kl = brute_force(samples, torch.tensor(centres), std)
    assert (score.modes_captured, score.high_quality) == (modes, pytest.approx(quality))
    assert score.reverse_kl == pytest.approx(kl) and modes == 3


def test_no_high_quality_sample_gives_infinite_kl() -> None:
    centres, std = TOY_MIXTURES["ring"]
    score = mode_coverage(torch.zeros(10, 2), torch.tensor(centres), std)
    assert score.modes_captured == 0 and score.high_quality == 0 and math.isinf(score.reverse_kl)


def test_stacked_mode_kls_split_the_mode_kl_into_digit_imbalance_and_dependence() -> None:
    from ganforge.metrics.modes import stacked_mode_kls

    generator = torch.Generator().manual_seed(0)
    unbalanced = torch.multinomial(torch.tensor([3.0, 1, 1, 1, 1, 1, 1, 1, 1, 1]), 3 * 20_000, replacement=True,
                                   generator=generator).reshape(-1, 3)
    kls = stacked_mode_kls(unbalanced)
    # Independent computation: the histograms counted in plain Python.
    rows = unbalanced.tolist()
    def kl(counts: dict[int, int], size: int) -> float:
        n = sum(counts.values())
        return sum(c / n * math.log(c / n * size) for c in counts.values())
    joint: dict[int, int] = {}
    for a, b, c in rows:
        joint[100 * a + 10 * b + c] = joint.get(100 * a + 10 * b + c, 0) + 1
    marginals = []
    for channel in range(3):
        counts: dict[int, int] = {}
        for row in rows:
            counts[row[channel]] = counts.get(row[channel], 0) + 1
        marginals.append(kl(counts, 10))
    assert kls["modes_kl"] == pytest.approx(kl(joint, 1000), rel=1e-9)
    assert kls["digit_kl"] == pytest.approx(sum(marginals), rel=1e-9)
    assert kls["digit_kl"] > 0.1 and 0 <= kls["dependence_kl"] < 0.05  # independent channels: only sampling noise
    tied = unbalanced[:, :1].repeat(1, 3)  # every channel shows the first one's digit: balance kept, modes tied
    tied_kls = stacked_mode_kls(tied)
    assert tied_kls["dependence_kl"] == pytest.approx(2 * math.log(10) - 2 * tied_kls["digit_kl"] / 3, rel=1e-6)
    collapsed = stacked_mode_kls(torch.tensor([[1, 2, 3]] * 5))
    assert collapsed["modes_kl"] == pytest.approx(math.log(1000)) and collapsed["dependence_kl"] == pytest.approx(0)


def test_stacked_mode_kls_refuse_a_flat_tensor() -> None:
    from ganforge.metrics.modes import stacked_mode_kls

    with pytest.raises(ValueError, match=r"\(N, channels\)"):
        stacked_mode_kls(torch.tensor([1, 2, 3]))
