"""SRGAN (super-resolution): the nets at x2/x4/x8, the two stages (G pre-trained alone, then D joins), learning to
beat bicubic, exact resume across the stage boundary, `ganforge upscale` with and without tiles, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file

import ganforge
from ganforge.cli import main
from ganforge.config import from_overrides
from ganforge.data import load_data
from ganforge.errors import CheckpointError, ConfigError
from ganforge.families import FAMILIES, Phase
from ganforge.families.base import StepState
from ganforge.nets import build_net
from ganforge.nets.superres import sr_halvings
from ganforge.recipes import resolve
from ganforge.tiling import tiled
from ganforge.train.trainer import seed_everything

from conftest import one_line, tiny, write_image

SR = {"data.source": "digits", "data.max_samples": 80, "model.family": "srgan", "data.pairs": "downscale2"}


def srgan(tmp_path: Path, name: str = "run", **overrides: object) -> ganforge.Run:
    return ganforge.train({**SR, **tiny(**overrides)}, out=tmp_path / name)


def resolve_and_build(overrides: dict[str, object]) -> None:
    config = resolve(overrides)
    FAMILIES["srgan"](config, load_data(config.data).spec)


def weights(run_dir: Path, step: int, net: str) -> dict[str, torch.Tensor]:
    tensors = load_file(str(run_dir / "checkpoints" / f"step-{step:07d}" / "model.safetensors"))
    return {k: v for k, v in tensors.items() if k.startswith(f"nets.{net}.")}


def randomise_batchnorm_(net: torch.nn.Module) -> None:
    """Running statistics and affine maps far from the identity, so eval-mode BN is a real per-channel map."""
    rng = torch.Generator().manual_seed(0)
    for layer in net.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.running_mean.copy_(torch.randn(layer.num_features, generator=rng) * 0.3)
            layer.running_var.copy_(torch.rand(layer.num_features, generator=rng) + 0.5)
            layer.weight.data.copy_(torch.rand(layer.num_features, generator=rng) + 0.5)
            layer.bias.data.copy_(torch.randn(layer.num_features, generator=rng) * 0.1)


@pytest.mark.parametrize("scale", [2, 4, 8])
@pytest.mark.parametrize(("height", "width"), [(5, 7), (13, 3), (1, 1)])
def test_srresnet_upscales_any_size_by_its_factor_and_d_scores_any_size(scale: int, height: int, width: int) -> None:
    generator = build_net("srresnet_generator", in_channels=3, out_channels=3, scale=scale, width=4, blocks=2)
    out = generator(torch.rand(2, 3, height, width) * 2 - 1)
    assert out.shape == (2, 3, scale * height, scale * width) and out.abs().max() <= 1
    discriminator = build_net("sr_discriminator", in_channels=3, width=4, halvings=4)
    assert discriminator(out).shape == (2,)


def test_the_paper_layout_and_factors_that_are_not_powers_of_two() -> None:
    generator = build_net("srresnet_generator", in_channels=3, out_channels=3, scale=4)  # the paper's: B = 16
    assert len(generator.body) == 16 and sum(isinstance(m, torch.nn.PixelShuffle) for m in generator.modules()) == 2
    discriminator = build_net("sr_discriminator", in_channels=3)  # 64 s1, 64 s2, 128 s1, ..., 512 s2, 1024, 1
    convs = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512, 1024, 1]
    assert [c.stride[0] for c in convs[:8]] == [1, 2, 1, 2, 1, 2, 1, 2]
    for bad in (1, 3, 6, 16):
        with pytest.raises(CheckpointError, match="2, 4 or 8"):
            build_net("srresnet_generator", in_channels=1, out_channels=1, scale=bad)


def test_phases_run_only_within_their_steps() -> None:
    def never(batch: object, state: object) -> dict[str, torch.Tensor]:
        raise AssertionError

    staged = Phase("G", "generator", never, start=2, stop=5)
    assert [staged.due(step) for step in range(7)] == [False, False, True, True, True, False, False]
    assert [Phase("D", "d", never, every=2, start=3).due(step) for step in range(8)] == [
        False, False, False, True, False, True, False, True]


def test_tiles_with_the_receptive_radius_as_overlap_equal_the_whole_image() -> None:
    generator = build_net("srresnet_generator", in_channels=3, out_channels=3, scale=2, width=4, blocks=2).eval()
    randomise_batchnorm_(generator)
    radius = generator.receptive_radius()
    assert radius == 4 + 2 * 2 + 1 + 1 + 2  # head, blocks, the conv after them, one x2 step, the tail at 2x
    image = torch.rand(1, 3, 41, 35) * 2 - 1
    with torch.no_grad():
        whole = generator(image)
        for tile in (7, 16, 40):
            assert torch.allclose(tiled(generator, image, 2, tile, radius), whole, atol=1e-5)
        short = tiled(generator, image, 2, 7, radius - 4)  # too little context: the tiles show near their edges
    assert (short - whole).abs().max() > 1e-3


def test_the_bicubic_skip_starts_g_at_the_bicubic_upscale_and_keeps_tiles_exact(tmp_path: Path) -> None:
    generator = build_net("srresnet_generator", in_channels=1, out_channels=1, scale=4, width=4, blocks=2,
                          bicubic_skip=True).eval()
    randomise_batchnorm_(generator)
    image = torch.rand(1, 1, 9, 11) * 2 - 1
    bicubic = F.interpolate(image, scale_factor=4, mode="bicubic", align_corners=False).clamp(-1, 1)
    with torch.no_grad():
        assert torch.equal(generator(image), bicubic)  # the last conv starts at zero
        torch.nn.init.normal_(generator.tail.weight, 0.0, 0.1)  # now G adds detail; tiles still equal the whole
        whole = generator(image)
        assert not torch.allclose(whole, bicubic) and whole.abs().max() <= 1
        assert torch.allclose(tiled(generator, image, 4, 5, generator.receptive_radius()), whole, atol=1e-5)
    with pytest.raises(CheckpointError, match="same channels"):
        build_net("srresnet_generator", in_channels=1, out_channels=3, scale=2, bicubic_skip=True)
    srgan(tmp_path, train__steps=1)  # the family's G has it, and its export says so (older exports load without)
    assert json.loads((tmp_path / "run" / "generator.json").read_text())["net"]["args"]["bicubic_skip"] is True


def test_g_norm_none_drops_batchnorm_and_is_the_family_default_while_old_runs_resume_with_it(tmp_path: Path) -> None:
    plain = build_net("srresnet_generator", in_channels=3, out_channels=3, scale=2, width=4, blocks=2,
                      batch_norm=False)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    convs = [m for m in plain.body.modules() if isinstance(m, torch.nn.Conv2d)] + [plain.body_end[0]]
    assert len(convs) == 5 and all(c.bias is not None for c in convs)  # EDSR's convs keep their biases
    with_bn = build_net("srresnet_generator", in_channels=3, out_channels=3, scale=2, width=4, blocks=2)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in with_bn.modules()) == 5  # two a block, one after them
    run = srgan(tmp_path, train__steps=2, train__checkpoint_every=1)
    assert run.config.model.g_norm == "none"
    exported = json.loads((tmp_path / "run" / "generator.json").read_text())["net"]["args"]
    assert exported["batch_norm"] is False and not any("running_mean" in k for k in weights(tmp_path / "run", 2,
                                                                                           "generator"))
    srgan(tmp_path, "batch", train__steps=2, train__checkpoint_every=1, model__g_norm="batch")
    assert any("running_mean" in k for k in weights(tmp_path / "batch", 2, "generator"))
    config = (tmp_path / "batch" / "config.toml").read_text()  # as a run written before model.g_norm existed
    (tmp_path / "batch" / "config.toml").write_text(config.replace('g_norm = "batch"\n', ""))
    assert "g_norm" not in (tmp_path / "batch" / "config.toml").read_text()
    resumed = ganforge.resume(tmp_path / "batch", train__steps=3)  # "auto" in an old config: the BatchNorm G
    assert resumed.step == 3 and any("running_mean" in k for k in weights(tmp_path / "batch", 3, "generator"))
    with pytest.raises(ConfigError, match="model.g_norm 'none' does not apply to family 'dcgan'"):
        resolve({"data.source": "digits", "model.family": "dcgan", "model.g_norm": "none"})


@pytest.mark.parametrize("norm", ["none", "spectral"])
def test_d_norm_replaces_d_batchnorm_while_batch_stays_the_default(tmp_path: Path, norm: str) -> None:
    discriminator = build_net("sr_discriminator", in_channels=3, width=4, halvings=2, norm=norm)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in discriminator.modules())
    convs = [m for m in discriminator.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.bias is not None for c in convs)
    assert all(hasattr(c, "parametrizations") == (norm == "spectral") for c in convs)
    one, two = torch.rand(1, 3, 12, 12), torch.rand(1, 3, 12, 12)  # one image's score ignores the batch it is in
    discriminator.eval()  # spectral norm's power iteration would move sigma between the two calls in train mode
    torch.testing.assert_close(discriminator(torch.cat([one, two]))[:1], discriminator(one))
    run = srgan(tmp_path, train__steps=3, train__pretrain_steps=1, model__d_norm=norm)
    assert run.config.model.d_norm == norm and ganforge.resume(tmp_path / "run", train__steps=4).step == 4
    assert srgan(tmp_path, "default", train__steps=1).config.model.d_norm == "batch"
    with pytest.raises(ConfigError, match="model.d_norm 'layer' does not apply to family 'srgan'.*batch, none, "
                                          "spectral"):
        resolve_and_build({**SR, **tiny(model__d_norm="layer")})


def test_an_ema_of_a_g_without_batchnorm_is_what_the_run_exports(tmp_path: Path) -> None:
    run = srgan(tmp_path, train__steps=3, train__pretrain_steps=1, train__ema=True)
    checkpoint = load_file(str(tmp_path / "run" / "checkpoints" / "step-0000003" / "model.safetensors"))
    exported = load_file(str(tmp_path / "run" / "generator.safetensors"))
    assert all(torch.equal(exported[k], checkpoint[f"ema.{k}"]) for k in exported)
    assert any(not torch.equal(exported[k], checkpoint[f"nets.generator.{k}"]) for k in exported)
    assert run.upscale(torch.rand(1, 1, 5, 7)).shape == (1, 1, 10, 14)


def test_pretraining_trains_g_alone_then_d_joins(tmp_path: Path) -> None:
    srgan(tmp_path, train__steps=5, train__pretrain_steps=3, train__checkpoint_every=1, train__keep_checkpoints=5,
          train__log_every=1)
    config = resolve({**SR, **tiny(train__steps=5, train__pretrain_steps=3)})
    seed_everything(config.train.seed)  # as the trainer does before building the nets
    initial = FAMILIES["srgan"](config, load_data(config.data).spec).nets["discriminator"].state_dict()
    run_dir = tmp_path / "run"
    for step in (1, 2, 3):  # D untouched, weights and BatchNorm statistics alike
        d = weights(run_dir, step, "discriminator")
        assert all(torch.equal(d[f"nets.discriminator.{k}"], v) for k, v in initial.items())
    g2, g3 = weights(run_dir, 2, "generator"), weights(run_dir, 3, "generator")
    assert any(not torch.equal(g2[k], g3[k]) for k in g2)
    d4 = weights(run_dir, 4, "discriminator")
    assert any(not torch.equal(d4[f"nets.discriminator.{k}"], v) for k, v in initial.items() if v.is_floating_point())
    records = {r["step"]: r for r in ganforge.load(run_dir).metrics() if "G/loss" in r}
    assert all("D/loss" not in records[s] and records[s]["G/loss"] == records[s]["G/content"] for s in (1, 2, 3))
    assert all("D/loss" in records[s] and "G/adversarial" in records[s] for s in (4, 5))


def test_srresnet_beats_bicubic_on_held_out_digits(tmp_path: Path) -> None:
    # 100 steps of the pixel loss alone (about 8 s): 3 seeds gave an MSE of 0.021-0.023 against bicubic's 0.050.
    run = ganforge.train({**SR, **tiny(train__steps=100, train__pretrain_steps=100, train__batch_size=16,
                                       model__g_width=16, model__g_blocks=2, train__lr_g=1e-3, train__log_every=100,
                                       train__sample_every=100, train__checkpoint_every=100),
                          "data.max_samples": None, "data.split": "train"}, out=tmp_path / "run")
    held_out = load_data(from_overrides({"data.source": "digits", "data.split": "test",
                                         "data.pairs": "downscale2"}).data)
    batch = held_out.batch(torch.arange(len(held_out)), torch.device("cpu"))
    low, high = held_out.spec.decode(batch["source"]), held_out.spec.decode(batch["x"])
    bicubic = F.interpolate(low, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    assert (run.upscale(low) - high).pow(2).mean() < 0.7 * (bicubic - high).pow(2).mean()


def test_resume_across_the_stage_boundary_is_bit_exact(tmp_path: Path) -> None:
    srgan(tmp_path, "straight", train__steps=6, train__pretrain_steps=3, train__checkpoint_every=2)
    srgan(tmp_path, "staged", train__steps=2, train__pretrain_steps=3, train__checkpoint_every=2)
    ganforge.resume(tmp_path / "staged", train__steps=6)
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "step-0000006" / "model.safetensors"))
    b = load_file(str(tmp_path / "staged" / "checkpoints" / "step-0000006" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(("key", "default", "value"), [("adversarial_weight", 0.001, 0.01),
                                                       ("adversarial_loss", "bce", "relativistic"),
                                                       ("feature_matching_weight", 0.0, 1.0),
                                                       ("content_loss", "mse", "lowpass")])
def test_a_resume_may_change_the_adversarial_stage_and_equals_a_run_with_it_from_the_start(
        tmp_path: Path, key: str, default: object, value: object) -> None:
    # One SRResNet pre-training, several SRGAN stages: the stage changes at the checkpoint ending pre-training.
    srgan(tmp_path, "straight", train__steps=5, train__pretrain_steps=3, **{f"train__{key}": value})
    srgan(tmp_path, "staged", train__steps=3, train__pretrain_steps=3)
    ganforge.resume(tmp_path / "staged", train__steps=5, **{f"train__{key}": value})
    a = load_file(str(tmp_path / "straight" / "checkpoints" / "step-0000005" / "model.safetensors"))
    b = load_file(str(tmp_path / "staged" / "checkpoints" / "step-0000005" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    history = [json.loads(line) for line in (tmp_path / "staged" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["changed"][f"train.{key}"] == {"from": default, "to": value}


def test_a_resume_may_change_the_batch_size_and_stays_exact_after_it(tmp_path: Path) -> None:
    # The stage at more crops a step than pre-training: the change takes effect, is recorded, and a resume after
    # it is still bit for bit the uninterrupted continuation.
    for name in ("kept", "larger", "split"):
        srgan(tmp_path, name, train__steps=3, train__pretrain_steps=3, train__batch_size=2, train__checkpoint_every=1)
    ganforge.resume(tmp_path / "kept", train__steps=5)
    ganforge.resume(tmp_path / "larger", train__steps=5, train__batch_size=6)
    ganforge.resume(tmp_path / "split", train__steps=4, train__batch_size=6)
    ganforge.resume(tmp_path / "split", train__steps=5)
    kept, larger, split = (weights(tmp_path / name, 5, "generator") for name in ("kept", "larger", "split"))
    assert larger.keys() == split.keys() and all(torch.equal(larger[k], split[k]) for k in larger)
    assert any(not torch.equal(larger[k], kept[k]) for k in larger)
    history = [json.loads(line) for line in (tmp_path / "larger" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["changed"]["train.batch_size"] == {"from": 2, "to": 6}


def test_a_resume_to_a_batch_larger_than_the_data_is_refused_in_one_line_and_changes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    srgan(tmp_path, "run", train__steps=2, train__pretrain_steps=1, train__batch_size=2)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    code = main(["resume", str(tmp_path / "run"), "--train.steps", "4", "--train.batch_size", "500"])
    one_line(code, capsys.readouterr().err, "train.batch_size = 500", "lower --train.batch_size")
    after = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    assert after == before


def test_the_relativistic_stage_scores_each_output_against_its_own_target() -> None:
    config = resolve({**SR, **tiny(train__adversarial_loss="relativistic", model__d_norm="none")})
    data = load_data(config.data)
    family = FAMILIES["srgan"](config, data.spec)
    batch = data.batch(torch.arange(6), torch.device("cpu"))
    discriminator, generator = family.nets["discriminator"], family.nets["generator"]
    with torch.no_grad():
        real, fake = discriminator(batch["x"]), discriminator(generator(batch["source"]))
    margin = real - fake  # pair i: target i against G's output for input i, the same content
    d_out = family.discriminator_step(batch, StepState(step=3))
    torch.testing.assert_close(d_out["loss"], torch.log1p(torch.exp(-margin)).mean())
    assert d_out["accuracy"] == (margin > 0).float().mean()
    torch.testing.assert_close(d_out["real"], torch.sigmoid(margin).mean())
    g_out = family.generator_step(batch, StepState(step=3))
    torch.testing.assert_close(g_out["adversarial"], torch.log1p(torch.exp(margin)).mean())
    content = (generator(batch["source"]) - batch["x"]).pow(2).mean()
    torch.testing.assert_close(g_out["loss"], content + config.train.adversarial_weight * g_out["adversarial"])
    with pytest.raises(ConfigError, match="'train.adversarial_loss' \\('relativistic'\\).*family 'dcgan'.*'bce'"):
        resolve({"data.source": "digits", "model.family": "dcgan", "train.adversarial_loss": "relativistic"})


def test_lowpass_content_pretrains_on_pixels_then_compares_only_the_block_means_of_each_scale_block() -> None:
    config = resolve({**SR, **tiny(train__content_loss="lowpass", model__d_norm="none")})
    data = load_data(config.data)
    family = FAMILIES["srgan"](config, data.spec)
    batch = data.batch(torch.arange(6), torch.device("cpu"))
    generator = family.nets["generator"]
    fake, target = generator(batch["source"]).detach(), batch["x"]
    pretrain = family.pretrain_step(batch, StepState(step=0))
    torch.testing.assert_close(pretrain["content"], (fake - target).pow(2).mean())
    n, c, h, w = target.shape  # downscale2: 2x2 blocks, averaged by reshaping (not by the pooling under test)
    means = [image.reshape(n, c, h // 2, 2, w // 2, 2).mean(dim=(3, 5)) for image in (fake, target)]
    g_out = family.generator_step(batch, StepState(step=3))
    torch.testing.assert_close(g_out["content"], (means[0] - means[1]).pow(2).mean())
    detail = fake - F.interpolate(means[0], scale_factor=2, mode="nearest")  # what lowpass leaves to D
    torch.testing.assert_close(family.content(means[1].repeat_interleave(2, 2).repeat_interleave(2, 3) + detail,
                                              target), torch.tensor(0.0))
    with pytest.raises(ConfigError, match="'train.content_loss' \\('lowpass'\\).*family 'pix2pix'.*'mse'"):
        resolve({"data.source": "digits", "model.family": "pix2pix", "data.pairs": "noise0.3",
                 "train.content_loss": "lowpass"})


@pytest.mark.parametrize("adversarial_loss", ["bce", "relativistic"])
def test_feature_matching_adds_the_l1_distance_of_d_maps_of_each_output_and_its_target(adversarial_loss: str) -> None:
    config = resolve({**SR, **tiny(train__adversarial_loss=adversarial_loss, train__feature_matching_weight=0.5,
                                   model__d_norm="none")})
    data = load_data(config.data)
    family = FAMILIES["srgan"](config, data.spec)
    batch = data.batch(torch.arange(6), torch.device("cpu"))
    discriminator, generator = family.nets["discriminator"], family.nets["generator"]
    fake = generator(batch["source"])
    maps_fake, maps_real, image, target = [], [], fake.detach(), batch["x"]
    for layer in discriminator.net:  # written out: every LeakyReLU's output up to the global pool
        if isinstance(layer, torch.nn.AdaptiveAvgPool2d):
            break
        image, target = layer(image), layer(target)
        if isinstance(layer, torch.nn.LeakyReLU):
            maps_fake.append(image)
            maps_real.append(target)
    assert len(maps_fake) == 2 * sr_halvings(data.spec.shape[1])  # the first conv's, then two per halving but one
    expected = torch.stack([(f - r).abs().mean() for f, r in zip(maps_fake, maps_real, strict=True)]).mean()
    g_out = family.generator_step(batch, StepState(step=3))
    torch.testing.assert_close(g_out["matching"], expected)
    content = (fake - batch["x"]).pow(2).mean()
    torch.testing.assert_close(g_out["loss"], content + config.train.adversarial_weight * g_out["adversarial"]
                               + 0.5 * expected)
    with pytest.raises(ConfigError, match="'train.feature_matching_weight' \\(1.0\\).*family 'dcgan'.*0"):
        resolve({"data.source": "digits", "model.family": "dcgan", "train.feature_matching_weight": 1.0})


def test_upscale_writes_k_times_larger_images_alike_with_and_without_tiles(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    run = srgan(tmp_path, train__steps=3, train__pretrain_steps=1, model__g_blocks=1)
    assert run.condition == {"kind": "image", "channels": 1, "scale": 2}
    image = write_image(tmp_path / "in" / "odd.png", (37, 29), "L")
    write_image(tmp_path / "in" / "colour.jpg", (9, 6), "RGB", seed=1)  # taken as luma by the grey model
    run_dir = str(tmp_path / "run")
    assert main(["upscale", run_dir, str(image), "--out", str(tmp_path / "whole.png"), "--tile", "0"]) == 0
    assert main(["upscale", run_dir, str(image), "--out", str(tmp_path / "tiled.png"), "--tile", "8"]) == 0
    assert main(["upscale", run_dir, str(tmp_path / "in"), "--out", str(tmp_path / "all")]) == 0
    out = capsys.readouterr().out
    assert "upscaled 1 image x2" in out and "upscaled 2 images x2" in out
    with Image.open(tmp_path / "whole.png") as whole, Image.open(tmp_path / "tiled.png") as tiles:
        assert whole.size == tiles.size == (74, 58) and whole.mode == "L"
        difference = np.abs(np.asarray(whole, dtype=int) - np.asarray(tiles, dtype=int))
        assert difference.max() <= 1  # the same values up to float rounding (a level at a .5 boundary at most)
    with Image.open(tmp_path / "all" / "colour.png") as colour:
        assert colour.size == (18, 12)
    pixels = torch.rand(2, 1, 37, 29)
    assert torch.allclose(run.upscale(pixels, tile=8), run.upscale(pixels, tile=0), atol=1e-5)
    assert torch.equal(run.upscale(pixels, tile=0), run.translate(pixels))


def test_bad_input_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [arg for key, value in tiny().items() for arg in (f"--{key}", str(value).lower())]

    def train(name: str, *extra: str) -> int:
        return main(["train", "--family", "srgan", "--data", "digits", "--out", str(tmp_path / name), *args, *extra])

    one_line(train("no-pairs", "--data.pairs", "none"), capsys.readouterr().err, "--data.pairs downscale4")
    one_line(train("same-size", "--data.pairs", "noise0.3"), capsys.readouterr().err, "2, 4 or 8", "pix2pix")
    one_line(train("too-small"), capsys.readouterr().err, "downscale2")  # the default downscale4 on 8 px digits
    one_line(train("ema", "--data.pairs", "downscale2", "--train.ema", "true", "--model.g_norm", "batch"),
             capsys.readouterr().err, "--train.ema false", "--model.g_norm none")
    one_line(train("arch", "--data.pairs", "downscale2", "--model.arch", "dcgan"), capsys.readouterr().err,
             "srresnet")
    assert not any((tmp_path / name).exists() for name in ("no-pairs", "same-size", "too-small", "ema", "arch"))

    srgan(tmp_path, train__steps=2, train__pretrain_steps=1)
    ganforge.train({**tiny(), "data.source": "digits", "data.max_samples": 80, "model.family": "pix2pix",
                    "data.pairs": "noise0.3"}, out=tmp_path / "same")
    ganforge.train({**tiny(), "data.source": "digits", "data.max_samples": 80, "model.family": "dcgan"},
                   out=tmp_path / "noise")
    capsys.readouterr()  # the training runs' own output
    image = write_image(tmp_path / "in" / "x.png", (8, 8), "L")
    write_image(tmp_path / "in" / "y.png", (5, 9), "L")
    one_line(main(["upscale", str(tmp_path / "same"), str(image), "--out", str(tmp_path / "u")]),
             capsys.readouterr().err, "scale 1", "ganforge translate")
    one_line(main(["upscale", str(tmp_path / "noise"), str(image), "--out", str(tmp_path / "u")]),
             capsys.readouterr().err, "draws samples from noise")
    (tmp_path / "a-file").write_text("x")
    one_line(main(["upscale", str(tmp_path / "run"), str(tmp_path / "in"), "--out", str(tmp_path / "a-file")]),
             capsys.readouterr().err, "existing file")
    one_line(main(["upscale", str(tmp_path / "run"), str(image), "--out", str(tmp_path / "u"), "--tile", "-1"]),
             capsys.readouterr().err, "tile -1")
    (tmp_path / "in" / "broken.png").write_bytes(b"not an image")
    one_line(main(["upscale", str(tmp_path / "run"), str(tmp_path / "in"), "--out", str(tmp_path / "u")]),
             capsys.readouterr().err, "broken.png")
    assert not (tmp_path / "u").exists()  # nothing written when one input cannot be read
    one_line(main(["sample", str(tmp_path / "run"), "--out", str(tmp_path / "s.png")]), capsys.readouterr().err,
             "translate")


def test_a_stage_batch_size_equals_a_resume_with_that_batch_size_at_the_end_of_pre_training(tmp_path: Path) -> None:
    # One command for what took two: pre-training at batch 2, the stage at 6, bit for bit as the resume would run it;
    # and a resume inside the stage keeps the stage's batch.
    srgan(tmp_path, "resumed", train__steps=3, train__pretrain_steps=3, train__batch_size=2)
    ganforge.resume(tmp_path / "resumed", train__steps=6, train__batch_size=6)
    srgan(tmp_path, "staged", train__steps=6, train__pretrain_steps=3, train__batch_size=2,
          train__stage_batch_size=6)
    srgan(tmp_path, "split", train__steps=4, train__pretrain_steps=3, train__batch_size=2,
          train__stage_batch_size=6, train__checkpoint_every=1)
    ganforge.resume(tmp_path / "split", train__steps=6)
    srgan(tmp_path, "plain", train__steps=6, train__pretrain_steps=3, train__batch_size=2)
    resumed, staged, split, plain = (weights(tmp_path / name, 6, "generator")
                                     for name in ("resumed", "staged", "split", "plain"))
    assert all(torch.equal(resumed[k], staged[k]) and torch.equal(staged[k], split[k]) for k in resumed)
    assert any(not torch.equal(staged[k], plain[k]) for k in staged)


def test_images_per_second_counts_each_step_at_its_own_batch_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # A log window that spans the stage boundary: 2 steps of 1 image and 2 of 4 are 10 images, not 4 x 4.
    from ganforge.train import logging as train_logging

    clock = iter([0.0, 2.0])
    monkeypatch.setattr(train_logging.time, "perf_counter", lambda: next(clock))
    logger = train_logging.MetricsLogger(None, 0, 4, 1, progress=False)
    for size in (1, 1, 4, 4):
        logger.batch_size = size
        logger.advance()
    assert logger.summarize(4)["images_per_s"] == 5.0
    logger.close()


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"train.stage_batch_size": -1}, "'train.stage_batch_size' got -1"),
    ({"train.stage_batch_size": 4, "train.pretrain_steps": 0}, "train.pretrain_steps, which is 0"),
    ({"train.stage_batch_size": 500, "train.pretrain_steps": 1}, "train.stage_batch_size = 500"),
])
def test_a_bad_stage_batch_size_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       overrides: dict[str, object], expected: str) -> None:
    args = ["train", "--family", "srgan", "--data", "digits", "--data.max_samples", "80", "--data.pairs",
            "downscale2", "--train.steps", "2", "--out", str(tmp_path / "run")]
    for key, value in overrides.items():
        args += [f"--{key}", str(value)]
    one_line(main(args), capsys.readouterr().err, expected)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_stage_batch_size_on_a_family_without_pre_training_is_refused() -> None:
    with pytest.raises(ConfigError, match="'train.stage_batch_size' \\(4\\).*family 'dcgan'.*srgan or pix2pix"):
        resolve({"model.family": "dcgan", "data.source": "digits", "train.stage_batch_size": 4,
                 "train.pretrain_steps": 2})
