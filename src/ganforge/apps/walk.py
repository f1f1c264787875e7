"""Latent walks: samples morphing from one random latent to the next, as an animated GIF or a PNG strip.

Between key latents a and b the walk is spherical (slerp) for Gaussian latents, whose mass lies near a sphere,
so every frame has the norm of a typical draw; linear for uniform latents, whose box a straight line never
leaves. A class-conditional run walks within one class per walk (`--class`, or walk i in class i mod K).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from ganforge.atomic import write_atomic
from ganforge.errors import ConfigError
from ganforge.grid import image_grid, save_png
from ganforge.latent import sample_latent
from ganforge.run import Run

FRAME_MS = 80   # GIF frame duration


def slerp(a: Tensor, b: Tensor, t: float) -> Tensor:
    """Spherical interpolation between rows of a and b (linear where they are parallel)."""
    a_unit, b_unit = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((a_unit * b_unit).sum(-1, keepdim=True).clamp(-1.0, 1.0))
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-6
    safe = torch.where(parallel, torch.ones_like(sin), sin)
    curved = (torch.sin((1.0 - t) * omega) * a + torch.sin(t * omega) * b) / safe
    return torch.where(parallel, (1.0 - t) * a + t * b, curved)


def interpolate(a: Tensor, b: Tensor, t: float, dist: str) -> Tensor:
    return slerp(a, b, t) if dist == "normal" else (1.0 - t) * a + t * b


def walk_latents(keys: Tensor, frames_between: int, dist: str, closed: bool) -> Tensor:
    """(K, W, D) key latents to (F, W, D) frames: each key, then frames_between - 1 steps towards the next; a closed
    walk returns to the first key (a looping GIF)."""
    stops = [*keys, keys[0]] if closed else list(keys)
    frames = []
    for a, b in itertools.pairwise(stops):
        frames.extend(interpolate(a, b, i / frames_between, dist) for i in range(frames_between))
    if not closed:
        frames.append(stops[-1])
    return torch.stack(frames)


def latent_walk(run: Run, keys: int, frames_between: int = 8, walks: int | None = None, seed: int = 0,
                label: int | str | None = None, closed: bool = True) -> Tensor:
    """Images of `walks` parallel walks through `keys` random latents: (frames, walks, C, H, W) in [0, 1]."""
    if keys < 2:
        raise ConfigError(f"--interpolate {keys}: a walk needs at least 2 key points (e.g. --interpolate 8)")
    if frames_between < 1:
        raise ConfigError(f"--frames {frames_between}: use at least 1 frame per step between key points")
    spec, condition = run.spec, run.condition
    if spec.kind != "image":
        raise ConfigError(f"run '{run.dir.root}' draws {spec.shape[0]}-D points, not images; a latent walk is drawn "
                          "for image runs (sample points with 'ganforge sample')")
    if condition is not None and condition["kind"] == "vector":
        raise ConfigError(f"run '{run.dir.root}' is conditioned on {condition['dim']}-D vectors; latent walks are "
                          "drawn for unconditional and class-conditional runs")
    if condition is None and label is not None:
        raise ConfigError(f"run '{run.dir.root}' is unconditional: its generator takes no class; leave out --class")
    if walks is None:
        walks = min(condition["num_classes"], 16) if condition is not None and label is None else 8
    if walks < 1:
        raise ConfigError(f"--n {walks}: draw at least one walk")
    latent = run.latent
    rng = torch.Generator().manual_seed(seed)
    key_latents = sample_latent(keys * walks, latent["dim"], latent["dist"], "cpu", rng).reshape(keys, walks, -1)
    path = walk_latents(key_latents, frames_between, latent["dist"], closed)
    labels = None
    if condition is not None:
        labels = [label] * walks if label is not None else [i % condition["num_classes"] for i in range(walks)]
    frames = [run.sample_latents(path[f], labels=labels) for f in range(len(path))]
    return torch.stack(frames)


def save_walk(frames: Tensor, out: Path, caption: str = "") -> None:
    """A GIF (each frame: the walks side by side) or a PNG strip (a row per walk, a column per frame)."""
    suffix = out.suffix.lower()
    if suffix == ".gif":
        walks = frames.shape[1]
        columns = walks if walks <= 8 else None
        images: list[Image.Image] = [image_grid(f, columns=columns, caption=caption).convert("RGB") for f in frames]
        # One shared palette from the first frame keeps colours steady; Pillow writes the frames in order.
        palette = images[0].quantize(colors=256)
        quantized = [im.quantize(palette=palette) for im in images]
        write_atomic(out, lambda temp: quantized[0].save(temp, format="GIF", save_all=True,
                                                         append_images=quantized[1:], duration=FRAME_MS, loop=0))
    elif suffix == ".png":
        strip = frames.transpose(0, 1).reshape(-1, *frames.shape[2:])  # walk-major: a row per walk
        save_png(image_grid(strip, columns=frames.shape[0], caption=caption), out)
    else:
        raise ConfigError(f"output '{out}' has suffix '{out.suffix}'; a latent walk is written as .gif (animated) or "
                          ".png (a strip)")
