"""NumPy .npy / .npz files: (N, D) vectors or (N, H, W[, C]) / (N, C, H, W) images, labels optional."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.errors import DataError

ARRAY_KEYS = ("x", "X", "images", "data", "arr_0")
LABEL_KEYS = ("y", "labels", "targets")


def _load(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"data file '{path}' could not be read as .npy/.npz ({exc}); save it with numpy.save") from None
    if isinstance(loaded, np.ndarray):
        return loaded, None
    with loaded:
        keys = list(loaded.keys())
        data_keys = [k for k in ARRAY_KEYS if k in keys] or (keys if len(keys) == 1 else [])
        if not data_keys:
            raise DataError(f"data file '{path}' holds arrays {keys}; name the samples one of {', '.join(ARRAY_KEYS)}")
        label_keys = [k for k in LABEL_KEYS if k in keys]
        return loaded[data_keys[0]], (loaded[label_keys[0]] if label_keys else None)


def peek_kind(path: Path) -> str:
    """'image' or 'vector', from the array's shape alone."""
    array, _ = _load(path)
    return "vector" if array.ndim == 2 else "image"


def _to_uint8_images(array: np.ndarray, path: Path) -> np.ndarray:
    if array.ndim == 3:
        array = array[:, None]
    elif array.ndim == 4 and array.shape[1] not in (1, 3) and array.shape[-1] in (1, 3):
        array = array.transpose(0, 3, 1, 2)
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise DataError(f"data file '{path}' has shape {array.shape}; expected (N, D) vectors or images shaped "
                        "(N, H, W), (N, H, W, C) or (N, C, H, W) with C = 1 or 3")
    if array.shape[2] != array.shape[3]:
        raise DataError(f"data file '{path}' holds {array.shape[2]}x{array.shape[3]} images; expected square images")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise DataError(f"data file '{path}' contains NaN or infinite values; remove them first")
    low, high = float(array.min()), float(array.max())
    if low >= 0.0 and high <= 1.0:
        array = array * 255.0
    elif low >= -1.0 and high <= 1.0:
        array = (array + 1.0) * 127.5
    elif not (low >= 0.0 and high <= 255.0):
        raise DataError(f"data file '{path}': image values span [{low:g}, {high:g}]; expected [0, 1], [-1, 1] "
                        "or [0, 255]")
    return np.ascontiguousarray(np.round(array).astype(np.uint8))


def load_array_file(path: Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Returns (samples, labels or None, kind): uint8 NCHW images or float32 (N, D) vectors."""
    if not path.is_file():
        raise DataError(f"data file '{path}' does not exist; pass an existing .npy or .npz file")
    array, labels = _load(path)
    if array.dtype == object or array.ndim < 2:
        raise DataError(f"data file '{path}' has shape {array.shape} and dtype {array.dtype}; expected a numeric "
                        "array with one sample per row")
    if labels is not None and (labels.ndim != 1 or len(labels) != len(array)):
        raise DataError(f"data file '{path}': labels have shape {labels.shape}; expected one integer per sample "
                        f"({len(array)})")
    labels = None if labels is None else labels.astype(np.int64)
    if array.ndim == 2:
        vectors = array.astype(np.float32)
        if not np.isfinite(vectors).all():
            raise DataError(f"data file '{path}' contains NaN or infinite values; remove them first")
        return vectors, labels, "vector"
    return _to_uint8_images(array, path), labels, "image"
