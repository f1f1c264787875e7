"""(input, target) image pairs for image-conditioned generators, made from each target image: a downscaled copy
(SRGAN), its edges or luma (pix2pix-style), or a noisy, blurred or masked copy (denoising, deblurring, inpainting).

Every derivation is deterministic: the random ones (noise, mask) draw from data.pairs_seed and the sample's index
in the whole source, so a sample keeps its input across data.split, data.max_samples, resume and evaluation.
See docs/data.md for each definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from ganforge.errors import ConfigError, DataError

PAIR_FORMS = ("none, downscale2, downscale4, downscale8, edges, grey, noiseS (0 < S <= 1, e.g. noise0.1), "
              "blurS (S > 0 px, e.g. blur1.5), maskP (0 < P < 100 percent, e.g. mask25)")
DOWNSCALE_FACTORS = (2, 4, 8)
MASK_VALUE = 128  # mid-grey: the hole is neither black nor white, the value an encoded 0 decodes to (about)
_STREAMS = {"noise": 1, "mask": 2}  # each random derivation its own stream, so noiseS and maskP draw apart
_CHUNK = 2048  # images per numpy pass (edges): bounds memory on the 128,000 stacked-MNIST images
RNG_BLOCK = 256  # random derivations draw for blocks of this many consecutive samples (one generator each)


@dataclass(frozen=True)
class PairSpec:
    """A parsed data.pairs value: kind none | downscale | edges | grey | noise | blur | mask, and its number."""

    kind: str
    amount: float = 0.0  # downscale: K; noise: std S in [0, 1] units; blur: std S in px; mask: percent P

    @property
    def random(self) -> bool:
        return self.kind in _STREAMS


def parse_pairs(text: str) -> PairSpec:
    """data.pairs as a PairSpec; a ConfigError in one line for anything else, listing the accepted forms."""
    if text in ("none", "edges", "grey"):
        return PairSpec(text)
    match = re.fullmatch(r"(downscale|noise|blur|mask)(\d+(?:\.\d*)?|\.\d+)", text)
    if match is None:
        raise ConfigError(f"config key 'data.pairs' got {text!r}; expected one of: {PAIR_FORMS}")
    kind, amount = match.group(1), float(match.group(2))
    allowed = {"downscale": (amount in DOWNSCALE_FACTORS and "." not in match.group(2), "downscaleK takes K 2, 4 or 8"),
               "noise": (0.0 < amount <= 1.0, "noiseS takes a std S in [0, 1] image units, 0 < S <= 1"),
               "blur": (amount > 0.0, "blurS takes a std S in px above 0"),
               "mask": (0.0 < amount < 100.0, "maskP takes a percentage P of the image, 0 < P < 100")}
    ok, rule = allowed[kind]
    if not ok:
        raise ConfigError(f"config key 'data.pairs' got {text!r}: {rule}; accepted forms: {PAIR_FORMS}")
    return PairSpec(kind, amount)


def derive_inputs(images: np.ndarray, pairs: str, seed: int, index: np.ndarray, source: str) -> np.ndarray:
    """The input image of each target image: uint8 (N, C, H, W) -> uint8 (N, C_in, h, w), row i from row i.

    `index` is each image's position in the whole source (it seeds the random derivations); `source` names the
    data in errors.
    """
    spec = parse_pairs(pairs)
    if spec.kind == "downscale":
        return downscale(images, int(spec.amount), pairs, source)
    if spec.kind == "edges":
        return sobel_edges(images)
    if spec.kind == "grey":
        return luma_of(images, source)
    if spec.kind == "blur":
        return _per_image(images, lambda im: im.filter(ImageFilter.GaussianBlur(spec.amount)))
    if spec.kind == "noise":
        return add_noise(images, spec.amount, seed, index)
    return mask_square(images, spec.amount, seed, index)


def _draws(seed: int, stream: int, index: np.ndarray, draw: Callable[[np.random.Generator], np.ndarray]) -> np.ndarray:
    """draw(rng) gives the random values of RNG_BLOCK consecutive samples of the source, from a generator seeded by
    (seed, stream, block); the rows of `index` are picked from their blocks. So a sample's values depend only on
    the seed and its index, whatever subset is loaded, at the cost of at most one block per loaded block."""
    blocks = index // RNG_BLOCK
    out: np.ndarray | None = None
    for block in np.unique(blocks):
        rows = np.flatnonzero(blocks == block)
        values = draw(np.random.default_rng([seed, stream, int(block)]))[index[rows] % RNG_BLOCK]
        if out is None:
            out = np.empty((len(index), *values.shape[1:]), dtype=values.dtype)
        out[rows] = values
    assert out is not None
    return out


def _pil(image: np.ndarray) -> Image.Image:
    return Image.fromarray(image[0], "L") if image.shape[0] == 1 else Image.fromarray(image.transpose(1, 2, 0), "RGB")


def _array(image: Image.Image) -> np.ndarray:
    array = np.asarray(image)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _per_image(images: np.ndarray, change: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.stack([_array(change(_pil(image))) for image in images])


def downscale(images: np.ndarray, factor: int, pairs: str, source: str) -> np.ndarray:
    """Pillow's bicubic resize (which antialiases) to (H/K, W/K); refused unless K divides the sides and the
    input keeps at least 4 px."""
    height, width = images.shape[2:]
    if height % factor or width % factor or min(height, width) < 4 * factor:
        works = [f"downscale{k}" for k in DOWNSCALE_FACTORS
                 if not height % k and not width % k and min(height, width) >= 4 * k]
        side = max(4 * factor, -(-max(height, width) // factor) * factor)
        fix = f"use {' or '.join(works)}, or " if works else "use "
        raise DataError(f"data.pairs '{pairs}' needs image sides that are multiples of {factor} and at least "
                        f"{4 * factor} px; '{source}' gives {height}x{width}: {fix}--data.resolution {side}")
    size = (width // factor, height // factor)
    return _per_image(images, lambda im: im.resize(size, Image.Resampling.BICUBIC))


def luma_of(images: np.ndarray, source: str) -> np.ndarray:
    """ITU-R 601 luma, Y = (299 R + 587 G + 114 B) / 1000 rounded half up, in exact integer arithmetic."""
    if images.shape[1] == 1:
        raise DataError(f"data.pairs 'grey' makes a colourisation task (input the grey image, target the colour "
                        f"one), but '{source}' is grey (1 channel): there is no colour to learn; use an RGB source "
                        "such as photos or a folder of colour images")
    if np.array_equal(images[:, 0], images[:, 1]) and np.array_equal(images[:, 1], images[:, 2]):
        raise DataError(f"data.pairs 'grey' makes a colourisation task, but the 3 channels of '{source}' are equal "
                        "everywhere (grey images stored as RGB): there is no colour to learn; use a colour source")
    out = np.empty((len(images), 1, *images.shape[2:]), dtype=np.uint8)
    weights = np.array([299, 587, 114], dtype=np.int32)[:, None, None]
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK].astype(np.int32)
        out[start : start + _CHUNK, 0] = ((chunk * weights).sum(axis=1) + 500) // 1000
    return out


def sobel_edges(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of the grey (unrounded luma) image, edge pixels repeated at the border, scaled per
    image so its strongest edge is 255 (a flat image gives 0), rounded; not thresholded. Output (N, 1, H, W)."""
    out = np.empty((len(images), 1, *images.shape[2:]), dtype=np.uint8)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float64)[:, None, None]
    for start in range(0, len(images), _CHUNK):
        chunk = images[start : start + _CHUNK].astype(np.float64)
        grey = chunk[:, 0] if chunk.shape[1] == 1 else (chunk * weights).sum(axis=1)
        p = np.pad(grey, ((0, 0), (1, 1), (1, 1)), mode="edge")
        down = p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]  # Sobel = [1, 2, 1] smoothing across, [-1, 0, 1] along
        across = p[:, :, :-2] + 2 * p[:, :, 1:-1] + p[:, :, 2:]
        gx, gy = down[:, :, 2:] - down[:, :, :-2], across[:, 2:] - across[:, :-2]
        magnitude = np.hypot(gx, gy)
        peak = magnitude.max(axis=(1, 2), keepdims=True)
        scaled = np.divide(magnitude * 255.0, peak, out=np.zeros_like(magnitude), where=peak > 1e-9)
        out[start : start + _CHUNK, 0] = np.round(scaled).astype(np.uint8)
    return out


