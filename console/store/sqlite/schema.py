"""The store's schema and its forward migrations (``PRAGMA user_version``).

A handoff-console file carries ``PRAGMA application_id = 0x48414E44`` ("HAND"); any other
non-empty SQLite file is refused, and so is a file whose ``user_version`` is newer than this code.
To change the schema, append a migration to ``MIGRATIONS``: never edit one that has shipped.

Why ~610 lines in one room: most of it is ``MIGRATIONS``, the DDL of every shipped version,
appended to and never edited; the code that applies them and counts what is stored is ~130
lines.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from console.base.errors import NeedsUpgradeError, NotAStoreError, SchemaTooNewError
from console.store.api import StoreCounts
from console.store.sqlite.tx import transaction

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "V1_DATA_TABLES",
    "StoreCounts",
    "counts",
    "has_v1_data",
    "live_bytes",
    "migrate",
    "used_bytes",
    "wal_bytes",
]

APPLICATION_ID = 0x48414E44

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE resources (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);

CREATE TABLE services (
    name TEXT PRIMARY KEY,
    first_seen_ns INTEGER NOT NULL,
    last_seen_ns INTEGER NOT NULL
);

CREATE TABLE spans (
    id INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status_code INTEGER NOT NULL,
    status_message TEXT NOT NULL,
    service TEXT NOT NULL,
    scope TEXT NOT NULL,
    correlation_id TEXT,
    msg_system TEXT,
    msg_destination TEXT,
    msg_partition INTEGER,
    msg_offset INTEGER,
    msg_operation TEXT,
    msg_group TEXT,
    attributes TEXT NOT NULL,
    resource_id INTEGER REFERENCES resources(id),
    events TEXT,
    links TEXT
);
CREATE UNIQUE INDEX spans_trace_span ON spans(trace_id, span_id);
CREATE INDEX spans_correlation ON spans(correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX spans_start ON spans(start_ns);
CREATE INDEX spans_destination_group ON spans(msg_destination, msg_group)
    WHERE msg_group IS NOT NULL;

CREATE TABLE span_links (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    linked_trace_id TEXT NOT NULL,
    linked_span_id TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    PRIMARY KEY (trace_id, span_id, linked_trace_id, linked_span_id)
) WITHOUT ROWID;
CREATE INDEX span_links_linked ON span_links(linked_trace_id);

CREATE TABLE metric_points (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    start_time_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value REAL,
    count INTEGER,
    sum REAL,
    bucket_counts TEXT,
    explicit_bounds TEXT,
    unit TEXT NOT NULL,
    attributes TEXT NOT NULL
);
CREATE INDEX metric_points_name_time ON metric_points(name, time_ns);
CREATE INDEX metric_points_time ON metric_points(time_ns);

CREATE TABLE log_records (
    id INTEGER PRIMARY KEY,
    time_ns INTEGER NOT NULL,
    service TEXT NOT NULL,
    severity_number INTEGER NOT NULL,
    severity_text TEXT NOT NULL,
    body TEXT NOT NULL,
    trace_id TEXT,
    span_id TEXT,
    correlation_id TEXT,
    attributes TEXT NOT NULL
);
CREATE INDEX log_records_time ON log_records(time_ns);
CREATE INDEX log_records_trace ON log_records(trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX log_records_correlation ON log_records(correlation_id)
    WHERE correlation_id IS NOT NULL;

CREATE TABLE hops (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    timestamp_type INTEGER NOT NULL,
    key BLOB,
    size INTEGER NOT NULL,
    headers TEXT NOT NULL,
    correlation_id TEXT,
    trace_id TEXT,
    span_id TEXT,
    payload_sha256 TEXT,
    payload BLOB,
    seen_ns INTEGER NOT NULL
);
CREATE UNIQUE INDEX hops_coordinates ON hops(topic, partition, offset);
CREATE INDEX hops_correlation ON hops(correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX hops_trace ON hops(trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX hops_seen ON hops(seen_ns);

CREATE TABLE dead_letters (
    id INTEGER PRIMARY KEY,
    dlq_topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    key BLOB,
    headers TEXT NOT NULL,
    payload BLOB,
    payload_truncated INTEGER NOT NULL,
    payload_size INTEGER NOT NULL,
    convention TEXT NOT NULL,
    original_topic TEXT,
    original_partition INTEGER,
    original_offset INTEGER,
    original_timestamp_ms INTEGER,
    consumer_group TEXT,
    exception_class TEXT,
    exception_cause_class TEXT,
    exception_message TEXT,
    stacktrace TEXT,
    correlation_id TEXT,
    trace_id TEXT,
    first_seen_ns INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    status_ns INTEGER
);
CREATE UNIQUE INDEX dead_letters_coordinates ON dead_letters(dlq_topic, partition, offset);
CREATE INDEX dead_letters_correlation ON dead_letters(correlation_id)
    WHERE correlation_id IS NOT NULL;
CREATE INDEX dead_letters_trace ON dead_letters(trace_id) WHERE trace_id IS NOT NULL;
CREATE INDEX dead_letters_seen ON dead_letters(first_seen_ns);
CREATE INDEX dead_letters_status ON dead_letters(status, first_seen_ns);
-- Covers `dlq list` (newest first, filters) without reading payloads and headers.
CREATE INDEX dead_letters_list ON dead_letters(
    timestamp_ms, dlq_topic, partition, offset, original_topic, original_partition,
    original_offset, exception_class, exception_cause_class, exception_message, correlation_id,
    status, payload_size, convention
);
CREATE INDEX dead_letters_depth ON dead_letters(dlq_topic, status, timestamp_ms);

CREATE TABLE fixed_payloads (
    id INTEGER PRIMARY KEY,
    dlq_topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    version INTEGER NOT NULL,
    payload BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    author TEXT NOT NULL,
    UNIQUE (dlq_topic, partition, offset, version)
);

CREATE TABLE replay_ledger (
    replay_id TEXT PRIMARY KEY,
    dlq_topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    target_topic TEXT NOT NULL,
    payload_sha256 TEXT NOT NULL,
    state TEXT NOT NULL,
    replay_count INTEGER NOT NULL,
    created_ns INTEGER NOT NULL,
    acked_ns INTEGER,
    target_partition INTEGER,
    target_offset INTEGER,
    error TEXT,
    os_user TEXT NOT NULL
);
CREATE INDEX replay_ledger_coordinates ON replay_ledger(dlq_topic, partition, offset);
CREATE INDEX replay_ledger_state ON replay_ledger(state);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    time_ns INTEGER NOT NULL,
    os_user TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    before_sha256 TEXT,
    after_sha256 TEXT,
    result TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log(time_ns);

CREATE TABLE series (
    name TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX series_lookup ON series(name, subject, time_ns);
CREATE INDEX series_time ON series(time_ns);
"""

