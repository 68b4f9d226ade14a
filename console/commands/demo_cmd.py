"""``handoff-console demo``: the thin launcher for the bundled CanvasFlow pipeline.

It uses ``--bootstrap`` or starts the broker harness on a free port, creates the topics, runs the
collector and the Kafka tap into the store, starts the services (``demo_pipeline``, which talks
to the console only through Kafka and OTLP) and opens the TUI, or runs headless and ends with a
summary. Ctrl+C (or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from console.broker import Broker
from console.config import DEFAULT_OTLP_GRPC, default_db_path
from console.errors import BrokerError, InputError
from console.options import DbOpt, JsonOpt

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def _free_port_pair() -> int:
    import socket

    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise InputError("no free port pair for the demo broker")


@contextlib.contextmanager
def _kafka(bootstrap: str | None) -> Iterator[str]:
    """The given cluster, or a harness broker of our own that is stopped and removed afterwards."""
    if bootstrap:
        yield bootstrap
        return
    state = Path(tempfile.mkdtemp(prefix="handoff-demo-broker-"))
    broker = Broker(state, port=_free_port_pair())
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
                broker = Broker(state, port=_free_port_pair())
        yield broker.bootstrap
    finally:
        broker.down()
        shutil.rmtree(state, ignore_errors=True)


@contextlib.contextmanager
def _collector_and_tap(db: Path, bootstrap: str, otlp: str, prefix: str) -> Iterator[str | None]:
    """SEAM: run the OTLP collector (branch ``otlp``, console/daemon.py) and the Kafka tap
    (branch ``tap``, collectors/kafka/tap.py KafkaTap) into the store at ``db``.

    Yields the OTLP endpoint the services should export to. Neither component is merged on this
    branch yet, so nothing is started here and the services export to ``otlp`` as given.
    """
    del db, bootstrap, prefix
    yield otlp


def _tui_factory() -> Any:
    """The TUI's ``make_app`` factory, or None while the TUI is not there."""
    try:
        import tui  # type: ignore[import-not-found]
    except ImportError:
        return None
    return getattr(tui, "make_app", None)


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
        str, typer.Option("--otlp-endpoint", help="Where the services export OTLP/gRPC.")
    ] = DEFAULT_OTLP_GRPC,
) -> None:
    """Run the CanvasFlow demo pipeline against the console."""
    for name, value in (("--poison-rate", poison_rate), ("--flaky-rate", flaky_rate)):
        if not 0 <= value <= 1:
            raise InputError(f"{name} must be between 0 and 1, not {value}")
    if rate < 0 or slow_ms < 0:
        raise InputError("--rate and --slow-ms must not be negative")
    from demo_pipeline.run import Pipeline, format_summary
    from demo_pipeline.runtime import Knobs

    knobs = Knobs(
        rate=rate,
        poison_rate=poison_rate,
        flaky_rate=flaky_rate,
        slow_ms=slow_ms,
        license_outage=license_outage,
        seed=seed,
    )
    db_path = db or default_db_path()
    with (
        _kafka(bootstrap) as servers,
        _collector_and_tap(db_path, servers, otlp_endpoint, topic_prefix) as endpoint,
    ):
        pipeline = Pipeline(servers, endpoint, knobs, topic_prefix)
        summary = _run(pipeline, headless, duration, db_path)
    summary["bootstrap"] = servers
    typer.echo(json.dumps(summary) if as_json else format_summary(summary))


def _run(pipeline: Any, headless: bool, duration: float | None, db: Path) -> dict[str, Any]:
    from demo_pipeline.run import run_until_stopped

    make_app = None if headless else _tui_factory()
    if make_app is None:
        if not headless:
            typer.echo("the TUI is not available yet: running headless (Ctrl+C stops)", err=True)
        run_until_stopped(pipeline, duration)
    else:
        try:
            pipeline.start()
            make_app(db_path=db).run()
        finally:
            pipeline.stop()
    return pipeline.summary()
