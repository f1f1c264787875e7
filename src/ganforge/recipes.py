"""Config resolution: dataclass defaults < family defaults (and its per-kind ones) < recommended recipe < the
user's values; then the family's defaults derived from them (CycleGAN's LR decay from half of train.steps) for keys
the user left unset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganforge.config import Config, Overrides, from_overrides, read_toml
from ganforge.data import source_kind
from ganforge.errors import ConfigError
from ganforge.families import FAMILIES, get_family

# The recipe `ganforge train` uses when no family is given, per kind of data.
RECOMMENDED: dict[str, Overrides] = {
    # R3GAN's loss (relativistic pairing + lazy R1/R2) on DCGAN's nets, D halving down to a 2-3 px map
    # (28 -> 14 -> 7 -> 3). Stacked MNIST at 30,000 steps: 1,000 modes, KL 0.036 against 0.084 with D stopping at
    # 7 px (DCGAN 0.164); FID in MNIST features at make run's CPU time 82.9 against 81.7 and DCGAN's 97.2
    # (BENCHMARKS.md). R3GAN's own ResNets are ~7x dearer per step on a CPU; pick them with --model.arch resnet.
    "image": {"model.family": "r3gan", "model.arch": "dcgan", "train.reg_every": 4, "model.d_min_px": 4},
    # R3GAN's loss (relativistic pairing + lazy R1/R2) on MLPs of 3 x 128, LR 2e-3 decayed linearly to 0 over
    # 20,000 steps: on PacGAN's grid of 25 and ring of 8 it keeps every mode with the histogram near uniform
    # (BENCHMARKS.md, "Mode collapse"; about 2.5 CPU minutes a run).
    "vector": {"model.family": "r3gan", "model.latent_dim": 16, "model.mlp_hidden": 128, "model.mlp_layers": 3,
               "train.batch_size": 512, "train.steps": 20000, "train.lr_g": 2e-3, "train.lr_d": 2e-3,
               "train.betas": (0.0, 0.99), "train.r1_gamma": 0.1, "train.r2_gamma": 0.1, "train.reg_every": 4,
               "train.lr_decay": "linear", "train.sample_every": 5000, "train.checkpoint_every": 5000},
}

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


def resolve(user: Overrides) -> Config:
    """The full, concrete config (no 'auto' left) for the user's overrides."""
    source = user.get("data.source", "mnist")
    kind = source_kind(source)
    family_name = user.get("model.family", "auto")
    layers: Overrides = {}
    if family_name == "auto":
        layers.update(RECOMMENDED[kind])
        family_name = layers["model.family"]
    family = get_family(family_name)
    merged: Overrides = {**family.defaults, **family.kind_defaults.get(kind, {}), **layers, **user,
                         "model.family": family_name}
    if merged.get("model.arch", "auto") == "auto":
        if kind not in family.archs:
            takes_vectors = ", ".join(n for n, f in FAMILIES.items() if "vector" in f.archs)
            raise ConfigError(f"family '{family_name}' needs image data, but data source '{source}' holds vectors; "
                              f"use a family that takes vectors ({takes_vectors})")
        merged["model.arch"] = family.archs[kind]
    if merged["model.arch"] not in family.d_norms:  # e.g. pix2pix's unet for dcgan: refused, not a KeyError below
        raise ConfigError(f"model.arch '{merged['model.arch']}' does not apply to family '{family_name}', whose nets "
                          f"are: {', '.join(family.d_norms)}; leave model.arch at auto or pick one of them")
    if merged.get("model.d_norm", "auto") == "auto":
        merged["model.d_norm"] = family.d_norms[merged["model.arch"]]
    g_norm = merged.get("model.g_norm", "auto")
    if g_norm != "auto" and g_norm not in family.g_norms:
        offered = f"takes {' or '.join(family.g_norms)}" if family.g_norms else "has no choice of G norm"
        raise ConfigError(f"model.g_norm '{g_norm}' does not apply to family '{family_name}', whose G {offered}; "
                          "leave model.g_norm at auto")
    if family.g_norms and g_norm == "auto":
        merged["model.g_norm"] = family.g_norms[0]
    if merged.get("model.g_loss", "auto") == "auto":
        merged["model.g_loss"] = family.g_loss_default
    if merged.get("model.condition", "auto") == "auto":
        merged["model.condition"] = family.condition_default
    merged.update({key: value for key, value in family.derived_defaults(merged).items() if key not in user})
    return from_overrides(merged)


def find_recipe(name_or_path: str) -> Path:
    """A recipe by path, or by name from configs/ (e.g. 'mnist_dcgan')."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    candidate = CONFIGS_DIR / f"{path.stem}.toml"
    if candidate.is_file() and path.parent == Path("."):
        return candidate
    known = ", ".join(p.stem for p in list_recipes())
    raise ConfigError(f"config file '{name_or_path}' does not exist; pass a TOML path or a recipe name ({known})")


def list_recipes() -> list[Path]:
    return sorted(CONFIGS_DIR.glob("*.toml")) if CONFIGS_DIR.is_dir() else []


def load_user_overrides(recipe: str | None, cli: Overrides) -> Overrides:
    merged: dict[str, Any] = dict(read_toml(find_recipe(recipe))) if recipe else {}
    merged.update(cli)
    return merged
