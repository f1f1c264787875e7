"""The run folder: what a run leaves behind and every later command reads (config, checkpoints, export).

`train` and `resume` hold the folder's lock (train/lock.py) while they write; everything written is atomic.
What is read back (generator.json, state.json, metrics.jsonl) is checked against a schema first.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from torch import nn

from ganforge.atomic import load_tensors, remove_stale_temporaries, save_tensors, write_text_atomic
from ganforge.config import Config, from_overrides, read_toml, to_toml
from ganforge.data.spec import SPEC_SCHEMA
from ganforge.errors import CheckpointError, ConfigError
from ganforge.latent import LATENT_DISTRIBUTIONS
from ganforge.nets import NETS, net_spec, rebuild_net
from ganforge.schema import Choice, Fields, Int, ListOf, MapOf, validate
from ganforge.train.checkpoint import non_finite
from ganforge.train.lock import LOCK_NAME, RunLock

ARTEFACTS = ("config.toml", "checkpoints", "samples", "metrics.jsonl", "generator.safetensors", "generator.json",
             "eval", "best", "history.jsonl", "classifier.safetensors", "classifier.json", "tb",
             "generator_ba.safetensors", "generator_ba.json")
EXPORT_FORMAT = 1
_EXPORT_REQUIRED = {
    "format": Choice(EXPORT_FORMAT),
    "net": Fields({"name": Choice(*NETS), "args": MapOf()}),
    "data": SPEC_SCHEMA,
    "step": Int(0),
}
_LATENT = Fields({"dim": Int(1), "dist": Choice(*LATENT_DISTRIBUTIONS)})
_CONDITION = Fields({"kind": Choice("label", "vector", "image")},
                    {"num_classes": Int(1), "dim": Int(1), "channels": Int(1), "scale": Int(1),
                     "directions": ListOf(Choice("a2b", "b2a"))})
EXPORT_SCHEMA = Fields(required=_EXPORT_REQUIRED, optional={"latent": _LATENT, "condition": _CONDITION})
# A generator that draws from noise records its latent; an image-conditioned one (condition kind "image") has none.
NOISE_GENERATOR_SCHEMA = Fields(required={**_EXPORT_REQUIRED, "latent": _LATENT}, optional={"condition": _CONDITION})
EXPORT_FIX = "re-export it with 'ganforge resume RUN --train.steps N' (N above the run's step)"


class RunDir:
    """Paths of one run folder, and its lock."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.config = self.root / "config.toml"
        self.checkpoints = self.root / "checkpoints"
        self.samples = self.root / "samples"
        self.metrics = self.root / "metrics.jsonl"
        self.history = self.root / "history.jsonl"
        self.generator_weights = self.root / "generator.safetensors"
        self.generator_meta = self.root / "generator.json"
        self.best = self.root / "best"
        self.evals = self.root / "eval"
        self.tensorboard = self.root / "tb"  # TensorBoard event files (train.tensorboard)
        self.lock = RunLock(self.root)

    def is_run(self) -> bool:
        return self.config.is_file()

    def _has_content(self) -> bool:
        return self.root.is_dir() and any(p.name != LOCK_NAME for p in self.root.iterdir())

    def _refuse_if_occupied(self) -> None:
        if self.is_run():
            raise ConfigError(f"output folder '{self.root}' already holds a run; continue it with "
                              f"'ganforge resume {self.root}', choose another --out, or pass --overwrite to replace it")
        raise ConfigError(f"output folder '{self.root}' is not empty and holds no ganforge run; choose a new or "
                          "empty folder with --out, or pass --overwrite to write into it")

    def prepare_new(self, config: Config, overwrite: bool) -> None:
        """Create and lock the folder for a new run; refuse to mix it with another run unless `overwrite`.

        The emptiness check is repeated under the lock, so two trainings into one folder cannot interleave.
        """
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"output path '{self.root}' is a file; choose a folder with --out")
        if self._has_content() and not overwrite:
            self._refuse_if_occupied()
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock.acquire("train into")
        try:
            if self._has_content():
                if not overwrite:
                    self._refuse_if_occupied()
                for name in ARTEFACTS:
                    target = self.root / name
                    if target.is_dir():
                        shutil.rmtree(target)
                    elif target.exists():
                        target.unlink()
            write_text_atomic(self.config, to_toml(config))
        except BaseException:
            self.lock.release()
            raise

    def open_for_resume(self) -> None:
        """Lock an existing run for `resume` and clear temporary files a killed writer left behind."""
        self.lock.acquire("resume")
        for folder in (self.root, self.samples, self.best, self.evals):
            remove_stale_temporaries(folder)

    def release(self) -> None:
        self.lock.release()

    def read_config(self) -> Config:
        if not self.is_run():
            raise CheckpointError(f"'{self.root}' is not a ganforge run folder (no config.toml); pass the --out "
                                  "folder of a 'ganforge train' run")
        return from_overrides(read_toml(self.config))

    def record_history(self, command: str, step: int, **details: Any) -> None:
        """Append what a train/resume did (changed keys, threads) to history.jsonl, atomically."""
        previous = self.history.read_text(encoding="utf-8") if self.history.is_file() else ""
        if previous and not previous.endswith("\n"):
            previous += "\n"
        entry = {"command": command, "step": step, "time": time.time(), **details}
        write_text_atomic(self.history, previous + json.dumps(entry, allow_nan=False) + "\n")


