"""``handoff-console tui``: the Textual console. Textual is imported only inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from console.base.config import DEFAULT_OTLP_GRPC, DEFAULT_OTLP_HTTP
from console.cli.options import (
    DEFAULT_RETENTION_AGE,
    DEFAULT_RETENTION_BYTES,
    BootstrapOpt,
    CorrelationHeaderOpt,
    DbOpt,
    DlqPatternOpt,
    DlqPayloadLimitOpt,
    KafkaConfigOpt,
    KafkaPropOpt,
    KeepPayloadsOpt,
    KeyAttributeOpt,
    OtlpKafkaGroupOpt,
    OtlpKafkaOpt,
    OtlpKafkaTopicsOpt,
    RetentionAgeOpt,
    RetentionBytesOpt,
    RulesOpt,
    StoreOpt,
    retention_limits,
    store_location,
)

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("tui")(tui)


def tui(
    db: DbOpt = None,
    store: StoreOpt = None,
    attach: Annotated[
        bool,
        typer.Option("--attach", help="Only read a store that a running `serve` writes."),
    ] = False,
    bootstrap: BootstrapOpt = None,
    topics: Annotated[
        str | None,
        typer.Option(
            "--topics",
            help="Topics the in-process tap follows: a,b or a '^regex' (default: all but "
            "internal ones; 'off': no tap).",
        ),
    ] = None,
    otlp_grpc: Annotated[
        str, typer.Option("--otlp-grpc", help="In-process OTLP/gRPC listen HOST:PORT, or 'off'.")
    ] = DEFAULT_OTLP_GRPC,
    otlp_http: Annotated[
        str, typer.Option("--otlp-http", help="In-process OTLP/HTTP listen HOST:PORT, or 'off'.")
    ] = DEFAULT_OTLP_HTTP,
    contracts: Annotated[
        Path | None, typer.Option("--contracts", help="JSON Schema contracts for DLQ fixes.")
    ] = None,
    refresh: Annotated[float, typer.Option("--refresh", help="Seconds between refreshes.")] = 1.0,
    kafka_config_file: KafkaConfigOpt = None,
    x_options: KafkaPropOpt = None,
    schema_registry: Annotated[
        str | None,
        typer.Option(
            "--schema-registry",
            envvar="HANDOFF_SCHEMA_REGISTRY",
            help="A Confluent Schema Registry URL: decodes Avro, Protobuf and JSON Schema "
            "dead letters.",
        ),
    ] = None,
    schema_registry_config: Annotated[
        Path | None,
        typer.Option(
            "--schema-registry-config",
            envvar="HANDOFF_SCHEMA_REGISTRY_CONFIG",
            help="Properties for the registry client (basic.auth.user.info, ssl.*).",
        ),
    ] = None,
    key_attribute: KeyAttributeOpt = None,
    since: Annotated[
        str,
        typer.Option(
            "--since",
            help="The time window every screen starts with (5m, 1h, 24h, all); w cycles it.",
        ),
    ] = "15m",
    otlp_kafka: OtlpKafkaOpt = False,
    otlp_kafka_topics: OtlpKafkaTopicsOpt = None,
    otlp_kafka_group: OtlpKafkaGroupOpt = None,
    correlation_header: CorrelationHeaderOpt = None,
    dlq_pattern: DlqPatternOpt = None,
    dlq_payload_limit: DlqPayloadLimitOpt = 1 << 20,
    keep_payloads: KeepPayloadsOpt = False,
    retention_age: RetentionAgeOpt = DEFAULT_RETENTION_AGE,
    retention_bytes: RetentionBytesOpt = DEFAULT_RETENTION_BYTES,
    rules: RulesOpt = None,
) -> None:
    """Open the console: overview, journeys, dead letters, live tail (runs the collector and tap
    in-process unless --attach)."""
    from console.alerts import load_rules
    from console.base.kafka_config import kafka_config

    rule_set = load_rules(rules)  # a bad rules file stops here, before anything starts
    window_s: float | None = None
    if since.strip().lower() != "all":
        from console.base.config import parse_duration
        from console.base.errors import InputError

        try:
            window_s = parse_duration(since)
        except ValueError as exc:
            raise InputError(f"--since: {exc}") from None
    where = store_location(db, store)
    if not isinstance(where, Path):
        from console.base.errors import InputError

        # The TUI opens its store as a SQLite file (tui_app/source.py: the dead-letter screens
        # still take a connection) until those sit behind the store's interface (issue 25).
        raise InputError("tui --store: the TUI reads a SQLite store only for now (use --db)")
    db_path = where
    kafka = kafka_config(bootstrap, kafka_config_file, x_options)
    runtime = None
    if not attach:
        from console.cli.serve_cmd import otlp_kafka_settings
        from console.runtime.inprocess import start_runtime

        from_kafka = otlp_kafka_settings(otlp_kafka, otlp_kafka_topics, otlp_kafka_group, kafka)
        age_s, size_b = retention_limits(retention_age, retention_bytes)

        runtime = start_runtime(
            db_path,
            bootstrap=kafka["bootstrap.servers"],
            topics=topics,
            otlp_grpc=otlp_grpc,
            otlp_http=otlp_http,
            kafka=kafka,
            key_attributes=key_attribute,
            otlp_kafka=from_kafka,
            correlation_headers=correlation_header,
            dlq_patterns=dlq_pattern,
            dlq_payload_limit=dlq_payload_limit,
            keep_payloads=keep_payloads,
            retention_age_s=age_s,
            retention_bytes=size_b,
        )
    try:
        from tui import make_app  # Textual loads only here

        make_app(
            db_path,
            attach=attach,
            runtime=runtime,
            refresh_s=refresh,
            bootstrap=kafka["bootstrap.servers"],
            contracts_dir=contracts,
            kafka=kafka,
            schema_registry=schema_registry,
            schema_registry_config=schema_registry_config,
            since_s=window_s,
            rules=rule_set,
        ).run()
    finally:
        if runtime is not None:
            runtime.stop()
