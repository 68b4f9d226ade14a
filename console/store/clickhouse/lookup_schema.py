"""``handoff_schema``'s versions 4 and 6: the console's lookup tables beside the exporter's,
kept at insert time by materialized views, so a journey and the stalled search read a few rows
by key instead of scanning the exporter's tables (whose DDL stays the exporter's, verbatim).

* ``handoff_journey_keys``: per correlation id (``By = 'correlation'``) the spans that carry it
  (their trace and start; the correlation id as ``semconv`` derives it with
  ``DEFAULT_CORRELATION_KEYS``: on the span, then on its resource) and the hops that carry it
  (their coordinates and trace); per trace id (``By = 'trace'``) its spans' starts and the
  hops that name it; per linked trace (``By = 'link'``) the spans linking to it. Ordered by
  ``Id``: a journey's round is one primary-key read of this table, then its spans by
  ``TraceId`` inside the window these rows give, its hops by ``handoff_hops``' own key
  (``read_journeys.py``). Dead letters are not here: their table is small, keeps no TTL (this
  one does), and keeps its bloom filters.
* ``handoff_sends``: a hop with a correlation id as the stalled search counts it (when it was
  sent: its Kafka timestamp, else when the tap saw it), ordered by that time.
* ``handoff_consumed``: the Kafka coordinates a consumer span names, ordered by its start.
* ``handoff_consumer_groups``: the consumer groups consumer spans name, per topic (a stalled
  journey names the groups that should have taken it).
* ``handoff_journey_spans`` (version 6): the spans a journey reads, by trace id, in 256-row
  granules (``V6`` below says why).

The stalled search's pending sends are then the window's ``handoff_sends`` rows whose
coordinates no ``handoff_consumed`` row of the window names: two range reads of narrow tables.

Each table has its view first, then the rows stored before the view existed (a row inserted in
between is in both; every column is in the ``ReplacingMergeTree``'s key, and readers group).
The views over ``otel_traces`` read its attribute maps: a store whose Collector made them
``JSON`` (``json: true``) gets neither view, and readers keep the scans they used before
(``read_journeys.py``, ``read_candidates.py``: each lookup is used only where its view exists).
"""

from __future__ import annotations

from console.base.semconv import (
    DEFAULT_CORRELATION_KEYS,
    GROUP_KEYS,
    OFFSET_KEYS,
    OPERATION_KEYS,
)
from console.store.clickhouse.attr_sql import first_of, is_consumer

__all__ = [
    "CONSUMED",
    "CONSUMED_MV",
    "COPIED_SPANS",
    "COPIED_SPANS_MV",
    "GROUPS",
    "GROUPS_MV",
    "KEYS",
    "KEYS_HOPS_MV",
    "KEYS_SPANS_MV",
    "NEEDS_MAP_ATTRIBUTES",
    "SENDS",
    "SENDS_MV",
    "V4",
    "V6",
]

KEYS = "handoff_journey_keys"
KEYS_SPANS_MV = "handoff_journey_keys_spans_mv"
KEYS_HOPS_MV = "handoff_journey_keys_hops_mv"
SENDS = "handoff_sends"
SENDS_MV = "handoff_sends_mv"
CONSUMED = "handoff_consumed"
CONSUMED_MV = "handoff_consumed_mv"
GROUPS = "handoff_consumer_groups"
GROUPS_MV = "handoff_consumer_groups_mv"
COPIED_SPANS = "handoff_journey_spans"
COPIED_SPANS_MV = "handoff_journey_spans_mv"

_SPAN_CID = first_of(("SpanAttributes", "ResourceAttributes"), DEFAULT_CORRELATION_KEYS)
_SPAN_OFFSET = f"toInt64OrNull({first_of(('SpanAttributes',), OFFSET_KEYS)})"
_SPAN_OP = first_of(("SpanAttributes",), OPERATION_KEYS)
_IS_CONSUMER = is_consumer(_SPAN_OP)
# When a hop was sent: its Kafka timestamp, else when the tap saw it (read_candidates._SENT).
_SENT = "if(toUnixTimestamp64Milli(Timestamp) > 0, toDateTime64(Timestamp, 9), SeenAt)"