# Version 2 (store v2): spans, hops and log records in compressed blocks, a key index in time
# segments (``keys_<segment>`` tables, created by the writer), and summaries kept at ingest. The
# version-1 tables ``spans``, ``span_links``, ``hops``, ``log_records`` and ``resources`` stay
# until the writer has moved their rows into blocks (``console/store/sqlite/upgrade.py``).
_V2 = """
CREATE TABLE blocks (
    id INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    segment INTEGER NOT NULL,
    n INTEGER NOT NULL,
    min_ns INTEGER NOT NULL,
    max_ns INTEGER NOT NULL,
    raw_bytes INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX blocks_kind ON blocks(kind, id);

CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    created_ns INTEGER NOT NULL,
    first_block INTEGER,
    last_block INTEGER,
    min_ns INTEGER,
    max_ns INTEGER,
    keys INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE hop_ranges (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    bucket INTEGER NOT NULL,
    block INTEGER NOT NULL,
    lo INTEGER NOT NULL,
    hi INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, bucket, block)
) WITHOUT ROWID;

CREATE TABLE service_rollup (
    service TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    spans INTEGER NOT NULL DEFAULT 0,
    entries INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    logs INTEGER NOT NULL DEFAULT 0,
    bins TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (service, bucket)
) WITHOUT ROWID;
CREATE INDEX service_rollup_bucket ON service_rollup(bucket);

CREATE TABLE topic_rollup (
    topic TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    hops INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    last_ns INTEGER NOT NULL,
    PRIMARY KEY (topic, bucket)
) WITHOUT ROWID;

CREATE TABLE pending_sends (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    correlation_id TEXT,
    sent_ns INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
-- No index on sent_ns: a pending send is deleted once a consumer names it, so the table holds
-- only what is in flight or stalled, and the stalled search scans it (an index cost ~30 bytes
-- and a B-tree insert per message the tap sees).

CREATE TABLE consumed_marks (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    seen_ns INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;

CREATE TABLE topic_groups (
    topic TEXT NOT NULL,
    grp TEXT NOT NULL,
    last_ns INTEGER NOT NULL,
    PRIMARY KEY (topic, grp)
) WITHOUT ROWID;

CREATE TABLE journey_activity (
    bucket INTEGER NOT NULL,
    correlation_id TEXT NOT NULL,
    last_ns INTEGER NOT NULL,
    flags INTEGER NOT NULL,
    PRIMARY KEY (bucket, correlation_id)
) WITHOUT ROWID;
"""


