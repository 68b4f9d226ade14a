"""What the end-to-end fault tests share: durations from the environment, process trees and
their memory, a private broker to stop and start, the store's integrity, ``tap`` as a subprocess.

Durations the issue states are the defaults; CI may shorten them with these variables:
``HANDOFF_E2E_OUTAGE_S`` (broker outage, 30), ``HANDOFF_E2E_OVERLOAD_S`` (overload, 60),
``HANDOFF_E2E_DEAD_LETTERS`` (bulk replay size, 10000), ``HANDOFF_E2E_WIRE_CASES`` (fuzzed
requests over the wire, 3000), ``HANDOFF_E2E_FUZZ_CASES`` (decoder fuzz loop, 80000).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from console.runtime.broker import Broker
from tests.conftest import ROOT, KafkaHarness

__all__ = [
    "Tap",
    "env_int",
    "integrity",
    "private_broker",
    "rss_mb",
    "wait_until",
]


def env_int(name: str, default: int) -> int:
    """An integer knob from the environment (CI shortens the long faults with these)."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MiB."""
    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total / 2**20


def integrity(db: Path) -> str:
    """``PRAGMA integrity_check`` of the store file, as another process would open it."""
    conn = sqlite3.connect(db, timeout=30)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    """Poll until ``predicate()`` is truthy; returns its value or fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


@contextlib.contextmanager
def private_broker(harness: KafkaHarness) -> Iterator[Broker]:
    """A harness broker of this test's own (it may be stopped and started); removed afterwards."""
    state = Path(tempfile.mkdtemp(prefix="handoff-e2e-broker-"))
    broker = harness.broker(state)
    try:
        broker.up(timeout=120)
        yield broker
    finally:
        broker.down()
        shutil.rmtree(state, ignore_errors=True)


class Tap:
    """``handoff-console tap`` in a subprocess, with its stderr collected on a thread."""

    def __init__(
        self, db: Path, bootstrap: str, topics: str, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.cmd = [
            sys.executable, "-m", "console", "tap", "--db", str(db), "--bootstrap", bootstrap,
            "--topics", topics, "--status-every", "2", *args,
        ]  # fmt: skip
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> Tap:
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_until(
            lambda: (
                any(line.startswith("tapping ") for line in self.lines)
                or (self.proc is not None and self.proc.poll() is not None)
            ),
            60,
            "the tap to start",
        )
        assert self.proc.poll() is None, self.output
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def hops_reported(self) -> int:
        """The hop count in the tap's last status line."""
        for line in reversed(self.lines):
            m = re.search(r"([\d,]+) hops", line)
            if m:
                return int(m.group(1).replace(",", ""))
        return 0

    def stop(self, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(5)
        return self.proc.returncode

    def __enter__(self) -> Tap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.stop()
