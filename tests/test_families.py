"""Every registered family, for free: forward/backward, a few steps at two sizes, save/load, determinism."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.data import load_data
from ganforge.errors import ConfigError
from ganforge.families import FAMILIES
from ganforge.recipes import resolve

from conftest import tiny

IMAGE_FAMILIES = list(FAMILIES)
VECTOR_FAMILIES = [name for name, family in FAMILIES.items() if "vector" in family.archs]


def build(name: str, **overrides: object):
    config = resolve(tiny(model__family=name, **overrides))
    data = load_data(config.data)
    return FAMILIES[name](config, data.spec), data


@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_each_phase_loss_reaches_only_its_own_net(name: str) -> None:
    family, data = build(name, data__source="digits")
    batch = data.batch(torch.arange(8), torch.device("cpu"))
    phases = {phase.module: phase for phase in family.phases()}
    d_phase, g_phase = phases["discriminator"], phases["generator"]
    state = ganforge.families.StepState(0)
    family.nets["generator"].requires_grad_(False)
    d_out = d_phase.loss_fn(batch, state)
    d_out["loss"].backward()
    assert torch.isfinite(d_out["loss"])
    assert all(p.grad is not None for p in family.nets["discriminator"].parameters())
    family.nets["discriminator"].requires_grad_(False)
    family.nets["generator"].requires_grad_(True)
    g_out = g_phase.loss_fn(batch, ganforge.families.StepState(0))
    g_out["loss"].backward()
    assert all(p.grad is not None for p in family.nets["generator"].parameters())


@pytest.mark.parametrize("resolution", [8, 28])
@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_family_trains_on_images_at_two_resolutions(name: str, resolution: int, tmp_path: Path) -> None:
    run = ganforge.train(tiny(model__family=name, data__source="mnist", data__resolution=resolution,
                              data__max_samples=64, train__steps=10), out=tmp_path / "run")
    samples = run.sample(4, seed=0)
    assert samples.shape == (4, 1, resolution, resolution)
    assert samples.min() >= 0.0 and samples.max() <= 1.0
    records = [r for r in run.metrics() if "D/loss" in r]
    assert records and all(torch.isfinite(torch.tensor(r["D/loss"])) for r in records)
    assert any("G/loss" in r for r in records)


@pytest.mark.parametrize("name", VECTOR_FAMILIES)
def test_family_trains_on_points_and_round_trips(name: str, tmp_path: Path) -> None:
    run = ganforge.train(tiny(model__family=name, data__source="ring", train__steps=10), out=tmp_path / "run")
    first = run.sample(16, seed=5)
    again = ganforge.load(tmp_path / "run").sample(16, seed=5)
    assert first.shape == (16, 2) and torch.equal(first, again)


@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_same_seed_same_weights(name: str, tmp_path: Path) -> None:
    config = tiny(model__family=name, data__source="digits", train__steps=6, train__seed=3)
    a = ganforge.train(config, out=tmp_path / "a").sample(8, seed=1)
    b = ganforge.train(config, out=tmp_path / "b").sample(8, seed=1)
    c = ganforge.train({**config, "train.seed": 4}, out=tmp_path / "c").sample(8, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_conv_family_on_vectors_is_refused() -> None:
    with pytest.raises(ConfigError, match="family 'dcgan' needs image data"):
        resolve({"model.family": "dcgan", "data.source": "ring"})
    with pytest.raises(ConfigError, match="model.arch 'dcgan' needs image data"):
        build("sngan", data__source="ring", model__arch="dcgan")


def test_family_defaults_apply_unless_the_user_sets_them() -> None:
    config = resolve({"model.family": "wgan-gp", "data.source": "ring"})
    assert (config.train.lr_d, config.train.betas, config.train.n_critic) == (1e-4, (0.0, 0.9), 5)
    assert resolve({"model.family": "wgan-gp", "data.source": "ring", "train.n_critic": 2}).train.n_critic == 2
    assert resolve({"model.family": "sngan", "data.source": "mnist"}).model.d_norm == "spectral"
    assert resolve({"model.family": "wgan", "data.source": "mnist"}).train.optimizer == "rmsprop"


def test_wgan_clips_the_critic(tmp_path: Path) -> None:
    run = ganforge.train(tiny(model__family="wgan", data__source="ring", train__steps=5), out=tmp_path / "r")
    from safetensors.torch import load_file

    checkpoint = next((tmp_path / "r" / "checkpoints").iterdir())
    tensors = load_file(str(checkpoint / "model.safetensors"))
    critic = [v for k, v in tensors.items() if k.startswith("nets.discriminator.")]
    assert max(v.abs().max().item() for v in critic) <= run.config.train.clip_value + 1e-7


def test_unknown_family_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown family 'stylegan'; valid families: vanilla, dcgan, wgan"):
        resolve({"model.family": "stylegan"})


STABILISERS = {
    "pack": {"model.pack": 2},
    "minibatch_std": {"model.minibatch_std": True},
    "r1_r2": {"train.r1_gamma": 1.0, "train.r2_gamma": 1.0},
    "label_smoothing": {"train.label_smoothing": 0.1},
    "instance_noise": {"train.instance_noise": 0.1},
    "diffaugment": {"train.augment": "diffaugment"},
}


@pytest.mark.parametrize("source", ["ring", "digits"])
@pytest.mark.parametrize("name", STABILISERS)
def test_stabilisers_train(name: str, source: str, tmp_path: Path) -> None:
    run = ganforge.train({**tiny(data__source=source, model__family="dcgan" if source == "digits" else "vanilla",
                                 train__steps=4), **STABILISERS[name]}, out=tmp_path / "r")
    records = [r for r in run.metrics() if "D/loss" in r]
    assert records and all(math.isfinite(r["D/loss"]) for r in records)
    if name == "r1_r2":
        assert "D/r1" in records[0] and "D/r2" in records[0]


def test_packing_shows_d_groups_of_samples() -> None:
    family, data = build("vanilla", data__source="ring", model__pack=4)
    seen: list[tuple[int, ...]] = []
    family.nets["discriminator"].register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape)))
    family.phases()[0].loss_fn(data.batch(torch.arange(8), torch.device("cpu")), ganforge.families.StepState(0))
    assert seen[0] == (2, 8)  # 8 samples of 2-D points -> 2 rows of 4 packed points


def test_stabiliser_misuse_is_refused() -> None:
    with pytest.raises(ConfigError, match="label_smoothing applies to the BCE families"):
        build("wgan-gp", data__source="ring", train__label_smoothing=0.1)
    with pytest.raises(ConfigError, match=r"must be a multiple of model.pack \(3\)"):
        resolve({"data.source": "ring", "model.pack": 3, "train.batch_size": 64})


def test_lazy_r1_r2_run_every_kth_step_weighted_k() -> None:
    eager, data = build("vanilla", data__source="ring", train__r1_gamma=1.0, train__r2_gamma=1.0)
    lazy, _ = build("vanilla", data__source="ring", train__r1_gamma=1.0, train__r2_gamma=1.0, train__reg_every=4)
    lazy.nets["discriminator"].load_state_dict(eager.nets["discriminator"].state_dict())
    real, fake = data.batch(torch.arange(8), torch.device("cpu"))["x"], torch.randn(8, 2)
    every_step = eager.regularize(real, fake, eager.score, step=3)
    assert lazy.regularize(real, fake, lazy.score, step=3) == {}
    on_fourth = lazy.regularize(real, fake, lazy.score, step=4)
    for name in ("r1", "r2"):
        assert torch.allclose(on_fourth[name], 4 * every_step[name])
