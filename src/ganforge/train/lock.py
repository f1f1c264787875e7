"""One writer per run folder: `train` and `resume` hold an exclusive lock on `RUN/.lock` while they run.

The lock is an advisory `flock` on a file that stays in the folder. The kernel drops it when its holder
exits for any reason (SIGKILL included), so a stale lock left by a killed process is taken over without a
check of our own; the pid written into the file only serves the message a second writer sees.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

from ganforge.atomic import FILE_MODE
from ganforge.errors import RunLocked

LOCK_NAME = ".lock"


class RunLock:
    """Exclusive, non-blocking lock on a run folder; `release()` (or process exit) frees it."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, action: str) -> None:
        """Take the lock or raise RunLocked naming the holder; `action` is what this process is about to do."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise RunLocked(f"run folder '{self.path.parent}' is in use by {holder}; cannot {action} it until that "
                            "process ends (wait for it, or stop it; a killed process frees the lock at once)") from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None
