"""DCGAN nets (Radford et al. 2016), generalised to square images of 8-256 px such as 28 px MNIST, and
optionally conditional (nets/conditioning.py: the label joins z or sets G's BatchNorms; D by concat,
projection or an auxiliary class head)."""

from __future__ import annotations

import itertools

import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.nets.conditioning import (
    ConditionalBatchNorm2d,
    ConditionEmbedding,
    DiscriminatorCondition,
    embed_width,
    mix,
    run_layers,
)
from ganforge.nets.layers import MinibatchStd, activation, feature_norm, maybe_spectral

MAX_WIDTH_MULT = 8


def generator_plan(resolution: int) -> tuple[int, int]:
    """(base, upsamplings): G renders base * 2**upsamplings >= resolution px, as small as possible.

    64 -> (4, 4) as in the paper; 28 -> (7, 2); sizes with no exact plan (e.g. 25) are rendered
    slightly larger and centre-cropped.
    """
    options = [(base * 2**ups, -ups, base)
               for ups in range(1, 7) for base in range(4, 8) if base * 2**ups >= resolution]
    _, neg_ups, base = min(options)
    return base, -neg_ups


def discriminator_plan(resolution: int, layers: int = 0, min_px: int = 8) -> list[int]:
    """Spatial sizes after each of D's halvings: `layers` of them, or with 0 while the map is at least `min_px`
    (28 px: 14, 7; with layers=3 or min_px=4: 14, 7, 3)."""
    if layers > max_discriminator_layers(resolution):
        raise ValueError(f"{layers} halvings of a {resolution} px image leave no pixel; at most "
                         f"{max_discriminator_layers(resolution)}")
    sizes, size = [], resolution
    while (len(sizes) < layers) if layers else size >= max(min_px, 2):
        size //= 2
        sizes.append(size)
    return sizes


def max_discriminator_layers(resolution: int) -> int:
    """The most halvings that leave D a map of at least 1 px."""
    return resolution.bit_length() - 1


