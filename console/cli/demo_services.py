"""The demo's services in a child process (``python -m demo_pipeline``), headless or beside the
TUI: started, watched, asked to stop (SIGTERM: they drain, flush and print their summary) and
killed if they will not; and a signal to the demo ending the TUI as its quit key does.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from console.base.errors import InputError
from console.runtime.stop_signals import Stopped, StopSignals
from console.store import Storage

__all__ = ["client_conf", "pipeline_cmd", "run_headless", "run_tui"]


def pipeline_cmd(servers: str, endpoint: str, prefix: str, knobs: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "demo_pipeline", "--json", "--bootstrap", servers,
        "--otlp-endpoint", endpoint, "--topic-prefix", prefix, "--no-create-topics", *knobs,
    ]  # fmt: skip


def _child_env() -> dict[str, str]:
    """The pipeline child sets its own PR_SET_PDEATHSIG at start (``demo_pipeline.__main__``):
    a ``preexec_fn`` would run Python between fork and exec in a process whose gRPC threads
    hold locks, and the child aborted (exit -6) now and then."""
    return {**os.environ, "HANDOFF_DEMO_PARENT_PID": str(os.getpid())}


def _summary(
    proc: subprocess.Popen[str], out: str, signals: StopSignals | None = None
) -> dict[str, Any]:
    """The services' summary (their last line); ``Stopped`` when a signal ended them before
    they printed one (still starting: the SIGTERM came before their own handler)."""
    lines = out.strip().splitlines()
    if not lines and signals is not None and signals.requested:
        raise Stopped("stopped while the services were starting")
    if proc.returncode != 0 or not lines:
        raise InputError(f"the demo pipeline exited with code {proc.returncode}")
    return dict(json.loads(lines[-1]))


def _stop(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """Ask the pipeline to stop (it flushes and prints its summary); kill it if it will not."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out or ""


def run_headless(cmd: list[str], signals: StopSignals) -> dict[str, Any]:
    """The services until they end (``--duration``) or a signal comes, then their summary."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, start_new_session=True, env=_child_env()
    )
    try:
        while proc.poll() is None and not signals.wait(0.2):
            pass
        out = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return _summary(proc, out, signals)


def _exit_app_on_signal(app: Any, signals: StopSignals, done: threading.Event) -> None:
    """On a thread: a signal ends the TUI as its quit key does (the handler itself only sets a
    flag; this thread asks the app to exit)."""
    while not done.is_set():
        if signals.wait(0.2):
            with contextlib.suppress(Exception):  # the app is ending already
                app.call_from_thread(app.exit)
            return


def client_conf(kafka: dict[str, str] | str) -> dict[str, str]:
    """The client configuration (bootstrap servers alone count as one)."""
    from console.base.kafka_config import kafka_config

    return kafka_config(kafka) if isinstance(kafka, str) else dict(kafka)


def _tui_app(
    make_app: Any, db: Path | str | Storage, kafka: dict[str, str] | str, daemon: Any
) -> Any:
    """The TUI over ``db`` (the daemon's own store, as the demo passes it), showing the
    in-process collector and tap's health when it can, with Kafka (the whole client
    configuration) for DLQ replay and the demo's contracts for DLQ validation."""
    from demo_pipeline.contracts import CONTRACTS_DIR

    conf = client_conf(kafka)
    kwargs: dict[str, Any] = {
        "bootstrap": conf["bootstrap.servers"],
        "contracts_dir": CONTRACTS_DIR,
        "kafka": conf,
    }
    try:
        from console.runtime.inprocess import InProcessRuntime

        kwargs["runtime"] = InProcessRuntime(daemon)
    except ImportError:
        pass
    try:
        return make_app(db, **kwargs)
    except TypeError:
        return make_app(db)


def run_tui(
    cmd: list[str],
    make_app: Any,
    db: Path | str | Storage,
    kafka: dict[str, str] | str,
    daemon: Any,
    log: IO[str],
    signals: StopSignals | None = None,
) -> dict[str, Any]:
    """The services beside the TUI until the user quits it (or ``signals`` ends it), then
    their summary."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
        env=_child_env(),
    )
    try:
        app = _tui_app(make_app, db, kafka, daemon)
        done = threading.Event()
        if signals is not None:
            watch = threading.Thread(target=_exit_app_on_signal, args=(app, signals, done))
            watch.daemon = True
            watch.start()
        try:
            with contextlib.suppress(KeyboardInterrupt):
                app.run()
        finally:
            done.set()
        out = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return _summary(proc, out, signals)
