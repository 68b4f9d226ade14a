"""One writing process per store file: the writer guard.

Each writer applies its own retention and keeps its own recent-duplicates window, so two writing
processes on one file (a ``serve`` and a ``tui`` without ``--attach``) would trim under each
other and dedupe against half the traffic each. The first writer takes an exclusive
``fcntl.flock`` on a sidecar file (``<db>.writer``, owner-only) and writes its pid and command
there; a second writing process is refused in one line naming the first and ``--attach``.

The lock belongs to the open file: it goes when the process exits, however it exits (``kill -9``
included), so no stale guard is ever left behind; the pid and command left in the file are read
only while someone holds the lock. Writers in one process share the lock (counted).
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from pathlib import Path

from console.base.errors import StoreError

__all__ = ["WriterBusy", "WriterGuard", "guard_path"]


class WriterBusy(StoreError):
    """Another process writes this store."""


def guard_path(db: Path) -> Path:
    return db.with_name(db.name + ".writer")


def _command() -> str:
    argv = sys.argv or ["?"]
    name = Path(argv[0]).name
    if name in ("__main__.py", "handoff-console"):
        name = "handoff-console"
    return " ".join([name, *argv[1:]])[:200]


_held: dict[str, tuple[int, int]] = {}  # resolved path -> (fd, writers in this process)
_lock = threading.Lock()


class WriterGuard:
    """``WriterGuard.acquire(db)`` or ``WriterBusy``; ``release()`` when the writer closes."""

    def __init__(self, key: str) -> None:
        self._key: str | None = key

    @classmethod
    def acquire(cls, db: Path) -> WriterGuard:
        path = guard_path(Path(db).resolve())
        key = str(path)
        with _lock:
            held = _held.get(key)
            if held is not None:
                _held[key] = (held[0], held[1] + 1)
                return cls(key)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise WriterBusy(
                    f"{db} already has a writer: {holder}; stop it first, or watch alongside "
                    f"it with `handoff-console tui --attach --db {db}`"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {_command()}\n".encode(), 0)
            _held[key] = (fd, 1)
        return cls(key)

    def release(self) -> None:
        with _lock:
            key, self._key = self._key, None
            if key is None or key not in _held:
                return
            fd, n = _held[key]
            if n > 1:
                _held[key] = (fd, n - 1)
                return
            del _held[key]
            os.close(fd)  # closing the file releases the lock


def _holder(fd: int, wait_s: float = 1.0) -> str:
    """``pid N (command)`` of the process holding the lock (it writes them just after taking
    it: wait a moment for them)."""
    deadline = time.monotonic() + wait_s
    while True:
        text = os.pread(fd, 1024, 0).decode(errors="replace").strip()
        if text or time.monotonic() >= deadline:
            break
        time.sleep(0.01)
    pid, _, command = text.partition(" ")
    if not pid:
        return "another process"
    return f"pid {pid} ({command})"
