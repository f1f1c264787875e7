"""Every loss against values computed by hand from its formula."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge import losses

REAL = [0.0, 2.0]
FAKE = [-1.0, 1.0]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def t(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


EXPECTED_D = {
    "bce": mean([-math.log(sigmoid(r)) for r in REAL]) + mean([-math.log(1 - sigmoid(f)) for f in FAKE]),
    "wasserstein": mean(FAKE) - mean(REAL),
    "hinge": mean([max(0.0, 1 - r) for r in REAL]) + mean([max(0.0, 1 + f) for f in FAKE]),
    "least_squares": 0.5 * mean([(r - 1) ** 2 for r in REAL]) + 0.5 * mean([f**2 for f in FAKE]),
    "relativistic": mean([-math.log(sigmoid(r - f)) for r, f in zip(REAL, FAKE, strict=True)]),
}


@pytest.mark.parametrize("name", EXPECTED_D)
def test_discriminator_loss_matches_its_formula(name: str) -> None:
    value = getattr(losses, f"{name}_discriminator")(t(REAL), t(FAKE))
    assert value.item() == pytest.approx(EXPECTED_D[name], rel=1e-12)


def test_generator_losses_match_their_formulas() -> None:
    fake = t(FAKE)
    assert losses.minimax_generator(fake).item() == pytest.approx(mean([math.log(1 - sigmoid(f)) for f in FAKE]))
    assert losses.non_saturating_generator(fake).item() == pytest.approx(mean([-math.log(sigmoid(f)) for f in FAKE]))
    assert losses.wasserstein_generator(fake).item() == pytest.approx(-mean(FAKE))
    assert losses.hinge_generator(fake).item() == pytest.approx(-mean(FAKE))
    assert losses.least_squares_generator(fake).item() == pytest.approx(0.5 * mean([(f - 1) ** 2 for f in FAKE]))
    expected = mean([-math.log(sigmoid(f - r)) for r, f in zip(REAL, FAKE, strict=True)])
    assert losses.relativistic_generator(fake, t(REAL)).item() == pytest.approx(expected)


def test_minimax_gradient_vanishes_where_non_saturating_does_not() -> None:
    """The articles' vanishing-gradient story: when D rejects fakes, minimax gives G almost nothing."""
    rejected = torch.tensor([-10.0], requires_grad=True)
    losses.minimax_generator(rejected).backward()
    minimax_grad = rejected.grad.abs().item()
    rejected.grad = None
    losses.non_saturating_generator(rejected).backward()
    assert minimax_grad < 1e-4 < 0.99 < rejected.grad.abs().item()


def test_bce_is_stable_for_huge_logits() -> None:
    value = losses.bce_discriminator(torch.tensor([1e4]), torch.tensor([-1e4]))
    assert torch.isfinite(value) and value.item() == pytest.approx(0.0, abs=1e-6)


def test_one_sided_label_smoothing_targets_real_at_one_minus_s() -> None:
    real, fake = t(REAL), t(FAKE)
    smoothed = losses.bce_discriminator(real, fake, real_target=0.9).item()
    expected = mean([-(0.9 * math.log(sigmoid(r)) + 0.1 * math.log(1 - sigmoid(r))) for r in REAL]) + mean(
        [-math.log(1 - sigmoid(f)) for f in FAKE])
    assert smoothed == pytest.approx(expected, rel=1e-12)
