"""Differentiable augmentation of D's inputs (DiffAugment, Zhao et al. 2020): colour, translation, cutout.

Applied the same way to real and fake batches before D, and differentiable, so G learns through it;
it keeps D from memorising a small data set. Randomness comes from the global RNG (saved in checkpoints).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

AUGMENTS = ("none", "diffaugment")


def random_colour(x: Tensor) -> Tensor:
    """Brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5], per sample (images in [-1, 1])."""
    n = x.shape[0]
    shape = (n, 1, 1, 1)
    x = x + (torch.rand(shape, device=x.device, dtype=x.dtype) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(shape, device=x.device, dtype=x.dtype) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(shape, device=x.device, dtype=x.dtype) + 0.5) + mean


def random_translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by up to `ratio` of its size, filling with zeros."""
    n, _, height, width = x.shape
    shift_y, shift_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    dy = torch.randint(-shift_y, shift_y + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-shift_x, shift_x + 1, (n, 1, 1), device=x.device)
    grid_y, grid_x = torch.meshgrid(torch.arange(height, device=x.device), torch.arange(width, device=x.device),
                                    indexing="ij")
    rows = (grid_y.unsqueeze(0) + dy + 1).clamp(0, height + 1)
    cols = (grid_x.unsqueeze(0) + dx + 1).clamp(0, width + 1)
    padded = F.pad(x, (1, 1, 1, 1))
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def random_cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero one square of `ratio` of the image size at a random place in each image."""
    n, _, height, width = x.shape
    size_y, size_x = int(height * ratio + 0.5), int(width * ratio + 0.5)
    top = torch.randint(0, height + (1 - size_y % 2), (n, 1, 1), device=x.device) - size_y // 2
    left = torch.randint(0, width + (1 - size_x % 2), (n, 1, 1), device=x.device) - size_x // 2
    grid_y, grid_x = torch.meshgrid(torch.arange(height, device=x.device), torch.arange(width, device=x.device),
                                    indexing="ij")
    inside = ((grid_y >= top) & (grid_y < top + size_y) & (grid_x >= left) & (grid_x < left + size_x))
    return x * (~inside).unsqueeze(1).to(x.dtype)


def diff_augment(x: Tensor) -> Tensor:
    """Colour, translation and cutout, as DiffAugment's default policy for images; vectors pass through."""
    if x.dim() != 4:
        return x
    return random_cutout(random_translation(random_colour(x)))
