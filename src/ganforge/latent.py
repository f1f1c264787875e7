"""Latent noise: the random vectors G maps to samples (Gaussian or uniform on [-1, 1])."""

from __future__ import annotations

import torch
from torch import Tensor

LATENT_DISTRIBUTIONS = ("normal", "uniform")


def sample_latent(n: int, dim: int, dist: str, device: torch.device | str = "cpu",
                  generator: torch.Generator | None = None) -> Tensor:
    """n latent vectors; with `generator` the draw is reproducible and leaves the global RNG alone."""
    draw_on = generator.device if generator is not None else device  # a CPU generator draws on the CPU
    if dist == "normal":
        return torch.randn(n, dim, device=draw_on, generator=generator).to(device)
    if dist == "uniform":
        return torch.rand(n, dim, device=draw_on, generator=generator).mul_(2.0).sub_(1.0).to(device)
    raise ValueError(f"unknown latent distribution {dist!r}; expected one of {LATENT_DISTRIBUTIONS}")
