"""Nothing outlives the demo: however ``demo --headless`` ends (SIGTERM, SIGHUP, ``kill -9``), the
broker it started is gone within a deadline, and so are its services and its state directory (after
``kill -9``, which leaves no chance to clean up, the next start removes the directory)."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT, KafkaHarness
from tests.tap_helpers import wait_for

PREFIX = "handoff-demo-broker-"


def _demo(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "console", "demo", "--headless", "--json", "--rate", "1",
         "--db", str(tmp_path / "h.db"), "--topic-prefix", f"life{uuid.uuid4().hex[:6]}", *args],
        stdout=subprocess.DEVNULL, stderr=(tmp_path / "demo.log").open("ab"), env=env, cwd=ROOT,
    )  # fmt: skip


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:  # ended meanwhile (the storage format step, say)
        return ""


def _started(proc: subprocess.Popen[bytes], tmpdir: Path, log: Path) -> tuple[Path, int]:
    """Wait until the demo's services run (its broker is up by then): its state dir and broker."""

    def services_up() -> bool:
        assert proc.poll() is None, log.read_text()
        return any("demo_pipeline" in _cmdline(p) for p in psutil.Process(proc.pid).children(True))

    wait_for(services_up, timeout=240, what="the demo's services")
    [state] = tmpdir.glob(f"{PREFIX}*")
    pid = int((state / "broker.pid").read_text())
    assert "kafka.Kafka" in psutil.Process(pid).cmdline()
    return state, pid


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _env(kafka_harness: KafkaHarness, tmpdir: Path) -> dict[str, str]:
    tmpdir.mkdir(exist_ok=True)
    return {**kafka_harness.env, "TMPDIR": str(tmpdir)}


#: What a closing terminal, an impatient user and a supervisor send: 200 signals back to back.
BURST = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP] * 67


@pytest.mark.parametrize(
    "sigs", [[signal.SIGTERM], [signal.SIGHUP], BURST], ids=["SIGTERM", "SIGHUP", "burst"]
)
def test_a_signal_stops_the_broker_and_removes_its_state(
    tmp_path: Path, kafka_harness: KafkaHarness, sigs: list[signal.Signals]
) -> None:
    tmpdir = tmp_path / "tmp"
    proc = _demo(tmp_path, _env(kafka_harness, tmpdir))
    try:
        state, broker = _started(proc, tmpdir, tmp_path / "demo.log")
        family = psutil.Process(proc.pid).children(recursive=True)
        for sig in sigs:
            proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "demo.log").read_text()[-3000:]
    # Its summary (0), or 128 + the signal that stopped it when the services were still starting
    # (in a burst, any of them: the kernel delivers pending signals lowest number first).
    assert proc.returncode in (0, *(128 + s for s in set(sigs))), log
    wait_for(lambda: _gone(broker), timeout=30, what=f"broker {broker} to end")
    _ended, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, f"left running: {alive}\n{log}"
    assert not state.exists(), f"{sorted(p.name for p in state.iterdir())}\n{log}"


def test_kill_9_takes_the_broker_along_and_the_next_start_removes_its_state(
    tmp_path: Path, kafka_harness: KafkaHarness, kafka_bootstrap: str
) -> None:
    tmpdir = tmp_path / "tmp"
    env = _env(kafka_harness, tmpdir)
    proc = _demo(tmp_path, env)
    try:
        state, broker = _started(proc, tmpdir, tmp_path / "demo.log")
        family = psutil.Process(proc.pid).children(recursive=True)
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    wait_for(lambda: _gone(broker), timeout=30, what=f"broker {broker} to end")
    _ended, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, f"left running: {alive}"
    assert state.exists()  # nobody was left to remove it: the next start does

    again = _demo(tmp_path, env, "--bootstrap", kafka_bootstrap, "--duration", "1")
    assert again.wait(timeout=180) == 0, (tmp_path / "demo.log").read_text()[-3000:]
    assert not state.exists()
    assert list(tmpdir.glob(f"{PREFIX}*")) == []
