"""Checkpoints: weights, EMA, optimiser state and RNG in safetensors; the rest in JSON. Atomic, code-free.

A checkpoint is a folder `step-NNNNNNN/` holding `model.safetensors` and `state.json`. It is written
under a temporary name and renamed into place, so a crash leaves the previous checkpoint intact. A
checkpoint holding a NaN or infinite tensor is never written, and one read back is checked against the
schema below and against the list of tensors it was written with before any of it is used.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as tensors_from_bytes
from safetensors.torch import save as tensors_to_bytes
from torch import nn

from ganforge.atomic import FILE_MODE, fsync_dir
from ganforge.errors import CheckpointError, TrainingDiverged
from ganforge.schema import Choice, Fields, Float, Int, ListOf, MapOf, Nullable, Str, Tuple, validate

FORMAT_VERSION = 2          # 2 records the tensor names; format 1 checkpoints are still read
READABLE_FORMATS = (1, 2)
PREFIX = "step-"
NAME = re.compile(r"^step-(\d+)$")
FIX = "resume from an earlier checkpoint by moving this folder out of checkpoints/"
FAMILY_PREFIX = "family."  # tensors of a family's own training state (CycleGAN's image pools)

STATE_SCHEMA = Fields(
    required={
        "format": Choice(*READABLE_FORMATS),
        "step": Int(0),
        "sampler": Fields({"epoch": Int(0), "position": Int(0)}),
        "optimizers": MapOf(Fields({"param_groups": ListOf(Fields({"lr": Float(), "params": ListOf(Int(0))})),
                                    "scalars": MapOf(MapOf())})),
        "rng": Fields({"numpy": Tuple(Choice("MT19937"), ListOf(Int(0), 624), Int(0), Int(0), Float()),
                       "python": Tuple(Int(), ListOf(Int(0), 625), Nullable(Float()))}),
    },
    optional={"ema_updates": Int(0), "best": MapOf(), "tensors": ListOf(Str()), "threads": Int(1),
              "sampler_b": Fields({"epoch": Int(0), "position": Int(0)})},
)


def checkpoint_name(step: int) -> str:
    return f"{PREFIX}{step:07d}"


def checkpoint_step(path: Path) -> int:
    match = NAME.match(path.name)
    if match is None:
        raise CheckpointError(f"'{path}' is not named like a checkpoint (step-NNNNNNN)")
    return int(match.group(1))


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints, oldest first; folders not named step-<digits> are not checkpoints."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir()
             if NAME.match(p.name) and p.is_dir() and (p / "state.json").is_file()
             and (p / "model.safetensors").is_file()]
    return sorted(found, key=checkpoint_step)


def non_finite(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of floating-point tensors holding a NaN or an infinity."""
    floats = {k: v for k, v in tensors.items() if v.is_floating_point() and v.numel()}
    if not floats:
        return []
    finite = torch.stack([torch.isfinite(v).all() for v in floats.values()]).tolist()
    return [name for name, ok in zip(floats, finite, strict=True) if not ok]


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


def checkpoint_tensors(nets: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                       ema: nn.Module | None = None, family: dict[str, torch.Tensor] | None = None,
                       ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Everything a checkpoint stores as tensors (CPU copies), and the optimisers' JSON part. `family`: a family's
    own training state (e.g. CycleGAN's image pools), stored under 'family.'."""
    tensors: dict[str, torch.Tensor] = {}
    for name, net in nets.items():
        tensors.update({f"nets.{name}.{k}": v for k, v in net.state_dict().items()})
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.state_dict().items()})
    tensors.update({f"{FAMILY_PREFIX}{k}": v for k, v in (family or {}).items()})
    optim_meta = {}
    for name, optimizer in optimizers.items():
        optim_tensors, optim_meta[name] = _optimizer_split(optimizer, f"optim.{name}")
        tensors.update(optim_tensors)
    return {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, optim_meta


def _write_file(path: Path, payload: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, FILE_MODE)


def save_checkpoint(folder: Path, step: int, nets: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                    extra: dict[str, Any], ema: nn.Module | None = None,
                    family: dict[str, torch.Tensor] | None = None) -> Path:
    """Write checkpoint `step` atomically into `folder`; `extra` is JSON (sampler, EMA count, ...), `family` a
    family's own state tensors.

    Raises TrainingDiverged, writing nothing, if any tensor holds a NaN or an infinity.
    """
    tensors, optim_meta = checkpoint_tensors(nets, optimizers, ema, family)
    bad = non_finite(tensors)
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise TrainingDiverged(f"step {step}: {shown} hold NaN or infinite values, so no checkpoint was written")
    rng_tensors, rng_meta = capture_rng()
    tensors.update({k: v.clone() for k, v in rng_tensors.items()})
    state = {"format": FORMAT_VERSION, "step": step, "optimizers": optim_meta, "rng": rng_meta,
             "tensors": sorted(tensors), **extra}

    folder.mkdir(parents=True, exist_ok=True)
    final = folder / checkpoint_name(step)
    partial = folder / f".partial-{checkpoint_name(step)}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    _write_file(partial / "model.safetensors", tensors_to_bytes(tensors))
    _write_file(partial / "state.json", json.dumps(state).encode("utf-8"))
    fsync_dir(partial)
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial, final)
    fsync_dir(folder)
    return final


