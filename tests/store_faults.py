"""Real store faults for the durability tests: a write lock held by another process, and a small
tmpfs (the tests run as root) that can be filled to the last byte and freed again."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["LockHolder", "SmallDisk"]

_HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")  # the RESERVED lock: no other connection can write
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin
conn.execute("ROLLBACK")
"""


class LockHolder:
    """Another process holding the store's write lock until ``release()``."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HOLD_LOCK, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the lock is held
        assert line.strip() == "locked", line

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            assert self.proc.wait(30) == 0

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class SmallDisk:
    """A tmpfs of ``size`` bytes mounted for the test; ``fill()`` takes every free byte, ``free()``
    gives them back."""

    def __init__(self, size: str = "16m") -> None:
        self.path = Path(tempfile.mkdtemp(prefix="handoff-tmpfs-"))
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(self.path)], check=True
        )
        self.filler = self.path / "filler"

    def fill(self) -> int:
        """Write a file until the filesystem says ENOSPC; returns the bytes it took."""
        written = 0
        chunk = b"\0" * 65536
        with open(self.filler, "ab", buffering=0) as f:
            for size in (65536, 4096, 512, 1):
                while True:
                    try:
                        written += f.write(chunk[:size])
                    except OSError as exc:
                        if exc.errno != errno.ENOSPC:
                            raise
                        break
        return written

    @contextlib.contextmanager
    def kept_full(self) -> Iterator[None]:
        """Full, and kept full: whatever the store gives back (a truncated WAL, pages a trim
        frees) another writer takes at once, as on a disk shared with a busier process. Without
        it a store that frees its own space recovers while the test still means "full"."""
        self.fill()
        done = threading.Event()

        def keep() -> None:
            while not done.wait(0.002):
                self.fill()

        keeper = threading.Thread(target=keep, name="disk-keeper", daemon=True)
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def free_bytes(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(self.path)], check=True)
        with contextlib.suppress(OSError):
            self.path.rmdir()


@contextlib.contextmanager
def small_disk(size: str = "16m") -> Iterator[SmallDisk]:
    disk = SmallDisk(size)
    try:
        yield disk
    finally:
        disk.close()
