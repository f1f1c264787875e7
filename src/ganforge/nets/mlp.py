"""Fully connected G and D (Goodfellow et al. 2014) for vectors and flattened images, optionally conditional
(Mirza & Osindero 2014: the label's embedding joins z and D's input; or projection / an auxiliary class head)."""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from ganforge.nets.conditioning import ConditionEmbedding, DiscriminatorCondition, embed_width
from ganforge.nets.layers import MinibatchStd, activation, feature_norm, maybe_spectral


class MLPGenerator(nn.Module):
    """z (+ the condition's embedding) -> hidden ReLU layers -> sample; tanh output for images, linear for vectors."""

    def __init__(self, latent_dim: int, out_shape: tuple[int, ...], hidden: int = 256, layers: int = 3,
                 output: str = "linear", num_classes: int = 0, condition_dim: int = 0) -> None:
        super().__init__()
        self.out_shape = tuple(out_shape)
        conditional = bool(num_classes or condition_dim)
        extra = embed_width(num_classes, condition_dim) if conditional else 0
        self.condition = ConditionEmbedding(num_classes, condition_dim, extra) if conditional else None
        widths = [latent_dim + extra] + [hidden] * layers
        blocks: list[nn.Module] = []
        for fan_in, fan_out in itertools.pairwise(widths):
            blocks += [nn.Linear(fan_in, fan_out), nn.ReLU(inplace=True)]
        blocks.append(nn.Linear(widths[-1], math.prod(self.out_shape)))
        if output == "tanh":
            blocks.append(nn.Tanh())
        self.body = nn.Sequential(*blocks)

    def forward(self, z: Tensor, y: Tensor | None = None, c: Tensor | None = None) -> Tensor:
        z = z.flatten(1)
        if self.condition is not None:
            z = torch.cat([z, self.condition(y, c)], dim=1)
        return self.body(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """sample (+ condition) -> hidden LeakyReLU(0.2) layers -> `outputs` logits per sample (one: a plain score)."""

    def __init__(self, in_shape: tuple[int, ...], hidden: int = 256, layers: int = 3, norm: str = "none",
                 minibatch_std: bool = False, condition: str = "none", num_classes: int = 0,
                 condition_dim: int = 0, outputs: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.outputs = outputs
        features = hidden + int(minibatch_std)
        self.condition = DiscriminatorCondition(condition, num_classes, condition_dim, features, features) \
            if condition != "none" else None
        extra = self.condition.input_width if self.condition is not None else 0
        widths = [math.prod(in_shape) + extra] + [hidden] * layers
        blocks: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(widths)):
            blocks.append(maybe_spectral(nn.Linear(fan_in, fan_out), norm))
            if i > 0:
                blocks.append(feature_norm(norm, fan_out, conv=False))
            blocks.append(activation(dropout))
        if minibatch_std:
            blocks.append(MinibatchStd())
        blocks.append(maybe_spectral(nn.Linear(widths[-1] + int(minibatch_std), outputs), norm))
        self.body = nn.Sequential(*blocks)

    def features(self, x: Tensor, y: Tensor | None = None, c: Tensor | None = None) -> Tensor:
        """The last hidden layer (what feature matching compares and the heads read)."""
        x = torch.flatten(x, 1)
        if self.condition is not None:
            x = self.condition.join(x, y, c)
        return self.body[:-1](x)

    def forward(self, x: Tensor, y: Tensor | None = None, c: Tensor | None = None,
                classes: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        h = self.features(x, y, c)
        out = self.body[-1](h)
        out = out.squeeze(1) if self.outputs == 1 else out
        if self.condition is None:
            return out
        out = self.condition.project(out, h, y, c)
        return (out, self.condition.classes(h)) if classes else out

