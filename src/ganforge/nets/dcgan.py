"""DCGAN nets (Radford et al. 2016), generalised to square images of 8-256 px such as 28 px MNIST."""

from __future__ import annotations

import itertools

from torch import Tensor, nn

from ganforge.nets.layers import MinibatchStd, feature_norm, maybe_spectral

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
    """z -> ConvTranspose(base x base) -> [ConvTranspose(4, 2, 1) + BatchNorm + ReLU] * k -> tanh."""

    def __init__(self, latent_dim: int, resolution: int, channels: int, width: int = 64) -> None:
        super().__init__()
        self.resolution = resolution
        base, ups = generator_plan(resolution)
        widths = [width * min(2 ** (ups - 1 - j), MAX_WIDTH_MULT) for j in range(ups)]
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], base, 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for fan_in, fan_out in itertools.pairwise(widths):
            layers += [nn.ConvTranspose2d(fan_in, fan_out, 4, 2, 1, bias=False), nn.BatchNorm2d(fan_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.render_size = base * 2**ups

    def forward(self, z: Tensor) -> Tensor:
        out = self.main(z.view(z.shape[0], -1, 1, 1))
        if self.render_size != self.resolution:
            start = (self.render_size - self.resolution) // 2
            out = out[:, :, start : start + self.resolution, start : start + self.resolution]
        return out


class DCGANDiscriminator(nn.Module):
    """image -> [Conv(4, 2, 1) + norm + LeakyReLU(0.2)] * k -> Conv over the last map -> one logit."""

    def __init__(self, resolution: int, channels: int, width: int = 64, norm: str = "batch",
                 minibatch_std: bool = False, layers: int = 0, min_px: int = 8) -> None:
        super().__init__()
        sizes = discriminator_plan(resolution, layers, min_px)
        widths = [width * min(2**i, MAX_WIDTH_MULT) for i in range(len(sizes))]
        bias = norm != "batch"
        layers: list[nn.Module] = []
        fan_in = channels
        for i, fan_out in enumerate(widths):
            layers.append(maybe_spectral(nn.Conv2d(fan_in, fan_out, 4, 2, 1, bias=bias), norm))
            if i > 0:
                layers.append(feature_norm(norm, fan_out, conv=True))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            fan_in = fan_out
        if minibatch_std:
            layers.append(MinibatchStd())
        layers.append(maybe_spectral(nn.Conv2d(fan_in + int(minibatch_std), 1, sizes[-1], 1, 0, bias=bias), norm))
        self.main = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.main(x).view(x.shape[0])
