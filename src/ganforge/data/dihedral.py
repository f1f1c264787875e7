"""Flips and quarter turns of training pairs (data.flips): EDSR's augmentation (Lim et al. 2017), which shows a
super-resolution or translation G each crop in eight orientations, input and target turned alike.

Each sample of a batch gets one of the eight symmetries of the square (identity, three quarter turns, and each of
those mirrored), drawn from a generator seeded by the run's seed and the step, so a resumed run draws what the
uninterrupted run drew. Non-square images take only the four that keep their shape (identity, half turn and their
mirrors)."""

from __future__ import annotations

import torch
from torch import Tensor

PAIR_KEYS = ("x", "source")  # the target and G's input: one orientation for both
STEP_STREAM = 1_000_033      # seeds the step's draw apart from the trainer's other per-step generators


def orient(image: Tensor, symmetry: int) -> Tensor:
    """One (C, H, W) image in orientation `symmetry` (0-7): bit 2 mirrors left-right, bits 0-1 count quarter turns."""
    turned = torch.rot90(image, symmetry % 4, dims=(-2, -1))
    return turned.flip(-1) if symmetry >= 4 else turned


def draw_symmetries(count: int, seed: int, step: int, square: bool) -> list[int]:
    """This step's orientation of each of `count` samples: any of the eight for square images, else one of the four
    that keep an image's shape (identity, half turn, and their mirrors)."""
    rng = torch.Generator().manual_seed(seed * STEP_STREAM + step)
    drawn = torch.randint(8 if square else 4, (count,), generator=rng).tolist()
    return drawn if square else [(2 * (d % 2)) + 4 * (d // 2) for d in drawn]


def flip_pairs(batch: dict[str, Tensor], seed: int, step: int) -> dict[str, Tensor]:
    """The batch with each sample's input and target in this step's orientation (other keys untouched)."""
    images = [batch[key] for key in PAIR_KEYS if key in batch]
    square = all(image.shape[-1] == image.shape[-2] for image in images)
    symmetries = draw_symmetries(len(images[0]), seed, step, square)
    oriented = dict(batch)
    for key in PAIR_KEYS:
        if key in batch:
            oriented[key] = torch.stack([orient(image, s) for image, s in zip(batch[key], symmetries, strict=True)])
    return oriented
