"""Gradient penalties against finite differences; clipping bounds every weight."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganforge.regularizers import clip_weights_, gradient_penalty, r1_penalty, r2_penalty


def critic() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0)).double()


def numeric_gradient(f: nn.Module, x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central differences of f at each row of x, coordinate by coordinate."""
    grads = torch.zeros_like(x)
    with torch.no_grad():
        for j in range(x.shape[1]):
            step = torch.zeros_like(x)
            step[:, j] = eps
            grads[:, j] = (f(x + step) - f(x - step)) / (2 * eps)
    return grads


def test_gradient_penalty_matches_finite_differences() -> None:
    f = critic()
    real, fake = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    mix = torch.rand(5, dtype=torch.float64)
    between = mix[:, None] * real + (1 - mix[:, None]) * fake
    expected = ((numeric_gradient(f, between).norm(dim=1) - 1) ** 2).mean()
    assert gradient_penalty(f, real, fake, mix).item() == pytest.approx(expected.item(), rel=1e-7)


def test_gradient_penalty_backpropagates_into_the_critic() -> None:
    f = critic()
    penalty = gradient_penalty(f, torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64))
    penalty.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in f.parameters() if p.dim() > 1)


def test_r1_and_r2_match_finite_differences() -> None:
    f = critic()
    x = torch.randn(6, 3, dtype=torch.float64)
    expected = numeric_gradient(f, x).pow(2).sum(dim=1).mean().item()
    assert r1_penalty(f, x).item() == pytest.approx(expected, rel=1e-7)
    assert r2_penalty(f, x).item() == pytest.approx(expected, rel=1e-7)


def test_clipping_bounds_every_parameter() -> None:
    f = critic()
    for p in f.parameters():
        p.data.mul_(100)
    clip_weights_(f, 0.01)
    assert max(p.abs().max().item() for p in f.parameters()) <= 0.01
