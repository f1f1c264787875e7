"""A folder of images: recursive, one sub-folder per class gives labels, resized and centre-cropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ganforge.console import warn
from ganforge.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def find_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def class_of(path: Path, folder: Path) -> str | None:
    """The first-level sub-folder a file sits in, or None for files directly in the folder."""
    parts = path.relative_to(folder).parts
    return parts[0] if len(parts) > 1 else None


def resize_square(image: Image.Image, resolution: int) -> Image.Image:
    """Scale the shorter side to `resolution` (bicubic), then crop the centre square."""
    width, height = image.size
    scale = resolution / min(width, height)
    new_size = (max(resolution, round(width * scale)), max(resolution, round(height * scale)))
    if new_size != image.size:
        image = image.resize(new_size, Image.Resampling.BICUBIC, reducing_gap=3.0)
    left, top = (new_size[0] - resolution) // 2, (new_size[1] - resolution) // 2
    return image.crop((left, top, left + resolution, top + resolution))


def _open(path: Path) -> Image.Image:
    with Image.open(path) as image:
        image.load()  # decode now: a truncated file fails here, not mid-training
        return image.copy()


def load_image_folder(
    folder: Path, resolution: int, channels: int | None
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """Decode every image under `folder`; returns uint8 (N, C, R, R), labels or None, class names."""
    if not folder.is_dir():
        raise DataError(f"data folder '{folder}' does not exist; pass a folder of "
                        f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} images or a built-in data set")
    paths = find_images(folder)
    if not paths:
        raise DataError(f"data folder '{folder}' holds no images ({', '.join(IMAGE_EXTENSIONS)}, searched "
                        "recursively); put images in it or pick a built-in data set (`ganforge list`)")
    images: list[Image.Image] = []
    kept: list[Path] = []
    skipped: list[Path] = []
    for path in paths:
        try:
            images.append(_open(path))
            kept.append(path)
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError):
            skipped.append(path)
    shown = ", ".join(str(p) for p in skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    if not images:
        raise DataError(f"data folder '{folder}': none of its {len(paths)} image files could be read ({shown}); "
                        "check that they are valid png/jpg/webp/bmp files")
    if skipped:
        warn(f"skipped {len(skipped)} unreadable or truncated image file(s) in '{folder}': {shown}")
    if channels is None:
        channels = 1 if all(image.mode in GREY_MODES for image in images) else 3
    mode = "L" if channels == 1 else "RGB"
    array = np.stack([np.asarray(resize_square(image.convert(mode), resolution)) for image in images])
    array = array[:, None] if channels == 1 else array.transpose(0, 3, 1, 2)
    classes = [class_of(p, folder) for p in kept]
    if all(c is not None for c in classes) and len(set(classes)) >= 2:
        names = tuple(sorted(set(classes)))  # type: ignore[arg-type]
        labels = np.array([names.index(c) for c in classes], dtype=np.int64)  # type: ignore[arg-type]
        return np.ascontiguousarray(array), labels, names
    return np.ascontiguousarray(array), None, ()
