"""Run: the handle on a run folder, for sampling and reading metrics (no training code needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganforge.config import Config
from ganforge.data.spec import DataSpec
from ganforge.errors import CheckpointError, ConfigError
from ganforge.latent import sample_latent
from ganforge.train.backend import resolve_device
from ganforge.train.logging import read_metrics
from ganforge.train.rundir import RunDir, load_generator


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
        device = str(resolve_device(device, option="--device"))
        net = self._load().to(device)
        latent = self._meta["latent"]
        z = sample_latent(n, latent["dim"], latent["dist"], device, torch.Generator().manual_seed(seed))
        out = torch.cat([net(chunk) for chunk in z.split(256)])
        return out.cpu() if raw else self.spec.decode(out).cpu()

    def metrics(self) -> list[dict[str, Any]]:
        """metrics.jsonl's records (a torn last line from a crash is left out; NaN/inf restored)."""
        return read_metrics(self.dir.metrics)

    def __repr__(self) -> str:
        return f"Run('{self.dir.root}')"
