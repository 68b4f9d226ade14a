"""Dead letters for people: address, select, list, count. The CLI and the TUI both call this.

Everything reads through the store's ``DeadLetters`` (console/store/deadletters_api.py, where
``DlqFilter``, ``ListItem`` and ``DepthRow`` live); nothing here talks to Kafka (replay lives in
``console/dlq/replay.py``, fixes in ``console/dlq/fix.py``, discarding
and the audit log in ``console/dlq/audit.py``). Dead letters are addressed by their DLQ
coordinates ``TOPIC:PARTITION:OFFSET``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

from console.base.config import parse_duration
from console.base.coordinates import Coordinates, parse_address
from console.base.errors import InputError
from console.base.model import (
    DeadLetter,
    FixedPayload,
    ReplayEntry,
)
from console.store.deadletters_api import (
    STATUSES,
    DeadLetters,
    DepthRow,
    DlqFilter,
    ListItem,
)

__all__ = [
    "STATUSES",
    "DeadLetterNotFound",
    "DepthRow",
    "DlqFilter",
    "ListItem",
    "address",
    "contract_topic",
    "coordinates_of",
    "current_payload",
    "current_version",
    "dead_letter_extent",
    "depth_summary",
    "fixes_for",
    "format_coordinates",
    "get_dead_letter",
    "headers_with_schema",
    "list_dead_letters",
    "parse_since",
    "replays_for",
    "select_dead_letters",
]


class DeadLetterNotFound(InputError):
    """No dead letter at those coordinates (exit 2)."""


def address(d: DeadLetter | ListItem) -> str:
    """``CLUSTER/TOPIC:P:O`` for a dead letter whose cluster is known, else ``TOPIC:P:O``: what
    names it even where two clusters share coordinates."""
    return f"{d.cluster_id}/{d.coordinates}" if d.cluster_id else d.coordinates


def coordinates_of(text: str) -> str:
    """``TOPIC:P:O`` of an address, with or without its ``CLUSTER/``: what a person reads."""
    return text.rpartition("/")[2]


def format_coordinates(c: tuple[str, int, int]) -> str:
    return f"{c[0]}:{c[1]}:{c[2]}"


def parse_since(text: str, now_ms: int | None = None) -> int:
    """``--since``: a duration back from now (``90s``, ``15m``, ``2h``, ``1d``) or an ISO time.

    Returns epoch milliseconds.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        return now_ms - int(parse_duration(text) * 1000)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"--since expects a duration like 15m, 2h, 1d or an ISO time, got {text!r}"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def list_dead_letters(store: DeadLetters, flt: DlqFilter | None = None) -> list[ListItem]:
    """Dead letters matching ``flt``, newest first."""
    return store.list_items(flt or DlqFilter())


def dead_letter_extent(store: DeadLetters, flt: DlqFilter | None = None) -> tuple[int, int | None]:
    """How many dead letters match ``flt`` and the DLQ timestamp (ms) of the newest of them."""
    return store.extent(flt or DlqFilter())


def depth_summary(store: DeadLetters, flt: DlqFilter | None = None) -> list[DepthRow]:
    """The depth of each DLQ topic among the dead letters ``flt`` selects (limit ignored)."""
    return store.depth(flt or DlqFilter())


def get_dead_letter(
    store: DeadLetters, coords: tuple[str, int, int] | str, cluster: str | None = None
) -> DeadLetter:
    """The dead letter at ``coords`` (``TOPIC:P:O`` or ``CLUSTER/TOPIC:P:O``), from ``cluster``
    when one is named; ``DeadLetterNotFound`` if the store has none there.

    Two clusters tapped into one store may both have a dead letter at the same coordinates (the
    store keeps both); naming such coordinates without a cluster is refused rather than picking
    one.
    """
    named = None
    if isinstance(coords, str):
        named, c = parse_address(coords)
    else:
        c = Coordinates(*coords)
    if named is not None and cluster is not None and named != cluster:
        raise InputError(f"{coords} names cluster {named}, --cluster names {cluster}")
    cluster = cluster if cluster is not None else named
    found = store.at(*c, cluster)
    where = format_coordinates(c) + (f" from cluster {cluster}" if cluster is not None else "")
    if not found:
        raise DeadLetterNotFound(f"no dead letter at {where} in the store")
    if len(found) > 1:
        clusters = ", ".join(str(d.cluster_id) for d in found)
        raise InputError(
            f"{format_coordinates(c)} names dead letters from more than one cluster ({clusters}) "
            f"in this store; name one: CLUSTER/{format_coordinates(c)} or --cluster CLUSTER"
        )
    return found[0]


def select_dead_letters(store: DeadLetters, flt: DlqFilter) -> list[DeadLetter]:
    """Full dead letters (payloads and headers) for bulk work, in the order the tap saw them."""
    return store.select(flt)


def fixes_for(store: DeadLetters, d: DeadLetter) -> list[FixedPayload]:
    """Every fixed version of ``d``, oldest first (the last one is what a replay sends)."""
    return store.fixes_for(d)


def current_payload(store: DeadLetters, d: DeadLetter) -> tuple[bytes | None, int]:
    """What a replay of ``d`` sends: the latest fixed payload, else the original (version 0)."""
    fixes = store.fixes_for(d)
    if fixes:
        return fixes[-1].payload, fixes[-1].version
    return d.payload, 0


def headers_with_schema(
    headers: Sequence[tuple[str, bytes | None]], schema_header: bytes | None
) -> tuple[tuple[str, bytes | None], ...]:
    """``headers`` with ``__value_schema_id`` set to ``schema_header`` (when a fix has one)."""
    if schema_header is None:
        return tuple(headers)
    kept = [(n, v) for n, v in headers if n != "__value_schema_id"]
    return (*kept, ("__value_schema_id", schema_header))


def current_version(
    store: DeadLetters, d: DeadLetter
) -> tuple[bytes | None, int, tuple[tuple[str, bytes | None], ...]]:
    """``current_payload`` plus the headers that go with it (a fix's schema header in place)."""
    fixes = store.fixes_for(d)
    if fixes:
        f = fixes[-1]
        return f.payload, f.version, headers_with_schema(d.headers, f.schema_header)
    return d.payload, 0, tuple(d.headers)


def replays_for(store: DeadLetters, d: DeadLetter) -> list[ReplayEntry]:
    """The replay ledger's lines for ``d``, oldest first."""
    return store.replays_for(d)


def contract_topic(d: DeadLetter) -> str:
    """The topic whose contract the payload must meet: where it came from."""
    return d.original_topic or d.dlq_topic
