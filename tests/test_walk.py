"""Latent walks (`ganforge sample --interpolate K`): slerp between Gaussian latents, GIF and PNG strip outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import ganforge
from ganforge.apps.walk import latent_walk, slerp, walk_latents
from ganforge.cli import main
from ganforge.latent import sample_latent

from conftest import tiny


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("walk-runs")
    out = {}
    for name, family, source in (("dcgan", "dcgan", "digits"), ("cgan", "cgan", "digits"), ("ring", "vanilla", "ring")):
        ganforge.train(tiny(model__family=family, data__source=source, data__max_samples=80), out=base / name)
        out[name] = base / name
    return out


def test_slerp_ends_at_its_endpoints_and_keeps_the_norm_of_equal_norm_latents() -> None:
    a, b = torch.randn(5, 64), torch.randn(5, 64)
    b = b / b.norm(dim=1, keepdim=True) * a.norm(dim=1, keepdim=True)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-5)
    middle = slerp(a, b, 0.5)
    assert torch.allclose(middle.norm(dim=1), a.norm(dim=1), rtol=1e-4)
    linear = (a + b) / 2
    assert (linear.norm(dim=1) < middle.norm(dim=1) - 1e-3).all()  # a straight line cuts inside the sphere
    assert torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a, atol=1e-5)  # parallel: linear


def test_a_closed_walk_visits_every_key_and_returns_to_the_first() -> None:
    keys = torch.randn(4, 3, 16)
    frames = walk_latents(keys, 5, "normal", closed=True)
    assert frames.shape == (20, 3, 16)
    for k in range(4):
        assert torch.allclose(frames[5 * k], keys[k], atol=1e-5)
    opened = walk_latents(keys, 5, "uniform", closed=False)
    assert opened.shape == (16, 3, 16) and torch.allclose(opened[-1], keys[-1])
    assert torch.allclose(opened[1], 0.8 * keys[0] + 0.2 * keys[1], atol=1e-6)  # uniform latents: linear


def test_walk_frames_are_the_generator_at_the_key_latents_and_change_gradually(runs: dict[str, Path]) -> None:
    run = ganforge.load(runs["dcgan"])
    frames = latent_walk(run, keys=3, frames_between=6, walks=4, seed=7)
    assert frames.shape == (18, 4, 1, 8, 8)
    keys = sample_latent(12, run.latent["dim"], "normal", "cpu", torch.Generator().manual_seed(7)).reshape(3, 4, -1)
    for k in range(3):
        assert torch.allclose(frames[6 * k], run.sample_latents(keys[k]), atol=1e-6)
    step = (frames[1:] - frames[:-1]).abs().mean()
    jump = (frames[6] - frames[0]).abs().mean()
    assert step < jump


def test_a_conditional_walk_stays_in_the_asked_class(runs: dict[str, Path]) -> None:
    run = ganforge.load(runs["cgan"])
    frames = latent_walk(run, keys=2, frames_between=2, walks=3, seed=1, label="three", closed=False)
    keys = sample_latent(6, run.latent["dim"], "normal", "cpu", torch.Generator().manual_seed(1)).reshape(2, 3, -1)
    assert torch.allclose(frames[0], run.sample_latents(keys[0], labels=[3] * 3), atol=1e-6)
    assert not torch.allclose(frames[0], run.sample_latents(keys[0], labels=[4] * 3), atol=1e-6)
    default = latent_walk(run, keys=2, frames_between=1, seed=1)
    assert default.shape[1] == 10  # one walk per class


def test_sample_interpolate_writes_a_gif_and_a_png_strip(runs: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sample", str(runs["dcgan"]), "--interpolate", "4", "--frames", "3", "--out",
                 str(tmp_path / "walk.gif")]) == 0
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 12 and gif.info["loop"] == 0
    assert main(["sample", str(runs["dcgan"]), "--interpolate", "4", "--frames", "3", "--n", "2", "--out",
                 str(tmp_path / "walk.png")]) == 0
    with Image.open(tmp_path / "walk.png") as strip:  # 10 frames (open walk) a row, 2 rows, 8 px + 2 px padding
        assert strip.size == (10 * 10 + 2, 2 * 10 + 2)
    assert "key latents" in capsys.readouterr().out


@pytest.mark.parametrize(("run", "args", "message"), [
    ("dcgan", ["--interpolate", "1"], "at least 2"),
    ("ring", ["--interpolate", "4"], "images"),
    ("dcgan", ["--interpolate", "4", "--out", "walk.jpg"], ".gif"),
    ("dcgan", ["--interpolate", "4", "--class", "3"], "unconditional"),
    ("cgan", ["--interpolate", "4", "--class", "12"], "out of range"),
])
def test_bad_walks_are_refused_in_one_line(run: str, args: list[str], message: str, runs: dict[str, Path],
                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ["--out", str(tmp_path / "w.gif")] if "--out" not in args else []
    args = [str(tmp_path / a) if a.endswith(".jpg") else a for a in args]
    assert main(["sample", str(runs[run]), *args, *out]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("w*"))