# The version-1 tables whose rows the writer moves into blocks; readers refuse a store that
# still has one of them (a version-1 store, or one whose upgrade was interrupted).
V1_DATA_TABLES = ("spans", "span_links", "hops", "log_records", "resources")
# Version 3: the cluster a dead letter came from (its coordinates are unique per cluster: two
# clusters tapped into one store never collide), and a fix's schema (id, GUID, and the
# __value_schema_id header it rides on when the schema is in headers) so replay needs no registry.
_V3_DLQ_CLUSTER_AND_SCHEMA = """
ALTER TABLE dead_letters ADD COLUMN cluster_id TEXT;
DROP INDEX dead_letters_coordinates;
CREATE UNIQUE INDEX dead_letters_coordinates
    ON dead_letters(dlq_topic, partition, offset, coalesce(cluster_id, ''));
DROP INDEX dead_letters_list;
CREATE INDEX dead_letters_list ON dead_letters(
    timestamp_ms, dlq_topic, partition, offset, original_topic, original_partition,
    original_offset, exception_class, exception_cause_class, exception_message, correlation_id,
    status, payload_size, convention, cluster_id
);
ALTER TABLE fixed_payloads ADD COLUMN schema_id INTEGER;
ALTER TABLE fixed_payloads ADD COLUMN schema_guid TEXT;
ALTER TABLE fixed_payloads ADD COLUMN schema_header BLOB;
"""

# Version 4: what an exponential histogram needs for percentiles (its scale, zero bucket and the
# two bucket ranges, counts as JSON arrays); NULL for every other kind and for older points.
_V4_EXPONENTIAL_BUCKETS = """
ALTER TABLE metric_points ADD COLUMN exp_scale INTEGER;
ALTER TABLE metric_points ADD COLUMN exp_zero_count INTEGER;
ALTER TABLE metric_points ADD COLUMN exp_positive_offset INTEGER;
ALTER TABLE metric_points ADD COLUMN exp_positive_counts TEXT;
ALTER TABLE metric_points ADD COLUMN exp_negative_offset INTEGER;
ALTER TABLE metric_points ADD COLUMN exp_negative_counts TEXT;
CREATE INDEX metric_points_service_name_time ON metric_points(service, name, time_ns);
"""

# Fixes and replay ledger lines are keyed by cluster too, as dead letters are since version 3.
# A fix or a line written before this was made while its coordinates named one dead letter (the
# commands refused coordinates two clusters share), so it goes to the first one seen there.
# fixed_payloads is rebuilt: its UNIQUE (coordinates, version) constraint cannot be altered.
_OWNER_CLUSTER = """(SELECT d.cluster_id FROM dead_letters d WHERE d.dlq_topic = {t}.dlq_topic
    AND d.partition = {t}.partition AND d.offset = {t}.offset ORDER BY d.first_seen_ns, d.id
    LIMIT 1)"""
_V5_FIXES_AND_LEDGER_BY_CLUSTER = f"""
CREATE TABLE fixed_payloads_v5 (
    id INTEGER PRIMARY KEY,
    dlq_topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    version INTEGER NOT NULL,
    payload BLOB NOT NULL,
    sha256 TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    author TEXT NOT NULL,
    schema_id INTEGER,
    schema_guid TEXT,
    schema_header BLOB,
    cluster_id TEXT
);
INSERT INTO fixed_payloads_v5 (id, dlq_topic, partition, offset, version, payload, sha256,
    created_ns, author, schema_id, schema_guid, schema_header, cluster_id)
SELECT id, dlq_topic, partition, offset, version, payload, sha256, created_ns, author, schema_id,
    schema_guid, schema_header, {_OWNER_CLUSTER.format(t="f")}
FROM fixed_payloads f;
DROP TABLE fixed_payloads;
ALTER TABLE fixed_payloads_v5 RENAME TO fixed_payloads;
CREATE UNIQUE INDEX fixed_payloads_version
    ON fixed_payloads(dlq_topic, partition, offset, coalesce(cluster_id, ''), version);
ALTER TABLE replay_ledger ADD COLUMN cluster_id TEXT;
UPDATE replay_ledger SET cluster_id = {_OWNER_CLUSTER.format(t="replay_ledger")};
DROP INDEX replay_ledger_coordinates;
CREATE INDEX replay_ledger_coordinates
    ON replay_ledger(dlq_topic, partition, offset, coalesce(cluster_id, ''));
"""

