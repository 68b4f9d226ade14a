"""``handoff-console demo`` as a user runs it: headless with a summary, and Ctrl+C stopping
everything it started, the broker harness included."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from tests import stored
from tests.conftest import ROOT, KafkaHarness, run_cli


def _prefix() -> str:
    return f"c{uuid.uuid4().hex[:8]}.canvasflow"


SERVICES = {
    "canvasflow-upload", "canvasflow-image-processor", "canvasflow-catalog", "canvasflow-license",
    "canvasflow-storefront", "canvasflow-order-orchestrator", "canvasflow-fulfillment",
    "canvasflow-notification",
}  # fmt: skip


def _header(headers: tuple[tuple[str, bytes | None], ...], name: str) -> str | None:
    found = None
    for key, value in headers:
        if key == name:
            found = value.decode() if value is not None else None
    return found


def test_headless_demo_fills_the_store_through_the_collector_and_tap(
    kafka_bootstrap: str, db_path: Path
) -> None:
    prefix = _prefix()
    res = run_cli(
        "demo", "--headless", "--duration", "20", "--db", str(db_path), "--json",
        "--bootstrap", kafka_bootstrap, "--topic-prefix", prefix,
        "--poison-rate", "0.25", "--flaky-rate", "0.3", "--rate", "3", "--seed", "5",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["events_produced"] > summary["uploads"] > 30
    assert summary["journeys_completed"] >= 5
    assert summary["dead_letters"].get("contract-violation", 0) >= 2
    assert summary["store"]["spans"] > 100 and summary["store"]["dead_letters"] >= 2

    db = sqlite3.connect(db_path)
    spans = stored.spans(db)
    services = {sp.service for sp in spans}
    assert services >= SERVICES
    # the license call: an HTTP client span in catalog, its server span in license
    clients = {
        (c.trace_id, c.span_id): c
        for c in spans
        if c.service == "canvasflow-catalog" and c.kind == 3
    }
    pair = [
        clients[(s.trace_id, s.parent_span_id or "")].correlation_id
        for s in spans
        if s.service == "canvasflow-license" and s.kind == 2
        and (s.trace_id, s.parent_span_id) in clients
    ]  # fmt: skip
    assert pair and all(pair)
    # completed journeys: OrderShipped on the status topic, for correlation ids of uploads
    hops = stored.hops(db)
    uploads = {h.correlation_id for h in hops if h.topic == f"{prefix}.uploads"}
    shipped = {
        h.correlation_id for h in hops
        if h.topic == f"{prefix}.order-status"
        and _header(h.headers, "event-type") == "OrderShipped"
    }  # fmt: skip
    assert len(shipped) == summary["journeys_completed"]
    assert shipped <= uploads
    # dead letters, decoded by the tap from the Spring headers
    dead = db.execute(
        "SELECT convention, original_topic, original_offset, consumer_group, exception_class,"
        " exception_cause_class FROM dead_letters"
    ).fetchall()
    assert len(dead) == summary["dead_letters_total"]
    for convention, topic, offset, group, *_ in dead:
        assert convention == "spring" and topic.startswith(prefix) and offset >= 0
        assert group.startswith(prefix)
    assert (
        "demo_pipeline.contracts.ContractViolation",
        "jsonschema.exceptions.ValidationError",
    ) in {(exc, cause) for *_, exc, cause in dead}

    # The console judges the same store as the demo counted it, retries through the retry
    # topics included.
    counts = {}
    for status in ("completed", "dead_lettered", "failed"):
        listed = run_cli(
            "journeys", "--status", status, "--json", "--limit", "100000", "--db", str(db_path)
        )
        assert listed.returncode == 0, listed.stderr
        counts[status] = len(json.loads(listed.stdout))
    assert summary["retries"] > 0
    assert counts == {
        "completed": summary["journeys_completed"],
        "dead_lettered": summary["dead_letters_total"],
        "failed": summary["journeys_failed"],
    }


def test_demo_rejects_a_rate_outside_zero_to_one() -> None:
    res = run_cli("demo", "--headless", "--poison-rate", "1.5", "--bootstrap", "127.0.0.1:1")
    assert res.returncode == 2
    assert "--poison-rate must be between 0 and 1" in res.stderr


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "console", "demo", "--headless", "--json", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
    )  # fmt: skip


def _services(db_path: Path) -> set[str]:
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=1)) as db:
            return {sp.service for sp in stored.spans(db)}
    except sqlite3.Error:
        return set()


def _interrupt_and_check(proc: subprocess.Popen[str], db_path: Path) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while _services(db_path) < SERVICES and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.5)
    assert _services(db_path) >= SERVICES, f"services seen: {sorted(_services(db_path))}"
    family = psutil.Process(proc.pid).children(recursive=True)
    assert family, "the demo runs its services in a child process"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, f"rc {proc.returncode}: {err[-3000:]}"
    _gone, alive = psutil.wait_procs(family, timeout=5)
    assert not alive, f"left running: {alive}"
    return json.loads(out.strip().splitlines()[-1])


def test_ctrl_c_stops_the_demo_cleanly(kafka_bootstrap: str, db_path: Path) -> None:
    env = {**os.environ, "HANDOFF_KAFKA_BOOTSTRAP": kafka_bootstrap}
    proc = _start(["--db", str(db_path), "--topic-prefix", _prefix()], env)
    try:
        summary = _interrupt_and_check(proc, db_path)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert summary["uploads"] > 0
    assert summary["store"]["spans"] > 0


def test_ctrl_c_also_stops_the_broker_the_demo_started(
    db_path: Path, kafka_harness: KafkaHarness
) -> None:
    proc = _start(["--db", str(db_path), "--rate", "1"], kafka_harness.env)
    try:
        summary = _interrupt_and_check(proc, db_path)
    finally:
        if proc.poll() is None:
            proc.kill()
    bootstrap = str(summary["bootstrap"])
    assert bootstrap != "127.0.0.1:9092"
    port = int(bootstrap.rsplit(":", 1)[1])
    listening = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == "LISTEN"}
    assert port not in listening


def test_with_a_screen_the_tui_runs_while_the_services_do(
    kafka_bootstrap: str, db_path: Path
) -> None:
    from console.cli.demo_cmd import _collector_and_tap
    from console.cli.demo_services import pipeline_cmd, run_tui

    prefix = _prefix()
    seen: dict[str, object] = {}

    class App:  # the TUI's app: the user watches for a while, then quits
        def run(self) -> None:
            deadline = time.monotonic() + 60
            while _services(db_path) < SERVICES and time.monotonic() < deadline:
                time.sleep(0.5)
            seen["services"] = _services(db_path)

    def make_app(db: object, **kwargs: object) -> App:
        seen.update(db=db, **kwargs)
        return App()

    from demo_pipeline.run import create_topics
    from demo_pipeline.runtime import Topics

    create_topics(kafka_bootstrap, Topics(prefix))
    with _collector_and_tap(db_path, kafka_bootstrap, None, prefix) as daemon:
        cmd = pipeline_cmd(kafka_bootstrap, daemon.otlp_endpoint, prefix, ["--rate", "2"])
        with open(db_path.with_name("demo-pipeline.log"), "a") as log:
            summary = run_tui(cmd, make_app, daemon.store, kafka_bootstrap, daemon, log)
    assert seen["db"] is daemon.store and seen["bootstrap"] == kafka_bootstrap
    assert str(seen["contracts_dir"]).endswith("demo_pipeline/contracts")
    assert seen["services"] >= SERVICES  # type: ignore[operator]  # a set
    assert summary["uploads"] > 0


def test_kill_9_of_the_console_takes_the_services_with_it(
    kafka_bootstrap: str, db_path: Path
) -> None:
    env = {**os.environ, "HANDOFF_KAFKA_BOOTSTRAP": kafka_bootstrap}
    proc = _start(["--db", str(db_path), "--topic-prefix", _prefix()], env)
    try:
        deadline = time.monotonic() + 60
        family: list[psutil.Process] = []
        while not family and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            family = psutil.Process(proc.pid).children(recursive=True)
            time.sleep(0.2)
        assert family, "the demo runs its services in a child process"
        proc.kill()
        proc.wait(10)
        _gone, alive = psutil.wait_procs(family, timeout=30)
        assert not alive, f"orphaned services left running: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
