"""``handoff-console demo``: the thin launcher for the bundled CanvasFlow pipeline.

It uses ``--bootstrap`` or starts the broker harness on a free port, runs the collector and the
Kafka tap into the store, starts the services (``python -m demo_pipeline`` in a child process:
they talk to the console only through Kafka and OTLP, as a user's services would) and opens the
TUI, or runs headless and ends with the pipeline's summary. Ctrl+C (or SIGTERM) stops everything
it started: the services, the collector and tap, and the broker if it started one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from console.base.config import default_db_path
from console.base.errors import BrokerError, InputError
from console.cli.options import (
    DEFAULT_RETENTION_AGE,
    DEFAULT_RETENTION_BYTES,
    DbOpt,
    JsonOpt,
    KafkaConfigOpt,
    KafkaPropOpt,
    retention_limits,
)
from console.runtime.broker import Broker
from console.runtime.broker_owner import reap_stale

__all__ = ["register"]


#: The demo's business keys: its order, upload and artwork ids, as span attributes and as the
#: JSON payload fields of its events (``trace --key ord-…`` finds the journey).
DEMO_KEYS = ("order_id", "upload_id", "artwork_id", "order.id", "upload.id", "artwork.id")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def _free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise InputError("no free port pair for the demo broker")


_STATE_PREFIX = "handoff-demo-broker-"


def _exit_on_signal(signum: int, _frame: object) -> None:
    """SIGTERM and SIGHUP end the demo as Ctrl+C does: every ``finally`` runs (the services, the
    collector and the broker are stopped, the broker's state directory removed)."""
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _kafka(bootstrap: str | None) -> Iterator[str]:
    """The given cluster, or a harness broker of our own that is stopped and removed afterwards."""
    if bootstrap:
        yield bootstrap
        return
    state = Path(tempfile.mkdtemp(prefix=_STATE_PREFIX))
    broker = Broker(state, port=_free_port_pair(), bound=True)
    try:
        for attempt in range(3):  # a free port can be taken between our check and Kafka's bind
            typer.echo(f"starting a Kafka broker on {broker.bootstrap} ...", err=True)
            try:
                broker.up()
                break
            except BrokerError:
                broker.down()
                if attempt == 2:
                    raise
                shutil.rmtree(state, ignore_errors=True)
                state.mkdir()
                broker = Broker(state, port=_free_port_pair(), bound=True)
        yield broker.bootstrap
    finally:
        broker.down()
        shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def _collector_and_tap(
    db: Path, kafka: dict[str, str] | str, otlp: str | None, prefix: str
) -> Iterator[Any]:
    """The console's daemon on the store at ``db``: the OTLP/gRPC collector on a free port on
    127.0.0.1 (unless ``otlp`` names another endpoint to export to) and the Kafka tap on every
    ``<prefix>.*`` topic, DLTs included. Yields the daemon; ``daemon.otlp_endpoint`` is where the
    services export. Stopped (and the store writer flushed) on the way out."""
    from console.runtime.daemon import OtlpSettings, TapSettings, build_daemon
    from console.store import open_store

    age_s, size_b = retention_limits(DEFAULT_RETENTION_AGE, DEFAULT_RETENTION_BYTES)  # as serve
    daemon = build_daemon(
        open_store(db),
        otlp=OtlpSettings(grpc_at=("127.0.0.1", 0), http_at=None, key_attributes=DEMO_KEYS)
        if otlp is None
        else None,
        tap=TapSettings(
            key_attributes=DEMO_KEYS,
            topics=f"^{re.escape(prefix)}\\..*",
            kafka=_conf(kafka),
            group_id=f"handoff-console-demo-tap.{prefix}",
            from_beginning=True,
        ),
        retention_age_s=age_s,
        retention_bytes=size_b,
    )
    receiver = next((c for c in daemon.components if c.name == "otlp-grpc"), None)
    try:
        daemon.start()
    except OSError as exc:
        raise InputError(f"cannot start the demo collector: {exc}") from None
    try:
        port = getattr(receiver, "port", None)
        daemon.otlp_endpoint = otlp or f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]  # the demo tells the TUI where to point
        yield daemon
    finally:
        daemon.stop()


def _tui_factory() -> Any:
    """The TUI's ``make_app`` factory, or None while the TUI is not there."""
    try:
        import tui
    except ImportError:
        return None
    return getattr(tui, "make_app", None)


def _pipeline_cmd(servers: str, endpoint: str, prefix: str, knobs: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "demo_pipeline", "--json", "--bootstrap", servers,
        "--otlp-endpoint", endpoint, "--topic-prefix", prefix, *knobs,
    ]  # fmt: skip


def _child_env() -> dict[str, str]:
    """The pipeline child sets its own PR_SET_PDEATHSIG at start (``demo_pipeline.__main__``):
    a ``preexec_fn`` would run Python between fork and exec in a process whose gRPC threads
    hold locks, and the child aborted (exit -6) now and then."""
    return {**os.environ, "HANDOFF_DEMO_PARENT_PID": str(os.getpid())}


def _summary(proc: subprocess.Popen[str], out: str) -> dict[str, Any]:
    lines = out.strip().splitlines()
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


