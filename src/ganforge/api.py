"""The Python API: train(), resume(), load() and Run, the handle on a run folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganforge.atomic import write_atomic, write_text_atomic
from ganforge.config import Config, Overrides, coerce, from_overrides, to_overrides, to_toml
from ganforge.data import DataSpec, load_data
from ganforge.errors import CheckpointError, ConfigError
from ganforge.latent import sample_latent
from ganforge.recipes import load_user_overrides, resolve
from ganforge.train.checkpoint import list_checkpoints
from ganforge.train.rundir import RunDir, load_generator
from ganforge.train.trainer import Trainer

# Keys a resumed run may change: schedule and bookkeeping only, never the model or the data.
RESUMABLE_KEYS = ("train.steps", "train.log_every", "train.sample_every", "train.checkpoint_every",
                  "train.keep_checkpoints", "train.progress", "train.device")


class Run:
    """A run folder: its config, metrics and exported generator."""

    def __init__(self, root: str | Path) -> None:
        self.dir = RunDir(root)
        if not self.dir.is_run():
            raise CheckpointError(f"'{root}' is not a ganforge run folder (no config.toml); pass the --out folder "
                                  "of a 'ganforge train' run")
        self._generator: torch.nn.Module | None = None
        self._meta: dict[str, Any] = {}

    @property
    def config(self) -> Config:
        return self.dir.read_config()

    @property
    def spec(self) -> DataSpec:
        self._load()
        return DataSpec.from_dict(self._meta["data"])

    @property
    def step(self) -> int:
        self._load()
        return int(self._meta["step"])

    def _load(self) -> torch.nn.Module:
        if self._generator is None:
            self._generator, self._meta = load_generator(self.dir)
        return self._generator

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, device: str = "cpu", raw: bool = False) -> Tensor:
        """n samples in data units (images in [0, 1], shape (n, C, H, W)); `raw` keeps G's own range."""
        if n < 1:
            raise ConfigError(f"number of samples must be at least 1, got {n}")
        net = self._load().to(device)
        latent = self._meta["latent"]
        z = sample_latent(n, latent["dim"], latent["dist"], device, torch.Generator().manual_seed(seed))
        out = torch.cat([net(chunk) for chunk in z.split(256)])
        return out.cpu() if raw else self.spec.decode(out).cpu()

    def metrics(self) -> list[dict[str, Any]]:
        if not self.dir.metrics.is_file():
            return []
        return [json.loads(line) for line in self.dir.metrics.read_text(encoding="utf-8").splitlines() if line]

    def __repr__(self) -> str:
        return f"Run('{self.dir.root}')"


def _user_values(config: Config | Overrides | str | Path | None) -> Overrides:
    if config is None:
        return {}
    if isinstance(config, Config):  # only what differs from the defaults counts as the user's choice
        defaults = to_overrides(Config())
        return {k: v for k, v in to_overrides(config).items() if v != defaults[k]}
    if isinstance(config, (str, Path)):
        return load_user_overrides(str(config), {})
    flat: Overrides = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{name}": coerce(f"{key}.{name}", v) for name, v in value.items()})
        else:
            flat[key] = coerce(key, value)
    return flat


def train(config: Config | Overrides | str | Path | None = None, out: str | Path = "runs/ganforge",
          overwrite: bool = False, **overrides: Any) -> Run:
    """Train a GAN and return its Run. `config`: a Config, a recipe path, or (dotted or nested) dict.

    Keyword overrides use double underscores for dots: train(data__source="ring", train__steps=500).
    """
    user = _user_values(config)
    user.update({key.replace("__", "."): coerce(key.replace("__", "."), v) for key, v in overrides.items()})
    return train_resolved(resolve(user), out, overwrite)


def train_resolved(config: Config, out: str | Path, overwrite: bool) -> Run:
    run_dir = RunDir(out)
    data = load_data(config.data)
    trainer = Trainer(config, run_dir, data)  # validates nets and data before the folder is touched
    if trainer.backend.is_main:
        run_dir.prepare_new(config, overwrite)
    trainer.backend.barrier()
    try:
        trainer.fit()
    finally:
        trainer.close()
    return Run(out)


def resume(run: str | Path, **overrides: Any) -> Run:
    """Continue a run from its newest checkpoint; only schedule keys (e.g. train.steps) may change."""
    changes = {key.replace("__", "."): v for key, v in overrides.items()}
    return resume_with(run, changes)


def resume_with(run: str | Path, changes: Overrides) -> Run:
    run_dir = RunDir(run)
    saved = run_dir.read_config()
    flat = to_overrides(saved)
    for key, value in changes.items():
        value = coerce(key, value)
        if key not in RESUMABLE_KEYS and value != flat[key]:
            raise ConfigError(f"config key '{key}' cannot change when resuming (it would mix two runs); keys that "
                              f"can: {', '.join(RESUMABLE_KEYS)}. Start a new run with --out for other changes")
        flat[key] = value
    config = from_overrides(flat)
    checkpoints = list_checkpoints(run_dir.checkpoints)
    if not checkpoints:
        raise CheckpointError(f"run '{run}' has no checkpoint to resume from; start it again with "
                              "'ganforge train ... --overwrite'")
    latest = checkpoints[-1]
    step = int(latest.name.split("-")[1])
    if config.train.steps <= step:
        raise ConfigError(f"run '{run}' is already at step {step}; pass --train.steps above {step} to train further")
    trainer = Trainer(config, run_dir, load_data(config.data), resume_from=latest)
    write_text_atomic(run_dir.config, to_toml(config))
    try:
        trainer.fit()
    finally:
        trainer.close()
    return Run(run)


def load(run: str | Path) -> Run:
    """Open a finished (or running) run folder for sampling."""
    return Run(run)


def save_array(samples: Tensor, path: Path) -> None:
    """Samples as a float32 .npy file, written atomically."""

    def writer(temp: Path) -> None:
        with open(temp, "wb") as handle:
            np.save(handle, samples.numpy().astype(np.float32))

    write_atomic(path, writer)
