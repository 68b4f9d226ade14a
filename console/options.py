"""Options every command shares, as ``Annotated`` types so each command declares them alike."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from console.config import DEFAULT_BOOTSTRAP

__all__ = [
    "BootstrapOpt",
    "DbOpt",
    "JsonOpt",
    "KafkaConfigOpt",
    "KafkaPropOpt",
    "KeyAttributeOpt",
    "OtlpKafkaGroupOpt",
    "OtlpKafkaOpt",
    "OtlpKafkaTopicsOpt",
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
BootstrapOpt = Annotated[
    str | None,
    typer.Option(
        "--bootstrap",
        envvar="HANDOFF_KAFKA_BOOTSTRAP",
        help="Kafka bootstrap servers (host:port,...).",
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
