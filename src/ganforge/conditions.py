"""What a conditional generator is given besides z: class labels `y` and/or condition vectors `c`.

One place for the conventions the trainer, a run's sampling and evaluation share: labels drawn balanced
over the classes, one grid row per class, and how G is called with or without a condition.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

Condition = tuple[Tensor | None, Tensor | None]  # (y, c)
NO_CONDITION: Condition = (None, None)
GRID_COLUMNS = 8       # a conditional grid: one row per class, this many samples each
GRID_MAX_ROWS = 16     # ... for at most this many classes (the first ones)


def balanced_labels(n: int, num_classes: int, device: torch.device | str = "cpu") -> Tensor:
    """0, 1, ..., K-1, 0, 1, ...: every class equally often (to within one)."""
    return torch.arange(n, device=device) % num_classes


def grid_labels(num_classes: int) -> Tensor:
    """One row of GRID_COLUMNS per class (the first GRID_MAX_ROWS classes)."""
    return torch.arange(min(num_classes, GRID_MAX_ROWS)).repeat_interleave(GRID_COLUMNS)


def call_generator(net: nn.Module, z: Tensor, condition: Condition = NO_CONDITION) -> Tensor:
    """G(z), or G(z, y, c) for a conditional G."""
    if condition[0] is None and condition[1] is None:
        return net(z)
    return net(z, *condition)


def chunk(condition: Condition, start: int, stop: int, device: torch.device | str) -> Condition:
    """Rows start:stop of a condition, on `device`."""
    return tuple(None if t is None else t[start:stop].to(device) for t in condition)  # type: ignore[return-value]
