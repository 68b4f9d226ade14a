"""A burst of signals ends every long-running entry point: 200 SIGINT and SIGTERM back to back,
and the process is gone within 10 s, in 10 runs of 10 (issue 28).

A terminal that closes sends SIGHUP and SIGTERM, an impatient user presses Ctrl+C twice, a
supervisor sends bursts. A handler that took a lock (``Event.set``) deadlocked its own main thread
when a second signal arrived while the first handler held it, and the demo's services hung for
ever. No broker: Kafka and OTLP point at a port that is bound but refuses every connection, so
each stop also has to give up on clients that cannot reach anything.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.tap_helpers import wait_for

RUNS = 10
BURST = 200  # signals, SIGINT and SIGTERM in turn
EXIT_WITHIN_S = 10.0


@pytest.fixture
def nothing() -> Iterator[str]:
    """``127.0.0.1:PORT`` where nothing listens (held bound, so nothing else takes it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{s.getsockname()[1]}"


def _catches_sigterm(pid: int) -> bool:
    """The process has installed its own SIGTERM handler (``SigCgt`` in /proc/PID/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(ln for ln in status.splitlines() if ln.startswith("SigCgt:")).split()[1], 16)
    return bool(caught >> (signal.SIGTERM - 1) & 1)


def _tail(log: Path) -> str:
    """The log without librdkafka's connection failures (there is no broker), last 3,000 chars."""
    lines = [ln for ln in log.read_text().splitlines() if not ln.startswith("%")]
    return "\n".join(lines)[-3000:]


def _burst_and_wait(cmd: list[str], ready: str | None, log: Path) -> int:
    """Start ``cmd``; once ``ready`` is on its stderr (None: once it catches SIGTERM) send the
    burst; return its exit code, failing when it is still there ``EXIT_WITHIN_S`` later."""
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:

        def started() -> bool:
            assert proc.poll() is None, f"exited early ({proc.returncode}): {_tail(log)}"
            return _catches_sigterm(proc.pid) and (ready is None or ready in log.read_text())

        wait_for(started, timeout=60, what=f"{ready or 'a SIGTERM handler'} from {cmd[2:4]}")
        sent = time.monotonic()
        for i in range(BURST):
            os.kill(proc.pid, signal.SIGTERM if i % 2 else signal.SIGINT)
        try:
            code = proc.wait(EXIT_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {EXIT_WITHIN_S:g} s after the burst:\n{_tail(log)}")
        assert time.monotonic() - sent < EXIT_WITHIN_S
        return code
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _runs(cmd: list[str], ready: str | None, tmp_path: Path) -> list[tuple[int, str]]:
    out = []
    for run in range(RUNS):
        log = tmp_path / f"run{run}.err"
        out.append((_burst_and_wait(cmd, ready, log), log.read_text()))
    return out


def _services(nothing: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "demo_pipeline", "--bootstrap", nothing,
            "--otlp-endpoint", nothing, "--json", *extra]  # fmt: skip


def test_the_services_creating_their_topics_stop_on_a_burst(nothing: str, tmp_path: Path) -> None:
    for code, err in _runs(_services(nothing), None, tmp_path):
        # Stopped before any service ran: the exit code says which signal ended it.
        assert code in (128 + signal.SIGINT, 128 + signal.SIGTERM), err
        assert "stopped while creating the topics" in err


def test_the_running_services_stop_on_a_burst_and_say_what_they_gave_up(
    nothing: str, tmp_path: Path
) -> None:
    cmd = _services(nothing, "--no-create-topics", "--rate", "50")
    for code, err in _runs(cmd, "services running", tmp_path):
        # Their uploads could not reach a broker: the stop gave up on them, and says so.
        assert code == 1, err
        assert "the stop gave up" in err and "records undelivered" in err


def test_serve_with_a_tap_stops_on_a_burst(nothing: str, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "console", "serve", "--db", str(tmp_path / "h.db"),
           "--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0",
           "--topics", "orders", "--bootstrap", nothing]  # fmt: skip
    for code, err in _runs(cmd, "store:", tmp_path):
        assert code == 0, err
        assert "stopped: 0 records committed" in err


def test_tap_stops_on_a_burst(nothing: str, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "console", "tap", "--db", str(tmp_path / "h.db"),
           "--topics", "orders", "--bootstrap", nothing]  # fmt: skip
    for code, err in _runs(cmd, "tapping", tmp_path):
        assert code == 0, err
        assert "stopped: 0 hops" in err