def read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load tensors and JSON state, checked; safetensors and JSON cannot execute code."""
    try:
        tensors = tensors_from_bytes((path / "model.safetensors").read_bytes())
        state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    except (OSError, SafetensorError, ValueError) as exc:  # JSON and UTF-8 errors are ValueErrors
        raise CheckpointError(f"checkpoint '{path}' is damaged or incomplete ({exc}); {FIX}") from None
    if isinstance(state, dict) and state.get("format") not in READABLE_FORMATS:
        raise CheckpointError(f"checkpoint '{path}' has format {state.get('format')!r}; this ganforge reads "
                              f"formats {', '.join(map(str, READABLE_FORMATS))}")
    validate(state, STATE_SCHEMA, path / "state.json", FIX)
    expected = set(state.get("tensors", [])) | {"rng.torch"}
    missing = sorted(expected - set(tensors))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise CheckpointError(f"checkpoint '{path}' is missing tensors {shown} in model.safetensors; {FIX}")
    rng = tensors["rng.torch"]
    if rng.dtype != torch.uint8 or rng.dim() != 1:
        raise CheckpointError(f"checkpoint '{path}': tensor 'rng.torch' is not a torch RNG state; {FIX}")
    bad = non_finite(tensors)
    if bad:
        raise CheckpointError(f"checkpoint '{path}' holds NaN or infinite values in {', '.join(bad[:3])}; {FIX}")
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
                       ema: nn.Module | None = None,
                       load_family: Callable[[dict[str, torch.Tensor]], None] | None = None) -> dict[str, Any]:
    """Load a checkpoint into live objects (RNG included; a family's own state through `load_family`, given the
    tensors save_checkpoint's `family` held); returns its JSON state."""
    tensors, state = read_checkpoint(path)
    for name, net in nets.items():
        _load_module(net, tensors, f"nets.{name}.", path)
    if ema is not None:
        _load_module(ema, tensors, "ema.", path)
    family = {k[len(FAMILY_PREFIX):]: v for k, v in tensors.items() if k.startswith(FAMILY_PREFIX)}
    if load_family is not None and family:
        try:
            load_family(family)
        except (KeyError, RuntimeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint '{path}': the family's own state does not fit ({exc}); {FIX}") from None
    for name, optimizer in optimizers.items():
        if name not in state["optimizers"]:
            raise CheckpointError(f"checkpoint '{path}' has no optimiser state for '{name}'; {FIX}")
        device_tensors = {k: v for k, v in tensors.items() if k.startswith(f"optim.{name}.")}
        try:
            optimizer.load_state_dict(_optimizer_join(device_tensors, state["optimizers"][name], f"optim.{name}"))
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint '{path}': the optimiser state of '{name}' does not fit ({exc}); "
                                  f"{FIX}") from None
    restore_rng(tensors, state["rng"])
    return state


def prune_checkpoints(folder: Path, keep: int) -> None:
    for old in list_checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for partial in folder.glob(".partial-*"):
        shutil.rmtree(partial, ignore_errors=True)