#: The statements whose view reads ``otel_traces``' attribute maps (made only where they are
#: ``Map`` columns: ``handoff_schema.migrate``).
NEEDS_MAP_ATTRIBUTES = frozenset(
    {KEYS_SPANS_MV, CONSUMED_MV, GROUPS_MV, COPIED_SPANS, COPIED_SPANS_MV}
)

# A span by its correlation id and by its trace id (its start: the window its trace's spans
# are read in), and each trace it links to (``By = 'link'``: the traces linking to T).
_KEYS_FROM_SPANS = f"""SELECT Id, By, 'span' AS Source, TraceId,
    '' AS Cluster, '' AS Topic, toInt32(0) AS Partition, toInt64(0) AS Offset, Timestamp
FROM (SELECT {_SPAN_CID} AS Cid, TraceId, Timestamp, Links.TraceId AS Linked
    FROM {{db}}.`otel_traces`)
ARRAY JOIN arrayConcat([Cid, TraceId], Linked) AS Id,
    arrayConcat(['correlation', 'trace'], arrayMap(x -> 'link', Linked)) AS By
WHERE Id != ''"""
# A hop by its correlation id and by its trace id; its time is when the tap saw it (its Kafka
# timestamp may be missing), as handoff_hops' TTL goes.
_KEYS_FROM_HOPS = """SELECT Id, By, 'hop' AS Source, TraceId, Cluster, Topic, Partition, Offset,
    SeenAt AS Timestamp
FROM {db}.`handoff_hops`
ARRAY JOIN [CorrelationId, TraceId] AS Id, ['correlation', 'trace'] AS By
WHERE Id != ''"""
_SENDS_FROM_HOPS = f"""SELECT {_SENT} AS Sent, Cluster, Topic, Partition, Offset, CorrelationId
FROM {{db}}.`handoff_hops` WHERE CorrelationId != ''"""
_CONSUMED_FROM_SPANS = f"""SELECT Timestamp, Topic, Partition, Offset FROM (SELECT Timestamp,
    SpanAttributes['messaging.destination.name'] AS Topic,
    toInt32OrZero(SpanAttributes['messaging.destination.partition.id']) AS Partition,
    {_SPAN_OFFSET} AS Offset, {_IS_CONSUMER} AS Consumer FROM {{db}}.`otel_traces`)
WHERE Topic != '' AND Consumer AND Offset IS NOT NULL"""

# A topic's consumer groups as its consumer spans name them (read_journeys.consumer_groups).
_GROUPS_FROM_SPANS = f"""SELECT Topic, Grp AS ConsumerGroup, Timestamp FROM (SELECT Timestamp,
    SpanAttributes['messaging.destination.name'] AS Topic,
    {first_of(("SpanAttributes",), GROUP_KEYS)} AS Grp, {_IS_CONSUMER} AS Consumer
    FROM {{db}}.`otel_traces`)
WHERE Consumer AND Grp != ''"""