class DCGANGenerator(nn.Module):
    """z -> ConvTranspose(base x base) -> [ConvTranspose(4, 2, 1) + BatchNorm + ReLU] * k -> tanh.

    Conditional (num_classes or condition_dim): `condition` 'concat' feeds [z, embedding] to the first layer;
    'batchnorm' makes every BatchNorm conditional (affine-free BN, then a per-condition scale and shift).
    """

    def __init__(self, latent_dim: int, resolution: int, channels: int, width: int = 64, num_classes: int = 0,
                 condition_dim: int = 0, condition: str = "concat") -> None:
        super().__init__()
        self.resolution = resolution
        conditional = bool(num_classes or condition_dim)
        concat = conditional and condition == "concat"
        extra = embed_width(num_classes, condition_dim) if concat else 0
        self.condition = ConditionEmbedding(num_classes, condition_dim, extra) if concat else None

        def norm(channels: int) -> nn.Module:
            if conditional and condition == "batchnorm":
                return ConditionalBatchNorm2d(channels, num_classes, condition_dim)
            return nn.BatchNorm2d(channels)

        base, ups = generator_plan(resolution)
        widths = [width * min(2 ** (ups - 1 - j), MAX_WIDTH_MULT) for j in range(ups)]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim + extra, widths[0], base, 1, 0, bias=False),
            norm(widths[0]),
            nn.ReLU(True),
        ]
        for fan_in, fan_out in itertools.pairwise(widths):
            layers += [nn.ConvTranspose2d(fan_in, fan_out, 4, 2, 1, bias=False), norm(fan_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.render_size = base * 2**ups

    def forward(self, z: Tensor, y: Tensor | None = None, c: Tensor | None = None) -> Tensor:
        z = z.view(z.shape[0], -1)
        if self.condition is None:
            out = run_layers(self.main, z[:, :, None, None], y, c)
        else:  # [z, embedding] -> the first layer, as its z part plus the embedding's: a 1 px input makes
            # the embedding's share one matrix product (and z's part keeps the unconditional net's shape and speed)
            first, embedding = self.main[0], self.condition(y, c).to(z.dtype)
            out = F.conv_transpose2d(z[:, :, None, None], first.weight[: z.shape[1]], first.bias)
            out = out + mix(embedding, first.weight[z.shape[1]:], out)
            out = run_layers(self.main[1:], out, y, c)
        if self.render_size != self.resolution:
            start = (self.render_size - self.resolution) // 2
            out = out[:, :, start : start + self.resolution, start : start + self.resolution]
        return out


class DCGANDiscriminator(nn.Module):
    """image -> [Conv(4, 2, 1) + norm + LeakyReLU(0.2) (+ dropout)] * k (a concat condition's maps join after the first)
    -> Conv over the last map -> `outputs` logits (one: a plain score; several: a classifier, as SGAN's D)."""

    def __init__(self, resolution: int, channels: int, width: int = 64, norm: str = "batch",
                 minibatch_std: bool = False, layers: int = 0, min_px: int = 8, condition: str = "none",
                 num_classes: int = 0, condition_dim: int = 0, outputs: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.outputs = outputs
        sizes = discriminator_plan(resolution, layers, min_px)
        widths = [width * min(2**i, MAX_WIDTH_MULT) for i in range(len(sizes))]
        features = widths[-1] + int(minibatch_std)
        self.condition = DiscriminatorCondition(condition, num_classes, condition_dim, features,
                                                features * sizes[-1] ** 2) if condition != "none" else None
        bias = norm != "batch"
        blocks: list[nn.Module] = []
        joined = self.condition.input_width if self.condition is not None else 0  # concat: after block 0
        fan_in = channels
        for i, fan_out in enumerate(widths):
            blocks.append(maybe_spectral(nn.Conv2d(fan_in + (joined if i == 1 else 0), fan_out, 4, 2, 1,
                                                   bias=bias), norm))
            if i > 0:
                blocks.append(feature_norm(norm, fan_out, conv=True))
            blocks.append(activation(dropout))
            fan_in = fan_out
        if minibatch_std:
            blocks.append(MinibatchStd())
        last_fan_in = fan_in + int(minibatch_std) + (joined if len(widths) == 1 else 0)
        blocks.append(maybe_spectral(nn.Conv2d(last_fan_in, outputs, sizes[-1], 1, 0, bias=bias), norm))
        self.main = nn.Sequential(*blocks)

    JOIN_AT = 2  # the condition's maps join after the first block (conv + LeakyReLU)

    def features(self, x: Tensor, y: Tensor | None = None, c: Tensor | None = None) -> Tensor:
        """The last feature map, (N, C, k, k), that the score (and any condition head) reads. A concat condition
        joins the first block's maps, as Mirza & Osindero's D gives x and y first layers of their own."""
        if self.condition is None:
            return self.main[:-1](x)
        h = self.main[: self.JOIN_AT](x)
        if len(self.main) - 1 > self.JOIN_AT and isinstance(self.main[self.JOIN_AT], nn.Conv2d):
            h = self.condition.join_conv(self.main[self.JOIN_AT], h, y, c)  # concat without tiled maps
            return self.main[self.JOIN_AT + 1 : -1](h)
        return self.main[self.JOIN_AT : -1](self.condition.join(h, y, c))

    def forward(self, x: Tensor, y: Tensor | None = None, c: Tensor | None = None,
                classes: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        h = self.features(x, y, c)
        out = self.main[-1](h).view(x.shape[0], self.outputs)
        out = out.squeeze(1) if self.outputs == 1 else out
        if self.condition is None:
            return out
        out = self.condition.project(out, h.sum(dim=(2, 3)), y, c)
        return (out, self.condition.classes(h.flatten(1))) if classes else out
