"""``handoff-console demo`` as a user runs it: headless with a summary, and Ctrl+C stopping
everything it started, the broker harness included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from tests.conftest import ROOT, run_cli
from tests.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.kafka


def _prefix() -> str:
    return f"c{uuid.uuid4().hex[:8]}.canvasflow"


def test_headless_demo_prints_a_json_summary(kafka_bootstrap: str, db_path: object) -> None:
    rx = OtlpReceiver().start()
    try:
        res = run_cli(
            "demo",
            "--headless",
            "--duration",
            "10",
            "--db",
            str(db_path),
            "--json",
            "--bootstrap",
            kafka_bootstrap,
            "--otlp-endpoint",
            rx.endpoint,
            "--topic-prefix",
            _prefix(),
            "--poison-rate",
            "0.3",
            "--flaky-rate",
            "0.3",
            "--rate",
            "3",
            "--seed",
            "5",
        )
    finally:
        rx.stop()
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["events_produced"] > summary["uploads"] > 10
    assert summary["journeys_completed"] >= 1
    assert summary["dead_letters"].get("contract-violation", 0) >= 1
    assert len(rx.received.services()) == 8


def test_demo_rejects_a_rate_outside_zero_to_one() -> None:
    res = run_cli("demo", "--headless", "--poison-rate", "1.5", "--bootstrap", "127.0.0.1:1")
    assert res.returncode == 2
    assert "--poison-rate must be between 0 and 1" in res.stderr


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "console", "demo", "--headless", "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _interrupt_and_check(proc: subprocess.Popen[str], rx: OtlpReceiver) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while len(rx.received.services()) < 8 and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.5)
    assert len(rx.received.services()) == 8
    family = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    _gone, alive = psutil.wait_procs(family, timeout=5)
    assert not alive, f"left running: {alive}"
    return json.loads(out.strip().splitlines()[-1])


def test_ctrl_c_stops_the_demo_cleanly(kafka_bootstrap: str) -> None:
    rx = OtlpReceiver().start()
    env = {**os.environ, "HANDOFF_KAFKA_BOOTSTRAP": kafka_bootstrap}
    proc = _start(["--otlp-endpoint", rx.endpoint, "--topic-prefix", _prefix()], env)
    try:
        summary = _interrupt_and_check(proc, rx)
    finally:
        if proc.poll() is None:
            proc.kill()
        rx.stop()
    assert summary["uploads"] > 0


def test_ctrl_c_also_stops_the_broker_the_demo_started(tmp_path: object) -> None:
    rx = OtlpReceiver().start()
    env = {k: v for k, v in os.environ.items() if k != "HANDOFF_KAFKA_BOOTSTRAP"}
    proc = _start(["--otlp-endpoint", rx.endpoint, "--rate", "1"], env)
    try:
        summary = _interrupt_and_check(proc, rx)
    finally:
        if proc.poll() is None:
            proc.kill()
        rx.stop()
    bootstrap = str(summary["bootstrap"])
    assert bootstrap != "127.0.0.1:9092"
    port = int(bootstrap.rsplit(":", 1)[1])
    listening = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == "LISTEN"}
    assert port not in listening
