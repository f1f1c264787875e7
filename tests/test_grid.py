"""Sample pictures: image grids and scatter plots."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from ganforge.grid import image_grid, save_png, scatter_plot


def test_image_grid_places_each_image() -> None:
    images = torch.zeros(5, 3, 4, 4)
    images[4] = 1.0
    grid = image_grid(images, columns=3, padding=1)
    assert grid.size == (3 * 5 + 1, 2 * 5 + 1) and grid.mode == "RGB"
    assert grid.getpixel((1 + 5 + 1, 1 + 5 + 1)) == (255, 255, 255)  # fifth image: row 1, column 1
    assert grid.getpixel((1, 1)) == (0, 0, 0)


def test_grey_grid_and_scatter_are_saved(tmp_path: Path) -> None:
    save_png(image_grid(torch.rand(4, 1, 6, 6)), tmp_path / "g.png")
    save_png(scatter_plot(torch.randn(50, 2), torch.randn(50, 2)), tmp_path / "s.png")
    with Image.open(tmp_path / "g.png") as grey, Image.open(tmp_path / "s.png") as scatter:
        assert grey.mode == "L" and scatter.size == (512, 512)


def test_scatter_survives_non_finite_points() -> None:
    points = torch.tensor([[float("nan"), 0.0], [1.0, 1.0], [float("inf"), 2.0]])
    assert scatter_plot(points).size == (512, 512)


def _pixels_near(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 40) -> int:
    import numpy as np

    pixels = np.asarray(image.convert("RGB")).astype(int)
    return int((np.abs(pixels - np.array(colour)).sum(axis=2) < tolerance).sum())


def _grey_and_blue(image: Image.Image) -> tuple[int, int]:
    """Pixels of the real data's grey (r = g = b, neither white nor the black of text and axes) and of blue."""
    import numpy as np

    r, g, b = np.asarray(image.convert("RGB")).astype(int).transpose(2, 0, 1)
    grey = (np.abs(r - g) < 8) & (np.abs(g - b) < 8) & (r > 110) & (r < 215)
    blue = b > r + 60
    return int(grey.sum()), int(blue.sum())


def test_scatter_shows_the_real_data_and_the_samples_in_two_colours() -> None:
    real, fake = torch.randn(400, 2) * 3, torch.randn(400, 2) * 0.3 + 5
    both = scatter_plot(fake, real)
    alone = scatter_plot(fake)
    (grey, blue), (grey_alone, blue_alone) = _grey_and_blue(both), _grey_and_blue(alone)
    assert grey > 400 and blue > 200 and blue_alone > 200
    assert grey > grey_alone + 2000  # the grey is the real data, not only the axes, labels and grid lines


def test_a_caption_adds_a_line_of_text_above_the_grid() -> None:
    plain = image_grid(torch.ones(4, 3, 8, 8))
    captioned = image_grid(torch.ones(4, 3, 8, 8), caption="step 10 · dcgan · mnist")
    assert captioned.height == plain.height + 14 and captioned.width >= plain.width
    assert _pixels_near(captioned.crop((0, 0, captioned.width, 14)), (0, 0, 0), 200) > 20
