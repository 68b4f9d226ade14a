"""The collector and the Kafka tap run inside the ``tui`` process: a ``Daemon``
(console/runtime/daemon.py) with the OTLP receivers and the tap as components, plus the one-word
states the health line shows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from console.base.errors import InputError
from console.runtime.daemon import Daemon, OtlpKafkaSettings
from console.store import open_store

__all__ = ["DEFAULT_TOPICS", "InProcessRuntime", "start_runtime"]

#: Without --topics the tap follows every topic but Kafka's internal ones (``__consumer_offsets``).
DEFAULT_TOPICS = "^[^_].*"


class InProcessRuntime:
    """A started daemon; ``status()`` maps its health to the TUI's states, ``stop()`` ends it."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def status(self) -> dict[str, str]:
        h = self.daemon.health()
        comps: dict[str, dict[str, object]] = h["components"]  # type: ignore[assignment]  # health() is JSON-shaped
        out: dict[str, str] = {}
        errors: list[str] = []
        receivers = [c for name, c in comps.items() if name.startswith("otlp")]
        if receivers:
            out["collector"] = "up" if all(c.get("listening") for c in receivers) else "down"
        tap = comps.get("kafka-tap")
        if tap is not None:
            out["tap"] = "up" if tap.get("running") else "down"
            out["broker"] = "up" if tap.get("connected") else "down"
            if tap.get("last_error") and not tap.get("connected"):
                errors.append(f"tap: {tap['last_error']}")
        consumer = comps.get("otlp-kafka")
        if consumer is not None:
            out["otlp_kafka"] = "up" if consumer.get("running") else "down"
            if consumer.get("lag") is not None:
                out["otlp_kafka_lag"] = str(consumer["lag"])
            if consumer.get("last_error") and not consumer.get("connected"):
                errors.append(f"otlp-kafka: {consumer['last_error']}")
        writer: dict[str, object] = h["writer"]  # type: ignore[assignment]  # health() is JSON-shaped
        if writer.get("failing"):
            out["store"] = "failing"
            errors.insert(0, f"store cannot commit: {writer['error']}")
        queued = writer.get("queued")
        if isinstance(queued, int) and queued >= self.daemon.writer.max_queued:
            out["ingest"] = "refusing"  # receivers answer 503 until the writer catches up
            errors.insert(0, f"store queue full ({queued:,} records): ingest refused")
        elif writer.get("last_error"):
            errors.append(f"store: {writer['last_error']}")
        if errors:
            out["detail"] = "; ".join(errors)[:120]
        return out

    def stop(self) -> None:
        self.daemon.stop()


UI_SWITCH_INTERVAL_S = 0.001


def share_gil_with_ui() -> None:
    """Let the TUI's event loop take the GIL back within about a millisecond when ingest threads
    run in the same process (CPython's default is 5 ms a turn: with receivers, the tap and the
    writer busy, a key press waited several turns and its p99 passed 200 ms at 10k spans/s)."""
    sys.setswitchinterval(UI_SWITCH_INTERVAL_S)


def start_runtime(
    db_path: Path | str,
    *,
    bootstrap: str,
    topics: str | None,
    otlp_grpc: str,
    otlp_http: str,
    kafka: dict[str, str] | None = None,
    key_attributes: Sequence[str] | None = (),
    otlp_kafka: OtlpKafkaSettings | None = None,
    correlation_headers: Sequence[str] | None = None,
    dlq_patterns: Sequence[str] | None = None,
    dlq_payload_limit: int = 1 << 20,
    keep_payloads: bool = False,
    retention_age_s: float | None = None,
    retention_bytes: int | None = None,
) -> InProcessRuntime:
    """Start the OTLP receivers (``off`` disables one) and the tap into the store at ``db_path``.

    ``kafka``: the whole librdkafka configuration (``kafka_config()``); ``bootstrap`` otherwise.
    The tap takes the same options as ``tap`` and ``serve --topics``; the store is kept within
    the retention given (None: unbounded).
    """
    from console.base.kafka_config import kafka_config
    from console.runtime.daemon import OtlpSettings, TapSettings, build_daemon, listen_address

    tap = None
    if topics is None or topics.strip().lower() != "off":
        conf = dict(kafka) if kafka is not None else kafka_config(bootstrap)
        tap = TapSettings(
            topics=topics or DEFAULT_TOPICS,
            kafka=conf,
            key_attributes=key_attributes,
            correlation_headers=correlation_headers,
            dlq_patterns=dlq_patterns,
            dlq_payload_limit=dlq_payload_limit,
            keep_payloads=keep_payloads,
        )
    daemon = build_daemon(
        open_store(db_path, ttl_s=retention_age_s),  # a ClickHouse store made here: its TTL
        otlp=OtlpSettings(
            grpc_at=listen_address("--otlp-grpc", otlp_grpc),
            http_at=listen_address("--otlp-http", otlp_http),
            key_attributes=tuple(key_attributes or ()),
        ),
        tap=tap,
        otlp_kafka=otlp_kafka,
        retention_age_s=retention_age_s,
        retention_bytes=retention_bytes,
    )
    share_gil_with_ui()
    try:
        daemon.start()
    except OSError as exc:
        daemon.stop()
        raise InputError(
            f"cannot listen for OTLP: {exc}; pass other --otlp-grpc/--otlp-http addresses, "
            "or --attach to a running serve"
        ) from None
    return InProcessRuntime(daemon)
