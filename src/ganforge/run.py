"""Run: the handle on a run folder, for sampling and reading metrics (no training code needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganforge.conditions import Condition, balanced_labels, call_generator, chunk
from ganforge.config import Config
from ganforge.data.spec import DataSpec
from ganforge.errors import CheckpointError, ConfigError
from ganforge.latent import sample_latent
from ganforge.tiling import tiled
from ganforge.train.backend import resolve_device
from ganforge.train.logging import read_metrics
from ganforge.train.rundir import RunDir, load_generator, load_reverse_generator

DEFAULT_TILE = 256    # Run.upscale / ganforge upscale: tiles of this many input px (x4: 1,024 px outputs)
DEFAULT_OVERLAP = 16  # context around a tile for a G that states no receptive radius
DIRECTIONS = ("a2b", "b2a")  # image-to-image: input domain (A, data.source) to target (B), and back (CycleGAN)


class Run:
    """A run folder: its config, metrics and exported generator."""

    def __init__(self, root: str | Path) -> None:
        self.dir = RunDir(root)
        if not self.dir.is_run():
            raise CheckpointError(f"'{root}' is not a ganforge run folder (no config.toml); pass the --out folder "
                                  "of a 'ganforge train' run")
        self._generator: torch.nn.Module | None = None
        self._reverse: torch.nn.Module | None = None  # a two-way run's B -> A generator
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

    @property
    def condition(self) -> dict[str, Any] | None:
        """What the generator must be told besides z: {"kind": "label", "num_classes": K} or {"kind": "vector",
        "dim": D}; None for an unconditional run."""
        self._load()
        return self._meta.get("condition")

    def class_index(self, label: int | str) -> int:
        """A class by name (as the data names them, e.g. 'seven') or by index; one-line errors otherwise."""
        spec = self.spec
        if isinstance(label, str):
            if label in spec.class_names:
                return spec.class_names.index(label)
            if not label.lstrip("-").isdigit():
                raise ConfigError(f"unknown class '{label}' for run '{self.dir.root}'; its classes are "
                                  f"{_names(spec.class_names)} (or indices 0 to {spec.num_classes - 1})")
            label = int(label)
        if not 0 <= label < spec.num_classes:
            raise ConfigError(f"class {label} is out of range for run '{self.dir.root}', which has {spec.num_classes} "
                              f"classes: use 0 to {spec.num_classes - 1} or a name ({_names(spec.class_names)})")
        return label

    def _labels(self, n: int, labels: int | str | Sequence[int | str] | None) -> Tensor | None:
        condition = self.condition
        if condition is None:
            if labels is not None:
                raise ConfigError(f"run '{self.dir.root}' is unconditional: its generator takes no class; leave out "
                                  "--class / labels, or train with a conditional family (e.g. --family cgan)")
            return None
        if condition["kind"] != "label":
            if labels is None:
                return None
            raise ConfigError(f"run '{self.dir.root}' is conditioned on {condition['dim']}-D vectors, not classes; "
                              "pass conditions= (an (n, D) array)")
        if labels is None:
            return balanced_labels(n, condition["num_classes"])
        if isinstance(labels, (int, str)):
            labels = [labels] * n
        if len(labels) != n:
            raise ConfigError(f"got {len(labels)} labels for {n} samples; pass one label per sample, or one for all")
        return torch.tensor([self.class_index(label) for label in labels])

    def _vectors(self, n: int, conditions: Tensor | None) -> Tensor | None:
        condition = self.condition
        if condition is None or condition["kind"] != "vector":
            if conditions is not None:
                raise ConfigError(f"run '{self.dir.root}' takes no condition vectors; leave out conditions=")
            return None
        if conditions is None:
            raise ConfigError(f"run '{self.dir.root}' is conditioned on {condition['dim']}-D vectors: pass "
                              f"conditions= with one vector per sample, shaped ({n}, {condition['dim']})")
        conditions = torch.as_tensor(conditions, dtype=torch.float32)
        if conditions.shape != (n, condition["dim"]):
            raise ConfigError(f"conditions have shape {tuple(conditions.shape)}; expected ({n}, {condition['dim']})")
        return conditions

    @property
    def image_conditioned(self) -> bool:
        """Whether G translates input images (pix2pix and kin) instead of drawing from noise."""
        condition = self.condition
        return condition is not None and condition["kind"] == "image"

    @property
    def directions(self) -> tuple[str, ...]:
        """The directions an image-to-image run translates: ('a2b',), or ('a2b', 'b2a') for two unpaired domains
        (CycleGAN); () for a run that draws from noise."""
        condition = self.condition
        if condition is None or condition["kind"] != "image":
            return ()
        return tuple(condition.get("directions", ["a2b"]))

    def check_direction(self, direction: str) -> None:
        """A one-line refusal of a direction the run does not translate."""
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction '{direction}' is not one of {', '.join(DIRECTIONS)} (a2b: data.source's "
                              "domain to data.target's; b2a: back)")
        if direction not in self.directions:
            raise ConfigError(f"run '{self.dir.root}' ({self.config.model.family}) learned one direction, a2b "
                              "(input to target); b2a needs a two-way run on unpaired domains (--family cyclegan, "
                              "CycleGAN)")

    def _net(self, direction: str) -> torch.nn.Module:
        if direction == "a2b":
            return self._load()
        if self._reverse is None:
            self._reverse, _ = load_reverse_generator(self.dir)
        return self._reverse

    @property
    def latent(self) -> dict[str, Any]:
        """G's noise: {"dim": D, "dist": "normal" | "uniform"}."""
        self._load()
        if self.image_conditioned or "latent" not in self._meta:
            raise ConfigError(f"run '{self.dir.root}' translates images instead of drawing from noise; use "
                              "'ganforge translate RUN IMAGES' (Run.translate)")
        return dict(self._meta["latent"])

    @torch.no_grad()
    def translate(self, images: Tensor, device: str = "cpu", batch_size: int = 16, tile: int = 0,
                  overlap: int | None = None, direction: str = "a2b") -> Tensor:
        """An image-conditioned run's outputs for input images (N, C, H, W) in [0, 1], any size; grey inputs of a
        colour model are repeated to 3 channels and colour inputs of a grey model taken as luma. Outputs in [0, 1],
        K times the input's size for a model trained on downscaleK pairs. `direction` 'b2a' runs a two-way run's
        (CycleGAN's) B -> A generator.

        `tile` > 0 runs G on tiles of that many input px, each with `overlap` px of context cropped off again
        (ganforge.tiling); overlap None is G's receptive radius where it has one (SRResNet: the tiled output is the
        whole image's), else DEFAULT_OVERLAP."""
        if tile < 0 or (overlap is not None and overlap < 0):
            raise ConfigError(f"tile {tile} and overlap {overlap} must be 0 or more (tile 0: the whole image at once)")
        condition = self.condition
        if condition is None or condition["kind"] != "image":
            raise ConfigError(f"run '{self.dir.root}' draws samples from noise; translate needs an image-to-image run "
                              "(--family pix2pix with --data.pairs or --data.target); use 'ganforge sample'")
        self.check_direction(direction)
        images = torch.as_tensor(images, dtype=torch.float32)
        if images.ndim != 4:
            raise ConfigError(f"images have shape {tuple(images.shape)}; expected (N, C, H, W) in [0, 1]")
        if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise ConfigError("images must be finite and in [0, 1] (divide 8-bit images by 255)")
        images = match_channels(images, condition["channels"])
        device = str(resolve_device(device, option="--device"))
        net = self._net(direction).to(device)
        if overlap is None:
            radius = getattr(net, "receptive_radius", None)
            overlap = radius() if callable(radius) else DEFAULT_OVERLAP
        out = [tiled(net, images[i : i + batch_size].to(device) * 2.0 - 1.0, condition.get("scale", 1), tile, overlap)
               for i in range(0, len(images), batch_size)]
        return self.spec.decode(torch.cat(out)).cpu()

    def upscale(self, images: Tensor, device: str = "cpu", batch_size: int = 16, tile: int = DEFAULT_TILE,
                overlap: int | None = None) -> Tensor:
        """A super-resolution run's outputs (K times the size) for images (N, C, H, W) in [0, 1]: `translate`, tiled
        by default (tiles of `tile` input px; 0: whole images) so that large images fit in memory."""
        condition = self.condition
        if condition is None or condition["kind"] != "image":
            raise ConfigError(f"run '{self.dir.root}' draws samples from noise; upscale needs a super-resolution run "
                              "(--family srgan --data.pairs downscale4); use 'ganforge sample'")
        if condition.get("scale", 1) < 2:
            raise ConfigError(f"run '{self.dir.root}' translates images at their own size (scale 1), it does not "
                              "upscale; use 'ganforge translate' (Run.translate)")
        return self.translate(images, device=device, batch_size=batch_size, tile=tile, overlap=overlap)

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, device: str = "cpu", raw: bool = False,
               labels: int | str | Sequence[int | str] | None = None, conditions: Tensor | None = None) -> Tensor:
        """n samples in data units (images in [0, 1], shape (n, C, H, W)); `raw` keeps G's own range.

        A class-conditional run takes `labels` (one per sample, or one for all; indices or class names; default:
        every class in turn); a vector-conditioned run takes `conditions`, shaped (n, D).
        """
        if n < 1:
            raise ConfigError(f"number of samples must be at least 1, got {n}")
        latent = self.latent
        z = sample_latent(n, latent["dim"], latent["dist"], "cpu", torch.Generator().manual_seed(seed))
        return self.sample_latents(z, device=device, raw=raw, labels=labels, conditions=conditions)

    @torch.no_grad()
    def sample_latents(self, z: Tensor, device: str = "cpu", raw: bool = False,
                       labels: int | str | Sequence[int | str] | None = None,
                       conditions: Tensor | None = None) -> Tensor:
        """G's samples for given latents z, shaped (n, latent dim) (a latent walk's frames); as `sample` otherwise."""
        latent = self.latent
        if z.ndim != 2 or z.shape[1] != latent["dim"]:
            raise ConfigError(f"latents have shape {tuple(z.shape)}; expected (n, {latent['dim']})")
        n = len(z)
        device = str(resolve_device(device, option="--device"))
        net = self._load().to(device)
        condition: Condition = (self._labels(n, labels), self._vectors(n, conditions))
        z = z.to(device)
        out = torch.cat([call_generator(net, z[i : i + 256], chunk(condition, i, i + 256, device))
                         for i in range(0, n, 256)])
        return out.cpu() if raw else self.spec.decode(out).cpu()

    def metrics(self) -> list[dict[str, Any]]:
        """metrics.jsonl's records (a torn last line from a crash is left out; NaN/inf restored)."""
        return read_metrics(self.dir.metrics)

    def __repr__(self) -> str:
        return f"Run('{self.dir.root}')"


def match_channels(images: Tensor, channels: int) -> Tensor:
    """Grey to colour by repeating the channel, colour to grey by ITU-R 601 luma; other counts are refused."""
    have = images.shape[1]
    if have == channels:
        return images
    if have == 1 and channels == 3:
        return images.repeat(1, 3, 1, 1)
    if have == 3 and channels == 1:
        return (images * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    raise ConfigError(f"images have {have} channels; the model takes {channels} (grey and RGB are converted)")


def _names(names: tuple[str, ...], shown: int = 12) -> str:
    return ", ".join(names[:shown]) + (f" ... ({len(names)} in all)" if len(names) > shown else "")
