"""The run folder: what a run leaves behind and every later command reads (config, checkpoints, export)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ganforge.atomic import write_atomic, write_text_atomic
from ganforge.config import Config, from_overrides, read_toml, to_toml
from ganforge.errors import CheckpointError, ConfigError
from ganforge.nets import net_spec, rebuild_net

ARTEFACTS = ("config.toml", "checkpoints", "samples", "metrics.jsonl", "generator.safetensors", "generator.json",
             "eval", "best")
EXPORT_FORMAT = 1


class RunDir:
    """Paths of one run folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.config = self.root / "config.toml"
        self.checkpoints = self.root / "checkpoints"
        self.samples = self.root / "samples"
        self.metrics = self.root / "metrics.jsonl"
        self.generator_weights = self.root / "generator.safetensors"
        self.generator_meta = self.root / "generator.json"
        self.best = self.root / "best"
        self.evals = self.root / "eval"

    def is_run(self) -> bool:
        return self.config.is_file()

    def prepare_new(self, config: Config, overwrite: bool) -> None:
        """Create the folder for a new run; refuse to mix it with another run unless `overwrite`."""
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"output path '{self.root}' is a file; choose a folder with --out")
        if self.root.is_dir() and any(self.root.iterdir()):
            if not overwrite:
                if self.is_run():
                    raise ConfigError(
                        f"output folder '{self.root}' already holds a run; continue it with "
                        f"'ganforge resume {self.root}', choose another --out, or pass --overwrite to replace it")
                raise ConfigError(f"output folder '{self.root}' is not empty and holds no ganforge run; choose a "
                                  "new or empty folder with --out, or pass --overwrite to write into it")
            for name in ARTEFACTS:
                target = self.root / name
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        self.root.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.config, to_toml(config))

    def read_config(self) -> Config:
        if not self.is_run():
            raise CheckpointError(f"'{self.root}' is not a ganforge run folder (no config.toml); pass the --out "
                                  "folder of a 'ganforge train' run")
        return from_overrides(read_toml(self.config))


def export_generator(run: RunDir, generator: nn.Module, meta: dict[str, Any], folder: Path | None = None) -> None:
    """Write generator.safetensors + generator.json (into the run folder, or `folder`): all `sample` needs."""
    target = folder or run.root
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in generator.state_dict().items()}
    write_atomic(target / run.generator_weights.name, lambda temp: save_file(tensors, str(temp)))
    record = {"format": EXPORT_FORMAT, "net": net_spec(generator), **meta}
    write_text_atomic(target / run.generator_meta.name, json.dumps(record, indent=2))


def load_generator(run: RunDir) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the exported generator from its recorded init arguments and weights (no code is loaded)."""
    if not run.generator_meta.is_file() or not run.generator_weights.is_file():
        raise CheckpointError(f"'{run.root}' has no exported generator (generator.json + generator.safetensors); "
                              "it is written at each checkpoint, so train the run for at least checkpoint_every steps")
    try:
        meta = json.loads(run.generator_meta.read_text(encoding="utf-8"))
        tensors = load_file(str(run.generator_weights))
    except (OSError, json.JSONDecodeError, SafetensorError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"exported generator in '{run.root}' is damaged ({exc}); re-export it by resuming "
                              "the run") from None
    if meta.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"'{run.generator_meta}' has format {meta.get('format')!r}; expected {EXPORT_FORMAT}")
    net = rebuild_net(meta["net"])
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"'{run.generator_weights}' does not match '{run.generator_meta}' "
                              f"({str(exc).splitlines()[0]})") from None
    return net.eval().requires_grad_(False), meta
