"""NumPy .npy / .npz files: (N, D) vectors or (N, H, W[, C]) / (N, C, H, W) images, labels optional."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganforge.errors import DataError

ARRAY_KEYS = ("x", "X", "images", "data", "arr_0")
LABEL_KEYS = ("y", "labels", "targets")
CONDITION_KEYS = ("c", "condition", "conditions")  # a float vector per sample to condition on (e.g. an embedding)


def _load(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"data file '{path}' could not be read as .npy/.npz ({exc}); save it with numpy.save") from None
    if isinstance(loaded, np.ndarray):
        return loaded, None, None
    with loaded:
        keys = list(loaded.keys())
        data_keys = [k for k in ARRAY_KEYS if k in keys] or (keys if len(keys) == 1 else [])
        if not data_keys:
            raise DataError(f"data file '{path}' holds arrays {keys}; name the samples one of {', '.join(ARRAY_KEYS)}")
        label_keys = [k for k in LABEL_KEYS if k in keys]
        condition_keys = [k for k in CONDITION_KEYS if k in keys]
        return (loaded[data_keys[0]], loaded[label_keys[0]] if label_keys else None,
                loaded[condition_keys[0]] if condition_keys else None)


def peek_kind(path: Path) -> str:
    """'image' or 'vector', from the array's shape alone."""
    array, _, _ = _load(path)
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


def _check_labels(labels: np.ndarray, count: int, path: Path) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != count:
        raise DataError(f"data file '{path}': labels have shape {labels.shape}; expected one integer per sample "
                        f"({count})")
    integral = np.issubdtype(labels.dtype, np.integer) or (
        np.issubdtype(labels.dtype, np.floating) and np.isfinite(labels).all() and (labels == np.round(labels)).all())
    if not integral or (len(labels) and labels.min() < 0):
        raise DataError(f"data file '{path}': labels must be integers >= 0 (class indices); got dtype {labels.dtype}"
                        + (f" with values such as {labels.flat[0]!r}" if labels.size else ""))
    return labels.astype(np.int64)


def _check_conditions(conditions: np.ndarray, count: int, path: Path) -> np.ndarray:
    if conditions.ndim != 2 or len(conditions) != count or not np.issubdtype(conditions.dtype, np.number):
        raise DataError(f"data file '{path}': conditions 'c' have shape {conditions.shape} and dtype "
                        f"{conditions.dtype}; expected numbers shaped ({count}, D): one vector per sample")
    vectors = conditions.astype(np.float32)
    if not np.isfinite(vectors).all():
        raise DataError(f"data file '{path}': conditions 'c' contain NaN or infinite values; remove them first")
    return vectors


def load_array_file(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """Returns (samples, labels or None, condition vectors or None, kind): uint8 NCHW images or float32 (N, D)
    vectors."""
    if not path.is_file():
        raise DataError(f"data file '{path}' does not exist; pass an existing .npy or .npz file")
    array, labels, conditions = _load(path)
    if array.dtype == object or array.ndim < 2:
        raise DataError(f"data file '{path}' has shape {array.shape} and dtype {array.dtype}; expected a numeric "
                        "array with one sample per row")
    labels = None if labels is None else _check_labels(labels, len(array), path)
    conditions = None if conditions is None else _check_conditions(conditions, len(array), path)
    if array.ndim == 2:
        vectors = array.astype(np.float32)
        if not np.isfinite(vectors).all():
            raise DataError(f"data file '{path}' contains NaN or infinite values; remove them first")
        return vectors, labels, conditions, "vector"
    return _to_uint8_images(array, path), labels, conditions, "image"
