"""``handoff-console tap``: run the Kafka tap into the store until Ctrl+C (no OTLP collector)."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer

from collectors.kafka.tap import DEFAULT_GROUP
from console.config import DEFAULT_BOOTSTRAP, default_db_path
from console.errors import InputError
from console.kafka_config import kafka_config
from console.options import DbOpt, JsonOpt, KafkaConfigOpt, KafkaPropOpt, KeyAttributeOpt
from console.store import Store, StoreWriter

if TYPE_CHECKING:
    from collectors.kafka.tap import KafkaTap

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("tap")(tap)


def tap(
    topics: Annotated[
        str,
        typer.Option(
            "--topics",
            help="Topics to follow: names separated by commas, or a regex starting with '^'.",
        ),
    ],
    db: DbOpt = None,
    bootstrap: Annotated[
        str | None,
        typer.Option(
            "--bootstrap",
            envvar="HANDOFF_KAFKA_BOOTSTRAP",
            help=f"Kafka bootstrap servers (host:port,...; default {DEFAULT_BOOTSTRAP}).",
            show_default=False,
        ),
    ] = None,
    group: Annotated[
        str, typer.Option("--group", help="The tap's own consumer group (it commits only there).")
    ] = DEFAULT_GROUP,
    from_beginning: Annotated[
        bool,
        typer.Option(
            "--from-beginning",
            help="Start at the oldest messages when the group has no committed position yet.",
        ),
    ] = False,
    config_file: KafkaConfigOpt = None,
    x_options: KafkaPropOpt = None,
    correlation_header: Annotated[
        list[str] | None,
        typer.Option(
            "--correlation-header",
            help="A header holding the correlation id (repeatable; replaces the defaults).",
            show_default=False,
        ),
    ] = None,
    dlq_pattern: Annotated[
        list[str] | None,
        typer.Option(
            "--dlq-pattern",
            help="A regex naming dead-letter topics (repeatable; replaces the defaults).",
            show_default=False,
        ),
    ] = None,
    dlq_payload_limit: Annotated[
        int, typer.Option("--dlq-payload-limit", help="Bytes of a dead letter's payload kept.")
    ] = 1 << 20,
    keep_payloads: Annotated[
        bool, typer.Option("--keep-payloads", help="Keep every hop's payload, not only DLQs'.")
    ] = False,
    status_every: Annotated[
        float, typer.Option("--status-every", help="Seconds between status lines (0: none).")
    ] = 10.0,
    as_json: JsonOpt = False,
    key_attribute: KeyAttributeOpt = None,
) -> None:
    """Tap Kafka topics into the store (hops, dead letters, rates, lag) until Ctrl+C."""
    from collectors.kafka.tap import KafkaTap

    if dlq_payload_limit < 0:
        raise InputError("--dlq-payload-limit must be >= 0")
    config = kafka_config(bootstrap, config_file, x_options)
    bootstrap_servers = config.pop("bootstrap.servers")
    path = db or default_db_path()
    store = Store.open(path)
    writer = store.writer(batch_size=20_000, flush_ms=500, max_queued=400_000)
    kafka_tap = KafkaTap(
        writer,
        bootstrap=bootstrap_servers,
        topics=topics,
        group_id=group,
        from_beginning=from_beginning,
        correlation_headers=correlation_header or None,
        dlq_patterns=dlq_pattern or None,
        dlq_payload_limit=dlq_payload_limit,
        keep_payloads=keep_payloads,
        extra_config=config,
        key_attributes=tuple(key_attribute or ()),
    )
    _log_to_stderr()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: stop.set())
    try:
        kafka_tap.start()
        _say(
            as_json,
            {"event": "started", "topics": kafka_tap.subscription, "group": group, "db": str(path)},
            f"tapping {', '.join(kafka_tap.subscription)} on {bootstrap_servers} "
            f"as group {group} into {path} (Ctrl+C to stop)",
        )
        _wait(stop, kafka_tap, writer, status_every, as_json)
    finally:
        kafka_tap.stop()
        writer.close()
    h = {**kafka_tap.health(), **_store_state(writer)}
    _say(
        as_json,
        {"event": "stopped", **h},
        f"stopped: {h['hops_committed']:,} hops, {h['dead_letters_committed']:,} dead letters "
        f"recorded{_store_note(writer)}",
    )


def _store_state(writer: StoreWriter) -> dict[str, object]:
    """The writer's side of a status line: what it committed, and why it cannot, if it cannot."""
    return {
        "records_committed": writer.committed,
        "store_failing": writer.failing,
        "store_writer_error": writer.error,
        "records_not_stored": writer.not_stored,
    }


def _store_note(writer: StoreWriter) -> str:
    note = ""
    if writer.failing:
        note += f"; STORE FAILING: {writer.error}"
    if writer.not_stored:
        note += f"; {writer.not_stored:,} records not stored (their offsets were not committed)"
    return note


def _wait(
    stop: threading.Event, kafka_tap: KafkaTap, writer: StoreWriter, every: float, as_json: bool
) -> None:
    next_status = time.monotonic() + every if every > 0 else float("inf")
    while not stop.wait(0.2):
        if time.monotonic() >= next_status:
            next_status += every
            h = {**kafka_tap.health(), **_store_state(writer)}
            state = "connected" if h["connected"] else f"NOT connected ({h['last_error']})"
            lag = "?" if h["lag"] is None else f"{h['lag']:,}"
            _say(
                as_json,
                {"event": "status", **h},
                f"{state}: {h['hops_committed']:,} hops, {h['dead_letters_committed']:,} dead "
                f"letters, tap lag {lag}{_store_note(writer)}",
            )


def _say(as_json: bool, data: dict[str, object], text: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=str), err=False)
    else:
        typer.echo(text, err=True)


def _log_to_stderr() -> None:
    logger = logging.getLogger("handoff")
    if not logger.handlers and not logging.getLogger().handlers:  # else --log-level decided
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        # librdkafka's errors reach the tap's error callback and are printed once from there.
        logging.getLogger("handoff.kafka.librdkafka").setLevel(logging.CRITICAL)
