"""The simplified modern ResNet G and D of R3GAN (Huang et al. 2024): inverted-bottleneck residual
blocks with grouped 3x3 convs, no normalisation layers, bilinear/average resampling, fix-up init."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.nets.conditioning import ConditionEmbedding, DiscriminatorCondition, embed_width
from ganforge.nets.dcgan import MAX_WIDTH_MULT, discriminator_plan, generator_plan
from ganforge.nets.layers import MinibatchStd

GROUP_SIZE = 16   # channels per group of the 3x3 conv (R3GAN's cardinality, at our widths)
EXPANSION = 2     # the 1x1 convs widen the residual branch by this factor


class ResidualBlock(nn.Module):
    """x + 1x1(act(grouped 3x3(act(1x1(x))))): expand, mix neighbours in groups, project back."""

    def __init__(self, channels: int, blocks_total: int) -> None:
        super().__init__()
        hidden = channels * EXPANSION
        groups = hidden // GROUP_SIZE if hidden % GROUP_SIZE == 0 else 1
        self.expand = nn.Conv2d(channels, hidden, 1)
        self.mix = nn.Conv2d(hidden, hidden, 3, padding=1, groups=groups)
        self.project = nn.Conv2d(hidden, channels, 1, bias=False)
        # Fix-up init (R3GAN): the inner layers scaled by L^(-1/4) for L blocks, the last one zero, so every
        # block starts as the identity and the net as a stack of transitions that trains without normalisation.
        scale = blocks_total ** -0.25
        for layer in (self.expand, self.mix):
            nn.init.kaiming_normal_(layer.weight, a=0.2, nonlinearity="leaky_relu")
            layer.weight.data.mul_(scale)
            nn.init.zeros_(layer.bias)
        nn.init.zeros_(self.project.weight)

    def forward(self, x: Tensor) -> Tensor:
        branch = F.leaky_relu(self.expand(x), 0.2)
        branch = F.leaky_relu(self.mix(branch), 0.2)
        return x + self.project(branch)


class ResNetGenerator(nn.Module):
    """z (+ the condition's embedding) -> linear basis (base x base) -> [upsample 2x + 1x1 conv, residual blocks] * k
    -> 1x1 conv to pixels. R3GAN has no normalisation layers, so a condition always joins z."""

    def __init__(self, latent_dim: int, resolution: int, channels: int, width: int = 64,
                 blocks_per_stage: int = 1, num_classes: int = 0, condition_dim: int = 0) -> None:
        super().__init__()
        self.resolution = resolution
        conditional = bool(num_classes or condition_dim)
        extra = embed_width(num_classes, condition_dim) if conditional else 0
        self.condition = ConditionEmbedding(num_classes, condition_dim, extra) if conditional else None
        self.base, ups = generator_plan(resolution)
        widths = [width * min(2 ** (ups - j), MAX_WIDTH_MULT) for j in range(ups + 1)]
        total = blocks_per_stage * len(widths)
        self.basis = nn.Linear(latent_dim + extra, widths[0] * self.base**2)
        self.stages = nn.ModuleList()
        for j, fan_out in enumerate(widths):
            layers: list[nn.Module] = []
            if j > 0:
                layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                           nn.Conv2d(widths[j - 1], fan_out, 1)]
            layers += [ResidualBlock(fan_out, total) for _ in range(blocks_per_stage)]
            self.stages.append(nn.Sequential(*layers))
        self.to_pixels = nn.Conv2d(widths[-1], channels, 1)
        self.render_size = self.base * 2**ups

    def forward(self, z: Tensor, y: Tensor | None = None, c: Tensor | None = None) -> Tensor:
        z = z.flatten(1)
        if self.condition is not None:
            z = torch.cat([z, self.condition(y, c).to(z.dtype)], dim=1)
        x = self.basis(z).view(z.shape[0], -1, self.base, self.base)
        for stage in self.stages:
            x = stage(x)
        out = self.to_pixels(F.leaky_relu(x, 0.2))
        if self.render_size != self.resolution:
            start = (self.render_size - self.resolution) // 2
            out = out[:, :, start : start + self.resolution, start : start + self.resolution]
        return out


class ResNetDiscriminator(nn.Module):
    """image (+ condition maps) -> 1x1 conv -> [residual blocks, average-pool 2x + 1x1 conv] * k -> blocks ->
    linear -> `outputs` logits (one: a plain score)."""

    def __init__(self, resolution: int, channels: int, width: int = 64, blocks_per_stage: int = 1,
                 minibatch_std: bool = False, layers: int = 0, min_px: int = 8, condition: str = "none",
                 num_classes: int = 0, condition_dim: int = 0, outputs: int = 1) -> None:
        super().__init__()
        self.outputs = outputs
        sizes = discriminator_plan(resolution, layers, min_px)
        widths = [width * min(2**i, MAX_WIDTH_MULT) for i in range(len(sizes) + 1)]
        total = blocks_per_stage * len(widths)
        last = sizes[-1] if sizes else resolution
        features = widths[-1] + int(minibatch_std)
        self.condition = DiscriminatorCondition(condition, num_classes, condition_dim, features,
                                                features * last * last) if condition != "none" else None
        extra = self.condition.input_width if self.condition is not None else 0
        self.from_pixels = nn.Conv2d(channels + extra, widths[0], 1)
        self.stages = nn.ModuleList()
        for i, fan_in in enumerate(widths):
            layers: list[nn.Module] = [ResidualBlock(fan_in, total) for _ in range(blocks_per_stage)]
            if i + 1 < len(widths):
                layers += [nn.AvgPool2d(2), nn.Conv2d(fan_in, widths[i + 1], 1)]
            self.stages.append(nn.Sequential(*layers))
        self.minibatch_std = MinibatchStd() if minibatch_std else None
        self.to_score = nn.Linear(features * last * last, outputs)

    def features(self, x: Tensor, y: Tensor | None = None, c: Tensor | None = None) -> Tensor:
        """The last feature map, (N, C, k, k), that the score (and any condition head) reads."""
        x = self.condition.join_conv(self.from_pixels, x, y, c) if self.condition is not None else self.from_pixels(x)
        for stage in self.stages:
            x = stage(x)
        x = F.leaky_relu(x, 0.2)
        return self.minibatch_std(x) if self.minibatch_std is not None else x

    def forward(self, x: Tensor, y: Tensor | None = None, c: Tensor | None = None,
                classes: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        h = self.features(x, y, c)
        out = self.to_score(h.flatten(1))
        out = out.squeeze(1) if self.outputs == 1 else out
        if self.condition is None:
            return out
        out = self.condition.project(out, h.sum(dim=(2, 3)), y, c)
        return (out, self.condition.classes(h.flatten(1))) if classes else out

