"""The OpenTelemetry Collector's ``clickhouse`` exporter tables, as that exporter creates them.

The DDL below is the interop contract: the console writes what the exporter writes and reads
what a team's Collector wrote, so every table comes out column for column (names, types,
codecs, defaults), index for index and key for key the same as the exporter's. Source:
opentelemetry-collector-contrib ``exporter/clickhouseexporter@v0.165.1``,
``internal/sqltemplates/*.sql`` (each template is named beside its copy), rendered the way
``config.go``, ``exporter_*.go`` and ``internal/clickhouse.go`` render them:

* ``database``: ``otel`` here (the issue's default; the exporter's own default is ``default``);
* ``ON CLUSTER `name``` after the table name when a cluster is named (``tableClusterString``);
* the engine, ``MergeTree()`` (``tableEngineString``), or ``ReplicatedMergeTree()`` on a cluster
  (what a team sets ``table_engine`` to there);
* ``TTL <time> + toIntervalDay(n)`` and friends (``GenerateTTLExpr``), from ``--retention-age``;
* the logs table's text indexes on ClickHouse 26.2 and newer, bloom filters before
  (``versionFullTextSearch``).

``create_tables`` runs them with ``IF NOT EXISTS``: tables a team's Collector made are left as
they are (``layout.py`` reads which variant they are). Table names are the exporter's defaults;
note the exponential histograms' table is ``otel_metrics_exponential_histogram``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = [
    "LOGS",
    "METRICS",
    "TABLES",
    "TRACES",
    "TRACES_ID_TS",
    "TRACES_ID_TS_MV",
    "OtelDDL",
    "create_database_sql",
    "create_tables",
    "engine",
    "quote_ident",
    "render_ddl",
    "ttl_expr",
]

TRACES = "otel_traces"
TRACES_ID_TS = "otel_traces_trace_id_ts"
TRACES_ID_TS_MV = "otel_traces_trace_id_ts_mv"
LOGS = "otel_logs"
# MetricPoint.kind -> the exporter's default table (config.go: defaultMetricTableName + suffix).
METRICS: dict[str, str] = {
    "gauge": "otel_metrics_gauge",
    "sum": "otel_metrics_sum",
    "histogram": "otel_metrics_histogram",
    "exponential_histogram": "otel_metrics_exponential_histogram",
    "summary": "otel_metrics_summary",
}
TABLES: tuple[str, ...] = (TRACES, TRACES_ID_TS, LOGS, *METRICS.values())

# The version from which the exporter gives the logs table text indexes (exporter_logs.go).
_FULL_TEXT_SINCE = (26, 2)


@dataclass(frozen=True, slots=True)
class OtelDDL:
    """How the exporter's templates are rendered for one store."""

    database: str = "otel"
    cluster: str | None = None
    ttl_s: float | None = None
    server_version: tuple[int, int] = (26, 9)


