"""Unrolled D (Metz et al. 2017): G plays against a look-ahead copy of D; D and its optimiser stay as they were."""

from __future__ import annotations

import copy

import pytest
import torch

from ganforge.data import load_data
from ganforge.families import FAMILIES, StepState
from ganforge.families.base import make_optimizer
from ganforge.recipes import resolve

from conftest import tiny


def build(unrolled_steps: int, family: str = "vanilla"):
    config = resolve(tiny(model__family=family, data__source="ring", train__unrolled_steps=unrolled_steps))
    data = load_data(config.data)
    torch.manual_seed(0)
    return FAMILIES[family](config, data.spec), data.batch(torch.arange(8), torch.device("cpu"))


def states_equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


@pytest.mark.parametrize("family", ["vanilla", "wgan", "r3gan"])
def test_lookahead_leaves_d_and_its_optimiser_untouched(family: str) -> None:
    gan, batch = build(3, family)
    d = gan.nets["discriminator"]
    optimizer = make_optimizer("adam", d.parameters(), 1e-3, (0.5, 0.9))
    d(batch["x"]).sum().backward()
    optimizer.step()  # give the optimiser some state to copy
    weights, opt_state = copy.deepcopy(d.state_dict()), copy.deepcopy(optimizer.state_dict())
    fake = gan.nets["generator"](gan.sample_latent(8, "cpu")).detach()
    ahead = gan.lookahead_discriminator(batch["x"], fake, StepState(0, optimizers={"discriminator": optimizer}))
    assert states_equal(d.state_dict(), weights)
    assert all(states_equal(optimizer.state_dict()["state"][i], opt_state["state"][i]) for i in opt_state["state"])
    assert not states_equal(ahead.state_dict(), weights)  # the copy did move
    assert not any(p.requires_grad for p in ahead.parameters())
    if family == "wgan":  # the look-ahead keeps D's weight constraint
        assert max(p.abs().max() for p in ahead.parameters()) <= gan.config.train.clip_value


def test_lookahead_of_k_steps_is_k_steps_of_ds_own_update() -> None:
    gan, batch = build(2)
    d = gan.nets["discriminator"]
    fake = gan.nets["generator"](gan.sample_latent(8, "cpu")).detach()
    reference = copy.deepcopy(d)
    optimizer = make_optimizer("adam", reference.parameters(), gan.config.train.lr_d, gan.config.train.betas)
    for _ in range(2):  # two plain D updates on the same real and fake batch, written out here
        loss = gan.discriminator_loss(reference(batch["x"]), reference(fake))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    ahead = gan.lookahead_discriminator(batch["x"], fake, StepState(0))
    assert states_equal(ahead.state_dict(), reference.state_dict())


def test_unrolled_generator_loss_differs_from_the_plain_one() -> None:
    plain, batch = build(0)
    unrolled, _ = build(5)
    unrolled.nets["generator"].load_state_dict(plain.nets["generator"].state_dict())
    unrolled.nets["discriminator"].load_state_dict(plain.nets["discriminator"].state_dict())
    torch.manual_seed(1)
    plain_loss = plain.generator_step(batch, StepState(0))["loss"]
    torch.manual_seed(1)
    unrolled_loss = unrolled.generator_step(batch, StepState(0))["loss"]
    assert plain_loss.item() != pytest.approx(unrolled_loss.item(), rel=1e-4)

