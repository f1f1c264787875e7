"""Live diagnostics: each failure mode is flagged when it happens and not when it does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import ganforge
from ganforge.diagnostics import Diagnostics, diversity, trend_free_oscillation
from ganforge.families import FAMILIES
from ganforge.families.dcgan import DCGAN
from ganforge.nets import NETS, build_net

from conftest import tiny


def healthy(step: int, **changes: float) -> dict[str, float]:
    return {"step": step, "D/accuracy": 0.7, "D/confident": 0.2, "G/loss": 1.0 + 0.01 * step, "G/grad_norm": 1.0,
            **changes}


def test_diversity_is_zero_for_identical_samples_and_scales_with_spread() -> None:
    assert diversity(torch.ones(8, 3)) == 0.0
    points = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    assert diversity(3 * points) == pytest.approx(3 * diversity(points), rel=1e-5)


def test_collapse_is_flagged_once_per_episode() -> None:
    watch = Diagnostics(real_diversity=1.0)
    collapsed, spread = torch.zeros(16, 4), torch.randn(16, 4)
    assert watch.observe(healthy(0), collapsed) == []            # an untrained G is not judged
    assert [d.kind for d in watch.observe(healthy(1), collapsed)] == ["mode_collapse"]
    assert watch.observe(healthy(2), collapsed) == []            # still collapsed: no repeat
    assert watch.observe(healthy(3), spread) == []               # recovered
    assert [d.kind for d in watch.observe(healthy(4), collapsed)] == ["mode_collapse"]


def test_pinned_accuracy_is_non_convergence_and_with_tiny_grads_vanishing() -> None:
    watch = Diagnostics(real_diversity=0.0, window=3)
    for step in range(3):
        assert watch.observe(healthy(step)) == []
    kinds: set[str] = set()
    for step in range(3, 6):
        pinned = {"D/accuracy": 1.0, "D/confident": 1.0, "G/grad_norm": 1e-4}
        kinds |= {d.kind for d in watch.observe(healthy(step, **pinned))}
    assert kinds == {"non_convergence", "vanishing_gradients"}
    message = Diagnostics(real_diversity=0.0, window=1).observe(healthy(0, **{"D/confident": 1.0}))[0].message
    assert "lower lr_d" in message


def test_accuracy_swings_and_loss_oscillation_are_flagged() -> None:
    watch = Diagnostics(real_diversity=0.0, window=4)
    kinds: set[str] = set()
    for step, accuracy in enumerate([0.95, 0.05, 0.95, 0.05]):
        kinds |= {d.kind for d in watch.observe(healthy(step, **{"D/accuracy": accuracy}))}
    assert kinds == {"oscillation"}
    assert trend_free_oscillation([0.2, 3.0, 0.2, 3.0, 0.2])
    assert not trend_free_oscillation([0.5, 1.0, 1.5, 2.0, 2.5])   # a trend, not an oscillation
    assert not trend_free_oscillation([-1.0, 1.0, -1.0, 1.0])      # losses around zero are not judged


def at_chance(step: int, **changes: float) -> dict[str, float]:
    """D's verdicts as the srgan lowpass stage logged them once its D had gone soft (BENCHMARKS.md)."""
    return healthy(step, **{"D/real": 0.5003, "D/fake": 0.4997, "D/confident": 0.0, **changes})


@pytest.mark.parametrize(("probabilities", "changes", "flagged"), [
    (True, {}, True),
    (False, {}, False),                                   # raw scores (wgan, r3gan, sngan): no chance level
    (True, {"D/real": 0.52, "D/fake": 0.48}, False),      # a gap of 0.04: D still tells them apart
    (True, {"D/confident": 0.05}, False),                 # some verdicts confident
])
def test_a_discriminator_at_chance_is_flagged_only_when_its_verdicts_are_probabilities_that_agree(
        probabilities: bool, changes: dict[str, float], flagged: bool) -> None:
    watch = Diagnostics(real_diversity=0.0, window=3, probability_verdicts=probabilities)
    kinds = [d.kind for step in range(3) for d in watch.observe(at_chance(step, **changes))]
    assert kinds == (["discriminator_at_chance"] if flagged else [])


