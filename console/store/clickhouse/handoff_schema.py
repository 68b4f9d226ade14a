"""The console's own tables beside the exporter's, named ``handoff_*``, and their migrations.

Versioned in ``handoff_schema_migrations`` (one row per applied version): ``migrate`` applies
the versions a store lacks, in order, refuses a store a newer console wrote
(``SchemaTooNewError``), and, for readers (``upgrade=False``), an older one
(``NeedsUpgradeError``: the writer upgrades). Every statement is ``IF NOT EXISTS``, so two
processes migrating at once, or a migration cut off half-way, end in the same tables.

Duplicates are the engine's idiom: the tables keyed by Kafka coordinates are
``ReplacingMergeTree``: a hop stored twice (two taps across a rebalance, a resend) is one row
once parts merge, and readers pick one row before that (``FINAL``, or ``argMax`` by the version
column). Rows whose state changes (a dead letter's status, a replay's ack, an alert's state)
are written again with a higher ``Version``; the newest version is the row.

Retention is a TTL (``--retention-age``) by arrival where the SQLite store goes by arrival:
hops and series (by ``SeenAt``/``Timestamp``), alert events. Dead letters, fixes, the replay
ledger and the audit have none: a TTL deletes row versions one by one, and deleting a dead
letter's newer version would bring its older "pending" one back.

The tables (columns from ``console/base/model.py``):

* ``handoff_hops``: ``Hop``; key ``(Topic, Partition, Offset, Cluster)``.
* ``handoff_dead_letters``: ``DeadLetter``; key ``(Cluster, DlqTopic, Partition, Offset)``,
  ``Version`` 0 as the tap writes it, the change's time for status changes.
* ``handoff_series``: ``SeriesPoint``.
* ``handoff_alerts``: alert states (``Kind = 'state'``, one per ``(Rule, Labels)``, the newest
  ``Version``; ``Deleted`` for an alert gone) and events (``Kind = 'event'``, ``EventId`` their
  cursor) in one table, so one evaluation is one INSERT (``storage.py``'s ``change_alerts``).
* ``handoff_fixes`` (``FixedPayload``), ``handoff_replays`` (``ReplayEntry``, newest
  ``Version``), ``handoff_audit`` (``AuditEntry``), ``handoff_locks`` (the replay lock's
  claims); how the dead letters' writes use them: ``deadletters.py``.
* ``handoff_trace_links`` (version 3): per span link of ``otel_traces``, the linked trace, the
  linking span's trace and its start, filled by ``handoff_trace_links_mv`` and, for the spans
  stored before the view existed, once by the migration. The exporter keeps no index on
  ``Links.TraceId``: without this table "which traces link to T" reads that column of every
  span since T started. Readers use it only where the view exists (``read_journeys.py``).
* ``handoff_journey_keys``, ``handoff_sends``, ``handoff_consumed``,
  ``handoff_consumer_groups`` (version 4,
  ``lookup_schema.py``): a journey's records by correlation and trace id, and the stalled
  search's sends and consumed coordinates by time, kept by views and backfilled once.
* Version 5 compresses ``handoff_hops``' text columns at ZSTD(1) (a codec change: metadata).
* ``handoff_journey_spans`` (version 6, ``lookup_schema.py``): what a journey reads of each
  span, copied by trace id in small granules, kept by a view and backfilled once.

This module is over 400 lines because it holds every applied version's DDL verbatim: an applied
version is never edited, so its text stays here (versions 4 and 6 are in ``lookup_schema.py``).
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from console.base.errors import NeedsUpgradeError, SchemaTooNewError
from console.store.clickhouse import lookup_schema as lk
from console.store.clickhouse.otel_schema import engine, quote_ident, ttl_expr

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = [
    "ALERTS",
    "AUDIT",
    "CONSUMED",
    "CONSUMED_MV",
    "COPIED_SPANS",
    "COPIED_SPANS_MV",
    "DEAD_LETTERS",
    "FIXES",
    "GROUPS",
    "GROUPS_MV",
    "HOPS",
    "KEYS",
    "KEYS_HOPS_MV",
    "KEYS_SPANS_MV",
    "LINKS",
    "LINKS_MV",
    "LOCKS",
    "MIGRATIONS",
    "MIGRATIONS_TABLE",
    "REPLAYS",
    "SCHEMA_VERSION",
    "SENDS",
    "SENDS_MV",
    "SERIES",
    "TABLES",
    "HandoffDDL",
    "applied_version",
    "migrate",
    "render_migration",
]

HOPS = "handoff_hops"
DEAD_LETTERS = "handoff_dead_letters"
SERIES = "handoff_series"
ALERTS = "handoff_alerts"
FIXES = "handoff_fixes"
REPLAYS = "handoff_replays"
AUDIT = "handoff_audit"
LOCKS = "handoff_locks"
LINKS = "handoff_trace_links"
LINKS_MV = "handoff_trace_links_mv"
MIGRATIONS_TABLE = "handoff_schema_migrations"
KEYS, KEYS_SPANS_MV, KEYS_HOPS_MV = lk.KEYS, lk.KEYS_SPANS_MV, lk.KEYS_HOPS_MV
SENDS, SENDS_MV, CONSUMED, CONSUMED_MV = lk.SENDS, lk.SENDS_MV, lk.CONSUMED, lk.CONSUMED_MV
GROUPS, GROUPS_MV = lk.GROUPS, lk.GROUPS_MV
COPIED_SPANS, COPIED_SPANS_MV = lk.COPIED_SPANS, lk.COPIED_SPANS_MV
TABLES: tuple[str, ...] = (
    HOPS,
    DEAD_LETTERS,
    SERIES,
    ALERTS,
    FIXES,
    REPLAYS,
    AUDIT,
    LOCKS,
    LINKS,
    KEYS,
    SENDS,
    CONSUMED,
    GROUPS,
    COPIED_SPANS,
)


@dataclass(frozen=True, slots=True)
class HandoffDDL:
    """How the statements are rendered for one store (as ``otel_schema.OtelDDL``)."""

    database: str = "otel"
    cluster: str | None = None
    ttl_s: float | None = None
    #: ``otel_traces``' own TTL clause (``migrate`` reads it): the span copy keeps what it keeps.
    traces_ttl: str = ""


# Placeholders: {db}, {cluster}, and per table {engine:NAME(params)} via _engine_, {ttl:FIELD},
# {ttl_traces} (``otel_traces``' TTL, for a copy of its rows).
_V1: tuple[tuple[str, str], ...] = (
    (
        HOPS,
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_hops` {cluster} (
    Cluster LowCardinality(String) CODEC(ZSTD(3)),
    Topic LowCardinality(String) CODEC(ZSTD(3)),
    Partition Int32 CODEC(ZSTD(3)),
    Offset Int64 CODEC(Delta, ZSTD(3)),
    Timestamp DateTime64(3) CODEC(Delta, ZSTD(3)),
    TimestampType UInt8 CODEC(ZSTD(3)),
    Key Nullable(String) CODEC(ZSTD(3)),
    Size UInt32 CODEC(ZSTD(3)),
    HeaderNames Array(LowCardinality(String)) CODEC(ZSTD(3)),
    HeaderValues Array(Nullable(String)) CODEC(ZSTD(3)),
    CorrelationId String CODEC(ZSTD(3)),
    TraceId String CODEC(ZSTD(3)),
    SpanId String CODEC(ZSTD(3)),
    PayloadSha256 String CODEC(ZSTD(3)),
    Payload Nullable(String) CODEC(ZSTD(3)),
    BusinessKeys Array(String) CODEC(ZSTD(3)),
    SeenAt DateTime64(9) CODEC(Delta, ZSTD(3)),
    INDEX idx_correlation_id CorrelationId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_key Key TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_business_keys BusinessKeys TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_seen SeenAt TYPE minmax GRANULARITY 1
) ENGINE = {engine:ReplacingMergeTree(SeenAt)}
PARTITION BY toDate(Timestamp)
ORDER BY (Topic, Partition, Offset, Cluster)
{ttl:toDateTime(SeenAt)}
SETTINGS index_granularity = 8192""",
    ),
    (
        DEAD_LETTERS,
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_dead_letters` {cluster} (
    Cluster LowCardinality(String) CODEC(ZSTD(3)),
    DlqTopic LowCardinality(String) CODEC(ZSTD(3)),
    Partition Int32 CODEC(ZSTD(3)),
    Offset Int64 CODEC(ZSTD(3)),
    Timestamp DateTime64(3) CODEC(ZSTD(3)),
    Key Nullable(String) CODEC(ZSTD(3)),
    HeaderNames Array(LowCardinality(String)) CODEC(ZSTD(3)),
    HeaderValues Array(Nullable(String)) CODEC(ZSTD(3)),
    Payload Nullable(String) CODEC(ZSTD(3)),
    PayloadTruncated Bool CODEC(ZSTD(3)),
    PayloadSize UInt64 CODEC(ZSTD(3)),
    Convention LowCardinality(String) CODEC(ZSTD(3)),
    OriginalTopic Nullable(String) CODEC(ZSTD(3)),
    OriginalPartition Nullable(Int32) CODEC(ZSTD(3)),
    OriginalOffset Nullable(Int64) CODEC(ZSTD(3)),
    OriginalTimestamp Nullable(DateTime64(3)) CODEC(ZSTD(3)),
    ConsumerGroup Nullable(String) CODEC(ZSTD(3)),
    ExceptionClass Nullable(String) CODEC(ZSTD(3)),
    ExceptionCauseClass Nullable(String) CODEC(ZSTD(3)),
    ExceptionMessage Nullable(String) CODEC(ZSTD(3)),
    Stacktrace Nullable(String) CODEC(ZSTD(3)),
    CorrelationId String CODEC(ZSTD(3)),
    TraceId String CODEC(ZSTD(3)),
    FirstSeen DateTime64(9) CODEC(ZSTD(3)),
    Status LowCardinality(String) CODEC(ZSTD(3)),
    Version UInt64 CODEC(ZSTD(3)),
    INDEX idx_correlation_id CorrelationId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = {engine:ReplacingMergeTree(Version)}
ORDER BY (Cluster, DlqTopic, Partition, Offset)
SETTINGS index_granularity = 8192""",
    ),
    (
        SERIES,
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_series` {cluster} (
    Name LowCardinality(String) CODEC(ZSTD(3)),
    Subject LowCardinality(String) CODEC(ZSTD(3)),
    Detail String CODEC(ZSTD(3)),
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(3)),
    Value Float64 CODEC(ZSTD(3))
) ENGINE = {engine:ReplacingMergeTree}
PARTITION BY toDate(Timestamp)
ORDER BY (Name, Subject, Detail, Timestamp)
{ttl:toDateTime(Timestamp)}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1""",
    ),
    (
        ALERTS,
        # No PARTITION BY: one evaluation's INSERT is one part, all or nothing.
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_alerts` {cluster} (
    Kind Enum8('state' = 1, 'event' = 2),
    Rule LowCardinality(String) CODEC(ZSTD(3)),
    Labels String CODEC(ZSTD(3)),
    EventId UInt64 CODEC(ZSTD(3)),
    State LowCardinality(String) CODEC(ZSTD(3)),
    ActiveSince DateTime64(9) CODEC(ZSTD(3)),
    Fired Nullable(DateTime64(9)) CODEC(ZSTD(3)),
    Resolved Nullable(DateTime64(9)) CODEC(ZSTD(3)),
    Value Nullable(Float64) CODEC(ZSTD(3)),
    Summary String CODEC(ZSTD(3)),
    Doc String CODEC(ZSTD(3)),
    Time DateTime64(9) CODEC(ZSTD(3)),
    Evaluation UInt64 CODEC(ZSTD(3)),
    Deleted UInt8 CODEC(ZSTD(3))
) ENGINE = {engine:ReplacingMergeTree(Evaluation, Deleted)}
ORDER BY (Kind, Rule, Labels, EventId)
{ttl_events:toDateTime(Time)}
SETTINGS index_granularity = 8192""",
    ),
    (
        FIXES,
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_fixes` {cluster} (
    DlqTopic LowCardinality(String) CODEC(ZSTD(3)),
    Partition Int32 CODEC(ZSTD(3)),
    Offset Int64 CODEC(ZSTD(3)),
    FixVersion UInt32 CODEC(ZSTD(3)),
    Payload String CODEC(ZSTD(3)),
    Created DateTime64(9) CODEC(ZSTD(3)),
    Author String CODEC(ZSTD(3)),
    Sha256 String CODEC(ZSTD(3)),
    SchemaId Nullable(Int64) CODEC(ZSTD(3)),
    SchemaGuid Nullable(String) CODEC(ZSTD(3)),
    SchemaHeader Nullable(String) CODEC(ZSTD(3))
) ENGINE = {engine:ReplacingMergeTree}
ORDER BY (DlqTopic, Partition, Offset, FixVersion)
SETTINGS index_granularity = 8192""",
    ),
    (
        REPLAYS,
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_replays` {cluster} (
    ReplayId String CODEC(ZSTD(3)),
    DlqTopic LowCardinality(String) CODEC(ZSTD(3)),
    Partition Int32 CODEC(ZSTD(3)),
    Offset Int64 CODEC(ZSTD(3)),
    TargetTopic LowCardinality(String) CODEC(ZSTD(3)),
    PayloadSha256 String CODEC(ZSTD(3)),
    State LowCardinality(String) CODEC(ZSTD(3)),
    Created DateTime64(9) CODEC(ZSTD(3)),
    ReplayCount UInt32 CODEC(ZSTD(3)),
    Acked Nullable(DateTime64(9)) CODEC(ZSTD(3)),
    TargetPartition Nullable(Int32) CODEC(ZSTD(3)),
    TargetOffset Nullable(Int64) CODEC(ZSTD(3)),
    Error Nullable(String) CODEC(ZSTD(3)),
    OsUser String CODEC(ZSTD(3)),
    Version UInt64 CODEC(ZSTD(3)),
    INDEX idx_coordinates (DlqTopic, Partition, Offset) TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = {engine:ReplacingMergeTree(Version)}
ORDER BY ReplayId
SETTINGS index_granularity = 8192""",
    ),
    (
        AUDIT,
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_audit` {cluster} (
    Time DateTime64(9) CODEC(Delta, ZSTD(3)),
    OsUser LowCardinality(String) CODEC(ZSTD(3)),
    Action LowCardinality(String) CODEC(ZSTD(3)),
    Target String CODEC(ZSTD(3)),
    Result String CODEC(ZSTD(3)),
    BeforeSha256 Nullable(String) CODEC(ZSTD(3)),
    AfterSha256 Nullable(String) CODEC(ZSTD(3)),
    Detail String CODEC(ZSTD(3))
) ENGINE = {engine:MergeTree}
ORDER BY Time
SETTINGS index_granularity = 8192""",
    ),
)

