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
import re
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import typer

from console.base.errors import BrokerError, InputError
from console.cli.demo_services import client_conf, pipeline_cmd, run_headless, run_tui
from console.cli.options import (
    DEFAULT_RETENTION_AGE,
    DEFAULT_RETENTION_BYTES,
    DbOpt,
    DemoBootstrapOpt,
    JsonOpt,
    KafkaConfigOpt,
    KafkaPropOpt,
    StoreOpt,
    retention_limits,
    store_location,
)
from console.runtime.broker import Broker
from console.runtime.broker_owner import reap_stale
from console.runtime.stop_signals import Stopped, StopSignals

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


@contextlib.contextmanager
def _kafka(bootstrap: str | None, signals: StopSignals) -> Iterator[str]:
    """The given cluster, or a harness broker of our own that is stopped and removed afterwards
    (``Stopped`` when a signal comes while it starts)."""
    if bootstrap:
        yield bootstrap
        return
    state = Path(tempfile.mkdtemp(prefix=_STATE_PREFIX))
    broker = Broker(state, port=_free_port_pair(), bound=True)
    try:
        for attempt in range(3):  # a free port can be taken between our check and Kafka's bind
            typer.echo(f"starting a Kafka broker on {broker.bootstrap} ...", err=True)
            try:
                broker.up(stopping=lambda: signals.requested)
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
    db: Path | str, kafka: dict[str, str] | str, otlp: str | None, prefix: str
) -> Iterator[Any]:
    """The console's daemon on the store at ``db``: the OTLP/gRPC collector on a free port on
    127.0.0.1 (unless ``otlp`` names another endpoint to export to) and the Kafka tap on every
    ``<prefix>.*`` topic, DLTs included. Yields the daemon; ``daemon.otlp_endpoint`` is where the
    services export. Stopped (and the store writer flushed) on the way out."""
    from console.runtime.daemon import OtlpSettings, TapSettings, build_daemon
    from console.store import open_store

    age_s, size_b = retention_limits(DEFAULT_RETENTION_AGE, DEFAULT_RETENTION_BYTES)  # as serve
    daemon = build_daemon(
        open_store(db, ttl_s=age_s),
        otlp=OtlpSettings(grpc_at=("127.0.0.1", 0), http_at=None, key_attributes=DEMO_KEYS)
        if otlp is None
        else None,
        tap=TapSettings(
            key_attributes=DEMO_KEYS,
            topics=f"^{re.escape(prefix)}\\..*",
            kafka=client_conf(kafka),
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


def _log_path(where: Path | str) -> Path:
    """Where the services' output goes while the TUI has the screen: beside the SQLite file or
    the chDB directory; for a ClickHouse server's store, in the user data directory."""
    if isinstance(where, str):
        parts = urlsplit(where)
        if parts.scheme.lower() == "chdb":
            return Path(unquote(parts.path)).with_name("demo-pipeline.log")
        from console.base.config import default_db_path

        where = default_db_path()
        where.parent.mkdir(parents=True, exist_ok=True)
    return where.with_name("demo-pipeline.log")


def _run(
    signals: StopSignals,
    bootstrap: str | None,
    db_path: Path | str,
    make_app: Any,
    knobs: list[str],
    topic_prefix: str,
    otlp_endpoint: str | None,
    config: Callable[[str], dict[str, str]],
) -> dict[str, Any]:
    """Broker (unless ``bootstrap``), topics, collector and tap, services, then the summary with
    the store's counts; ``Stopped`` when a signal comes before the services run."""
    from demo_pipeline.run import Stopped as TopicsStopped
    from demo_pipeline.run import create_topics
    from demo_pipeline.runtime import Topics

    with _kafka(bootstrap, signals) as servers:
        kafka = config(servers)
        try:
            create_topics(servers, Topics(topic_prefix), stopping=lambda: signals.requested)
        except TopicsStopped as exc:
            raise Stopped(str(exc)) from None
        signals.raise_if_requested("creating the topics")
        with _collector_and_tap(db_path, kafka, otlp_endpoint, topic_prefix) as daemon:
            signals.raise_if_requested("starting the collector and the tap")
            cmd = pipeline_cmd(servers, daemon.otlp_endpoint, topic_prefix, knobs)
            if make_app is None:
                summary = run_headless(cmd, signals)
            else:
                # The TUI reads the daemon's own store: one store in this process (a chDB
                # store is one process's, and its engine one directory's).
                with open(_log_path(db_path), "a") as log:
                    summary = run_tui(cmd, make_app, daemon.store, kafka, daemon, log, signals)
            time.sleep(1.5)  # the tap's last poll and the exporters' last batch reach the store
        try:
            counts = daemon.store.counts()
        finally:
            daemon.store.close()  # a chDB store lets go of its engine
        summary["store"] = {k: v for k, v in counts.items() if isinstance(v, int)}
    summary["bootstrap"] = servers
    return summary


def demo(
    bootstrap: DemoBootstrapOpt = None,
    db: DbOpt = None,
    store: StoreOpt = None,
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
    db_path = store_location(db, store)
    if isinstance(db_path, Path):
        db_path.parent.mkdir(parents=True, exist_ok=True)
    make_app = None if headless else _tui_factory()
    if make_app is None and not headless:
        typer.echo("the TUI is not available yet: running headless (Ctrl+C stops)", err=True)
    from console.base.kafka_config import kafka_config

    kafka_config(None, kafka_config_file, x_options)  # a bad file or -X fails before anything
    # A demo killed with -9 could not clean up after itself: its broker died with it, its state
    # directory is removed here.
    reap_stale(Path(tempfile.gettempdir()), _STATE_PREFIX)
    # SIGINT, SIGTERM and SIGHUP end the demo as Ctrl+C does: the handler only sets a flag, and
    # every step checks it, so each ``finally`` runs whole (the services, the collector and the
    # broker stopped, the broker's state directory removed), however many signals come.
    with StopSignals((signal.SIGINT, signal.SIGTERM, signal.SIGHUP)) as signals:
        try:
            summary = _run(
                signals, bootstrap, db_path, make_app, knobs, topic_prefix, otlp_endpoint,
                lambda servers: kafka_config(servers, kafka_config_file, x_options),
            )  # fmt: skip
        except Stopped as exc:
            typer.echo(f"demo {exc}; everything it had started is stopped", err=True)
            raise typer.Exit(128 + (signals.signum or 0)) from None
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        from demo_pipeline.run import format_summary

        typer.echo(format_summary(summary))
