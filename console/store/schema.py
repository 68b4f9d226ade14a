"""The store's schema and its forward migrations (``PRAGMA user_version``).

A handoff-console file carries ``PRAGMA application_id = 0x48414E44`` ("HAND"); any other
non-empty SQLite file is refused, and so is a file whose ``user_version`` is newer than this code.
To change the schema, append a migration to ``MIGRATIONS``: never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from console.errors import NotAStoreError, SchemaTooNewError

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "counts", "migrate", "used_bytes"]

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

# Issue 14: the cluster a dead letter came from (its coordinates are unique per cluster: two
# clusters tapped into one store never collide), and a fix's schema (id, GUID, and the
# __value_schema_id header it rides on when the schema is in headers) so replay needs no registry.
_V2_DLQ_CLUSTER_AND_SCHEMA = """
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

MIGRATIONS: list[str] = [_V1, _V2_DLQ_CLUSTER_AND_SCHEMA]
SCHEMA_VERSION = len(MIGRATIONS)

# Tables retention may trim, with the column that dates a row (nanoseconds).
TIMED_TABLES: dict[str, str] = {
    "spans": "start_ns",
    "span_links": "start_ns",
    "metric_points": "time_ns",
    "log_records": "time_ns",
    "hops": "seen_ns",
    "series": "time_ns",
    "dead_letters": "first_seen_ns",
}


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file to ``SCHEMA_VERSION``; refuse foreign or newer files."""
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
    if version == 0:
        # auto_vacuum must be chosen before the first table exists.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("PRAGMA journal_mode = WAL")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = conn.execute("PRAGMA user_version").fetchone()[0]
            if current >= target:  # another process migrated meanwhile
                conn.execute("ROLLBACK")
                continue
            for statement in _statements(MIGRATIONS[target - 1]):
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def used_bytes(conn: sqlite3.Connection) -> int:
    """Bytes the database's live pages take (free pages not counted)."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return (pages - free) * page_size


def counts(conn: sqlite3.Connection) -> dict[str, object]:
    """Counts for ``stats``."""

    def one(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0])

    services = [r[0] for r in conn.execute("SELECT name FROM services ORDER BY name")]
    per_service: dict[str, dict[str, int]] = {name: {} for name in services}
    for table, key in (
        ("spans", "spans"),
        ("metric_points", "metric_points"),
        ("log_records", "log_records"),
    ):
        for name, n in conn.execute(f"SELECT service, count(*) FROM {table} GROUP BY service"):
            per_service.setdefault(name, {})[key] = n
    topics: dict[str, dict[str, int]] = {}
    for topic, n in conn.execute("SELECT topic, count(*) FROM hops GROUP BY topic"):
        topics.setdefault(topic, {})["hops"] = n
    for topic, n in conn.execute("SELECT dlq_topic, count(*) FROM dead_letters GROUP BY dlq_topic"):
        topics.setdefault(topic, {})["dead_letters"] = n
    return {
        "spans": one("SELECT count(*) FROM spans"),
        "metric_points": one("SELECT count(*) FROM metric_points"),
        "log_records": one("SELECT count(*) FROM log_records"),
        "hops": one("SELECT count(*) FROM hops"),
        "dead_letters": one("SELECT count(*) FROM dead_letters"),
        "services": services,
        "per_service": per_service,
        "topics": topics,
    }
