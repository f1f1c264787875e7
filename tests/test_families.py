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
from ganforge.nets.dcgan import discriminator_plan
from ganforge.nets.layers import MinibatchStd
from ganforge.recipes import resolve

from conftest import draw, family_data, tiny

IMAGE_FAMILIES = list(FAMILIES)
VECTOR_FAMILIES = [name for name, family in FAMILIES.items() if "vector" in family.archs]


def build(name: str, **overrides: object):
    config = resolve({**tiny(model__family=name, **overrides), **family_data(name)})
    data = load_data(config.data)
    return FAMILIES[name](config, data.spec), data


@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_each_phase_loss_reaches_only_its_own_net(name: str) -> None:
    family, data = build(name, data__source="digits")
    batch = data.batch(torch.arange(8), torch.device("cpu"), torch.arange(8))  # (and domain B's rows, if any)
    phases = {phase.module: phase for phase in family.phases()}
    d_phase = next(phase for module, phase in phases.items() if module.startswith("discriminator"))
    g_phase = phases["generator"]
    for phase in (d_phase, g_phase):  # the nets of the phase train; every other net is frozen
        for net_name, net in family.nets.items():
            net.zero_grad(set_to_none=True)
            net.requires_grad_(net_name in phase.modules)
        out = phase.loss_fn(batch, ganforge.families.StepState(0))
        out["loss"].backward()
        assert torch.isfinite(out["loss"])
        assert all(p.grad is not None for module in phase.modules for p in family.nets[module].parameters())
        assert all(p.grad is None for net_name, net in family.nets.items() if net_name not in phase.modules
                   for p in net.parameters())


@pytest.mark.parametrize("resolution", [8, 28])
@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_family_trains_on_images_at_two_resolutions(name: str, resolution: int, tmp_path: Path) -> None:
    run = ganforge.train({**tiny(model__family=name, data__source="mnist", data__resolution=resolution,
                                 data__max_samples=64, train__steps=10), **family_data(name)}, out=tmp_path / "run")
    samples = draw(run, 4)
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
    config = {**tiny(model__family=name, data__source="digits", train__steps=6, train__seed=3), **family_data(name)}
    a = draw(ganforge.train(config, out=tmp_path / "a"), 8, seed=1)
    b = draw(ganforge.train(config, out=tmp_path / "b"), 8, seed=1)
    c = draw(ganforge.train({**config, "train.seed": 4}, out=tmp_path / "c"), 8, seed=1)
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


# DiffAugment augments images only; on vectors it is refused (test_stabiliser_misuse_is_refused)
@pytest.mark.parametrize(("name", "source"), [(name, source) for name in STABILISERS for source in ("ring", "digits")
                                              if (name, source) != ("diffaugment", "ring")])
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
    with pytest.raises(ConfigError, match="train.augment 'diffaugment' augments images.*'ring' holds 2-D vectors"):
        build("vanilla", data__source="ring", train__augment="diffaugment")
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


# -- each stabiliser reaches the step it claims to change (against the same D, inputs and RNG) --------------------

def d_objective(family, real: torch.Tensor, fake: torch.Tensor, step: int = 0, seed: int = 0):
    torch.manual_seed(seed)
    return family.discriminator_objective(real, fake, step)


def twin(name: str, source: str, **switch: object):
    """The family with the switch on, and a copy with it off sharing D's weights."""
    on, data = build(name, data__source=source, **switch)
    off, _ = build(name, data__source=source)
    off.nets["discriminator"].load_state_dict(on.nets["discriminator"].state_dict())
    real = data.batch(torch.arange(8), torch.device("cpu"))["x"]
    return on, off, real, torch.randn_like(real)


def test_label_smoothing_targets_real_samples_at_one_minus_s() -> None:
    on, off, real, fake = twin("vanilla", "ring", train__label_smoothing=0.2)
    loss, real_scores, fake_scores, _ = d_objective(on, real, fake)
    expected = (0.8 * torch.nn.functional.softplus(-real_scores) + 0.2 * torch.nn.functional.softplus(real_scores)
                ).mean() + torch.nn.functional.softplus(fake_scores).mean()
    assert torch.allclose(loss, expected)
    assert not torch.allclose(loss, d_objective(off, real, fake)[0])


def inputs_seen_by_d(family, x: torch.Tensor, step: int | None) -> torch.Tensor:
    seen: list[torch.Tensor] = []
    handle = family.nets["discriminator"].register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    torch.manual_seed(0)
    family.score(x, step)
    handle.remove()
    return seen[0]


def test_instance_noise_perturbs_d_inputs_and_anneals_to_zero() -> None:
    on, _, real, _ = twin("vanilla", "ring", train__instance_noise=0.5, train__steps=100)
    x = real.repeat(64, 1)
    at_start = inputs_seen_by_d(on, x, step=0) - x
    assert 0.4 < float(at_start.std()) < 0.6
    halfway = inputs_seen_by_d(on, x, step=50) - x
    assert 0.2 < float(halfway.std()) < 0.3
    assert torch.equal(inputs_seen_by_d(on, x, step=100), x)


def test_diffaugment_changes_what_d_sees_of_images_only_when_on() -> None:
    on, off, real, _ = twin("dcgan", "digits", train__augment="diffaugment")
    assert not torch.equal(inputs_seen_by_d(on, real, step=0), real)
    assert torch.equal(inputs_seen_by_d(off, real, step=0), real)


