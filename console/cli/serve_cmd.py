"""``handoff-console serve``: the headless daemon (OTLP receivers into the store)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from console.base.config import DEFAULT_OTLP_GRPC, DEFAULT_OTLP_HTTP
from console.base.errors import InputError
from console.base.kafka_config import kafka_config
from console.cli.options import (
    DEFAULT_RETENTION_AGE,
    DEFAULT_RETENTION_BYTES,
    BootstrapOpt,
    ClickHouseClusterOpt,
    CorrelationHeaderOpt,
    DbOpt,
    DlqPatternOpt,
    DlqPayloadLimitOpt,
    KafkaConfigOpt,
    KafkaPropOpt,
    KeepPayloadsOpt,
    KeyAttributeOpt,
    MetricsOpt,
    OtlpKafkaGroupOpt,
    OtlpKafkaOpt,
    OtlpKafkaTopicsOpt,
    RetentionAgeOpt,
    RetentionBytesOpt,
    StoreOpt,
    retention_limits,
    shown,
    store_location,
)
from console.runtime.daemon import (
    Daemon,
    OtlpKafkaSettings,
    OtlpSettings,
    TapSettings,
    listen_address,
)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    db: DbOpt = None,
    store: StoreOpt = None,
    clickhouse_cluster: ClickHouseClusterOpt = None,
    otlp_grpc: Annotated[
        str, typer.Option("--otlp-grpc", help="OTLP/gRPC listen address HOST:PORT, or 'off'.")
    ] = DEFAULT_OTLP_GRPC,
    otlp_http: Annotated[
        str, typer.Option("--otlp-http", help="OTLP/HTTP listen address HOST:PORT, or 'off'.")
    ] = DEFAULT_OTLP_HTTP,
    auth_token: Annotated[
        str | None,
        typer.Option(
            "--auth-token",
            envvar="HANDOFF_AUTH_TOKEN",
            help="Require 'Authorization: Bearer TOKEN' on both receivers.",
            show_default=False,
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate: serve TLS on both.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="PEM private key for --tls-cert.")
    ] = None,
    retention_age: RetentionAgeOpt = DEFAULT_RETENTION_AGE,
    retention_bytes: RetentionBytesOpt = DEFAULT_RETENTION_BYTES,
    max_queued: Annotated[
        int,
        typer.Option(
            "--max-queued",
            help="Records waiting for the store before the receivers answer 503/UNAVAILABLE.",
        ),
    ] = 200_000,
    correlation_key: Annotated[
        list[str] | None,
        typer.Option(
            "--correlation-key",
            help="Attribute key holding a correlation id (repeatable; replaces the defaults).",
            show_default=False,
        ),
    ] = None,
    topics: Annotated[
        str | None,
        typer.Option(
            "--topics",
            help="Also tap these Kafka topics (names separated by commas, or a '^regex').",
            show_default=False,
        ),
    ] = None,
    bootstrap: BootstrapOpt = None,
    group: Annotated[
        str | None,
        typer.Option("--group", help="The tap's own consumer group.", show_default=False),
    ] = None,
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Tap from the oldest messages at first.")
    ] = False,
    config_file: KafkaConfigOpt = None,
    x_options: KafkaPropOpt = None,
    key_attribute: KeyAttributeOpt = None,
    otlp_kafka: OtlpKafkaOpt = False,
    otlp_kafka_topics: OtlpKafkaTopicsOpt = None,
    otlp_kafka_group: OtlpKafkaGroupOpt = None,
    correlation_header: CorrelationHeaderOpt = None,
    dlq_pattern: DlqPatternOpt = None,
    dlq_payload_limit: DlqPayloadLimitOpt = 1 << 20,
    keep_payloads: KeepPayloadsOpt = False,
    metrics: MetricsOpt = None,
) -> None:
    """Receive OTLP traces, metrics and logs (and tap Kafka with --topics) until Ctrl+C/SIGTERM."""
    where = store_location(db, store)
    grpc_at = listen_address("--otlp-grpc", otlp_grpc)
    http_at = listen_address("--otlp-http", otlp_http)
    metrics_at = listen_address("--metrics", metrics) if metrics else None
    if (tls_cert is None) != (tls_key is None):
        raise InputError("--tls-cert and --tls-key go together")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise InputError(f"no such file: {path}")
    if auth_token is not None and not auth_token.strip():
        raise InputError("--auth-token is empty")
    if max_queued < 1:
        raise InputError("--max-queued must be at least 1")
    otlp = OtlpSettings(
        grpc_at,
        http_at,
        auth_token=auth_token,
        tls=(tls_cert, tls_key) if tls_cert and tls_key else None,
        correlation_keys=tuple(correlation_key) if correlation_key else None,
        key_attributes=tuple(key_attribute or ()),
    )
    age_s, size_b = retention_limits(retention_age, retention_bytes)
    kafka = kafka_config(bootstrap, config_file, x_options)
    tap = None
    if topics:
        tap = TapSettings(
            topics=topics,
            kafka=kafka,
            group_id=group,
            from_beginning=from_beginning,
            key_attributes=key_attribute,
            correlation_headers=correlation_header,
            dlq_patterns=dlq_pattern,
            dlq_payload_limit=dlq_payload_limit,
            keep_payloads=keep_payloads,
        )
    from_kafka = otlp_kafka_settings(otlp_kafka, otlp_kafka_topics, otlp_kafka_group, kafka)
    _run(
        where,
        otlp,
        tap,
        from_kafka,
        retention_age_s=age_s,
        retention_bytes=size_b,
        max_queued=max_queued,
        metrics_at=metrics_at,
        cluster=clickhouse_cluster,
    )


_LABELS = {"otlp-grpc": "OTLP/gRPC", "otlp-http": "OTLP/HTTP"}


def otlp_kafka_settings(
    enabled: bool, topics: str | None, group: str | None, kafka: dict[str, str]
) -> OtlpKafkaSettings | None:
    """What --otlp-kafka, --otlp-kafka-topics and --otlp-kafka-group ask for (None: nothing)."""
    if not enabled and topics is None:
        return None
    if topics is not None and not topics.strip():
        raise InputError("--otlp-kafka-topics is empty")
    from collectors.otlp.kafka_messages import DEFAULT_OTLP_TOPICS, topic_signals

    try:
        topic_signals(topics or DEFAULT_OTLP_TOPICS)
    except ValueError as exc:
        raise InputError(f"--otlp-kafka-topics: {exc}") from None
    return OtlpKafkaSettings(topics=topics or DEFAULT_OTLP_TOPICS, kafka=kafka, group_id=group)


def _run(
    where: Path | str,
    otlp: OtlpSettings,
    tap: TapSettings | None,
    from_kafka: OtlpKafkaSettings | None = None,
    *,
    retention_age_s: float,
    retention_bytes: int,
    max_queued: int = 200_000,
    metrics_at: tuple[str, int] | None = None,
    cluster: str | None = None,
) -> None:
    from console.base.kafka_config import redacted
    from console.runtime.daemon import build_daemon
    from console.store import open_store

    # A ClickHouse store takes --retention-age as its new tables' TTL; it has no writer lock,
    # WAL or retention passes (the SQLite writer's), and --retention-bytes does not apply.
    store = open_store(where, cluster=cluster, ttl_s=retention_age_s)
    daemon = build_daemon(
        store,
        otlp=otlp,
        tap=tap,
        otlp_kafka=from_kafka,
        max_queued=max_queued,
        batch_size=min(5000, max_queued),
        retention_age_s=retention_age_s,
        retention_bytes=retention_bytes,
        metrics_at=metrics_at,
    )
    daemon.install_signal_handlers()
    try:
        daemon.start()
    except OSError as exc:
        raise InputError(f"cannot listen: {exc}") from None
    scheme = "TLS" if otlp.tls else "plaintext"
    auth = ", bearer token required" if otlp.auth_token else ""
    for component in daemon.components:
        address = getattr(component, "address", None)
        if address is None:
            continue
        if component.name == "metrics":  # no TLS, no token: it binds 127.0.0.1 unless told
            print(f"Prometheus metrics on http://{address}/metrics", file=sys.stderr)
        else:
            label = _LABELS.get(component.name, component.name)
            print(f"{label} listening on {address} ({scheme}{auth})", file=sys.stderr)
    if tap is not None:
        servers = redacted(tap.kafka).get("bootstrap.servers")
        print(f"kafka tap following {tap.topics!r} on {servers}", file=sys.stderr)
    if from_kafka is not None:
        servers = redacted(from_kafka.kafka).get("bootstrap.servers")
        print(f"OTLP/Kafka consuming {from_kafka.topics!r} on {servers}", file=sys.stderr)
    print(f"store: {shown(where)}", file=sys.stderr, flush=True)
    try:
        _watch_store(daemon)
    finally:
        daemon.stop()
        store.close()
        health = daemon.health()
        writer = cast("dict[str, Any]", health["writer"])  # health() is JSON-shaped
        print(f"stopped: {writer['committed']} records committed", file=sys.stderr)
        components = cast("dict[str, dict[str, Any]]", health["components"])
        consumer = components.get("otlp-kafka")
        if consumer:
            print(
                f"OTLP/Kafka: {consumer['records_committed']} records committed, "
                f"{consumer['bad_messages']} bad messages skipped",
                file=sys.stderr,
            )
        if writer["not_stored"]:
            print(f"{writer['not_stored']} records NOT stored", file=sys.stderr)
        if writer["rejected"]:
            print(
                f"{writer['rejected']} records the write path could not store (refused, "
                "never acknowledged)",
                file=sys.stderr,
            )
        if writer["last_error"]:
            print(f"last store error: {writer['last_error']}", file=sys.stderr)


def _watch_store(daemon: Daemon) -> None:
    """Wait for a stop; meanwhile say when the store starts and stops failing to commit."""
    writer = daemon.writer
    failing = False
    stopping = False
    while not stopping:
        stopping = daemon.wait(0.5)  # one last look after a stop: a change just before it
        if writer.failing != failing:
            failing = writer.failing
            if failing:
                print(
                    f"store cannot commit ({writer.error}): answering 503/UNAVAILABLE until it can",
                    file=sys.stderr,
                    flush=True,
                )
            else:
                print("store committing again", file=sys.stderr, flush=True)
