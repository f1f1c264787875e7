"""DiffAugment: shape-preserving, differentiable, and each transform does what it says."""

from __future__ import annotations

import torch

from ganforge.augment import diff_augment, random_colour, random_cutout, random_translation


def test_augmentation_keeps_shape_and_passes_gradients() -> None:
    torch.manual_seed(0)
    x = torch.rand(6, 3, 16, 16, requires_grad=True)
    out = diff_augment(x)
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_translation_moves_content_and_fills_with_zeros() -> None:
    torch.manual_seed(1)
    x = torch.ones(32, 1, 16, 16)
    moved = random_translation(x)
    zero_rows = (moved == 0).flatten(1).any(dim=1)
    assert zero_rows.float().mean() > 0.5 and moved.max() == 1
    assert ((moved == 0).flatten(1).sum(1) <= 16 * 2 * 2 + 2 * 2 * 16).all()  # at most 2 px from each side


def test_cutout_zeroes_a_quarter_at_most() -> None:
    torch.manual_seed(2)
    x = torch.ones(50, 1, 16, 16)
    zeroed = (random_cutout(x) == 0).flatten(1).float().mean(1)
    assert zeroed.max() <= 0.25 + 1e-6 and zeroed.mean() > 0.1


def test_colour_changes_each_sample_differently_and_vectors_pass_through() -> None:
    torch.manual_seed(3)
    x = torch.zeros(8, 3, 4, 4)
    shifted = random_colour(x)
    assert len(torch.unique(shifted.mean(dim=(1, 2, 3)))) == 8
    points = torch.randn(10, 2)
    assert torch.equal(diff_augment(points), points)