# Version 6: when each block arrived, by this machine's clock (the senders' clocks may be skewed:
# retention goes by arrival, so no sender's clock decides what is kept), and the blocks by kind
# and newest record time, so a reader finds a time window's blocks through an index. Blocks
# written before it have no arrival time: retention dates them by their newest record. Block ids
# are never reused from this version on: the highest id given is kept in ``meta``
# (``last_block_id``), so a follower's cursor never points past a block still to come.
_V6_ARRIVAL = """
ALTER TABLE blocks ADD COLUMN arrived_ns INTEGER;
CREATE INDEX blocks_arrived ON blocks(arrived_ns);
CREATE INDEX blocks_kind_time ON blocks(kind, max_ns);
INSERT OR IGNORE INTO meta (key, value)
    SELECT 'last_block_id', coalesce(max(id), 0) FROM blocks;
"""

# Version 7: a histogram point's ``min`` and ``max`` (OTLP sends them optionally), so quantile
# estimates never leave what was observed; NULL where the exporter sent none and for older points.
_V7_HISTOGRAM_MIN_MAX = """
ALTER TABLE metric_points ADD COLUMN min_value REAL;
ALTER TABLE metric_points ADD COLUMN max_value REAL;
"""

# Version 8: alert state (``console/store/sqlite/alerts.py``). ``alert_state`` holds each alert's
# current episode (pending, firing or resolved) keyed by rule and labels, so a restarted console
# does not fire again what already fired; ``alert_events`` keeps every firing and resolution.
_V8_ALERTS = """
CREATE TABLE alert_state (
    rule TEXT NOT NULL,
    labels TEXT NOT NULL,
    state TEXT NOT NULL,
    active_since_ns INTEGER NOT NULL,
    fired_ns INTEGER,
    resolved_ns INTEGER,
    value REAL,
    summary TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (rule, labels)
);
CREATE TABLE alert_events (
    id INTEGER PRIMARY KEY,
    time_ns INTEGER NOT NULL,
    rule TEXT NOT NULL,
    labels TEXT NOT NULL,
    state TEXT NOT NULL,
    value REAL,
    summary TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX alert_events_time ON alert_events(time_ns);
"""

# Version 9: when each metric point arrived, by this machine's clock, as blocks have since version
# 6: retention goes by arrival, so a point stamped by a host hours slow is not dropped as it
# arrives, nor one stamped hours fast kept past its time. Older points have none: retention dates
# them by their own time.
_V9_METRIC_ARRIVAL = """
ALTER TABLE metric_points ADD COLUMN arrived_ns INTEGER;
CREATE INDEX metric_points_arrived ON metric_points(arrived_ns);
"""

MIGRATIONS: list[str] = [
    _V1,
    _V2,
    _V3_DLQ_CLUSTER_AND_SCHEMA,
    _V4_EXPONENTIAL_BUCKETS,
    _V5_FIXES_AND_LEDGER_BY_CLUSTER,
    _V6_ARRIVAL,
    _V7_HISTOGRAM_MIN_MAX,
    _V8_ALERTS,
    _V9_METRIC_ARRIVAL,
]
SCHEMA_VERSION = len(MIGRATIONS)

# Tables retention may trim, with the condition that dates a row before a cutoff (nanoseconds;
# each ``?`` is the cutoff): by arrival where the row's own time is a sender's.
TIMED_TABLES: dict[str, str] = {
    "metric_points": "(arrived_ns < ? OR (arrived_ns IS NULL AND time_ns < ?))",
    "series": "time_ns < ?",
    "dead_letters": "first_seen_ns < ?",
    "consumed_marks": "seen_ns < ?",
    "pending_sends": "sent_ns < ?",
    "alert_events": "time_ns < ?",
}