def quote_ident(name: str) -> str:
    """A ClickHouse identifier in backticks (the templates' ``ident``; Go's ``%q`` quotes the
    same names in double quotes, which ClickHouse reads alike)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _cluster(cluster: str | None) -> str:
    """config.go ``clusterString``: ``ON CLUSTER `name``` or nothing."""
    if not cluster:
        return ""
    return "ON CLUSTER `" + cluster.replace("`", "``") + "`"


def engine(cluster: str | None, name: str = "MergeTree", params: str = "") -> str:
    """config.go ``tableEngineString``; on a cluster the Replicated variant (its replica path
    from the server's ``default_replica_path``, ``/clickhouse/tables/{uuid}/{shard}``)."""
    return f"{'Replicated' if cluster else ''}{name}({params})"


def ttl_expr(ttl_s: float | None, time_field: str) -> str:
    """internal/clickhouse.go ``GenerateTTLExpr``: whole days, hours, minutes or seconds."""
    if not ttl_s or ttl_s <= 0:
        return ""
    seconds = int(ttl_s)
    if seconds <= 0:
        return ""
    for unit, size in (("Day", 86400), ("Hour", 3600), ("Minute", 60)):
        if seconds % size == 0:
            return f"TTL {time_field} + toInterval{unit}({seconds // size})"
    return f"TTL {time_field} + toIntervalSecond({seconds})"


def create_database_sql(database: str, cluster: str | None = None) -> str:
    """internal/clickhouse.go ``createDatabaseDDL`` (no database engine option here)."""
    return f"CREATE DATABASE IF NOT EXISTS {quote_ident(database)} {_cluster(cluster)}".rstrip()


# -- the templates --------------------------------------------------------------------------
# Placeholders: {db}, {table} (quoted), {cluster}, {engine}, {ttl}. Text otherwise verbatim.

# internal/sqltemplates/traces_table.sql
_TRACES_TABLE = """CREATE TABLE IF NOT EXISTS {db}.{table} {cluster} (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(3)),
    TraceId String CODEC(ZSTD(3)),
    SpanId String CODEC(ZSTD(3)),
    ParentSpanId String CODEC(ZSTD(3)),
    TraceState String CODEC(ZSTD(3)),
    SpanName LowCardinality(String) CODEC(ZSTD(3)),
    SpanKind LowCardinality(String) CODEC(ZSTD(3)),
    ServiceName LowCardinality(String) CODEC(ZSTD(3)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    ScopeName String CODEC(ZSTD(3)),
    ScopeVersion String CODEC(ZSTD(3)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    Duration UInt64 CODEC(ZSTD(3)),
    StatusCode LowCardinality(String) CODEC(ZSTD(3)),
    StatusMessage String CODEC(ZSTD(3)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(3)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(3)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = {engine}
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
{ttl}
SETTINGS index_granularity=8192, ttl_only_drop_parts = 1
"""

# internal/sqltemplates/traces_id_ts_lookup_table.sql
_TRACES_ID_TS_TABLE = """CREATE TABLE IF NOT EXISTS {db}.{table} {cluster} (
    TraceId String CODEC(ZSTD(3)),
    Start DateTime CODEC(Delta, ZSTD(3)),
    End DateTime CODEC(Delta, ZSTD(3)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.01) GRANULARITY 1
) ENGINE = {engine}
    PARTITION BY toDate(Start)
    ORDER BY (TraceId, Start)
    {ttl}
    SETTINGS index_granularity=8192, ttl_only_drop_parts = 1"""

# internal/sqltemplates/traces_id_ts_lookup_mv.sql
_TRACES_ID_TS_MV = """CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{table} {cluster}
TO {db}.{target}
AS SELECT
              TraceId,
              min(Timestamp) as Start,
              max(Timestamp) as End
   FROM {db}.{source}
   WHERE TraceId != ''
   GROUP BY TraceId
"""

# internal/sqltemplates/logs_table.sql ({indexes}: its two branches, below)
_LOGS_TABLE = """CREATE TABLE IF NOT EXISTS {db}.{table} {cluster} (
    `Timestamp` DateTime64(9) COMMENT 'Event timestamp with nanosecond precision' CODEC(Delta(8), ZSTD(3)),
    `TraceId` String COMMENT 'W3C trace identifier' CODEC(ZSTD(3)),
    `SpanId` String COMMENT 'W3C span identifier' CODEC(ZSTD(3)),
    `TraceFlags` UInt8 COMMENT 'W3C trace flags',
    `SeverityText` LowCardinality(String) COMMENT 'Log severity as text' CODEC(ZSTD(3)),
    `SeverityNumber` UInt8 COMMENT 'Log severity as number (1-24)',
    `ServiceName` LowCardinality(String) COMMENT 'Service that emitted the log' CODEC(ZSTD(3)),
    `Body` String COMMENT 'Log message body' CODEC(ZSTD(3)),
    `ResourceSchemaUrl` LowCardinality(String) COMMENT 'Schema URL for the resource' CODEC(ZSTD(3)),
    `ResourceAttributes` Map(LowCardinality(String), String) COMMENT 'Resource attributes as key-value pairs' CODEC(ZSTD(3)),
    `ScopeSchemaUrl` LowCardinality(String) COMMENT 'Schema URL for the instrumentation scope' CODEC(ZSTD(3)),
    `ScopeName` String COMMENT 'Instrumentation scope name' CODEC(ZSTD(3)),
    `ScopeVersion` LowCardinality(String) COMMENT 'Instrumentation scope version' CODEC(ZSTD(3)),
    `ScopeAttributes` Map(LowCardinality(String), String) COMMENT 'Instrumentation scope attributes' CODEC(ZSTD(3)),
    `LogAttributes` Map(LowCardinality(String), String) COMMENT 'Log record attributes' CODEC(ZSTD(3)),
    `EventName` String COMMENT 'Event name for log records representing events' CODEC(ZSTD(3)),
    `__otel_materialized_k8s.cluster.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.cluster.name'] CODEC(ZSTD(3)),
    `__otel_materialized_k8s.container.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.container.name'] CODEC(ZSTD(3)),
    `__otel_materialized_k8s.deployment.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.deployment.name'] CODEC(ZSTD(3)),
    `__otel_materialized_k8s.namespace.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.namespace.name'] CODEC(ZSTD(3)),
    `__otel_materialized_k8s.node.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.node.name'] CODEC(ZSTD(3)),
    `__otel_materialized_k8s.pod.name` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.pod.name'] CODEC(ZSTD(3)),
    `__otel_materialized_k8s.pod.uid` LowCardinality(String) MATERIALIZED ResourceAttributes['k8s.pod.uid'] CODEC(ZSTD(3)),
    `__otel_materialized_deployment.environment.name` LowCardinality(String) MATERIALIZED ResourceAttributes['deployment.environment.name'] CODEC(ZSTD(3)),
{indexes}
) ENGINE = {engine}
PARTITION BY toDate(Timestamp)
ORDER BY (toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)
{ttl}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1
"""

_LOGS_TEXT_INDEXES = """    INDEX idx_trace_id TraceId TYPE text(tokenizer = 'array'),
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE text(tokenizer = 'array'),
    INDEX idx_lower_body lower(Body) TYPE text(tokenizer = 'splitByNonAlpha')"""

_LOGS_BLOOM_INDEXES = """    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_lower_body lower(Body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8,
    INDEX idx_event_name EventName TYPE bloom_filter(0.01) GRANULARITY 1"""

# The columns every metrics table begins with (each metrics_*_table.sql repeats them).
_METRICS_HEAD = """CREATE TABLE IF NOT EXISTS {db}.{table} {cluster} (
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    ResourceSchemaUrl String CODEC(ZSTD(3)),
    ScopeName String CODEC(ZSTD(3)),
    ScopeVersion String CODEC(ZSTD(3)),
    ScopeAttributes Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    ScopeDroppedAttrCount UInt32 CODEC(ZSTD(3)),
    ScopeSchemaUrl String CODEC(ZSTD(3)),
    ServiceName LowCardinality(String) CODEC(ZSTD(3)),
    MetricName LowCardinality(String) CODEC(ZSTD(3)),
    MetricDescription String CODEC(ZSTD(3)),
    MetricUnit String CODEC(ZSTD(3)),
    Attributes Map(LowCardinality(String), String) CODEC(ZSTD(3)),
    StartTimeUnix DateTime CODEC(Delta, ZSTD(3)),
    TimeUnix DateTime CODEC(Delta, ZSTD(3)),
"""

_EXEMPLARS = """    Exemplars Nested (
        FilteredAttributes Map(LowCardinality(String), String),
        TimeUnix DateTime,
        Value Float64,
        SpanId String,
        TraceId String
    ) CODEC(ZSTD(3)),
"""

# The indexes and keys every metrics table ends with. In the templates the TTL comes right
# after the engine, before PARTITION BY (``ENGINE = %s %s PARTITION BY``).
_METRICS_TAIL = """    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_key mapKeys(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_scope_attr_value mapValues(ScopeAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_time_minmax TimeUnix TYPE minmax GRANULARITY 1
    ) ENGINE = {engine}
    {ttl}
    PARTITION BY toDate(TimeUnix)
    ORDER BY (ServiceName, MetricName, toStartOfHour(TimeUnix), cityHash64(Attributes), TimeUnix)
    SETTINGS index_granularity=8192, ttl_only_drop_parts = 1
"""

# The columns of each kind between head and tail: metrics_<kind>_table.sql.
_METRICS_BODY: dict[str, str] = {
    # internal/sqltemplates/metrics_gauge_table.sql
    "gauge": """    Value Float64 CODEC(ZSTD(3)),
    Flags UInt32 CODEC(ZSTD(3)),
"""
    + _EXEMPLARS,
    # internal/sqltemplates/metrics_sum_table.sql
    "sum": """    Value Float64 CODEC(ZSTD(3)),
    Flags UInt32  CODEC(ZSTD(3)),
"""
    + _EXEMPLARS
    + """    AggregationTemporality Int32 CODEC(ZSTD(3)),
    IsMonotonic Boolean CODEC(Delta, ZSTD(3)),
""",
    # internal/sqltemplates/metrics_histogram_table.sql
    "histogram": """    Count UInt64 CODEC(Delta, ZSTD(3)),
    Sum Float64 CODEC(ZSTD(3)),
    BucketCounts Array(UInt64) CODEC(ZSTD(3)),
    ExplicitBounds Array(Float64) CODEC(ZSTD(3)),
"""
    + _EXEMPLARS
    + """    Flags UInt32 CODEC(ZSTD(3)),
    Min Float64 CODEC(ZSTD(3)),
    Max Float64 CODEC(ZSTD(3)),
    AggregationTemporality Int32 CODEC(ZSTD(3)),
""",
    # internal/sqltemplates/metrics_exp_histogram_table.sql
    "exponential_histogram": """    Count UInt64 CODEC(Delta, ZSTD(3)),
    Sum Float64 CODEC(ZSTD(3)),
    Scale Int32 CODEC(ZSTD(3)),
    ZeroCount UInt64 CODEC(ZSTD(3)),
    PositiveOffset Int32 CODEC(ZSTD(3)),
    PositiveBucketCounts Array(UInt64) CODEC(ZSTD(3)),
    NegativeOffset Int32 CODEC(ZSTD(3)),
    NegativeBucketCounts Array(UInt64) CODEC(ZSTD(3)),
"""
    + _EXEMPLARS
    + """    Flags UInt32  CODEC(ZSTD(3)),
    Min Float64 CODEC(ZSTD(3)),
    Max Float64 CODEC(ZSTD(3)),
    AggregationTemporality Int32 CODEC(ZSTD(3)),
""",
    # internal/sqltemplates/metrics_summary_table.sql
    "summary": """    Count UInt64 CODEC(Delta, ZSTD(3)),
    Sum Float64 CODEC(ZSTD(3)),
    ValueAtQuantiles Nested(
        Quantile Float64,
        Value Float64
    ) CODEC(ZSTD(3)),
    Flags UInt32  CODEC(ZSTD(3)),
""",
}


def render_ddl(options: OtelDDL) -> list[tuple[str, str]]:
    """``(table, statement)`` for every exporter table and the view, in creation order (the
    lookup table before the view that fills it)."""
    db = quote_ident(options.database)
    cluster = _cluster(options.cluster)
    eng = engine(options.cluster)

    def fill(template: str, table: str, time_field: str, **extra: str) -> str:
        return template.format(
            db=db,
            table=quote_ident(table),
            cluster=cluster,
            engine=eng,
            ttl=ttl_expr(options.ttl_s, time_field),
            **extra,
        )

    full_text = options.server_version >= _FULL_TEXT_SINCE
    out = [
        (TRACES, fill(_TRACES_TABLE, TRACES, "toDateTime(Timestamp)")),
        (TRACES_ID_TS, fill(_TRACES_ID_TS_TABLE, TRACES_ID_TS, "toDateTime(Start)")),
        (
            TRACES_ID_TS_MV,
            fill(
                _TRACES_ID_TS_MV,
                TRACES_ID_TS_MV,
                "",
                target=quote_ident(TRACES_ID_TS),
                source=quote_ident(TRACES),
            ),
        ),
        (
            LOGS,
            fill(
                _LOGS_TABLE,
                LOGS,
                "toDateTime(Timestamp)",
                indexes=_LOGS_TEXT_INDEXES if full_text else _LOGS_BLOOM_INDEXES,
            ),
        ),
    ]
    for kind, table in METRICS.items():
        template = _METRICS_HEAD + _METRICS_BODY[kind] + _METRICS_TAIL
        out.append((table, fill(template, table, "toDateTime(TimeUnix)")))
    return out


def create_tables(client: Client, options: OtelDDL) -> None:
    """The database and every exporter table that is missing (``IF NOT EXISTS``)."""
    client.command(create_database_sql(options.database, options.cluster))
    for _table, statement in render_ddl(options):
        client.command(statement)
