"""Dead letters: the one room the CLI (``console/cli/dlq_cmd.py``) and the TUI
(``tui_app/dlq_ops.py``) call for every step, through one ``DeadLetterService``
(``service.py``), so both select, show, fix, reconcile, plan and replay the same way and render
the same detail model. The store is reached through its ``DeadLetters`` (``Storage.dead_letters()``)
and Kafka through a ``DlqCluster`` (``cluster.py``).

- ``query``: filters, select and list, depth per DLQ topic, the current version
- ``show``: one dead letter decoded (``DeadLetterDetail``, the model both front ends render)
- ``fix``: edit, validate against the contract or schema, keep the fixed version
- ``target``: the cluster a replay goes to (probe, the cluster guard, the producer's config)
- ``ledger``: the replay ledger and its reconciliation against the target
- ``plan``: what a replay would send, and what it refuses
- ``replay``: the idempotent producer run that writes its ledger line before it produces
- ``audit``: the audit log, and discarding
- ``codecs``: Confluent wire-format payloads (Avro, Protobuf, JSON Schema) through a registry

This module re-exports ``query`` and ``audit`` (what ``console.dlq`` always offered); the others
load Kafka or registry clients, so they are imported by name when needed.
"""

from console.dlq.audit import audit_log, discard, os_user
from console.dlq.query import (
    STATUSES,
    DeadLetterNotFound,
    DepthRow,
    DlqFilter,
    ListItem,
    address,
    contract_topic,
    coordinates_of,
    current_payload,
    current_version,
    dead_letter_extent,
    depth_summary,
    fixes_for,
    format_coordinates,
    get_dead_letter,
    headers_with_schema,
    list_dead_letters,
    parse_since,
    replays_for,
    select_dead_letters,
)

__all__ = [
    "STATUSES",
    "DeadLetterNotFound",
    "DepthRow",
    "DlqFilter",
    "ListItem",
    "address",
    "audit_log",
    "contract_topic",
    "coordinates_of",
    "current_payload",
    "current_version",
    "dead_letter_extent",
    "depth_summary",
    "discard",
    "fixes_for",
    "format_coordinates",
    "get_dead_letter",
    "headers_with_schema",
    "list_dead_letters",
    "os_user",
    "parse_since",
    "replays_for",
    "select_dead_letters",
]