def migrate(conn: sqlite3.Connection, path: Path, *, upgrade: bool = True) -> None:
    """Bring the file to ``SCHEMA_VERSION``; refuse foreign or newer files.

    ``upgrade=False`` (readers): a new file is created at the current version, but an existing
    older one is refused with a one-line ``NeedsUpgradeError`` saying how to upgrade it; only the
    writer (serve, tap, tui, demo) upgrades a store."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if app_id != APPLICATION_ID:
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id != 0 or tables or version:
            raise NotAStoreError(
                f"{path} is an SQLite database of another application; "
                "handoff-console will not touch it (pass another --db)"
            )
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"{path} has schema version {version}, newer than this handoff-console "
            f"understands ({SCHEMA_VERSION}); upgrade handoff-console"
        )
    if 0 < version < SCHEMA_VERSION and not upgrade:
        raise NeedsUpgradeError(
            f"{path} is a version-{version} store; start `handoff-console serve --db {path}` (or "
            "tap, tui, demo) once to upgrade it, then run this again"
        )
    if version == 0:
        # auto_vacuum must be chosen before the first table exists.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("PRAGMA journal_mode = WAL")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        with transaction(conn) as tx:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current >= target:  # another process migrated meanwhile
                tx.rollback()
                continue
            for statement in _statements(MIGRATIONS[target - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {target}")
            if version == 0 and target == SCHEMA_VERSION:
                # A new file: the version-1 data tables hold nothing to move; drop them now.
                for table in V1_DATA_TABLES:
                    conn.execute(f"DROP TABLE IF EXISTS {table}")


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def live_bytes(conn: sqlite3.Connection) -> int:
    """Bytes the database's live pages take (free pages and the WAL not counted)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int((pages - free) * page_size)


def wal_bytes(conn: sqlite3.Connection) -> int:
    """Bytes the write-ahead log takes on disk (0 without one)."""
    row = conn.execute("PRAGMA database_list").fetchone()
    path = row[2] if row is not None else ""
    try:
        return os.path.getsize(f"{path}-wal") if path else 0
    except OSError:
        return 0


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes the store holds on disk that retention answers for: its live pages and its WAL."""
    return live_bytes(conn) + wal_bytes(conn)


def has_v1_data(conn: sqlite3.Connection) -> bool:
    """True while a version-1 data table is still there (an upgrade not yet finished)."""
    marks = ",".join("?" * len(V1_DATA_TABLES))
    row = conn.execute(
        f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",
        V1_DATA_TABLES,
    ).fetchone()
    return bool(row[0])


def counts(conn: sqlite3.Connection) -> StoreCounts:
    """Counts for ``stats``: records stored (a duplicate caught at ingest is not counted)."""

    def one(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0] or 0)

    services = [r[0] for r in conn.execute("SELECT name FROM services ORDER BY name")]
    per_service: dict[str, dict[str, int]] = {name: {} for name in services}
    for name, spans, logs in conn.execute(
        "SELECT service, sum(spans), sum(logs) FROM service_rollup GROUP BY service"
    ):
        if spans:
            per_service.setdefault(name, {})["spans"] = spans
        if logs:
            per_service.setdefault(name, {})["log_records"] = logs
    for name, n in conn.execute("SELECT service, count(*) FROM metric_points GROUP BY service"):
        per_service.setdefault(name, {})["metric_points"] = n
    per_service = {
        name: dict(sorted(v.items(), key=lambda kv: _ORDER.index(kv[0])))
        for name, v in per_service.items()
    }
    topics: dict[str, dict[str, int]] = {}
    for topic, n in conn.execute("SELECT topic, sum(hops) FROM topic_rollup GROUP BY topic"):
        topics.setdefault(topic, {})["hops"] = n
    for topic, n in conn.execute("SELECT dlq_topic, count(*) FROM dead_letters GROUP BY dlq_topic"):
        topics.setdefault(topic, {})["dead_letters"] = n
    kinds = dict(conn.execute("SELECT kind, sum(n) FROM blocks GROUP BY kind").fetchall())
    return {  # a StoreCounts
        "spans": int(kinds.get(1) or 0),
        "metric_points": one("SELECT count(*) FROM metric_points"),
        "log_records": int(kinds.get(3) or 0),
        "hops": int(kinds.get(2) or 0),
        "dead_letters": one("SELECT count(*) FROM dead_letters"),
        "services": services,
        "per_service": per_service,
        "topics": dict(sorted(topics.items())),
    }


_ORDER = ("spans", "metric_points", "log_records")
