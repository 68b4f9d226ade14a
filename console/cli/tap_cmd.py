"""``handoff-console tap``: run the Kafka tap into the store until Ctrl+C (no OTLP collector)."""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Annotated, cast

import typer

from collectors.kafka.tap import DEFAULT_GROUP
from console.base.errors import InputError
from console.cli.options import (
    DEFAULT_RETENTION_AGE,
    DEFAULT_RETENTION_BYTES,
    BootstrapOpt,
    ClickHouseClusterOpt,
    CorrelationHeaderOpt,
    DbOpt,
    DlqPatternOpt,
    DlqPayloadLimitOpt,
    JsonOpt,
    KafkaConfigOpt,
    KafkaPropOpt,
    KeepPayloadsOpt,
    KeyAttributeOpt,
    MetricsOpt,
    RetentionAgeOpt,
    RetentionBytesOpt,
    StoreOpt,
    retention_limits,
    shown,
    store_location,
)

if TYPE_CHECKING:
    from collectors.kafka.tap import KafkaTap
    from console.runtime.daemon import Daemon
    from console.store import Writer

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
    store: StoreOpt = None,
    clickhouse_cluster: ClickHouseClusterOpt = None,
    bootstrap: BootstrapOpt = None,
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
    correlation_header: CorrelationHeaderOpt = None,
    dlq_pattern: DlqPatternOpt = None,
    dlq_payload_limit: DlqPayloadLimitOpt = 1 << 20,
    keep_payloads: KeepPayloadsOpt = False,
    commit_every: Annotated[
        float,
        typer.Option(
            "--commit-every",
            help="Seconds between commits of the group's offsets (each after the store committed "
            "the records below them): at most what a tap killed without a clean stop leaves to "
            "be read again.",
        ),
    ] = 1.0,
    status_every: Annotated[
        float, typer.Option("--status-every", help="Seconds between status lines (0: none).")
    ] = 10.0,
    as_json: JsonOpt = False,
    key_attribute: KeyAttributeOpt = None,
    retention_age: RetentionAgeOpt = DEFAULT_RETENTION_AGE,
    retention_bytes: RetentionBytesOpt = DEFAULT_RETENTION_BYTES,
    metrics: MetricsOpt = None,
) -> None:
    """Tap Kafka topics into the store (hops, dead letters, rates, lag) until Ctrl+C."""
    from console.base.kafka_config import kafka_config
    from console.runtime.daemon import TapSettings, build_daemon, listen_address
    from console.store import open_store

    settings = TapSettings(
        topics=topics,
        kafka=kafka_config(bootstrap, config_file, x_options),
        group_id=group,
        from_beginning=from_beginning,
        key_attributes=key_attribute,
        correlation_headers=correlation_header,
        dlq_patterns=dlq_pattern,
        dlq_payload_limit=dlq_payload_limit,
        keep_payloads=keep_payloads,
        commit_interval_s=commit_every,
    )
    age_s, size_b = retention_limits(retention_age, retention_bytes)
    metrics_at = listen_address("--metrics", metrics) if metrics else None
    where = store_location(db, store)
    path = shown(where)
    # ClickHouse: --retention-age is the new tables' TTL; no writer lock, WAL or retention
    # passes there (many taps in one group write one store), no --retention-bytes.
    opened = open_store(where, cluster=clickhouse_cluster, ttl_s=age_s)
    batch_size, flush_ms = opened.bulk_batching
    daemon = build_daemon(
        opened,
        otlp=None,
        tap=settings,
        batch_size=batch_size,
        flush_ms=flush_ms,
        max_queued=400_000,
        retention_age_s=age_s,
        retention_bytes=size_b,
        metrics_at=metrics_at,
        shared_writer=True,  # the other taps of its group may write the same store
    )
    kafka_tap = _the_tap(daemon)
    _log_to_stderr()
    daemon.install_signal_handlers()
    try:
        try:
            daemon.start()
        except OSError as exc:  # --metrics on a port already taken
            raise InputError(f"cannot listen: {exc}") from None
        _say(
            as_json,
            {"event": "started", "topics": kafka_tap.subscription, "group": group, "db": path},
            f"tapping {', '.join(kafka_tap.subscription)} on {kafka_tap.bootstrap} "
            f"as group {group} into {path} (Ctrl+C to stop)",
        )
        for c in daemon.components:
            if c.name == "metrics":
                url = f"http://{getattr(c, 'address', '')}/metrics"
                _say(as_json, {"event": "metrics", "url": url}, f"Prometheus metrics on {url}")
        _wait(daemon, status_every, as_json)
    finally:
        daemon.stop()
        daemon.store.close()
    h = {**kafka_tap.health(), **_store_state(daemon.writer)}
    _say(
        as_json,
        {"event": "stopped", **h},
        f"stopped: {h['hops_committed']:,} hops, {h['dead_letters_committed']:,} dead letters "
        f"recorded{_store_note(daemon.writer)}",
    )


def _store_state(writer: Writer) -> dict[str, object]:
    """The writer's side of a status line: what it committed, and why it cannot, if it cannot."""
    return {
        "records_committed": writer.committed,
        "store_failing": writer.failing,
        "store_writer_error": writer.error,
        "records_not_stored": writer.not_stored,
    }


def _store_note(writer: Writer) -> str:
    note = ""
    if writer.failing:
        note += f"; STORE FAILING: {writer.error}"
    if writer.not_stored:
        note += f"; {writer.not_stored:,} records not stored (their offsets were not committed)"
    return note


def _the_tap(daemon: Daemon) -> KafkaTap:
    tap = next(c for c in daemon.components if c.name == "kafka-tap")
    return cast("KafkaTap", tap)  # build_daemon(otlp=None, tap=...) adds it (and maybe metrics)


def _wait(daemon: Daemon, every: float, as_json: bool) -> None:
    """Until SIGINT/SIGTERM: a status line every ``every`` seconds (0: none)."""
    kafka_tap = _the_tap(daemon)
    next_status = time.monotonic() + every if every > 0 else float("inf")
    while not daemon.wait(0.2):
        if time.monotonic() >= next_status:
            next_status += every
            h = {**kafka_tap.health(), **_store_state(daemon.writer)}
            state = "connected" if h["connected"] else f"NOT connected ({h['last_error']})"
            lag = "?" if h["lag"] is None else f"{h['lag']:,}"
            _say(
                as_json,
                {"event": "status", **h},
                f"{state}: {h['hops_committed']:,} hops, {h['dead_letters_committed']:,} dead "
                f"letters, tap lag {lag}{_store_note(daemon.writer)}",
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