# The dead letters' side as ``deadletters.py`` serves it: a fix and a ledger line name their
# dead letter's cluster (two clusters' dead letters at one coordinate stay apart, as in SQLite);
# the audit keeps the order of lines written at one instant (``Seq``); the replay lock's claims
# (``locks.py``). A column added to a sorting key must have no default expression: ``''``.
_V2: tuple[tuple[str, str], ...] = (
    (
        FIXES,
        """ALTER TABLE {db}.`handoff_fixes` {cluster}
    ADD COLUMN IF NOT EXISTS Cluster LowCardinality(String) CODEC(ZSTD(3)),
    MODIFY ORDER BY (DlqTopic, Partition, Offset, FixVersion, Cluster)""",
    ),
    (
        REPLAYS,
        """ALTER TABLE {db}.`handoff_replays` {cluster}
    ADD COLUMN IF NOT EXISTS Cluster LowCardinality(String) CODEC(ZSTD(3))""",
    ),
    (
        AUDIT,
        """ALTER TABLE {db}.`handoff_audit` {cluster}
    ADD COLUMN IF NOT EXISTS Seq UInt64 CODEC(ZSTD(3))""",
    ),
    (
        LOCKS,
        # A claim is written again by its holder while it holds (Heartbeat), and once more
        # released; the newest Version of each (Name, Token) is the claim. Old ones expire.
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_locks` {cluster} (
    Name LowCardinality(String),
    Token String,
    Holder String,
    Claimed DateTime64(9),
    Heartbeat DateTime64(9),
    Released UInt8,
    Version UInt64
) ENGINE = {engine:ReplacingMergeTree(Version)}
ORDER BY (Name, Token)
TTL toDateTime(Heartbeat) + INTERVAL 7 DAY
SETTINGS index_granularity = 8192""",
    ),
)

# The view first, then the spans stored before it: a span inserted in between is in both, and
# the table's key (a ReplacingMergeTree over every column) and the readers' GROUP BY fold it.
_LINKS_SELECT = """SELECT arrayJoin(Links.TraceId) AS Linked, TraceId, Timestamp
FROM {db}.`otel_traces` WHERE notEmpty(Links.TraceId)"""
_V3: tuple[tuple[str, str], ...] = (
    (
        LINKS,
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_trace_links` {cluster} (
    Linked String CODEC(ZSTD(3)),
    TraceId String CODEC(ZSTD(3)),
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(3))
) ENGINE = {engine:ReplacingMergeTree}
PARTITION BY toDate(Timestamp)
ORDER BY (Linked, Timestamp, TraceId)
{ttl:toDateTime(Timestamp)}
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1""",
    ),
    (
        LINKS_MV,
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.`handoff_trace_links_mv` {cluster}"
        " TO {db}.`handoff_trace_links` AS " + _LINKS_SELECT,
    ),
    (LINKS, "INSERT INTO {db}.`handoff_trace_links` " + _LINKS_SELECT),
)

# The hops' text columns at ZSTD(1): as small as at ZSTD(3) for hops (ids and hashes that do not
# compress, headers and topics that compress at any level: 122 against 124 bytes a hop), and a
# tap's INSERT and the merges after it compress every hop again (bench/README.md: tap into chDB).
# A codec change is metadata: parts written before keep theirs until they merge.
_HOP_TEXT = (
    ("Cluster", "LowCardinality(String)"),
    ("Topic", "LowCardinality(String)"),
    ("Key", "Nullable(String)"),
    ("HeaderNames", "Array(LowCardinality(String))"),
    ("HeaderValues", "Array(Nullable(String))"),
    ("CorrelationId", "String"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("PayloadSha256", "String"),
    ("Payload", "Nullable(String)"),
    ("BusinessKeys", "Array(String)"),
)
_V5: tuple[tuple[str, str], ...] = (
    (
        HOPS,
        "ALTER TABLE {db}.`handoff_hops` {cluster} "
        + ", ".join(f"MODIFY COLUMN {n} {t} CODEC(ZSTD(1))" for n, t in _HOP_TEXT),
    ),
)

# Version -> (what it adds, its statements as (table, template)). Append, never edit.
MIGRATIONS: dict[int, tuple[str, tuple[tuple[str, str], ...]]] = {
    1: ("hops, dead letters, series, alerts, fixes, replay ledger, audit", _V1),
    2: ("fixes and ledger lines name their cluster, the audit its order, replay locks", _V2),
    3: ("span links by linked trace (handoff_trace_links and its view)", _V3),
    4: ("journeys' keys, sends and consumed coordinates (lookup_schema.py)", lk.V4),
    5: ("the hops' text columns compressed at ZSTD(1)", _V5),
    6: ("journeys' spans copied by trace id in small granules (lookup_schema.py)", lk.V6),
}
SCHEMA_VERSION = max(MIGRATIONS)

_MIGRATIONS_DDL = """CREATE TABLE IF NOT EXISTS {db}.`handoff_schema_migrations` {cluster} (
    Version UInt32,
    Description String,
    AppliedAt DateTime64(3)
) ENGINE = {engine:ReplacingMergeTree}
ORDER BY Version"""


def _render(template: str, options: HandoffDDL) -> str:
    """Fill a template: ``{engine:NAME(params)}`` -> the engine (Replicated on a cluster),
    ``{ttl:FIELD}`` -> a TTL on FIELD, ``{ttl_events:FIELD}`` -> one for alert events only,
    ``{ttl_traces}`` -> ``otel_traces``' own TTL."""
    out = template.replace("{db}", quote_ident(options.database))
    out = out.replace("{ttl_traces}", options.traces_ttl)
    out = out.replace("{cluster}", _cluster_clause(options.cluster))
    while "{engine:" in out:
        start = out.index("{engine:")
        end = out.index("}", start)
        spec = out[start + len("{engine:") : end]
        name, _, params = spec.partition("(")
        out = out[:start] + engine(options.cluster, name, params.rstrip(")")) + out[end + 1 :]
    for tag, where in (("{ttl:", ""), ("{ttl_events:", " DELETE WHERE Kind = 'event'")):
        while tag in out:
            start = out.index(tag)
            end = out.index("}", start)
            expr = ttl_expr(options.ttl_s, out[start + len(tag) : end])
            out = out[:start] + (expr + where if expr else "") + out[end + 1 :]
    return out


def _cluster_clause(cluster: str | None) -> str:
    return "ON CLUSTER `" + cluster.replace("`", "``") + "`" if cluster else ""


def render_migration(version: int, options: HandoffDDL) -> list[tuple[str, str]]:
    """``(table, statement)`` of one migration, rendered for a store."""
    return [(table, _render(sql, options)) for table, sql in MIGRATIONS[version][1]]


def applied_version(client: Client, database: str) -> int:
    """The newest migration applied (0: none, or no migrations table yet)."""
    exists = client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": MIGRATIONS_TABLE},
    ).result_rows[0][0]
    if not exists:
        return 0
    rows = client.query(
        f"SELECT max(Version) FROM {quote_ident(database)}.{quote_ident(MIGRATIONS_TABLE)}"
    ).result_rows
    return int(rows[0][0] or 0)


