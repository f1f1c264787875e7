"""Config: TOML round-trip, typed overrides, and errors that name the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganforge.config import (
    Config,
    TrainConfig,
    coerce,
    from_overrides,
    parse_cli_overrides,
    read_toml,
    to_overrides,
    to_toml,
)
from ganforge.errors import ConfigError


def test_toml_round_trip_keeps_every_value(tmp_path: Path) -> None:
    config = from_overrides({"train.betas": (0.0, 0.9), "data.resolution": 32, "model.family": "wgan-gp",
                             "train.ema": False, "data.source": 'we"ird\\path'})
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config))
    assert from_overrides(read_toml(path)) == config


def test_cli_overrides_are_typed() -> None:
    parsed = parse_cli_overrides(["--train.steps", "10", "--train.lr_d=0.001", "--train.ema", "false",
                                  "--train.betas", "0.0,0.9", "--data.resolution", "none"])
    assert parsed == {"train.steps": 10, "train.lr_d": 0.001, "train.ema": False, "train.betas": (0.0, 0.9),
                      "data.resolution": None}


def test_unknown_key_suggests_the_closest_valid_one() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'train.stpes' \(did you mean 'train.steps'\?\)"):
        parse_cli_overrides(["--train.stpes", "5"])


@pytest.mark.parametrize(("key", "value"), [("train.steps", "ten"), ("train.steps", "2.5"), ("train.lr_g", "fast"),
                                            ("train.ema", "maybe"), ("train.betas", "0.5"), ("train.lr_g", "nan")])
def test_wrong_value_type_names_key_and_expected_type(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"config key '{key}' got '{value}'; expected"):
        coerce(key, value)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("train.steps", 0, "above 0"),
    ("model.latent_dist", "cauchy", "normal, uniform"),
    ("train.ema_decay", 1.0, "0 <= decay < 1"),
    ("data.resolution", 512, "8 to 256"),
    ("data.channels", 2, "1 or 3"),
    ("train.device", "tpu", "auto, cpu, cuda"),
    ("model.pack", 0, "model.pack' got 0; expected a number above 0"),
    ("train.r1_gamma", -0.1, "train.r1_gamma' got -0.1; expected 0 or more"),
    ("train.r2_gamma", -1.0, "expected 0 or more"),
    ("train.instance_noise", -0.5, "expected 0 or more"),
    ("train.unrolled_steps", -1, "expected 0 or more"),
    ("train.augment", "mixup", "none, diffaugment"),
    ("train.label_smoothing", 1.0, "0 <= s < 1"),
    ("train.reg_every", 0, "train.reg_every' got 0"),
    ("train.lr_decay_start", 3000, r"lr_decay_start' got 3000; expected a step from 0 to train.steps - 1 \(2999\)"),
    ("train.lr_decay_start", 10, "but train.lr_decay is 'none'; set --train.lr_decay linear"),
    ("model.d_layers", -1, r"model.d_layers' got -1; expected 0 \(automatic"),
    ("model.d_min_px", 1, r"model.d_min_px' got 1; expected 2 or more"),
    ("model.d_dropout", 1.0, r"model.d_dropout' got 1.0; expected a probability from 0"),
    ("model.d_dropout", -0.1, r"model.d_dropout' got -0.1"),
])
def test_out_of_range_values_are_refused(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        from_overrides({key: value})


def test_bad_toml_file_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nsteps = 3")
    with pytest.raises(ConfigError, match="bad.toml' is not valid TOML"):
        read_toml(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[optim]\nlr = 3")
    with pytest.raises(ConfigError, match=r"unknown section \[optim\]"):
        read_toml(unknown)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[train]\nsteps = 'many'")
    with pytest.raises(ConfigError, match="wrong.toml': config key 'train.steps' got 'many'"):
        read_toml(wrong)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_toml(tmp_path / "nope.toml")


def test_flattening_inverts_building() -> None:
    config = Config(train=TrainConfig(steps=7))
    assert from_overrides(to_overrides(config)) == config
