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


def _image_paths(folder: Path, key: str = "data folder") -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{key} '{folder}' does not exist; pass a folder of "
                        f"{'/'.join(e[1:] for e in IMAGE_EXTENSIONS)} images or a built-in data set")
    paths = find_images(folder)
    if not paths:
        raise DataError(f"{key} '{folder}' holds no images ({', '.join(IMAGE_EXTENSIONS)}, searched "
                        "recursively); put images in it or pick a built-in data set (`ganforge list`)")
    return paths


def _shown(paths: list[Path] | list[str]) -> str:
    return ", ".join(str(p) for p in paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


def _decode(paths: list[Path]) -> tuple[list[Image.Image | None], list[Path]]:
    """Each file decoded, None where it cannot be; and the files that could not."""
    images: list[Image.Image | None] = []
    skipped: list[Path] = []
    for path in paths:
        try:
            images.append(_open(path))
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError, Image.DecompressionBombError):
            images.append(None)
            skipped.append(path)
    return images, skipped


def _to_array(images: list[Image.Image], resolution: int, channels: int | None) -> np.ndarray:
    """uint8 (N, C, R, R); channels None = grey if every image is grey, else RGB."""
    if channels is None:
        channels = 1 if all(image.mode in GREY_MODES for image in images) else 3
    mode = "L" if channels == 1 else "RGB"
    array = np.stack([np.asarray(resize_square(image.convert(mode), resolution)) for image in images])
    return np.ascontiguousarray(array[:, None] if channels == 1 else array.transpose(0, 3, 1, 2))


def _labels(kept: list[Path], folder: Path) -> tuple[np.ndarray | None, tuple[str, ...]]:
    classes = [class_of(p, folder) for p in kept]
    if all(c is not None for c in classes) and len(set(classes)) >= 2:
        names = tuple(sorted(set(classes)))  # type: ignore[arg-type]
        return np.array([names.index(c) for c in classes], dtype=np.int64), names  # type: ignore[arg-type]
    return None, ()


def load_image_folder(
    folder: Path, resolution: int, channels: int | None
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """Decode every image under `folder`; returns uint8 (N, C, R, R), labels or None, class names."""
    paths = _image_paths(folder)
    decoded, skipped = _decode(paths)
    images = [image for image in decoded if image is not None]
    kept = [path for path, image in zip(paths, decoded, strict=True) if image is not None]
    if not images:
        raise DataError(f"data folder '{folder}': none of its {len(paths)} image files could be read "
                        f"({_shown(skipped)}); check that they are valid png/jpg/webp/bmp files")
    if skipped:
        warn(f"skipped {len(skipped)} unreadable or truncated image file(s) in '{folder}': {_shown(skipped)}")
    labels, names = _labels(kept, folder)
    return _to_array(images, resolution, channels), labels, names


def _by_name(folder: Path, key: str) -> dict[str, Path]:
    """The folder's images by relative path without extension (A/cats/x.png -> 'cats/x'); one file per name."""
    named: dict[str, list[Path]] = {}
    for path in _image_paths(folder, key):
        named.setdefault(path.relative_to(folder).with_suffix("").as_posix(), []).append(path)
    clashes = [p.name for paths in named.values() if len(paths) > 1 for p in paths]
    if clashes:
        raise DataError(f"{key} '{folder}' holds several images of one name ({_shown(clashes)}); paired folders "
                        "match images by name without extension, so keep one file per name")
    return {name: paths[0] for name, paths in named.items()}


def load_paired_folders(
    inputs: Path, targets: Path, resolution: int, channels: int | None
) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...], np.ndarray]:
    """Images of `targets` with the input of the same name in `inputs` (pix2pix's aligned pairs: A/x.png with
    B/x.jpg; sub-folders count in the name). Returns uint8 targets (N, C, R, R) with `channels` (None = as
    found), their labels (class sub-folders of `targets`) or None, class names, and the inputs (N, C_in, R, R)
    with their own channels. A pair either of whose files cannot be read is skipped with one warning."""
    named_inputs, named_targets = _by_name(inputs, "data.source"), _by_name(targets, "data.target")
    only_inputs = sorted(set(named_inputs) - set(named_targets))
    only_targets = sorted(set(named_targets) - set(named_inputs))
    if only_inputs or only_targets:
        parts = [f"{len(names)} of the {len(named)} names in {key} '{folder}' {'has' if len(names) == 1 else 'have'} "
                 f"no partner ({_shown(names)})"
                 for names, named, key, folder in ((only_inputs, named_inputs, "data.source", inputs),
                                                   (only_targets, named_targets, "data.target", targets)) if names]
        raise DataError(f"paired folders match images by file name without extension, but {'; '.join(parts)}; "
                        "give each input the name of its target (A/x.png pairs with B/x.jpg), or train on them as "
                        "unpaired domains with --family cyclegan")
    names = sorted(named_targets)
    decoded_inputs, skipped_inputs = _decode([named_inputs[n] for n in names])
    decoded_targets, skipped_targets = _decode([named_targets[n] for n in names])
    keep = [i for i in range(len(names)) if decoded_inputs[i] is not None and decoded_targets[i] is not None]
    skipped = skipped_inputs + skipped_targets
    if not keep:
        raise DataError(f"paired folders '{inputs}' and '{targets}': no pair of images could be read "
                        f"({_shown(skipped)}); check that they are valid png/jpg/webp/bmp files")
    if skipped:
        warn(f"skipped {len(names) - len(keep)} pair(s) with an unreadable or truncated image file: {_shown(skipped)}")
    labels, class_names = _labels([named_targets[names[i]] for i in keep], targets)
    target_images = [image for i in keep if (image := decoded_targets[i]) is not None]
    input_images = [image for i in keep if (image := decoded_inputs[i]) is not None]
    return (_to_array(target_images, resolution, channels), labels, class_names,
            _to_array(input_images, resolution, None))
