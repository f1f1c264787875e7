"""Checkpoints: weights, EMA, optimiser state and RNG in safetensors; the rest in JSON. Atomic, code-free.

A checkpoint is a folder `step-NNNNNNN/` holding `model.safetensors` and `state.json`. It is written
under a temporary name and renamed into place, so a crash leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ganforge.atomic import fsync_dir
from ganforge.errors import CheckpointError

FORMAT_VERSION = 1
PREFIX = "step-"


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:07d}"


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir()
             if p.is_dir() and p.name.startswith(PREFIX) and (p / "state.json").is_file()
             and (p / "model.safetensors").is_file()]
    return sorted(found, key=lambda p: p.name)


def _optimizer_split(optimizer: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_join(tensors: dict[str, torch.Tensor], meta: dict[str, Any], prefix: str) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, entries in meta["scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return tensors, {"numpy": [kind, keys.tolist(), pos, has_gauss, cached],
                     "python": [version, list(internal), gauss]}


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    cuda_states = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng.cuda."))]
    if cuda_states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_states)
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))


def save_checkpoint(folder: Path, step: int, nets: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                    extra: dict[str, Any], ema: nn.Module | None = None) -> Path:
    """Write checkpoint `step` atomically into `folder`; `extra` is JSON (sampler, EMA count, ...)."""
    tensors: dict[str, torch.Tensor] = {}
    for name, net in nets.items():
        tensors.update({f"nets.{name}.{k}": v for k, v in net.state_dict().items()})
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    optim_meta = {}
    for name, optimizer in optimizers.items():
        optim_tensors, optim_meta[name] = _optimizer_split(optimizer, f"optim.{name}")
        tensors.update(optim_tensors)
    rng_tensors, rng_meta = capture_rng()
    tensors.update(rng_tensors)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}
    state = {"format": FORMAT_VERSION, "step": step, "optimizers": optim_meta, "rng": rng_meta, **extra}

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / checkpoint_name(step)
    partial = folder / f".partial-{checkpoint_name(step)}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    save_file(tensors, str(partial / "model.safetensors"))
    (partial / "state.json").write_text(json.dumps(state), encoding="utf-8")
    for file in partial.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    fsync_dir(partial)
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    fsync_dir(folder)
    return final


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load tensors and JSON state; safetensors and JSON cannot execute code."""
    try:
        tensors = load_file(str(path / "model.safetensors"))
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (OSError, SafetensorError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint '{path}' is damaged or incomplete ({exc}); resume from an earlier "
                              "one by deleting this folder") from None
    if state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint '{path}' has format {state.get('format')!r}; this ganforge reads "
                              f"format {FORMAT_VERSION}")
    return tensors, state


def _load_module(module: nn.Module, tensors: dict[str, torch.Tensor], prefix: str, path: Path) -> None:
    own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        module.load_state_dict(own, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"checkpoint '{path}' does not fit the configured nets ({first}); "
                              "was the config changed since it was written?") from None


def restore_checkpoint(path: Path, nets: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                       ema: nn.Module | None = None) -> dict[str, Any]:
    """Load a checkpoint into live objects (RNG included); returns its JSON state."""
    tensors, state = read_checkpoint(path)
    for name, net in nets.items():
        _load_module(net, tensors, f"nets.{name}.", path)
    if ema is not None:
        _load_module(ema, tensors, "ema.", path)
    for name, optimizer in optimizers.items():
        device_tensors = {k: v for k, v in tensors.items() if k.startswith(f"optim.{name}.")}
        optimizer.load_state_dict(_optimizer_join(device_tensors, state["optimizers"][name], f"optim.{name}"))
    restore_rng(tensors, state["rng"])
    return state


def prune_checkpoints(folder: Path, keep: int) -> None:
    for old in list_checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for partial in folder.glob(".partial-*"):
        shutil.rmtree(partial, ignore_errors=True)