def migrate(
    client: Client, options: HandoffDDL, *, create: bool = True, upgrade: bool = True, where: str
) -> int:
    """Bring the ``handoff_*`` tables to ``SCHEMA_VERSION`` (``where`` names the store in
    errors); returns the version the store is at. ``create=False`` creates nothing: a store
    without the tables stays at 0 (readers then find no hops, no dead letters)."""
    version = applied_version(client, options.database)
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"{where}: its handoff_* tables are at version {version}, written by a newer "
            f"handoff-console (this one knows up to {SCHEMA_VERSION}); upgrade handoff-console"
        )
    if version == SCHEMA_VERSION or (version == 0 and not create):
        return version
    if not upgrade:
        raise NeedsUpgradeError(
            f"{where}: its handoff_* tables are at version {version}, this handoff-console "
            f"uses {SCHEMA_VERSION}; start `handoff-console serve --store {where}` (or tap) "
            "once to upgrade them, then run this again"
        )
    client.command(_render(_MIGRATIONS_DDL, options))
    maps = _map_attributes(client, options.database)
    options = dataclasses.replace(options, traces_ttl=_traces_ttl(client, options))
    for step in range(version + 1, SCHEMA_VERSION + 1):
        for table, statement in render_migration(step, options):
            if table in lk.NEEDS_MAP_ATTRIBUTES and not maps:
                continue  # JSON attributes (a Collector's ``json: true``): readers scan
            _run(client, statement, f"{where}: version {step}")
        _record(client, options.database, step, MIGRATIONS[step][0])
    return SCHEMA_VERSION


