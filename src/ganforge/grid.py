"""Pictures of samples: a PNG grid of images, or a scatter plot of 2-D points over the real data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

from ganforge.atomic import write_atomic


def image_grid(images: Tensor, columns: int | None = None, padding: int = 2) -> Image.Image:
    """(N, C, H, W) floats in [0, 1] to one PIL image, `columns` per row (default: square-ish)."""
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
    return Image.fromarray(canvas[0], "L") if channels == 1 else Image.fromarray(canvas.transpose(1, 2, 0), "RGB")


def scatter_plot(points: Tensor, reference: Tensor | None = None, size: int = 512) -> Image.Image:
    """2-D points (first two coordinates) in blue over reference points in grey, axes scaled to fit both."""
    fake = points.detach().float().cpu().numpy()[:, :2]
    everything = fake if reference is None else np.concatenate([fake, reference.float().cpu().numpy()[:, :2]])
    finite = everything[np.isfinite(everything).all(axis=1)]
    low, high = (finite.min(0), finite.max(0)) if len(finite) else (np.zeros(2), np.ones(2))
    span = float(max(high - low)) * 1.1 or 1.0
    centre = (low + high) / 2
    canvas = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(canvas)

    def to_pixels(xy: np.ndarray) -> np.ndarray:
        return ((xy - centre) / span + 0.5) * (size - 1) * np.array([1, -1]) + np.array([0, size - 1])

    if reference is not None:
        for x, y in to_pixels(reference.float().cpu().numpy()[:, :2]):
            draw.point((x, y), fill=(170, 170, 170))
    for x, y in to_pixels(fake[np.isfinite(fake).all(axis=1)]):
        draw.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=(31, 119, 180))
    return canvas


def save_png(image: Image.Image, path: str | Path) -> None:
    write_atomic(path, lambda temp: image.save(temp, format="PNG"))
