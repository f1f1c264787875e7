"""IDX files (LeCun's MNIST format, also Fashion-MNIST's): a 4-byte magic number (two zero bytes, a type code, the
number of dimensions), one big-endian uint32 per dimension, then the values. Gzipped or plain."""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from ganforge.errors import DataError

__all__ = ["IMAGES_MAGIC", "LABELS_MAGIC", "IdxFolder", "find_idx_folder", "read_idx", "read_labelled"]

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (N, rows, columns)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (N)
# The four files of a set with an official split, as LeCun and Zalando name them (t10k = the 10,000 test samples).
GZIP_MAGIC = b"\x1f\x8b"
FILE_PATTERN = re.compile(r"^(train|t10k)-(images-idx3|labels-idx1)-ubyte(\.gz)?$")


def _raw(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw  # by content: a name may mislead
    except (OSError, EOFError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise DataError(f"IDX file '{path}' does not exist") from None
        raise DataError(f"IDX file '{path}' cannot be read ({error}); expected a gzipped or plain IDX file") from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array of an IDX file whose magic number must be `magic` (IMAGES_MAGIC or LABELS_MAGIC)."""
    raw = _raw(path)
    dims = magic & 0xFF
    what = f"expected magic number 0x{magic:08x} ({'images' if magic == IMAGES_MAGIC else 'labels'}, uint8, {dims}-D)"
    if len(raw) < 4 + 4 * dims:
        raise DataError(f"IDX file '{path}' has {len(raw)} bytes, too few for its header; {what}")
    found = struct.unpack(">I", raw[:4])[0]
    if found != magic:
        raise DataError(f"IDX file '{path}' has magic number 0x{found:08x}; {what}")
    shape = struct.unpack(f">{dims}I", raw[4:4 + 4 * dims])
    payload = len(raw) - 4 - 4 * dims
    expected = int(np.prod(shape, dtype=np.int64))
    if payload != expected:
        raise DataError(f"IDX file '{path}' holds {payload} bytes of data, but its header "
                        f"({' x '.join(map(str, shape))}) says {expected}: the file is truncated or damaged")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def read_labelled(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, H, W) and int64 labels (N) from an images file and its labels file."""
    images, labels = read_idx(images_path, IMAGES_MAGIC), read_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise DataError(f"IDX files '{images_path}' ({len(images)} images) and '{labels_path}' ({len(labels)} "
                        "labels) differ in length; expected one label per image")
    return images, labels.astype(np.int64)


class IdxFolder:
    """A folder holding train-images, train-labels, t10k-images and t10k-labels IDX files (each .gz or plain)."""

    KEYS = (("train", "images-idx3"), ("train", "labels-idx1"), ("t10k", "images-idx3"), ("t10k", "labels-idx1"))

    def __init__(self, root: Path, files: dict[tuple[str, str], Path]) -> None:
        self.root, self.files = root, files

    def load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Training then test samples: uint8 images (N, H, W), int64 labels, and 1 for a test sample (else 0)."""
        train = read_labelled(self.files["train", "images-idx3"], self.files["train", "labels-idx1"])
        test = read_labelled(self.files["t10k", "images-idx3"], self.files["t10k", "labels-idx1"])
        if train[0].shape[1:] != test[0].shape[1:]:
            raise DataError(f"IDX folder '{self.root}': training images are {train[0].shape[1:]} px, test images "
                            f"{test[0].shape[1:]} px; expected one size")
        marker = np.concatenate([np.zeros(len(train[0]), np.int64), np.ones(len(test[0]), np.int64)])
        return np.concatenate([train[0], test[0]]), np.concatenate([train[1], test[1]]), marker


def idx_files(root: Path) -> dict[tuple[str, str], Path]:
    """The IDX files of a folder by (split, kind); a plain file wins over its .gz twin."""
    found: dict[tuple[str, str], Path] = {}
    for path in sorted(root.iterdir(), key=lambda p: p.name.endswith(".gz")):
        match = FILE_PATTERN.match(path.name)
        if match and path.is_file():
            found.setdefault((match.group(1), match.group(2)), path)
    return found


def find_idx_folder(root: Path) -> IdxFolder | None:
    """The folder as an IdxFolder if it holds IDX files (DataError naming the missing ones if not all four), else
    None (not an IDX folder)."""
    try:
        found = idx_files(root)
    except OSError:
        return None
    if not found:
        return None
    missing = [f"{split}-{kind}-ubyte(.gz)" for split, kind in IdxFolder.KEYS if (split, kind) not in found]
    if missing:
        raise DataError(f"IDX folder '{root}' lacks {', '.join(missing)}; expected the four files "
                        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                        "t10k-labels-idx1-ubyte (each may be .gz)")
    return IdxFolder(root, found)
