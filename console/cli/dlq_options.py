"""The options and arguments the ``dlq`` commands share (``console/cli/dlq_cmd.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "AllOpt",
    "ClusterFilterOpt",
    "ClusterOpt",
    "ContractsOpt",
    "CoordArg",
    "CorrOpt",
    "ErrorOpt",
    "OptCoordArg",
    "RegistryConfigOpt",
    "RegistryOpt",
    "SinceOpt",
    "StatusOpt",
    "TopicOpt",
    "YesOpt",
]

TopicOpt = Annotated[str | None, typer.Option("--topic", help="A DLQ topic or the original topic.")]
ErrorOpt = Annotated[
    str | None, typer.Option("--error", help="Text in the exception class or message.")
]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Dead-lettered since: 15m, 2h, 1d or an ISO time.")
]
CorrOpt = Annotated[str | None, typer.Option("--correlation-id", help="Exactly this id.")]
StatusOpt = Annotated[str | None, typer.Option("--status", help="pending, replayed or discarded.")]
ContractsOpt = Annotated[
    Path | None,
    typer.Option(
        "--contracts",
        help="A directory of <topic>.schema.json files (default: the demo's contracts).",
        show_default=False,
    ),
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--schema-registry",
        envvar="HANDOFF_SCHEMA_REGISTRY",
        help="A Confluent Schema Registry URL: decodes Avro, Protobuf and JSON Schema payloads "
        "in the Confluent wire format; subject <topic>-value is the JSON contract.",
    ),
]
RegistryConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--schema-registry-config",
        envvar="HANDOFF_SCHEMA_REGISTRY_CONFIG",
        help="Properties for the registry client (confluent-kafka SchemaRegistryClient keys: "
        "basic.auth.user.info, ssl.ca.location, ssl.certificate.location, ...).",
        show_default=False,
    ),
]
CoordArg = Annotated[
    str,
    typer.Argument(
        help="The dead letter: TOPIC:PARTITION:OFFSET (CLUSTER/TOPIC:PARTITION:OFFSET where two "
        "clusters' dead letters share them)."
    ),
]
OptCoordArg = Annotated[
    str | None,
    typer.Argument(
        help="One dead letter: TOPIC:PARTITION:OFFSET (CLUSTER/TOPIC:PARTITION:OFFSET where two "
        "clusters' dead letters share them).",
        show_default=False,
    ),
]
ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="The cluster id of the dead letter named, where two clusters' dead letters share "
        "its coordinates (as CLUSTER/TOPIC:PARTITION:OFFSET does); with --all or a filter, only "
        "that cluster's dead letters.",
        show_default=False,
    ),
]
ClusterFilterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Only the dead letters tapped from this Kafka cluster (its id, as --json shows it).",
        show_default=False,
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every pending dead letter (with filters).")]