# A backfill (``INSERT INTO <lookup> SELECT ... FROM <source>``): the first table it reads.
_BACKFILL = re.compile(r"^INSERT INTO (\S+) .*?FROM (`[^`]+`\.`[^`]+`)", re.DOTALL)


def _run(client: Client, statement: str, step: str) -> None:
    """One statement of a migration. A backfill of rows already stored (a lookup filled from
    ``otel_traces`` or ``handoff_hops``: every span of a big store) says on stderr what it reads
    and how long it took; on a new store there is nothing to fill, and nothing is said."""
    backfill = _BACKFILL.match(statement)
    rows = 0
    if backfill:
        rows = int(client.query(f"SELECT count() FROM {backfill.group(2)}").result_rows[0][0])
    if not rows:
        client.command(statement)
        return
    assert backfill is not None
    target, source = backfill.group(1), backfill.group(2)
    print(f"{step}: filling {target} from {rows:,} rows of {source} ...", file=sys.stderr,
          flush=True)  # fmt: skip
    started = time.monotonic()
    client.command(statement)
    print(f"{step}: {target} filled in {time.monotonic() - started:.1f} s", file=sys.stderr,
          flush=True)  # fmt: skip


def _map_attributes(client: Client, database: str) -> bool:
    """Whether ``otel_traces`` keeps its attributes as ``Map`` columns (the exporter's default)."""
    rows = client.query(
        "SELECT count() FROM system.columns WHERE database = {db:String}"
        " AND table = 'otel_traces' AND name IN ('SpanAttributes', 'ResourceAttributes')"
        " AND startsWith(type, 'Map(')",
        parameters={"db": database},
    ).result_rows
    return int(rows[0][0]) == 2