def add_noise(images: np.ndarray, std: float, seed: int, index: np.ndarray) -> np.ndarray:
    """image + N(0, std) in [0, 1] units, clipped to [0, 1], rounded to uint8."""
    out = np.empty_like(images)
    shape = images.shape[1:]
    for start in range(0, len(images), _CHUNK):
        rows = slice(start, start + _CHUNK)
        noise = _draws(seed, _STREAMS["noise"], index[rows],
                       lambda rng: rng.standard_normal((RNG_BLOCK, *shape), dtype=np.float32))
        noisy = images[rows] / np.float32(255.0) + np.float32(std) * noise
        out[rows] = np.round(np.clip(noisy, 0.0, 1.0) * np.float32(255.0)).astype(np.uint8)
    return out


def mask_square(images: np.ndarray, percent: float, seed: int, index: np.ndarray) -> np.ndarray:
    """A square hole of side round(sqrt(P/100 * H * W)) (at least 1 px, at most the shorter side), set to mid-grey
    128 in every channel, at a uniformly random position inside the image."""
    height, width = images.shape[2:]
    side = int(min(max(round((percent / 100.0 * height * width) ** 0.5), 1), height, width))
    corners = _draws(seed, _STREAMS["mask"], index, lambda rng: np.stack(
        [rng.integers(0, height - side + 1, RNG_BLOCK), rng.integers(0, width - side + 1, RNG_BLOCK)], axis=1))
    out = images.copy()
    for i, (top, left) in enumerate(corners.tolist()):
        out[i, :, top : top + side, left : left + side] = MASK_VALUE
    return out
