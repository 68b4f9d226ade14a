"""Stop requests from signals, taken without a lock: ``StopSignals`` and ``Stopped``.

A Python signal handler runs on the main thread between two bytecodes, possibly inside code that
holds a lock. ``Event.set`` in a handler, with the main thread inside ``Event.set`` or
``Event.wait`` on the same event (or a second signal arriving while the first handler is inside
it), waits for a lock its own thread holds, for ever: the demo's services hung that way after a
burst of SIGTERM (issue 28). Raising from a handler is no better: the exception lands anywhere,
inside a ``finally`` that was cleaning up, or between a lock's acquire and its release.

So every handler of the console is this one: it sets plain attributes and writes a byte to a
non-blocking pipe. The main thread wakes from that pipe in ``wait`` (or polls ``requested`` in a
bounded loop) and stops at a point of its choosing. ``demo_pipeline.stopping`` has its own copy:
the demo imports nothing of the console.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Iterable
from types import FrameType
from typing import Any

__all__ = ["StopSignals", "Stopped"]


class Stopped(Exception):
    """A stop was asked for (by a signal) while something was still starting."""


class StopSignals:
    """``with StopSignals() as stop:`` (main thread) SIGINT and SIGTERM (or ``signals``) set
    ``stop.signum`` (the first one) and count in ``stop.count``; ``stop.wait(timeout)`` returns
    True once one arrived, False when ``timeout`` seconds passed first."""

    def __init__(self, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = tuple(signals)
        self.signum: int | None = None
        self.count = 0
        self._previous: dict[int, Any] = {}
        self._pipe: tuple[int, int] | None = None  # made by install(), kept for the process

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        # Plain attribute writes and one non-blocking write: no lock, no threading primitive.
        if self.signum is None:
            self.signum = signum
        self.count += 1
        if self._pipe is not None:
            with contextlib.suppress(OSError):  # a full pipe wakes the waiter all the same
                os.write(self._pipe[1], b"\0")

    def install(self) -> StopSignals:
        """Install the handler for each signal (from the main thread); ``restore`` undoes it."""
        if self._pipe is None:
            self._pipe = os.pipe()
            for fd in self._pipe:
                os.set_blocking(fd, False)
        for sig in self.signals:
            self._previous.setdefault(sig, signal.signal(sig, self._handler))
        return self

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __enter__(self) -> StopSignals:
        return self.install()

    def __exit__(self, *_exc: object) -> None:
        self.restore()

    def raise_if_requested(self, what: str) -> None:
        """``Stopped`` naming ``what`` was under way, once a signal arrived."""
        if self.requested:
            raise Stopped(f"stopped while {what}")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a signal arrived (True) or ``timeout`` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.requested:
            step = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if step <= 0:
                return False
            if self._pipe is None:  # not installed: only another thread can set the flag
                time.sleep(step)
                continue
            select.select([self._pipe[0]], [], [], step)  # bounded: the flag is read again
            with contextlib.suppress(BlockingIOError):
                os.read(self._pipe[0], 4096)
        return True