# The exporter's TTL on otel_traces (``ttl_expr``'s shapes, as system.tables shows it).
_TRACES_TTL = re.compile(r"\bTTL (toDateTime\(Timestamp\) \+ toInterval[A-Za-z]+\(\d+\))")


def _traces_ttl(client: Client, options: HandoffDDL) -> str:
    """``otel_traces``' TTL clause, whoever made the table (this console with
    ``--retention-age``, a team's Collector with its ``ttl``), so that version 6's copy of its
    spans drops them when it does; the console's own TTL where the table is not there yet, or
    its TTL has another shape."""
    rows = client.query(
        "SELECT engine_full FROM system.tables WHERE database = {db:String}"
        " AND name = 'otel_traces'",
        parameters={"db": options.database},
    ).result_rows
    found = _TRACES_TTL.search(rows[0][0]) if rows else None
    if found:
        return "TTL " + found.group(1)
    return ttl_expr(options.ttl_s, "toDateTime(Timestamp)")


def _record(client: Client, database: str, version: int, description: str) -> None:
    import datetime as _dt

    client.insert(
        f"{quote_ident(database)}.{quote_ident(MIGRATIONS_TABLE)}",
        [[version, description, _dt.datetime.now(_dt.UTC)]],
        column_names=["Version", "Description", "AppliedAt"],
    )


def statements(options: HandoffDDL) -> Sequence[str]:
    """Every statement that makes a new store's ``handoff_*`` tables (for review and tests)."""
    out = [_render(_MIGRATIONS_DDL, options)]
    for step in sorted(MIGRATIONS):
        out.extend(sql for _table, sql in render_migration(step, options))
    return out
