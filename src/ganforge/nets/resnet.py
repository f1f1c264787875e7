"""The simplified modern ResNet G and D of R3GAN (Huang et al. 2024): inverted-bottleneck residual
blocks with grouped 3x3 convs, no normalisation layers, bilinear/average resampling, fix-up init."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

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
    """z -> linear basis (base x base) -> [upsample 2x + 1x1 conv, residual blocks] * k -> 1x1 conv to pixels."""

    def __init__(self, latent_dim: int, resolution: int, channels: int, width: int = 64,
                 blocks_per_stage: int = 1) -> None:
        super().__init__()
        self.resolution = resolution
        self.base, ups = generator_plan(resolution)
        widths = [width * min(2 ** (ups - j), MAX_WIDTH_MULT) for j in range(ups + 1)]
        total = blocks_per_stage * len(widths)
        self.basis = nn.Linear(latent_dim, widths[0] * self.base**2)
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

    def forward(self, z: Tensor) -> Tensor:
        x = self.basis(z.flatten(1)).view(z.shape[0], -1, self.base, self.base)
        for stage in self.stages:
            x = stage(x)
        out = self.to_pixels(F.leaky_relu(x, 0.2))
        if self.render_size != self.resolution:
            start = (self.render_size - self.resolution) // 2
            out = out[:, :, start : start + self.resolution, start : start + self.resolution]
        return out


class ResNetDiscriminator(nn.Module):
    """image -> 1x1 conv -> [residual blocks, average-pool 2x + 1x1 conv] * k -> blocks -> linear -> one score."""

    def __init__(self, resolution: int, channels: int, width: int = 64, blocks_per_stage: int = 1,
                 minibatch_std: bool = False, layers: int = 0, min_px: int = 8) -> None:
        super().__init__()
        sizes = discriminator_plan(resolution, layers, min_px)
        widths = [width * min(2**i, MAX_WIDTH_MULT) for i in range(len(sizes) + 1)]
        total = blocks_per_stage * len(widths)
        self.from_pixels = nn.Conv2d(channels, widths[0], 1)
        self.stages = nn.ModuleList()
        for i, fan_in in enumerate(widths):
            layers: list[nn.Module] = [ResidualBlock(fan_in, total) for _ in range(blocks_per_stage)]
            if i + 1 < len(widths):
                layers += [nn.AvgPool2d(2), nn.Conv2d(fan_in, widths[i + 1], 1)]
            self.stages.append(nn.Sequential(*layers))
        self.minibatch_std = MinibatchStd() if minibatch_std else None
        last = sizes[-1] if sizes else resolution
        self.to_score = nn.Linear((widths[-1] + int(minibatch_std)) * last * last, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.from_pixels(x)
        for stage in self.stages:
            x = stage(x)
        x = F.leaky_relu(x, 0.2)
        if self.minibatch_std is not None:
            x = self.minibatch_std(x)
        return self.to_score(x.flatten(1)).squeeze(1)