def test_r1_and_r2_join_the_discriminator_loss() -> None:
    on, off, real, fake = twin("vanilla", "ring", train__r1_gamma=1.0, train__r2_gamma=1.0)
    loss, _, _, terms = d_objective(on, real, fake)
    plain = d_objective(off, real, fake)[0]
    assert float(terms["r1"].detach()) > 0 and float(terms["r2"].detach()) > 0
    assert torch.allclose(loss, plain + terms["r1"] + terms["r2"])


def test_r3gan_plays_the_relativistic_pairing_game() -> None:
    family, data = build("r3gan", data__source="ring")
    real = data.batch(torch.arange(8), torch.device("cpu"))["x"]
    loss, real_scores, fake_scores, terms = d_objective(family, real, torch.randn_like(real))
    pairing = torch.log1p(torch.exp(fake_scores - real_scores)).mean()
    assert torch.allclose(loss, pairing + terms["r1"] + terms["r2"])


@pytest.mark.parametrize("name", ["sngan", "vanilla"])
def test_spectral_norm_keeps_every_d_layer_at_unit_norm(name: str) -> None:
    family, data = build(name, data__source="ring", model__d_norm="spectral")
    discriminator = family.nets["discriminator"]
    for _ in range(20):  # power iteration converges on the top singular value as D runs in training mode
        discriminator(data.batch(torch.arange(8), torch.device("cpu"))["x"])
    weights = [m.weight for m in discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert weights and all(torch.nn.utils.parametrize.is_parametrized(m) for m in discriminator.modules()
                           if isinstance(m, torch.nn.Linear))
    norms = [float(torch.linalg.matrix_norm(w.detach(), ord=2)) for w in weights]
    assert all(0.95 < n < 1.05 for n in norms), norms


def test_two_time_scale_rates_reach_their_own_optimisers() -> None:
    family, _ = build("vanilla", data__source="ring", train__lr_g=1e-4, train__lr_d=4e-4)
    rates = {name: optimizer.param_groups[0]["lr"] for name, optimizer in family.optimizers().items()}
    assert rates == {"generator": 1e-4, "discriminator": 4e-4}


@pytest.mark.parametrize("source", ["ring", "digits"])
def test_minibatch_std_reaches_the_discriminator_the_family_builds(source: str) -> None:
    name = "vanilla" if source == "ring" else "dcgan"

    def std_layers(family) -> list[torch.nn.Module]:
        return [m for m in family.nets["discriminator"].modules() if isinstance(m, MinibatchStd)]

    assert len(std_layers(build(name, data__source=source, model__minibatch_std=True)[0])) == 1
    assert std_layers(build(name, data__source=source)[0]) == []


def strided(family) -> int:
    """How many times the family's D halves its input (its stride-2 convs)."""
    return sum(1 for m in family.nets["discriminator"].modules()
               if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2))


def test_model_d_layers_deepens_the_conv_discriminator_and_is_refused_where_it_cannot_apply() -> None:
    auto = strided(build("dcgan", data__source="digits")[0])  # 8 px digits: one halving to 4 px
    assert strided(build("dcgan", data__source="digits", model__d_layers=auto + 1)[0]) == auto + 1
    refusal = r"model.d_layers 4 halves a 8 px image to nothing; expected 0 \(automatic\) to 3"
    with pytest.raises(ConfigError, match=refusal):
        build("dcgan", data__source="digits", model__d_layers=4)
    with pytest.raises(ConfigError, match="model.arch is 'mlp'"):
        build("vanilla", data__source="ring", model__d_layers=2)


@pytest.mark.parametrize(("min_px", "halvings"), [(8, 1), (4, 2), (2, 3)])
def test_model_d_min_px_sets_where_the_automatic_discriminator_stops_halving(min_px: int, halvings: int) -> None:
    family, _ = build("dcgan", data__source="digits", model__d_min_px=min_px)  # 8 px digits
    assert strided(family) == halvings
    assert discriminator_plan(28, min_px=4) == discriminator_plan(28, layers=3) == [14, 7, 3]


@pytest.mark.parametrize(("family_name", "source"), [("dcgan", "digits"), ("vanilla", "ring"), ("sgan", "digits")])
def test_discriminator_dropout_acts_in_training_only_and_keeps_the_parameter_names(family_name: str,
                                                                                    source: str) -> None:
    plain, _ = build(family_name, data__source=source)
    dropped, _ = build(family_name, data__source=source, model__d_dropout=0.5)
    d = dropped.nets["discriminator"]
    assert list(d.state_dict()) == list(plain.nets["discriminator"].state_dict())
    assert any(isinstance(m, torch.nn.Dropout) for m in d.modules())
    x = torch.randn(8, *dropped.spec.shape)
    d.train()
    assert not torch.equal(d(x), d(x))
    d.eval()
    assert torch.equal(d(x), d(x))


def test_discriminator_dropout_is_refused_where_the_net_has_none() -> None:
    with pytest.raises(ConfigError, match="model.d_dropout 0.2 applies to the dcgan and mlp D's"):
        build("r3gan", data__source="digits", model__arch="resnet", model__d_dropout=0.2)