def _run_headless(cmd: list[str]) -> dict[str, Any]:
    stop = threading.Event()
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in stops}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, start_new_session=True, env=_child_env()
    )
    try:
        while proc.poll() is None and not stop.wait(0.2):
            pass
        out = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return _summary(proc, out)


def _conf(kafka: dict[str, str] | str) -> dict[str, str]:
    """The client configuration (bootstrap servers alone count as one)."""
    from console.base.kafka_config import kafka_config

    return kafka_config(kafka) if isinstance(kafka, str) else dict(kafka)


def _tui_app(make_app: Any, db: Path, kafka: dict[str, str] | str, daemon: Any) -> Any:
    """The TUI over ``db``, showing the in-process collector and tap's health when it can, with
    Kafka (the whole client configuration) for DLQ replay and the demo's contracts for DLQ
    validation."""
    from demo_pipeline.contracts import CONTRACTS_DIR

    conf = _conf(kafka)
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


def _run_tui(
    cmd: list[str],
    make_app: Any,
    db: Path,
    kafka: dict[str, str] | str,
    daemon: Any,
    log: IO[str],
) -> dict[str, Any]:
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
        with contextlib.suppress(KeyboardInterrupt):
            app.run()
        out = _stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return _summary(proc, out)


def demo(
    bootstrap: Annotated[
        str | None,
        typer.Option(
            "--bootstrap",
            envvar="HANDOFF_KAFKA_BOOTSTRAP",
            help="An existing Kafka cluster (default: start the broker harness).",
        ),
    ] = None,
    db: DbOpt = None,
    headless: Annotated[
        bool, typer.Option("--headless", help="No screen; end with a summary.")
    ] = False,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Seconds to run (default: until Ctrl+C).")
    ] = None,
    as_json: JsonOpt = False,
    rate: Annotated[float, typer.Option("--rate", help="Uploads per second.")] = 2.0,
    poison_rate: Annotated[
        float, typer.Option("--poison-rate", help="Share of uploads breaking their contract.")
    ] = 0.1,
    flaky_rate: Annotated[
        float, typer.Option("--flaky-rate", help="Share of events failing transiently.")
    ] = 0.1,
    slow_ms: Annotated[int, typer.Option("--slow-ms", help="Extra ms per image processed.")] = 0,
    license_outage: Annotated[
        bool, typer.Option("--license-outage", help="The license service fails; circuit opens.")
    ] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for repeatable runs.")] = None,
    topic_prefix: Annotated[
        str, typer.Option("--topic-prefix", help="Topics are <prefix>.uploads, ...")
    ] = "canvasflow",
    otlp_endpoint: Annotated[
        str | None,
        typer.Option(
            "--otlp-endpoint", help="Export to this OTLP/gRPC endpoint instead.", show_default=False
        ),
    ] = None,
    kafka_config_file: KafkaConfigOpt = None,
    x_options: KafkaPropOpt = None,
) -> None:
    """Run the CanvasFlow demo pipeline against the console.

    --kafka-config and -X reach the console's tap and the TUI's replays; the demo's own services
    connect with --bootstrap only (they are a stand-in for a user's services).
    """
    for name, value in (("--poison-rate", poison_rate), ("--flaky-rate", flaky_rate)):
        if not 0 <= value <= 1:
            raise InputError(f"{name} must be between 0 and 1, not {value}")
    if rate < 0 or slow_ms < 0:
        raise InputError("--rate and --slow-ms must not be negative")
    knobs = ["--rate", str(rate), "--poison-rate", str(poison_rate), "--flaky-rate",
             str(flaky_rate), "--slow-ms", str(slow_ms)]  # fmt: skip
    if license_outage:
        knobs.append("--license-outage")
    if seed is not None:
        knobs += ["--seed", str(seed)]
    if duration is not None:
        knobs += ["--duration", str(duration)]
    db_path = db or default_db_path()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    make_app = None if headless else _tui_factory()
    if make_app is None and not headless:
        typer.echo("the TUI is not available yet: running headless (Ctrl+C stops)", err=True)
    from console.base.kafka_config import kafka_config
    from demo_pipeline.run import create_topics
    from demo_pipeline.runtime import Topics

    kafka_config(None, kafka_config_file, x_options)  # a bad file or -X fails before anything
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on_signal)
    # A demo killed with -9 could not clean up after itself: its broker died with it, its state
    # directory is removed here.
    reap_stale(Path(tempfile.gettempdir()), _STATE_PREFIX)
    with _kafka(bootstrap) as servers:
        kafka = kafka_config(servers, kafka_config_file, x_options)
        create_topics(servers, Topics(topic_prefix))
        with _collector_and_tap(db_path, kafka, otlp_endpoint, topic_prefix) as daemon:
            cmd = _pipeline_cmd(servers, daemon.otlp_endpoint, topic_prefix, knobs)
            if make_app is None:
                summary = _run_headless(cmd)
            else:
                log_path = db_path.with_name("demo-pipeline.log")
                with open(log_path, "a") as log:
                    summary = _run_tui(cmd, make_app, db_path, kafka, daemon, log)
            time.sleep(1.5)  # the tap's last poll and the exporters' last batch reach the store
        counts = daemon.store.counts()
        summary["store"] = {k: v for k, v in counts.items() if isinstance(v, int)}
    summary["bootstrap"] = servers
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        from demo_pipeline.run import format_summary

        typer.echo(format_summary(summary))
