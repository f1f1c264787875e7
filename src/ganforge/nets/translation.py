"""Nets of image-to-image GANs: a U-Net G and a PatchGAN D (Isola et al. 2017, "pix2pix"), and the ResNet G of
CycleGAN (Zhu et al. 2017, after Johnson et al. 2016).

The U-Net halves the image `depth` times with 4x4 stride-2 convs and doubles it back with transposed convs, each
decoder level joined to the encoder level of its size (skip connections carry the input's detail past the
bottleneck); dropout in the first three decoder levels is G's only noise, as in the paper. Any image size works:
the input is padded (reflection) to a multiple of 2^depth and the output cropped back.

The PatchGAN D scores overlapping patches of the (input, output) pair: three 4x4 stride-2 convs and two stride-1
ones (the 70x70 patch D at 256 px), fewer halvings on small images. Both use instance normalisation (the
paper's batch norm at its batch size 1), so a trained G translates one image as it would a batch. The PatchGAN
takes one image (CycleGAN's D) or an (input, image) pair (pix2pix's), joined along the channels.

The ResNet G keeps the image's size: a 7x7 conv, two stride-2 halvings, residual blocks at a quarter of the size,
two transposed-conv doublings and a 7x7 conv to tanh, with reflection padding and instance norm (Johnson et al.'s
design as CycleGAN uses it, without dropout). Any image size works: padded to a multiple of 4 and cropped back.
`halvings` other than 2 change the number of halvings (and doublings); 0 keeps every block at the image's size (no
bottleneck: a G whose receptive field stays small, which keeps a shape where it was).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def unet_depth(resolution: int) -> int:
    """Halvings of a U-Net for images of this size: down to 2-4 px at the bottleneck, at most 8."""
    return max(1, min(8, int(math.log2(max(resolution, 2))) - 1))


def patch_layers(resolution: int) -> int:
    """Stride-2 convs of a PatchGAN D: 3 (the paper's), fewer when the image is too small for them."""
    return max(1, min(3, int(math.log2(max(resolution, 2))) - 2))


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True)


class UNetGenerator(nn.Module):
    """G(source) -> image: a U-Net from `in_channels` to `out_channels` (tanh output in [-1, 1]); with `upscale`
    K the output is K times the input's size."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, width: int = 64, dropout: float = 0.5,
                 upscale: int = 1) -> None:
        super().__init__()
        if depth < 1 or upscale < 1:
            raise ValueError(f"depth and upscale must be at least 1, got {depth} and {upscale}")
        self.depth, self.upscale = depth, upscale
        widths = [width * min(2**i, 8) for i in range(depth)]
        self.down = nn.ModuleList()
        previous = in_channels
        for i, channels in enumerate(widths):
            innermost = i == depth - 1
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(previous, channels, 4, 2, 1, bias=i == 0 or innermost))
            if 0 < i < depth - 1:  # no norm on the first layer (the paper's C64) nor at the bottleneck
                layers.append(_norm(channels))
            self.down.append(nn.Sequential(*layers))
            previous = channels
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            skip = widths[i - 1] if i > 0 else 0
            incoming = widths[i] if i == depth - 1 else 2 * widths[i]
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(incoming, out_channels, 4, 2, 1),
                                             nn.Tanh()))
                continue
            layers = [nn.ReLU(), nn.ConvTranspose2d(incoming, skip, 4, 2, 1, bias=False), _norm(skip)]
            if depth - 1 - i < 3 and dropout > 0:  # the innermost three decoder levels
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    def forward(self, source: Tensor) -> Tensor:
        if self.upscale > 1:  # a low-resolution input (data.pairs downscaleK): bicubic to the output's size first
            source = F.interpolate(source, scale_factor=self.upscale, mode="bicubic", align_corners=False).clamp(-1, 1)
        height, width = source.shape[-2:]
        multiple = 2**self.depth
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        x = source
        if pad_h or pad_w:  # reflection needs the pad smaller than the side; replicate covers tiny images
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        skips.pop()  # the bottleneck feeds the first decoder level directly
        for layer in self.up:
            x = layer(x)
            if skips:
                x = torch.cat([x, skips.pop()], dim=1)
        return x[..., :height, :width]


class PatchDiscriminator(nn.Module):
    """D(source, image) -> a map of patch logits (real pairs high, translated pairs low)."""

    def __init__(self, in_channels: int, layers: int = 3, width: int = 64) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        channels = width
        for i in range(1, layers):
            out = width * min(2**i, 8)
            blocks += [nn.Conv2d(channels, out, 4, 2, 1, bias=False), _norm(out), nn.LeakyReLU(0.2)]
            channels = out
        out = width * min(2**layers, 8)
        blocks += [nn.Conv2d(channels, out, 4, 1, 1, bias=False), _norm(out), nn.LeakyReLU(0.2),
                   nn.Conv2d(out, 1, 4, 1, 1)]
        self.net = nn.Sequential(*blocks)

    def forward(self, *images: Tensor) -> Tensor:
        """D(image) or D(source, image): the images are joined along the channels."""
        return self.net(images[0] if len(images) == 1 else torch.cat(images, dim=1))


def _pad_to(x: Tensor, multiple: int, least: int) -> Tensor:
    """Pad (right and bottom) to a multiple of `multiple` and at least `least` px: reflection where the image is
    large enough for it, replication otherwise."""
    height, width = x.shape[-2:]
    pad_h = max(least, height + (-height) % multiple) - height
    pad_w = max(least, width + (-width) % multiple) - width
    if not pad_h and not pad_w:
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class ResidualBlock(nn.Module):
    """x + [pad, 3x3 conv, IN, ReLU, pad, 3x3 conv, IN](x)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False), _norm(channels),
                                  nn.ReLU(), nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=False),
                                  _norm(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResNetTranslator(nn.Module):
    """G(image) -> image of the same size: `in_channels` to `out_channels`, `blocks` residual blocks at width
    2^halvings x `width` after `halvings` stride-2 halvings (CycleGAN: width 64, 2 halvings, 6 blocks at 128 px, 9 at
    256), tanh output in [-1, 1]."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64, blocks: int = 6,
                 halvings: int = 2) -> None:
        super().__init__()
        if blocks < 1 or width < 1 or halvings < 0:
            raise ValueError(f"blocks and width must be at least 1 and halvings at least 0, got {blocks}, {width} and "
                             f"{halvings}")
        self.halvings = halvings
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7, bias=False), _norm(width),
                                   nn.ReLU()]
        channels = width
        for _ in range(halvings):
            layers += [nn.Conv2d(channels, 2 * channels, 3, 2, 1, bias=False), _norm(2 * channels), nn.ReLU()]
            channels *= 2
        layers += [ResidualBlock(channels) for _ in range(blocks)]
        for _ in range(halvings):
            layers += [nn.ConvTranspose2d(channels, channels // 2, 3, 2, 1, output_padding=1, bias=False),
                       _norm(channels // 2), nn.ReLU()]
            channels //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(channels, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, source: Tensor) -> Tensor:
        height, width = source.shape[-2:]
        multiple = 2**self.halvings  # the residual blocks' reflection pad needs 2 px at the bottleneck
        return self.net(_pad_to(source, multiple, 2 * multiple))[..., :height, :width]


def init_normal_(net: nn.Module) -> None:
    """The init of pix2pix and CycleGAN: conv weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0."""
    for layer in net.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.InstanceNorm2d) and layer.affine:
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