def test_at_chance_accuracy_swings_are_not_called_oscillation_and_the_remedy_is_a_faster_d() -> None:
    # At chance D's scores sit on its threshold and its accuracy flips on nothing (0.11 to 0.99 in the srgan run).
    watch = Diagnostics(real_diversity=0.0, window=4, probability_verdicts=True)
    found = [d for step, accuracy in enumerate([0.95, 0.05, 0.95, 0.05])
             for d in watch.observe(at_chance(step, **{"D/accuracy": accuracy}))]
    assert [d.kind for d in found] == ["discriminator_at_chance"] and "raise lr_d" in found[0].message
    several = {"D0/real": 0.5, "D0/fake": 0.5, "D1/real": 0.501, "D1/fake": 0.5, "D0/confident": 0.0}
    assert Diagnostics(0.0, window=1, probability_verdicts=True).observe({"step": 0, **several})


class ConstantGenerator(nn.Module):
    """A generator that ignores z: the same learned image for every noise vector."""

    def __init__(self, latent_dim: int, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.image = nn.Parameter(torch.zeros(*shape))

    def forward(self, z: Tensor) -> Tensor:
        return torch.tanh(self.image).expand(z.shape[0], *self.image.shape)


class CollapsedDCGAN(DCGAN):
    name = "collapsed-dcgan"

    def build_nets(self) -> dict[str, nn.Module]:
        nets = super().build_nets()
        nets["generator"] = build_net("constant_generator", latent_dim=self.config.model.latent_dim,
                                      shape=self.spec.shape)
        return nets


def warnings_of(run_folder: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run_folder / "metrics.jsonl").read_text().splitlines()]
    return [r for r in lines if "warning" in r]


RECIPE = tiny(data__source="mnist", train__steps=200, train__batch_size=32, train__log_every=25,
              model__g_width=16, model__d_width=16, model__latent_dim=32, train__checkpoint_every=1000)


def test_a_generator_with_one_output_is_flagged_within_200_steps(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(NETS, "constant_generator", ConstantGenerator)
    monkeypatch.setitem(FAMILIES, "collapsed-dcgan", CollapsedDCGAN)
    ganforge.train({**RECIPE, "model.family": "collapsed-dcgan", "model.arch": "dcgan"}, out=tmp_path / "c")
    flagged = [w for w in warnings_of(tmp_path / "c") if w["warning"] == "mode_collapse"]
    assert flagged and flagged[0]["step"] <= 200


def test_a_healthy_run_of_the_same_recipe_is_not_flagged(tmp_path: Path) -> None:
    ganforge.train({**RECIPE, "model.family": "dcgan"}, out=tmp_path / "h")
    kinds = {w["warning"] for w in warnings_of(tmp_path / "h")}
    assert "mode_collapse" not in kinds and "discriminator_at_chance" not in kinds


def test_a_discriminator_that_wins_outright_is_flagged(tmp_path: Path) -> None:
    """lr_d = 100 x lr_g: D wins, and the run says so."""
    ganforge.train({**RECIPE, "model.family": "dcgan", "train.lr_d": 2e-4, "train.lr_g": 2e-6,
                    "train.steps": 300}, out=tmp_path / "d")
    kinds = {w["warning"] for w in warnings_of(tmp_path / "d")}
    assert kinds & {"vanishing_gradients", "non_convergence"}


class BlindDiscriminator(nn.Module):
    """A D that ignores its input: one learned logit for every sample, which real and fake pull equally."""

    def __init__(self, **_: object) -> None:
        super().__init__()
        self.logit = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor, *_: Tensor) -> Tensor:
        return self.logit.expand(x.shape[0]) + 0 * x.flatten(1).sum(1)


class BlindDCGAN(DCGAN):
    name = "blind-dcgan"

    def build_nets(self) -> dict[str, nn.Module]:
        nets = super().build_nets()
        nets["discriminator"] = BlindDiscriminator()
        return nets


def test_a_discriminator_that_cannot_tell_real_from_fake_is_flagged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FAMILIES, "blind-dcgan", BlindDCGAN)
    ganforge.train({**RECIPE, "model.family": "blind-dcgan", "model.arch": "dcgan"}, out=tmp_path / "b")
    flagged = [w for w in warnings_of(tmp_path / "b") if w["warning"] == "discriminator_at_chance"]
    assert flagged and flagged[0]["step"] == 5 * RECIPE["train.log_every"]
