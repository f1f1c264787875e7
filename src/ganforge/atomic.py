"""Crash-safe writes: temp file in the same folder, flush, fsync, rename. Readers see old or new, never half.

Temporary files carry the writer's pid (`.NAME.PID.XXXX.tmp`), so a later run can remove those a killed
process left behind without touching a live writer's. Files get the usual umask-respecting mode (0666 & ~umask),
not mkstemp's private 0600, so a colleague in the same group can read the run.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from safetensors.torch import load as tensors_from_bytes
from safetensors.torch import save as tensors_to_bytes


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_current_umask()
TEMP_NAME = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success it is fsynced and renamed onto `target`."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temp_path = Path(temp)
    try:
        os.chmod(temp_path, FILE_MODE)
        yield temp_path
        with open(temp_path, "rb+") as handle:
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_path, target)
        fsync_dir(target.parent)
    except OSError as exc:
        if exc.filename is None:  # a library's own I/O error: say which file it was writing
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
        raise
    finally:
        with contextlib.suppress(OSError):
            temp_path.unlink(missing_ok=True)


def write_atomic(target: str | Path, writer: Callable[[Path], None]) -> None:
    with atomic_path(target) as temp:
        writer(temp)


def write_text_atomic(target: str | Path, text: str) -> None:
    with atomic_path(target) as temp:
        temp.write_text(text, encoding="utf-8")


def save_tensors(tensors: dict[str, torch.Tensor], target: str | Path) -> None:
    """safetensors file written atomically through Python's own I/O, so a full disk is a plain OSError."""
    payload = tensors_to_bytes(tensors)
    write_atomic(target, lambda temp: temp.write_bytes(payload))


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file (OSError if unreadable, SafetensorError if not safetensors)."""
    return tensors_from_bytes(Path(path).read_bytes())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete temporary files of atomic writes whose writer is no longer running; returns them."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = TEMP_NAME.match(path.name)
        if match and path.is_file() and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed
