"""LAPGAN: the Laplacian pyramid, level-by-level training, sampling through the pyramid, its grid and resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import ganforge
from ganforge.cli import main
from ganforge.data import load_data
from ganforge.families import FAMILIES, StepState
from ganforge.nets import build_net
from ganforge.nets.laplacian import laplacian_pyramid, pyramid_sizes, upsample
from ganforge.recipes import resolve

from conftest import tiny


@pytest.mark.parametrize(("resolution", "sizes"), [(28, [28, 14, 7]), (8, [8, 4]), (64, [64, 32, 16]), (25, [25])])
def test_pyramid_sizes_halve_even_sides_down_to_4_px_at_most_three_levels(resolution: int, sizes: list[int]) -> None:
    assert pyramid_sizes(resolution) == sizes


def test_the_bands_and_the_coarsest_image_rebuild_the_image_exactly() -> None:
    images = torch.rand(3, 2, 16, 16) * 2 - 1
    bands, coarsest = laplacian_pyramid(images, 3)
    assert [b.shape[-1] for b in bands] == [16, 8] and coarsest.shape[-1] == 4
    rebuilt = coarsest
    for band in reversed(bands):
        rebuilt = upsample(rebuilt) + band
    assert torch.allclose(rebuilt, images, atol=1e-5)


def test_the_generator_chains_the_levels_from_one_latent() -> None:
    generator = build_net("laplacian_generator", channels=1, resolution=28, latent_dim=10, width=4, hidden=16)
    assert generator.total_latent == 10 + 14 * 14 + 28 * 28
    z = torch.randn(5, generator.total_latent)
    levels = generator.eval().levels(z)
    assert [level.shape[-1] for level in levels] == [7, 14, 28]
    assert torch.equal(levels[-1], generator(z))
    changed = z.clone()
    changed[:, 10 : 10 + 28 * 28] += 1.0  # only the finest level's noise plane (planes come finest first)
    again = generator.levels(changed)
    assert torch.equal(again[0], levels[0]) and torch.equal(again[1], levels[1])
    assert not torch.equal(again[2], levels[2])


def test_each_level_learns_only_from_its_own_loss() -> None:
    config = resolve(tiny(model__family="lapgan", data__source="mnist", data__max_samples=16, data__resolution=16))
    data = load_data(config.data)
    family = FAMILIES["lapgan"](config, data.spec)
    batch = data.batch(torch.arange(8), torch.device("cpu"))

    def level_losses() -> list[float]:
        torch.manual_seed(0)  # the same noise each time
        out = family.discriminator_step(batch, StepState(0))
        return [float(out[f"level{k}"]) for k in range(3)]  # level0: the coarsest

    before = level_losses()
    with torch.no_grad():  # change the finest band's G only
        for parameter in family.nets["generator"].bands[0].parameters():
            parameter.add_(0.5)
    after = level_losses()
    assert after[:2] == before[:2] and after[2] != before[2]
    out = family.discriminator_step(batch, StepState(0))
    out["loss"].backward()
    assert all(p.grad is not None for p in family.nets["discriminator"].parameters())


def test_a_lapgan_run_samples_through_the_pyramid_and_grids_every_level(tmp_path: Path) -> None:
    run = ganforge.train(tiny(model__family="lapgan", data__source="mnist", data__resolution=16,
                              data__max_samples=64), out=tmp_path / "run")
    assert run.sample(6, seed=0).shape == (6, 1, 16, 16)
    assert run.latent["dim"] == 8 + 16 * 16 + 8 * 8  # the coarsest latent and one noise plane per finer level
    with Image.open(tmp_path / "run" / "samples" / "step-0000004.png") as grid:  # 32 samples x 3 levels, 12 a row
        assert grid.height == 8 * 18 + 2 + 14 and grid.width >= 12 * 18 + 2


def test_resume_of_lapgan_is_bit_exact(tmp_path: Path) -> None:
    config = tiny(model__family="lapgan", data__source="digits", train__steps=6, train__checkpoint_every=3)
    ganforge.train(config, out=tmp_path / "straight")
    ganforge.train({**config, "train.steps": 3}, out=tmp_path / "staged")
    ganforge.resume(tmp_path / "staged", train__steps=6)
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "step-0000006" / "model.safetensors"))
    b = load_file(str(tmp_path / "staged" / "checkpoints" / "step-0000006" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_images_that_cannot_be_halved_are_refused_in_one_line(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--family", "lapgan", "--data", "mnist", "--data.resolution", "25", "--out",
                 str(tmp_path / "r"), "--train.steps", "2"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "25 px" in err
    assert not (tmp_path / "r").exists()