V4: tuple[tuple[str, str], ...] = (
    (
        KEYS,
        # One partition and small granules: a lookup reads a granule per part, and
        # partitions by day would make that one per day kept. The TTL deletes rows as parts
        # merge. ZSTD(1): a lookup decompresses little, and the ids are most of the bytes.
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_journey_keys` {cluster} (
    Id String CODEC(ZSTD(1)),
    By Enum8('correlation' = 1, 'trace' = 2, 'link' = 3),
    Source Enum8('span' = 1, 'hop' = 2),
    TraceId String CODEC(ZSTD(1)),
    Cluster LowCardinality(String),
    Topic LowCardinality(String),
    Partition Int32,
    Offset Int64,
    Timestamp DateTime64(9)
) ENGINE = {engine:ReplacingMergeTree}
ORDER BY (Id, By, Source, TraceId, Topic, Partition, Offset, Cluster, Timestamp)
{ttl:toDateTime(Timestamp)}
SETTINGS index_granularity = 256""",
    ),
    (
        KEYS_SPANS_MV,
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.`handoff_journey_keys_spans_mv` {cluster}"
        " TO {db}.`handoff_journey_keys` AS " + _KEYS_FROM_SPANS,
    ),
    (KEYS_SPANS_MV, "INSERT INTO {db}.`handoff_journey_keys` " + _KEYS_FROM_SPANS),
    (
        KEYS_HOPS_MV,
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.`handoff_journey_keys_hops_mv` {cluster}"
        " TO {db}.`handoff_journey_keys` AS " + _KEYS_FROM_HOPS,
    ),
    (KEYS_HOPS_MV, "INSERT INTO {db}.`handoff_journey_keys` " + _KEYS_FROM_HOPS),
    (
        SENDS,
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_sends` {cluster} (
    Sent DateTime64(9) CODEC(Delta, ZSTD(3)),
    Cluster LowCardinality(String) CODEC(ZSTD(3)),
    Topic LowCardinality(String) CODEC(ZSTD(3)),
    Partition Int32 CODEC(ZSTD(3)),
    Offset Int64 CODEC(ZSTD(3)),
    CorrelationId String CODEC(ZSTD(3))
) ENGINE = {engine:ReplacingMergeTree}
PARTITION BY toDate(Sent)
ORDER BY (Sent, Topic, Partition, Offset, Cluster, CorrelationId)
{ttl:toDateTime(Sent)}
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1""",
    ),
    (
        SENDS_MV,
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.`handoff_sends_mv` {cluster}"
        " TO {db}.`handoff_sends` AS " + _SENDS_FROM_HOPS,
    ),
    (SENDS_MV, "INSERT INTO {db}.`handoff_sends` " + _SENDS_FROM_HOPS),
    (
        CONSUMED,
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_consumed` {cluster} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(3)),
    Topic LowCardinality(String) CODEC(ZSTD(3)),
    Partition Int32 CODEC(ZSTD(3)),
    Offset Int64 CODEC(ZSTD(3))
) ENGINE = {engine:ReplacingMergeTree}
PARTITION BY toDate(Timestamp)
ORDER BY (Timestamp, Topic, Partition, Offset)
{ttl:toDateTime(Timestamp)}
SETTINGS index_granularity = 1024, ttl_only_drop_parts = 1""",
    ),
    (
        CONSUMED_MV,
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.`handoff_consumed_mv` {cluster}"
        " TO {db}.`handoff_consumed` AS " + _CONSUMED_FROM_SPANS,
    ),
    (CONSUMED_MV, "INSERT INTO {db}.`handoff_consumed` " + _CONSUMED_FROM_SPANS),
    (
        GROUPS,
        # One row per topic and group once parts merge (the newest span's time: the TTL).
        """CREATE TABLE IF NOT EXISTS {db}.`handoff_consumer_groups` {cluster} (
    Topic String CODEC(ZSTD(3)),
    ConsumerGroup String CODEC(ZSTD(3)),
    Timestamp DateTime64(9) CODEC(ZSTD(3))
) ENGINE = {engine:ReplacingMergeTree(Timestamp)}
ORDER BY (Topic, ConsumerGroup)
{ttl:toDateTime(Timestamp)}
SETTINGS index_granularity = 256""",
    ),
    (
        GROUPS_MV,
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.`handoff_consumer_groups_mv` {cluster}"
        " TO {db}.`handoff_consumer_groups` AS " + _GROUPS_FROM_SPANS,
    ),
    (GROUPS_MV, "INSERT INTO {db}.`handoff_consumer_groups` " + _GROUPS_FROM_SPANS),
)

