"""An exclusive lock on a data directory, so two nodes never share one (as Core's .lock).

``fcntl.flock`` on ``DATADIR/.lock``: the kernel drops it when the process dies, even by
SIGKILL, so a crashed node never leaves a stale lock behind. The holder's pid is written into
the file for humans; the lock itself, not the pid, is what counts.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILENAME = ".lock"


class DataDirLockedError(RuntimeError):
    """Another process holds the data directory."""


class DataDirLock:
    """Hold with ``with DataDirLock(path):`` or :meth:`acquire` / :meth:`release`."""

    def __init__(self, datadir: str | Path) -> None:
        self.path = Path(datadir) / LOCK_FILENAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            try:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            finally:
                os.close(fd)
            raise DataDirLockedError(
                f"Cannot obtain a lock on data directory {self.path.parent}. wattchain is "
                f"probably already running{f' (pid {holder})' if holder else ''}.") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "DataDirLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
