"""data.flips: the eight orientations of a square, drawn per sample and step, input and target turned alike, exact
on resume; refused where there are no pairs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import ganforge
from ganforge.data.dihedral import draw_symmetries, flip_pairs, orient
from ganforge.errors import ConfigError

from conftest import tiny

SR = {"data.source": "digits", "data.max_samples": 80, "model.family": "srgan", "data.pairs": "downscale2"}


def test_the_eight_orientations_are_the_distinct_symmetries_of_the_square() -> None:
    image = torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3)  # no symmetry of its own
    oriented = [orient(image, s) for s in range(8)]
    assert len({tuple(o.flatten().tolist()) for o in oriented}) == 8
    assert all(torch.equal(o.flatten().sort().values, image.flatten().sort().values) for o in oriented)
    assert torch.equal(oriented[0], image) and torch.equal(oriented[4], image.flip(-1))
    assert torch.equal(oriented[1], image.transpose(-2, -1).flip(-2))  # a quarter turn, anticlockwise


def test_draws_repeat_for_a_step_differ_between_steps_and_keep_non_square_shapes() -> None:
    assert draw_symmetries(64, 0, 5, True) == draw_symmetries(64, 0, 5, True)
    assert draw_symmetries(64, 0, 5, True) != draw_symmetries(64, 0, 6, True)
    assert set(draw_symmetries(256, 0, 5, True)) == set(range(8))
    assert set(draw_symmetries(256, 0, 5, False)) == {0, 2, 4, 6}  # identity, half turn and their mirrors


@pytest.mark.parametrize("size", [(8, 8), (8, 12)])
def test_input_and_target_of_each_pair_turn_alike(size: tuple[int, int]) -> None:
    x = torch.rand(32, 3, *size)
    batch = {"x": x, "source": F.avg_pool2d(x, 2), "y": torch.arange(32)}  # an input that commutes with the turns
    oriented = flip_pairs(batch, seed=3, step=11)
    torch.testing.assert_close(oriented["source"], F.avg_pool2d(oriented["x"], 2))
    assert oriented["x"].shape == x.shape and torch.equal(oriented["y"], batch["y"])
    assert sum(not torch.equal(a, b) for a, b in zip(oriented["x"], x, strict=True)) > 16


def test_a_run_with_flips_trains_differently_and_resumes_bit_for_bit(tmp_path: Path) -> None:
    ganforge.train({**SR, **tiny(train__steps=4, train__pretrain_steps=2, train__checkpoint_every=2),
                    "data.flips": True}, out=tmp_path / "straight")
    ganforge.train({**SR, **tiny(train__steps=2, train__pretrain_steps=2, train__checkpoint_every=2),
                    "data.flips": True}, out=tmp_path / "staged")
    ganforge.resume(tmp_path / "staged", train__steps=4)
    ganforge.train({**SR, **tiny(train__steps=4, train__pretrain_steps=2, train__checkpoint_every=2)},
                   out=tmp_path / "plain")
    a, b, plain = (load_file(str(tmp_path / name / "checkpoints" / "step-0000004" / "model.safetensors"))
                   for name in ("straight", "staged", "plain"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], plain[k]) for k in a if k.startswith("nets.generator."))


def test_flips_without_pairs_are_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.flips .*'digits' gives no pairs.*--data.pairs"):
        ganforge.train({**tiny(), "data.source": "digits", "data.max_samples": 80, "model.family": "dcgan",
                        "data.flips": True}, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
