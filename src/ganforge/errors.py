"""Errors a user (or the machine) can cause: each names the input, what was expected and how to fix it."""

from __future__ import annotations

import errno
import os
import signal


class GanforgeError(Exception):
    """Base class: the CLI prints these in one line and exits with status 2."""


class ConfigError(GanforgeError):
    """A config key, value or file is wrong."""


class DataError(GanforgeError):
    """A data source is missing, empty, unreadable or too small."""


class CheckpointError(GanforgeError):
    """A run folder or checkpoint is missing, damaged or belongs to another run."""


class TrainingDiverged(GanforgeError):
    """A loss, gradient or weight became NaN or infinite; the last good checkpoint is kept."""


class RunLocked(GanforgeError):
    """Another process is training or resuming this run folder."""


class StorageError(GanforgeError):
    """The file system refused a read or write (permissions, read-only, full disk, not a folder)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a kill) stopped a run; the message says what was kept. The CLI prints it and exits with the
    shell's status for that signal: 130 for SIGINT, 143 for SIGTERM."""

    def __init__(self, message: str, signal_number: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signal_number = int(signal_number)


HINTS = {
    errno.ENOSPC: "free some space or choose --out on another disk",
    errno.EDQUOT: "free some space or choose --out on another disk",
    errno.EROFS: "the file system is read-only; choose a writable --out",
    errno.EACCES: "you may not write there; choose a writable --out or change the folder's permissions",
    errno.EPERM: "the operation is not permitted there; choose an ordinary folder for --out",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
    errno.EISDIR: "a folder stands where a file is expected; remove or rename it",
    errno.ENOENT: "a folder on the path does not exist or cannot be created there; choose another path",
}


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: which file, what the system said, and what to do."""
    where = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc) or type(exc).__name__
    hint = HINTS.get(exc.errno or 0, "check the path and the disk")
    return f"cannot use '{os.fspath(where)}': {reason}; {hint}"
