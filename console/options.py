"""Options every command shares, as ``Annotated`` types so each command declares them alike."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from console.config import DEFAULT_BOOTSTRAP

__all__ = ["BootstrapOpt", "DbOpt", "JsonOpt", "KafkaConfigOpt", "KafkaPropOpt"]

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
KafkaPropOpt = Annotated[
    list[str] | None,
    typer.Option("-X", help="A librdkafka property key=value (repeatable), as kcat takes it."),
]
