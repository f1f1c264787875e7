"""Nets of SRGAN (Ledig et al. 2017, "Photo-realistic single image super-resolution"): SRResNet G and a strided D.

G (the paper's Figure 4, top): a 9x9 conv + PReLU; B residual blocks (3x3 conv, BN, PReLU, 3x3 conv, BN, plus the
block's input); a 3x3 conv + BN joined by a long skip to the first conv's output; log2(K) sub-pixel steps (a 3x3 conv
to 4C channels, PixelShuffle(2), PReLU), each doubling the size; a 9x9 conv to the image's channels and tanh (our
images live in [-1, 1]). B = 16 in the paper; the srgan family picks its own default (model.g_blocks). With
`bicubic_skip` (the srgan family's nets since 2026-12-02) G instead adds its output to the input's bicubic upscale
and clips to [-1, 1], its last conv starting at zero (VDSR's global residual, Kim et al. 2016): G starts as bicubic
and learns only the detail bicubic misses, which a CPU budget of a few thousand steps can teach (without it,
2,000 steps left SRResNet 4 dB below bicubic on the held-out photos; BENCHMARKS.md). Every conv is
zero-padded "same", so G is fully convolutional: any input size, output K times it. Its BatchNorm uses running
statistics in eval mode, a fixed per-channel affine map, so one image translates as it would in a batch and a tile
of an image as it would in the whole (see `receptive_radius`). With `batch_norm=False` the blocks and the conv after
them drop BatchNorm and keep the convs' biases, as EDSR (Lim et al. 2017) does: trained on a few photographs, the
BatchNorm G left a periodic residual on flat regions (the srgan family's default since 2026-12-02: model.g_norm).

D (Figure 4, bottom): a 3x3 conv to 64 channels + LeakyReLU(0.2); then conv-BN-LeakyReLU blocks alternating stride 2
and stride 1 while doubling the channels up to 512 (64 s2, 128 s1, 128 s2, 256 s1, 256 s2, 512 s1, 512 s2: four
halvings on the paper's 96 px crops, fewer on small images); then, instead of the paper's dense layer over a fixed
6x6x512 map, a global average pool, so that any image size works; a 1x1 conv to 1024 (the paper's dense 1024),
LeakyReLU, and a 1x1 conv to one logit per image. `norm` replaces the blocks' BatchNorm: "none" (the convs keep their
biases) or "spectral" (every conv spectrally normalised, Miyato et al. 2018). A BatchNorm D trained on batches of one
crop normalises each image by its own statistics, and real and fake images in separate calls, so it cannot see a
difference of contrast or noise level over the whole image; the other two see each image as it is.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from ganforge.nets.layers import feature_norm, maybe_spectral

MAX_SCALE = 8
SR_D_NORMS = ("batch", "none", "spectral")  # D's normalisation (model.d_norm); batch is the paper's


def sr_halvings(resolution: int) -> int:
    """Stride-2 blocks of D for images of this side: the paper's 4 at 96 px (down to 6 px), fewer on small images
    so the map keeps at least 2-4 px."""
    return max(1, min(4, int(math.log2(max(resolution, 2))) - 2))


def conv_norm(channels: int, batch_norm: bool) -> list[nn.Module]:
    """A 3x3 conv followed by BatchNorm (the paper), or a 3x3 conv with a bias alone (EDSR)."""
    if batch_norm:
        return [nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)]
    return [nn.Conv2d(channels, channels, 3, padding=1)]


class ResidualBlock(nn.Module):
    """x + BN(conv(PReLU(BN(conv(x))))): the paper's residual block of two 3x3 convs (without the BNs: EDSR's)."""

    def __init__(self, channels: int, batch_norm: bool = True) -> None:
        super().__init__()
        self.body = nn.Sequential(*conv_norm(channels, batch_norm), nn.PReLU(), *conv_norm(channels, batch_norm))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SRResNetGenerator(nn.Module):
    """G(source) -> image `scale` times the source's size, in [-1, 1]."""

    def __init__(self, in_channels: int, out_channels: int, scale: int, width: int = 64, blocks: int = 16,
                 bicubic_skip: bool = False, batch_norm: bool = True) -> None:
        super().__init__()
        if bicubic_skip and in_channels != out_channels:
            raise ValueError(f"bicubic_skip adds the input's upscale to the output, so both need the same channels; "
                             f"got {in_channels} in and {out_channels} out")
        if scale < 2 or scale > MAX_SCALE or scale & (scale - 1):
            raise ValueError(f"scale must be 2, 4 or 8 (a power of two: one sub-pixel x2 step each), got {scale}")
        if blocks < 1 or width < 1:
            raise ValueError(f"blocks and width must be at least 1, got {blocks} and {width}")
        self.scale, self.blocks = scale, blocks
        self.head = nn.Sequential(nn.Conv2d(in_channels, width, 9, padding=4), nn.PReLU())
        self.body = nn.Sequential(*(ResidualBlock(width, batch_norm) for _ in range(blocks)))
        self.body_end = nn.Sequential(*conv_norm(width, batch_norm))
        steps: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            steps += [nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2), nn.PReLU()]
        self.upsample = nn.Sequential(*steps)
        self.tail = nn.Conv2d(width, out_channels, 9, padding=4)
        self.bicubic_skip = bicubic_skip
        if bicubic_skip:  # G starts as the bicubic upscale
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def receptive_radius(self) -> int:
        """How far, in input pixels, an output pixel's inputs reach: 4 (9x9 head) + 2 per block + 1 (the conv
        after the blocks) + the 3x3 conv of each x2 step at its own scale + the 9x9 tail at the output's scale,
        rounded up. An image cut into tiles that each see this much context around their core, with that border
        of each output cropped off, is G's output on the whole image (up to float rounding)."""
        steps = int(math.log2(self.scale))
        reach = 4 + 2 * self.blocks + 1 + sum(1 / 2**i for i in range(steps)) + 4 / self.scale
        return math.ceil(reach)

    def forward(self, source: Tensor) -> Tensor:
        features = self.head(source)
        features = features + self.body_end(self.body(features))  # the long skip over all blocks
        detail = self.tail(self.upsample(features))
        if self.bicubic_skip:
            upscaled = F.interpolate(source, scale_factor=self.scale, mode="bicubic", align_corners=False)
            return (upscaled + detail).clamp(-1.0, 1.0)
        return detail.tanh()


