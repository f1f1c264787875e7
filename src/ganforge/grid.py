"""Pictures of samples: a PNG grid of images, or a scatter plot of 2-D points over the real data."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from ganforge.atomic import write_atomic


def image_grid(images: Tensor, columns: int | None = None, padding: int = 2, caption: str = "") -> Image.Image:
    """(N, C, H, W) floats in [0, 1] to one PIL image, `columns` per row (default: square-ish), under an optional
    caption line."""
    n, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    pixels = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    canvas = np.full((channels, rows * (height + padding) + padding, columns * (width + padding) + padding),
                     255, dtype=np.uint8)
    for i in range(n):
        top = padding + (i // columns) * (height + padding)
        left = padding + (i % columns) * (width + padding)
        canvas[:, top : top + height, left : left + width] = pixels[i]
    grid = Image.fromarray(canvas[0], "L") if channels == 1 else Image.fromarray(canvas.transpose(1, 2, 0), "RGB")
    return add_caption(grid, caption)


def scatter_plot(points: Tensor, reference: Tensor | None = None, size: int = 512, caption: str = "") -> Image.Image:
    """2-D points (first two coordinates) over the real data, drawn with matplotlib: axes, the real points in a
    second colour, a legend, and an optional caption (step, family, data)."""
    from ganforge.plots import scatter_png

    fake = points.detach().float().cpu().numpy()[:, :2]
    real = None if reference is None else reference.detach().float().cpu().numpy()[:, :2]
    return Image.open(io.BytesIO(scatter_png(fake, real, caption, size))).convert("RGB")


def add_caption(image: Image.Image, caption: str) -> Image.Image:
    """The image with one line of text above it (e.g. "step 2000 · dcgan · mnist")."""
    if not caption:
        return image
    font = ImageFont.load_default()
    height = 14
    text_width = int(ImageDraw.Draw(image).textlength(caption, font=font)) + 4
    canvas = Image.new(image.mode, (max(image.width, text_width), image.height + height), "white")
    canvas.paste(image, (0, height))
    ImageDraw.Draw(canvas).text((2, 1), caption, fill="black" if image.mode == "RGB" else 0, font=font)
    return canvas


def side_by_side(inputs: Tensor, outputs: Tensor, targets: Tensor) -> Tensor:
    """(input, output, target) triplets, interleaved for a grid of 3k columns: inputs brought to the outputs'
    channels (grey repeated, colour to luma) and size (nearest, so a low-resolution input shows its pixels)."""
    channels, size = outputs.shape[1], outputs.shape[-2:]
    if inputs.shape[1] != channels:
        inputs = inputs.repeat(1, channels, 1, 1) if inputs.shape[1] == 1 else \
            (inputs * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if inputs.shape[-2:] != size:
        inputs = torch.nn.functional.interpolate(inputs, size=size, mode="nearest")
    return torch.stack([inputs, outputs, targets], dim=1).flatten(0, 1)


def pyramid_grid(levels: list[Tensor]) -> Tensor:
    """Every level of each sample side by side (coarsest first), each brought to the full size (nearest)."""
    size = levels[-1].shape[-2:]
    shown = [level if level.shape[-2:] == size else torch.nn.functional.interpolate(level, size=size, mode="nearest")
             for level in levels]
    return torch.stack(shown, dim=1).flatten(0, 1)


def save_png(image: Image.Image, path: str | Path) -> None:
    write_atomic(path, lambda temp: image.save(temp, format="PNG"))
