"""Options every command shares, as ``Annotated`` types so each command declares them alike."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from console.base.config import DEFAULT_BOOTSTRAP, parse_duration, parse_size
from console.base.errors import InputError

__all__ = [
    "BootstrapOpt",
    "ClickHouseClusterOpt",
    "CorrelationHeaderOpt",
    "DbOpt",
    "DemoBootstrapOpt",
    "DlqPatternOpt",
    "DlqPayloadLimitOpt",
    "JsonOpt",
    "KafkaConfigOpt",
    "KafkaPropOpt",
    "KeepPayloadsOpt",
    "KeyAttributeOpt",
    "MetricsOpt",
    "OtlpKafkaGroupOpt",
    "OtlpKafkaOpt",
    "OtlpKafkaTopicsOpt",
    "RetentionAgeOpt",
    "RetentionBytesOpt",
    "RulesOpt",
    "StoreOpt",
    "is_url",
    "retention_limits",
    "shown",
    "store_location",
]

DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        envvar="HANDOFF_DB",
        help="The store's SQLite file (default: the user data directory).",
        show_default=False,
    ),
]
# Beside --db: the store as a URL (a ClickHouse store, or SQLite). One of the two, never both.
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="HANDOFF_STORE",
        help="The store as a URL instead of --db: clickhouse://user:password@host:8123/database "
        "(clickhouses:// for TLS), chdb:///path (ClickHouse in this process), sqlite:///path. "
        "ClickHouse needs pip install 'handoff-console\\[clickhouse]'.",  # \[: not rich markup
        show_default=False,
    ),
]
# `serve` and `tap`: the ClickHouse cluster the tables they create go on.
ClickHouseClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--clickhouse-cluster",
        help="Create missing ClickHouse tables ON CLUSTER this cluster, with Replicated engines "
        "(--store clickhouse://... only).",
        show_default=False,
    ),
]


def store_location(db: Path | None, store: str | None) -> Path | str:
    """What ``console.store.open_store`` opens for a command's ``--db`` and ``--store``: the URL,
    the path, or the default SQLite file. Both given is an ``InputError``."""
    if db is not None and store:
        raise InputError(
            f"--db {db} and --store {shown(store)} both name a store: give one "
            "(--db and HANDOFF_DB name a SQLite file, --store and HANDOFF_STORE a URL)"
        )
    if store:
        return store
    from console.base.config import default_db_path

    return db or default_db_path()


def shown(where: Path | str) -> str:
    """A store for messages: a URL without its password."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", str(where))


def is_url(where: Path | str) -> bool:
    """True for a ``--store`` URL (its scheme decides the backend), False for a file path."""
    return isinstance(where, str) and "://" in where


def _bootstrap_option(help_text: str) -> Any:
    """``--bootstrap`` and its environment variable, declared here once for every command."""
    return typer.Option(
        "--bootstrap", envvar="HANDOFF_KAFKA_BOOTSTRAP", help=help_text, show_default=False
    )


# The Kafka options (--bootstrap, --kafka-config, -X): `tap`, `serve`, `dlq`, `tui` and `demo`
# take them from here; console.base.kafka_config.kafka_config merges them in that order.
BootstrapOpt = Annotated[
    str | None,
    _bootstrap_option(
        f"Kafka bootstrap servers (host:port,...; default {DEFAULT_BOOTSTRAP}, or the "
        "--kafka-config file's bootstrap.servers)."
    ),
]
# `demo` starts the broker harness unless it is given a cluster.
DemoBootstrapOpt = Annotated[
    str | None,
    _bootstrap_option(
        "An existing Kafka cluster (host:port,...; default: start the broker harness)."
    ),
]
DEFAULT_BOOTSTRAP_VALUE = DEFAULT_BOOTSTRAP
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
KafkaConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--kafka-config",
        help="A librdkafka properties file (security.protocol, sasl.*, ssl.*, ...).",
        show_default=False,
    ),
]
KeyAttributeOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--key-attribute",
        help="A business key to find journeys by (trace --key): a span attribute or JSON payload "
        "field of this name, e.g. order_id (repeatable; a dotted name reaches into objects).",
        show_default=False,
    ),
]
KafkaPropOpt = Annotated[
    list[str] | None,
    typer.Option("-X", help="A librdkafka property key=value (repeatable), as kcat takes it."),
]
OtlpKafkaOpt = Annotated[
    bool,
    typer.Option(
        "--otlp-kafka",
        help="Consume OTLP from the OpenTelemetry Collector kafka exporter's default topics "
        "(otlp_spans, otlp_metrics, otlp_logs; otlp_proto or otlp_json).",
    ),
]
OtlpKafkaTopicsOpt = Annotated[
    str | None,
    typer.Option(
        "--otlp-kafka-topics",
        help="Consume OTLP from these Kafka topics: names saying their signal (otlp_spans,...) "
        "or SIGNAL=TOPIC (traces=t1,metrics=t2,logs=t3); implies --otlp-kafka.",
        show_default=False,
    ),
]
OtlpKafkaGroupOpt = Annotated[
    str | None,
    typer.Option(
        "--otlp-kafka-group",
        help="The consumer group for the OTLP topics (default handoff-console-otlp).",
        show_default=False,
    ),
]

# What the Kafka tap keeps and how it recognises correlation ids and dead letters: `tap` and
# `serve --topics` take the same options (console.runtime.daemon.TapSettings carries them).
CorrelationHeaderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--correlation-header",
        help="A header holding the correlation id (repeatable; replaces the defaults).",
        show_default=False,
    ),
]
DlqPatternOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--dlq-pattern",
        help="A regex naming dead-letter topics (repeatable; replaces the defaults).",
        show_default=False,
    ),
]
DlqPayloadLimitOpt = Annotated[
    int, typer.Option("--dlq-payload-limit", help="Bytes of a dead letter's payload kept.")
]
KeepPayloadsOpt = Annotated[
    bool, typer.Option("--keep-payloads", help="Keep every hop's payload, not only DLQs'.")
]
# `serve --metrics` and `tap --metrics`: the console's own Prometheus endpoint (off by default).
MetricsOpt = Annotated[
    str | None,
    typer.Option(
        "--metrics",
        help="Serve the console's own Prometheus /metrics on HOST:PORT (127.0.0.1:9464).",
        show_default=False,
    ),
]
RulesOpt = Annotated[
    Path | None,
    typer.Option(
        "--rules",
        envvar="HANDOFF_RULES",
        help="Alert rules (TOML); the default rules when not given.",
        show_default=False,
    ),
]
DEFAULT_RETENTION_AGE = "24h"
DEFAULT_RETENTION_BYTES = "2GB"
RetentionAgeOpt = Annotated[
    str,
    typer.Option(
        "--retention-age", help="Drop records stored longer ago than this (24h, 7d; 0: no limit)."
    ),
]
RetentionBytesOpt = Annotated[
    str,
    typer.Option(
        "--retention-bytes",
        help="Keep the store's files, WAL included, under this (2GB; 0: no limit).",
    ),
]


def retention_limits(age: str, size: str) -> tuple[float, int]:
    """``--retention-age`` and ``--retention-bytes`` as seconds and bytes (the daemon's
    ``retention_age_s`` and ``retention_bytes``); a clear error names the option that is wrong."""
    try:
        age_s = parse_duration(age)
    except ValueError as exc:
        raise InputError(f"--retention-age: {exc}") from None
    try:
        size_b = parse_size(size)
    except ValueError as exc:
        raise InputError(f"--retention-bytes: {exc}") from None
    return age_s, size_b
