"""A small circuit breaker: closed -> open after N consecutive failures -> half-open after a
cool-down (one trial call) -> closed on success, open again on failure.

Time comes from ``clock`` (``time.monotonic`` unless told), so a test can move it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["CircuitBreaker", "CircuitOpen"]


class CircuitOpen(Exception):
    """The breaker is open: the call was not attempted."""


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 3,
        reset_after_s: float = 5.0,
        on_change: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.on_change = on_change
        self.clock = clock
        self.state = "closed"
        self.failures = 0
        self.opened_at = 0.0
        self._lock = threading.Lock()

    def _set(self, state: str) -> None:
        old, self.state = self.state, state
        if old != state and self.on_change:
            self.on_change(old, state)

    def before_call(self) -> None:
        """Raise CircuitOpen unless a call may go out now."""
        with self._lock:
            if self.state == "open":
                if self.clock() - self.opened_at < self.reset_after_s:
                    raise CircuitOpen("license circuit open")
                self._set("half_open")

    def success(self) -> None:
        with self._lock:
            self.failures = 0
            self._set("closed")

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.state == "half_open" or self.failures >= self.failure_threshold:
                self.opened_at = self.clock()
                self._set("open")
