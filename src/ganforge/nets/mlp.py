"""Fully connected G and D (Goodfellow et al. 2014) for vectors and flattened images."""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from ganforge.nets.layers import MinibatchStd, feature_norm, maybe_spectral


class MLPGenerator(nn.Module):
    """z -> hidden ReLU layers -> sample; tanh output for images, linear for vectors."""

    def __init__(self, latent_dim: int, out_shape: tuple[int, ...], hidden: int = 256, layers: int = 3,
                 output: str = "linear") -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        widths = [latent_dim] + [hidden] * layers
        blocks: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(widths):
            blocks += [nn.Linear(fan_in, fan_out), nn.ReLU(inplace=True)]
        blocks.append(nn.Linear(widths[-1], math.prod(self.out_shape)))
        if output == "tanh":
            blocks.append(nn.Tanh())
        self.body = nn.Sequential(*blocks)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z.flatten(1)).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """sample -> hidden LeakyReLU(0.2) layers -> one logit per sample."""

    def __init__(self, in_shape: tuple[int, ...], hidden: int = 256, layers: int = 3, norm: str = "none",
                 minibatch_std: bool = False) -> None:
        super().__init__()
        widths = [math.prod(in_shape)] + [hidden] * layers
        blocks: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            blocks.append(maybe_spectral(nn.Linear(fan_in, fan_out), norm))
            if i > 0:
                blocks.append(feature_norm(norm, fan_out, conv=False))
            blocks.append(nn.LeakyReLU(0.2, inplace=True))
        if minibatch_std:
            blocks.append(MinibatchStd())
        blocks.append(maybe_spectral(nn.Linear(widths[-1] + int(minibatch_std), 1), norm))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(torch.flatten(x, 1)).squeeze(1)
