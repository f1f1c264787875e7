"""LAPGAN's nets (Denton et al. 2015): a Laplacian pyramid of generators and of discriminators.

Level 0 is the full image, level L-1 the coarsest (each level half the size of the one above it). The coarsest
G draws a small image from noise (an MLP, as the paper's CIFAR-10 model); every finer G draws the Laplacian band
h_k = I_k - up(I_{k+1}) from the upsampled coarser image and a noise plane (the paper's "4th colour plane"), and
the image is rebuilt as up(I_{k+1}) + h_k. The D's judge the coarsest image, and each band given its upsampled
coarser image. Down: 2x2 average pooling; up: bilinear. A G's forward runs the whole pyramid, so sampling needs
no family code: z holds the coarsest level's latent vector followed by one noise plane per finer level.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pyramid_sizes(resolution: int, max_levels: int = 3, min_size: int = 4) -> list[int]:
    """Sizes from the full image down: halve while the size is even and the half at least `min_size`."""
    sizes = [resolution]
    while len(sizes) < max_levels and sizes[-1] % 2 == 0 and sizes[-1] // 2 >= min_size:
        sizes.append(sizes[-1] // 2)
    return sizes


def downsample(x: Tensor) -> Tensor:
    return F.avg_pool2d(x, 2)


def upsample(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def laplacian_pyramid(images: Tensor, levels: int) -> tuple[list[Tensor], Tensor]:
    """The bands h_0..h_{L-2} (finest first) and the coarsest image I_{L-1}: images = sum of the bands, rebuilt."""
    bands, current = [], images
    for _ in range(levels - 1):
        coarser = downsample(current)
        bands.append(current - upsample(coarser))
        current = coarser
    return bands, current


class BandGenerator(nn.Module):
    """One finer level's G: (upsampled coarser image, noise plane) -> the band (linear output)."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels + 1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, low: Tensor, noise: Tensor) -> Tensor:
        return self.net(torch.cat([low, noise], dim=1))


class LaplacianGenerator(nn.Module):
    """G(z) -> image: the coarsest image from z's first `latent_dim` values, then each finer level's band."""

    def __init__(self, channels: int, resolution: int, latent_dim: int, width: int = 64, hidden: int = 512,
                 max_levels: int = 3) -> None:
        super().__init__()
        self.sizes = pyramid_sizes(resolution, max_levels)
        self.channels, self.latent_dim = channels, latent_dim
        coarse = self.sizes[-1]
        self.coarsest = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                      nn.Linear(hidden, channels * coarse * coarse), nn.Tanh())
        self.bands = nn.ModuleList(BandGenerator(channels, width) for _ in self.sizes[:-1])  # finest first

    @property
    def total_latent(self) -> int:
        """z's width: the coarsest latent vector, then one noise plane per finer level."""
        return self.latent_dim + sum(size * size for size in self.sizes[:-1])

    def split(self, z: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The coarsest latent and the noise planes: z = [coarsest latent | finest plane | ... | coarsest band's]."""
        coarse, rest = z[:, : self.latent_dim], z[:, self.latent_dim :]
        planes, start = [], 0
        for size in self.sizes[:-1]:
            planes.append(rest[:, start : start + size * size].reshape(-1, 1, size, size))
            start += size * size
        return coarse, planes

    def levels(self, z: Tensor) -> list[Tensor]:
        """The image at every level, coarsest first (the last is the sample)."""
        coarse, planes = self.split(z)
        size = self.sizes[-1]
        image = self.coarsest(coarse).reshape(-1, self.channels, size, size)
        out = [image]
        for band, plane in zip(reversed(self.bands), reversed(planes), strict=True):
            low = upsample(image)
            image = (low + band(low, plane)).clamp(-1, 1)
            out.append(image)
        return out

    def forward(self, z: Tensor) -> Tensor:
        return self.levels(z)[-1]


class BandDiscriminator(nn.Module):
    """One finer level's D: (band, upsampled coarser image) -> a logit."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, 1))

    def forward(self, band: Tensor, low: Tensor) -> Tensor:
        return self.net(torch.cat([band, low], dim=1)).squeeze(1)


class LaplacianDiscriminator(nn.Module):
    """The pyramid's D's: an MLP on the coarsest image and a conv D per band (finest first)."""

    def __init__(self, channels: int, resolution: int, width: int = 64, hidden: int = 512, max_levels: int = 3) -> None:
        super().__init__()
        self.sizes = pyramid_sizes(resolution, max_levels)
        coarse = self.sizes[-1]
        self.coarsest = nn.Sequential(nn.Flatten(), nn.Linear(channels * coarse * coarse, hidden), nn.LeakyReLU(0.2),
                                      nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
        self.bands = nn.ModuleList(BandDiscriminator(channels, width) for _ in self.sizes[:-1])

    def forward(self, images: Tensor) -> Tensor:
        """The coarsest level's verdict on whole images (all a plain D call can give)."""
        _, coarse = laplacian_pyramid(images, len(self.sizes))
        return self.coarsest(coarse).squeeze(1)
