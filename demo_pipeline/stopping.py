"""Stop requests from signals, taken without a lock, and steps of a stop that may give up.

A Python signal handler runs on the main thread between two bytecodes, possibly inside code that
holds a lock: ``Event.set`` in a handler, with the main thread inside ``Event.set`` or
``Event.wait`` on the same event (or a second signal arriving while the first handler is inside
it), waits for a lock its own thread holds, for ever. So the handler here only sets plain
attributes and writes a byte to a non-blocking pipe; the main thread wakes from that pipe in
``wait`` and reads the flag.

(The console has its own copy in ``console.runtime.stop_signals``: the demo talks to the console
only through OTLP and Kafka, so it imports nothing of it.)
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

__all__ = ["StopSignals", "parent_gone", "run_bounded"]


class StopSignals:
    """``with StopSignals() as stop:`` SIGINT and SIGTERM set ``stop.signum`` and count in
    ``stop.count``; ``stop.wait(timeout)`` returns once one arrived (True) or the time is up."""

    def __init__(self, signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = tuple(signals)
        self.signum: int | None = None  # the first signal received
        self.count = 0  # signals received so far
        self._previous: dict[int, Any] = {}
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        # Plain attribute writes and one non-blocking write: no lock, no threading primitive.
        if self.signum is None:
            self.signum = signum
        self.count += 1
        with contextlib.suppress(OSError):  # a full pipe already wakes the waiter
            os.write(self._w, b"\0")

    def __enter__(self) -> StopSignals:
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        os.close(self._r)
        os.close(self._w)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a signal arrived (True) or ``timeout`` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.requested:
            step = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if step <= 0:
                return False
            select.select([self._r], [], [], step)  # bounded: the flag is read again anyway
            with contextlib.suppress(BlockingIOError):
                os.read(self._r, 4096)
        return True


def run_bounded(steps: dict[str, Callable[[], object]], deadline: float) -> list[str]:
    """Run ``steps`` at once, each in a daemon thread, until ``deadline`` (time.monotonic()).

    Returns the names of the steps that had not finished by then, or that raised: what the stop
    gave up on. A step still running is left behind (the process exits without it)."""
    failed: list[str] = []

    def run(name: str, step: Callable[[], object]) -> None:
        try:
            step()
        except Exception:
            failed.append(name)

    threads = {
        name: threading.Thread(target=run, args=(name, step), name=f"stop-{name}", daemon=True)
        for name, step in steps.items()
    }
    for t in threads.values():
        t.start()
    for t in threads.values():
        t.join(max(0.0, deadline - time.monotonic()))
    return sorted({*failed, *(name for name, t in threads.items() if t.is_alive())})


def parent_gone() -> bool:
    """Started by ``handoff-console demo`` (``HANDOFF_DEMO_PARENT_PID``), and that process is
    gone: nobody waits for a summary, so a stop need not drain."""
    parent = os.environ.get("HANDOFF_DEMO_PARENT_PID")
    return bool(parent) and os.getppid() != int(parent or 0)
