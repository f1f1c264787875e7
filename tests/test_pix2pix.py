"""pix2pix (image-to-image translation): training on derived pairs, the translate command on the user's files, exact
resume, the input | output | target grid, and one-line refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import ganforge
from ganforge.cli import main
from ganforge.data import load_data
from ganforge.nets import build_net
from ganforge.nets.translation import unet_depth

from conftest import one_line, tiny, write_image

PAIRS = {"data.source": "digits", "data.max_samples": 80, "model.family": "pix2pix"}


def pix2pix(tmp_path: Path, name: str = "run", **overrides: object) -> ganforge.Run:
    return ganforge.train({**PAIRS, "data.pairs": "noise0.3", **tiny(**overrides)}, out=tmp_path / name)


@pytest.mark.parametrize(("height", "width"), [(8, 8), (13, 7), (3, 5), (64, 48)])
def test_the_unet_translates_images_of_any_size(height: int, width: int) -> None:
    generator = build_net("unet_generator", in_channels=1, out_channels=3, depth=unet_depth(28), width=4)
    out = generator(torch.rand(2, 1, height, width) * 2 - 1)
    assert out.shape == (2, 3, height, width) and out.abs().max() <= 1
    upscaling = build_net("unet_generator", in_channels=3, out_channels=3, depth=2, width=4, upscale=4)
    assert upscaling(torch.zeros(1, 3, height, width)).shape == (1, 3, 4 * height, 4 * width)


def test_pix2pix_trains_and_its_grid_shows_input_output_target(tmp_path: Path) -> None:
    run = pix2pix(tmp_path, train__steps=4)
    assert run.image_conditioned and run.condition == {"kind": "image", "channels": 1, "scale": 1}
    records = [r for r in run.metrics() if "G/l1" in r]
    assert records and all(np.isfinite(r["G/l1"]) and np.isfinite(r["D/loss"]) for r in records)
    with Image.open(tmp_path / "run" / "samples" / "step-0000004.png") as grid:  # 24 triplets: 12 columns, 6 rows
        assert grid.height == 6 * 10 + 2 + 14 and grid.width >= 12 * 10 + 2  # 8 px + 2 px padding; a caption


def test_pix2pix_learns_to_denoise_better_than_the_noisy_input(tmp_path: Path) -> None:
    run = pix2pix(tmp_path, train__steps=200, train__batch_size=16, model__g_width=16, model__d_width=8,
                  train__lr_g=1e-3, train__lr_d=1e-3, train__log_every=50, train__sample_every=200,
                  train__checkpoint_every=200)
    data = load_data(run.config.data)
    clean = data.spec.decode(data.batch(torch.arange(len(data)), torch.device("cpu"))["x"])
    fresh = torch.Generator().manual_seed(123)  # noise G never saw: the derived pairs' noise is fixed
    noisy = ((clean + 0.3 * torch.randn(clean.shape, generator=fresh)).clamp(0, 1) * 255).round() / 255
    denoised = run.translate(noisy)
    assert (denoised - clean).pow(2).mean() < 0.75 * (noisy - clean).pow(2).mean()  # measured: about 0.5


def test_pretrain_steps_train_the_unet_on_l1_alone_then_d_joins(tmp_path: Path) -> None:
    run = pix2pix(tmp_path, train__steps=4, train__pretrain_steps=2, train__log_every=1)
    records = {r["step"]: r for r in run.metrics() if "G/loss" in r}
    assert all("D/loss" not in records[s] and records[s]["G/loss"] == records[s]["G/l1"] for s in (1, 2))
    assert all("D/loss" in records[s] and "G/adversarial" in records[s] for s in (3, 4))


def test_resume_of_pix2pix_is_bit_exact(tmp_path: Path) -> None:
    straight = pix2pix(tmp_path, "straight", train__steps=6, train__checkpoint_every=3)
    pix2pix(tmp_path, "staged", train__steps=3, train__checkpoint_every=3)
    ganforge.resume(tmp_path / "staged", train__steps=6)
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "step-0000006" / "model.safetensors"))
    b = load_file(str(tmp_path / "staged" / "checkpoints" / "step-0000006" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert straight.step == 6


def test_translate_writes_one_png_per_input_under_its_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pix2pix(tmp_path, train__steps=2)
    inputs = tmp_path / "inputs"
    write_image(inputs / "a.png", (11, 9), "L")
    write_image(inputs / "b.jpg", (8, 8), "RGB", seed=1)  # colour into a grey model: taken as luma
    assert main(["translate", str(tmp_path / "run"), str(inputs), "--out", str(tmp_path / "out")]) == 0
    assert "translated 2 images" in capsys.readouterr().out
    with Image.open(tmp_path / "out" / "a.png") as a, Image.open(tmp_path / "out" / "b.png") as b:
        assert a.size == (11, 9) and a.mode == "L" and b.size == (8, 8)
    assert main(["translate", str(tmp_path / "run"), str(inputs / "a.png"), "--out", str(tmp_path / "one.png")]) == 0
    with Image.open(tmp_path / "one.png") as one:
        assert one.size == (11, 9)
    assert main(["translate", str(tmp_path / "run"), str(inputs / "*.png"), "--out", str(tmp_path / "glob")]) == 0
    assert [p.name for p in (tmp_path / "glob").iterdir()] == ["a.png"]


def test_a_downscale_run_upscales_what_it_is_given(tmp_path: Path) -> None:
    config = {**tiny(), **PAIRS, "data.pairs": "downscale2"}
    run = ganforge.train(config, out=tmp_path / "sr")
    assert run.condition == {"kind": "image", "channels": 1, "scale": 2}
    assert run.translate(torch.rand(3, 1, 4, 6)).shape == (3, 1, 8, 12)


def test_bad_input_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [arg for key, value in tiny().items() for arg in (f"--{key}", str(value).lower())]
    code = main(["train", "--family", "pix2pix", "--data", "digits", "--out", str(tmp_path / "no-pairs"), *args])
    one_line(code, capsys.readouterr().err, "data.pairs")
    assert not (tmp_path / "no-pairs").exists()
    pix2pix(tmp_path, train__steps=2)
    ganforge.train({**tiny(), "data.source": "digits", "data.max_samples": 80, "model.family": "dcgan"},
                   out=tmp_path / "noise")
    capsys.readouterr()  # the training runs' own output
    one_line(main(["sample", str(tmp_path / "run"), "--out", str(tmp_path / "s.png")]), capsys.readouterr().err,
             "translate")
    image = write_image(tmp_path / "in" / "x.png", (8, 8), "L")
    one_line(main(["translate", str(tmp_path / "noise"), str(image), "--out", str(tmp_path / "t")]),
             capsys.readouterr().err, "draws samples from noise")
    one_line(main(["translate", str(tmp_path / "run"), str(image), "--out", str(tmp_path / "t"), "--direction",
                   "b2a"]), capsys.readouterr().err, "CycleGAN")
    (tmp_path / "a-file").write_text("x")
    write_image(tmp_path / "in" / "y.png", (8, 8), "L")
    one_line(main(["translate", str(tmp_path / "run"), str(tmp_path / "in"), "--out", str(tmp_path / "a-file")]),
             capsys.readouterr().err, "existing file")
    (tmp_path / "in" / "broken.png").write_bytes(b"not an image")
    one_line(main(["translate", str(tmp_path / "run"), str(tmp_path / "in"), "--out", str(tmp_path / "t")]),
             capsys.readouterr().err, "broken.png")
    assert not (tmp_path / "t").exists()  # nothing written when one input cannot be read
    one_line(main(["translate", str(tmp_path / "run"), str(tmp_path / "nothing*.png"), "--out", str(tmp_path / "t")]),
             capsys.readouterr().err, "no image matches")
