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