class SRDiscriminator(nn.Module):
    """D(image) -> one logit per image (real high, super-resolved low)."""

    def __init__(self, in_channels: int, width: int = 64, halvings: int = 4, norm: str = "batch") -> None:
        super().__init__()
        if halvings < 1 or width < 1:
            raise ValueError(f"halvings and width must be at least 1, got {halvings} and {width}")
        if norm not in SR_D_NORMS:
            raise ValueError(f"norm must be one of {', '.join(SR_D_NORMS)}, got '{norm}'")

        def block(channels: int, out: int, stride: int) -> list[nn.Module]:
            conv = nn.Conv2d(channels, out, 3, stride, 1, bias=norm != "batch")
            return [maybe_spectral(conv, norm), feature_norm(norm, out, conv=True), nn.LeakyReLU(0.2)]

        layers: list[nn.Module] = [maybe_spectral(nn.Conv2d(in_channels, width, 3, padding=1), norm),
                                   nn.LeakyReLU(0.2)]
        channels = width
        for i in range(halvings):
            out = width * min(2**i, 8)
            if i > 0:  # the stride-1 block that doubles the channels
                layers += block(channels, out, 1)
            layers += block(out, out, 2)
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), maybe_spectral(nn.Conv2d(channels, 16 * width, 1), norm),
                   nn.LeakyReLU(0.2), maybe_spectral(nn.Conv2d(16 * width, 1, 1), norm), nn.Flatten(0)]
        self.net = nn.Sequential(*layers)

    def forward(self, image: Tensor) -> Tensor:
        return self.net(image)

    def forward_with_features(self, image: Tensor) -> tuple[Tensor, list[Tensor]]:
        """The logits and the maps after each LeakyReLU before the pool: what feature matching compares."""
        features: list[Tensor] = []
        pooled = False
        for layer in self.net:
            pooled = pooled or isinstance(layer, nn.AdaptiveAvgPool2d)
            image = layer(image)
            if isinstance(layer, nn.LeakyReLU) and not pooled:
                features.append(image)
        return image, features