# Version 6: what a journey reads of a span, copied by trace id in small granules. A journey
# read a few spans of a trace out of ten of ``otel_traces``' 8,192-row granules (ordered by
# service, name and time: a trace's spans lie far apart). The exporter's DDL stays verbatim
# (and ``index_granularity`` is fixed at creation), so the spans have a copy, kept by a view:
# ordered by trace id, one partition, 256-row granules, compressed in blocks from 8 KiB (at
# the engine's 64 KiB minimum a block holds many granules of a small column, and a read
# decompresses whole blocks: 9.9 MB for 3 granules), in compact parts (bench/README.md:
# "`journey()` at 10M + 10M: version 6's copies"). Hops are not copied: a copy of
# ``handoff_hops`` by coordinate in small granules read a journey's hops no faster at 10M (p50
# 66.0 against 61.9 ms without it, side by side) and cost the tap a third of its hops/s into
# chDB (0.36 of NullSink against 0.52).
_SPAN_COPY = (
    ("Timestamp", "DateTime64(9)"),
    ("TraceId", "String"),
    ("SpanId", "String"),
    ("ParentSpanId", "String"),
    ("SpanName", "LowCardinality(String)"),
    ("SpanKind", "LowCardinality(String)"),
    ("ServiceName", "LowCardinality(String)"),
    ("ResourceAttributes", "Map(LowCardinality(String), String)"),
    ("ScopeName", "String"),
    ("SpanAttributes", "Map(LowCardinality(String), String)"),
    ("Duration", "UInt64"),
    ("StatusCode", "LowCardinality(String)"),
    ("StatusMessage", "String"),
    ("`Events.Timestamp`", "Array(DateTime64(9))"),
    ("`Events.Name`", "Array(LowCardinality(String))"),
    ("`Events.Attributes`", "Array(Map(LowCardinality(String), String))"),
    ("`Links.TraceId`", "Array(String)"),
    ("`Links.SpanId`", "Array(String)"),
    ("`Links.Attributes`", "Array(Map(LowCardinality(String), String))"),
)
# Compact parts (every column in one file): a lookup reads a granule in each part, and in a
# wide part that opens a file a column; at 10M spans, 12.4 against 17.2 ms a read of 8 parts,
# for 29% more bytes on disk (each granule's column compressed apart).
_SMALL_GRANULES = (
    "SETTINGS index_granularity = 256, min_compress_block_size = 8192,"
    " max_compress_block_size = 65536, min_bytes_for_wide_part = 1099511627776,"
    " min_rows_for_wide_part = 1000000000"
)


def _copy_table(name: str, columns: tuple[tuple[str, str], ...], tail: str) -> str:
    body = ",\n".join(f"    {n} {t} CODEC(ZSTD(1))" for n, t in columns)
    return f"CREATE TABLE IF NOT EXISTS {{db}}.`{name}` {{cluster}} (\n{body}\n) {tail}"


def _copy_select(columns: tuple[tuple[str, str], ...], source: str) -> str:
    return f"SELECT {', '.join(n for n, _t in columns)} FROM {{db}}.`{source}`"


_SPANS_COPIED = _copy_select(_SPAN_COPY, "otel_traces")

V6: tuple[tuple[str, str], ...] = (
    (
        COPIED_SPANS,
        # A span stored twice (a view and the backfill below, an exporter's retry) is one
        # once parts merge; readers pick one before that (``LIMIT 1 BY TraceId, SpanId``).
        _copy_table(
            COPIED_SPANS,
            _SPAN_COPY,
            # Its TTL is otel_traces' own: the copy keeps what the exporter's table keeps.
            "ENGINE = {engine:ReplacingMergeTree}\nORDER BY (TraceId, SpanId)\n{ttl_traces}\n"
            + _SMALL_GRANULES,
        ),
    ),
    (
        COPIED_SPANS_MV,
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {{db}}.`{COPIED_SPANS_MV}` {{cluster}}"
        f" TO {{db}}.`{COPIED_SPANS}` AS " + _SPANS_COPIED,
    ),
    (COPIED_SPANS_MV, f"INSERT INTO {{db}}.`{COPIED_SPANS}` " + _SPANS_COPIED),
)
