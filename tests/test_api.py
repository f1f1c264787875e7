"""The Python API: train() takes Configs, dicts or recipe paths; load() samples reproducibly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ganforge
from ganforge.config import from_overrides

from conftest import TINY, tiny


def test_train_accepts_a_config_object_and_keeps_family_defaults(tmp_path: Path) -> None:
    config = from_overrides({**TINY, "data.source": "ring", "model.family": "wgan-gp", "train.steps": 5})
    run = ganforge.train(config, out=tmp_path / "r")
    assert run.config.train.betas == (0.0, 0.9)  # wgan-gp's default, since the Config left betas alone


def test_train_accepts_nested_dicts_and_keyword_overrides(tmp_path: Path) -> None:
    nested = {section: {} for section in ("data", "model", "train")}
    for key, value in TINY.items():
        section, name = key.split(".")
        nested[section][name] = value
    run = ganforge.train(nested, out=tmp_path / "r", data__source="ring", train__seed=5)
    assert run.config.train.seed == 5 and run.config.data.source == "ring"


def test_load_samples_the_same_for_the_same_seed(tmp_path: Path) -> None:
    ganforge.train(tiny(data__source="digits"), out=tmp_path / "r")
    run = ganforge.load(tmp_path / "r")
    a, b, c = run.sample(6, seed=1), run.sample(6, seed=1), run.sample(6, seed=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (6, 1, 8, 8) and run.sample(3, raw=True).min() >= -1
    with pytest.raises(ganforge.ConfigError, match="at least 1"):
        run.sample(0)


def test_load_of_a_non_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ganforge.CheckpointError, match="not a ganforge run folder"):
        ganforge.load(tmp_path)
