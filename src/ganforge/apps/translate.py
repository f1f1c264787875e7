"""`ganforge translate`: apply an image-to-image run (pix2pix; CycleGAN either way) to the user's files (a file, a
folder or a glob).

Each input is read whole (any size: the U-Net pads to its multiple and crops back), converted to the model's
channels (grey repeated to RGB, RGB to luma), translated, and written as PNG under the same file name in the output
folder; a single file may go to a named .png instead. Nothing is written for an input that cannot be read.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ganforge.atomic import write_atomic
from ganforge.errors import ConfigError, DataError
from ganforge.run import Run

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def find_inputs(spec: str) -> list[Path]:
    """The image files a command-line argument names: a file, a folder's images (sorted), or a glob."""
    path = Path(spec)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DataError(f"folder '{spec}' holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return found
    if path.is_file():
        return [path]
    if any(ch in spec for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(spec) if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DataError(f"no image matches '{spec}'")
        return found
    raise DataError(f"input '{spec}' does not exist; pass an image file, a folder of images or a glob such as "
                    "'photos/*.png'")


def read_image(path: Path) -> torch.Tensor:
    """(1, C, H, W) in [0, 1]: grey images as one channel, everything else as RGB."""
    try:
        with Image.open(path) as image:
            image.load()
            converted = image.convert("L" if image.mode in ("L", "1", "I", "I;16", "F", "LA") else "RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image '{path}' ({exc}); pass PNG, JPEG or another Pillow-readable file") from None
    array = np.asarray(converted, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array)
    return tensor[None, None] if tensor.ndim == 2 else tensor.permute(2, 0, 1)[None]


def to_pil(image: torch.Tensor) -> Image.Image:
    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(pixels[0], "L") if pixels.shape[0] == 1 else Image.fromarray(pixels.transpose(1, 2, 0))


def plan_outputs(inputs: list[Path], out: Path) -> list[Path]:
    """Where each output goes: out/<name>.png, or `out` itself for one input and an image file name."""
    if len(inputs) == 1 and out.suffix.lower() == ".png" and not out.is_dir():
        return [out]
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out '{out}' is an existing file; name a folder for the outputs (or one .png for one "
                          "input image)")
    names = [p.stem + ".png" for p in inputs]
    doubles = sorted({n for n in names if names.count(n) > 1})
    if doubles:
        raise ConfigError(f"inputs would overwrite each other's outputs ({', '.join(doubles[:3])}): give them "
                          "different names")
    return [out / name for name in names]


def translate_files(run: Run, inputs: list[Path], out: Path, device: str = "cpu", progress: bool = True,
                    direction: str = "a2b") -> Iterator[Path]:
    """Translate each input into its output file, one at a time (images may differ in size); yields the outputs.
    `direction` b2a: a two-way (CycleGAN) run's B -> A generator."""
    if not run.image_conditioned:
        run.translate(torch.zeros(1, 1, 4, 4))  # raises the one-line refusal for a run that draws from noise
    run.check_direction(direction)
    targets = plan_outputs(inputs, out)
    images = [read_image(p) for p in inputs]  # every input is readable before anything is written
    targets[0].parent.mkdir(parents=True, exist_ok=True)
    for image, target in tqdm(list(zip(images, targets, strict=True)), disable=not progress or len(images) < 2,
                              unit="image"):
        result = to_pil(run.translate(image, device=device, direction=direction)[0])
        write_atomic(target, lambda temp, result=result: result.save(temp, format="PNG"))
        yield target