def export_net(target: Path, stem: str, net: nn.Module, meta: dict[str, Any]) -> None:
    """Write STEM.safetensors (weights) then STEM.json (how to rebuild the net, and `meta`) into `target`."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    save_tensors(tensors, target / f"{stem}.safetensors")
    record = {"format": EXPORT_FORMAT, "net": net_spec(net), **meta}
    write_text_atomic(target / f"{stem}.json", json.dumps(record, indent=2))


def export_generator(run: RunDir, generator: nn.Module, meta: dict[str, Any], folder: Path | None = None) -> None:
    """Write generator.safetensors + generator.json (into the run folder, or `folder`): all `sample` needs."""
    export_net(folder or run.root, "generator", generator, meta)


def export_classifier(run: RunDir, classifier: nn.Module, meta: dict[str, Any]) -> None:
    """Write classifier.safetensors + classifier.json: what `ganforge classify` needs (semi-supervised runs)."""
    export_net(run.root, "classifier", classifier, meta)


def load_net(root: Path, stem: str, what: str) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild an exported net (STEM.json + STEM.safetensors) from its recorded init arguments and weights: no code
    is loaded, and a damaged or non-finite file is refused in one line."""
    meta_path, weights = root / f"{stem}.json", root / f"{stem}.safetensors"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tensors = load_tensors(weights)
    except (OSError, ValueError, SafetensorError) as exc:  # JSON and UTF-8 errors are ValueErrors
        raise CheckpointError(f"exported {what} in '{root}' is damaged ({exc}); {EXPORT_FIX}") from None
    validate(meta, EXPORT_SCHEMA, meta_path, EXPORT_FIX)
    bad = non_finite(tensors)
    if bad:
        raise CheckpointError(f"'{weights}' holds NaN or infinite weights ({', '.join(bad[:3])}); its outputs would "
                              f"be NaN. {EXPORT_FIX}, or train again")
    net = rebuild_net(meta["net"])
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"'{weights}' does not match '{meta_path}' ({str(exc).splitlines()[0]})") from None
    return net.eval().requires_grad_(False), meta


def load_generator(run: RunDir) -> tuple[nn.Module, dict[str, Any]]:
    """The exported generator: all `sample` needs."""
    if not run.generator_meta.exists() or not run.generator_weights.exists():
        raise CheckpointError(f"'{run.root}' has no exported generator (generator.json + generator.safetensors); "
                              "it is written at each checkpoint, so train the run for at least checkpoint_every steps")
    net, meta = load_net(run.root, "generator", "generator")
    condition = meta.get("condition")
    if not (isinstance(condition, dict) and condition.get("kind") == "image"):
        validate(meta, NOISE_GENERATOR_SCHEMA, run.generator_meta, EXPORT_FIX)
    return net, meta


def load_reverse_generator(run: RunDir) -> tuple[nn.Module, dict[str, Any]]:
    """The exported B -> A generator of a two-way run (CycleGAN's generator_ba.*)."""
    if not (run.root / "generator_ba.json").exists() or not (run.root / "generator_ba.safetensors").exists():
        raise CheckpointError(f"'{run.root}' has no exported B -> A generator (generator_ba.json + "
                              "generator_ba.safetensors); it is written with generator.json at each checkpoint: "
                              f"{EXPORT_FIX}")
    return load_net(run.root, "generator_ba", "B -> A generator")


def load_classifier_export(run: RunDir) -> tuple[nn.Module, dict[str, Any]]:
    """The exported classifier of a semi-supervised run (family sgan)."""
    if not (run.root / "classifier.json").exists():
        raise CheckpointError(f"run '{run.root}' has no classifier: only semi-supervised runs (--family sgan) export "
                              "one; train one with 'ganforge train --family sgan --data.labelled N'")
    return load_net(run.root, "classifier", "classifier")

