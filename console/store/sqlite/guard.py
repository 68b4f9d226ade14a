"""Who may write a store file beside whom: the writer guard.

Two things in a writer belong to one process: retention (by age and size: two writers trimming
the same file would trim under each other) and the recent-duplicates window of log records and
metric points (records with no id: a resend is recognised only by the writer that stored the
first copy). So:

* An **exclusive** writer (``serve``, ``tui`` without ``--attach``, ``demo``) is the only writer of
  its file. It takes an exclusive ``fcntl.flock`` on ``<db>.writer`` (owner-only), writes its pid
  and command there, and an exclusive lock on ``<db>.shared``; a second writing process of any
  kind is refused in one line naming the first and ``--attach``.
* A **shared** writer (``tap``: its records are hops and dead letters, each keyed by its Kafka
  coordinates and found in the store inside the write transaction, whichever process stored
  it: ``ingest.py``) takes a shared lock on ``<db>.shared``, so any number of taps in one consumer
  group can write one file. It is refused beside an exclusive writer. One of them, the one that
  holds ``<db>.writer``, is the **owner**: it alone runs retention. The others ask again on each
  of their retention rounds (``try_own``), so when the owner stops, another tap takes retention
  over.

A lock belongs to its open file: it goes when the process exits, however it exits (``kill -9``
included), so no stale guard is ever left behind; the pid and command left in ``<db>.writer`` are
read only while someone holds its lock. Writers in one process share the locks (counted).
"""

from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from console.base.errors import StoreError

__all__ = ["WriterBusy", "WriterGuard", "guard_path", "shared_path"]


class WriterBusy(StoreError):
    """Another process writes this store."""


def guard_path(db: Path) -> Path:
    return db.with_name(db.name + ".writer")


def shared_path(db: Path) -> Path:
    return db.with_name(db.name + ".shared")


def _command() -> str:
    argv = sys.argv or ["?"]
    name = Path(argv[0]).name
    if name in ("__main__.py", "handoff-console"):
        name = "handoff-console"
    return " ".join([name, *argv[1:]])[:200]


@dataclass
class _Held:
    """This process's locks on one store: ``owner_fd`` set while it holds ``<db>.writer``."""

    shared_fd: int
    owner_fd: int | None
    writers: int = 1


_held: dict[str, _Held] = {}  # resolved path of <db>.writer -> this process's locks
_lock = threading.Lock()


class WriterGuard:
    """``WriterGuard.acquire(db, shared=...)`` or ``WriterBusy``; ``release()`` when the writer
    closes; ``owner`` says whether this process runs the store's retention."""

    def __init__(self, key: str) -> None:
        self._key: str | None = key

    @classmethod
    def acquire(cls, db: Path, *, shared: bool = False) -> WriterGuard:
        resolved = Path(db).resolve()
        key = str(guard_path(resolved))
        with _lock:
            held = _held.get(key)
            if held is None:
                _held[key] = _take(db, resolved, shared)
            else:  # this process writes it already: its writers share its locks
                held.writers += 1
        return cls(key)

    @property
    def owner(self) -> bool:
        """True while this process holds ``<db>.writer``: it runs retention."""
        with _lock:
            held = _held.get(self._key or "")
            return held is not None and held.owner_fd is not None

    def try_own(self) -> bool:
        """A shared writer that is not the owner: take ownership if nobody holds it now."""
        with _lock:
            held = _held.get(self._key or "")
            if held is None:
                return False
            if held.owner_fd is None:
                held.owner_fd = _try_owner(Path(self._key or ""))
            return held.owner_fd is not None

    def release(self) -> None:
        with _lock:
            key, self._key = self._key, None
            held = _held.get(key or "")
            if key is None or held is None:
                return
            if held.writers > 1:
                held.writers -= 1
                return
            del _held[key]
            if held.owner_fd is not None:
                os.close(held.owner_fd)  # closing the file releases the lock
            os.close(held.shared_fd)


def _take(db: Path, resolved: Path, shared: bool) -> _Held:
    """Take this process's locks on a store no writer of this process holds yet."""
    owner_path = guard_path(resolved)
    if shared:
        shared_fd = _open(shared_path(resolved))
        if not _flock(shared_fd, fcntl.LOCK_SH):
            os.close(shared_fd)
            raise WriterBusy(
                f"{db} already has a writer: {_holder(owner_path)}; taps share a store only "
                f"with other taps: stop it first, or give the tap another --db"
            )
        # The owner runs retention; a tap that is not the owner asks again later (try_own).
        return _Held(shared_fd=shared_fd, owner_fd=_try_owner(owner_path))
    owner_fd = _open(owner_path)
    if not _flock(owner_fd, fcntl.LOCK_EX):
        os.close(owner_fd)
        raise WriterBusy(
            f"{db} already has a writer: {_holder(owner_path)}; stop it first, or watch "
            f"alongside it with `handoff-console tui --attach --db {db}`"
        )
    _mark(owner_fd)
    shared_fd = _open(shared_path(resolved))
    if not _flock(shared_fd, fcntl.LOCK_EX):  # taps write it (their owner, if any, just left)
        os.close(shared_fd)
        os.close(owner_fd)
        raise WriterBusy(
            f"{db} already has writers: taps (`handoff-console tap`); stop them first, or "
            f"watch alongside them with `handoff-console tui --attach --db {db}`"
        )
    return _Held(shared_fd=shared_fd, owner_fd=owner_fd)


def _try_owner(owner_path: Path) -> int | None:
    fd = _open(owner_path)
    if not _flock(fd, fcntl.LOCK_EX):
        os.close(fd)
        return None
    _mark(fd)
    return fd


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _flock(fd: int, mode: int) -> bool:
    """Take the lock without waiting; False when another process holds it."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except BaseException:
        os.close(fd)
        raise
    return True


def _mark(fd: int) -> None:
    """Who holds ``<db>.writer``: its pid and command, read by the next writer refused."""
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {_command()}\n".encode(), 0)


def _holder(owner_path: Path, wait_s: float = 1.0) -> str:
    """``pid N (command)`` of the process holding ``<db>.writer`` (it writes them just after
    taking it: wait a moment for them)."""
    try:
        fd = os.open(owner_path, os.O_RDONLY)
    except OSError:
        return "another process"
    try:
        deadline = time.monotonic() + wait_s
        while True:
            text = os.pread(fd, 1024, 0).decode(errors="replace").strip()
            if text or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
    finally:
        os.close(fd)
    pid, _, command = text.partition(" ")
    if not pid:
        return "another process"
    return f"pid {pid} ({command})"
