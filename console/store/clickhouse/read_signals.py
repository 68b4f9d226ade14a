"""The ClickHouse reader's ``PanelReads``, ``SignalReads`` and ``AlertReads``' series: the
overview's rollups, the series, logs and metric points in a window, the followers and the tail.

The SQLite store keeps summaries at ingest (per-service rollups, per-service first and last
seen); here they are aggregations over the exporter's tables, with the same answers: a
service's entry spans (SERVER, CONSUMER or a root) per ``ROLLUP_NS`` by the SQLite summaries'
duration bins, the services that sent a span, a log record or a metric point.

Cursors. ClickHouse keeps no row ids, and the exporter's tables have no arrival column to add
one to (the DDL is the interop contract), so a cursor is a time: a span's end, a log record's
time, a hop's ``SeenAt`` (when the tap saw it), in ns. A follower (``logs_after``) pages on by
time (``LIMIT … WITH TIES``: records sharing the last time of a page are never split between
two pages). What a follower cannot see is a record stamped before its cursor that arrives
after it (a Collector's retry, a catch-up from Kafka): ``logs --since`` finds those, a follower
does not.

One room past 400 lines: the three reads share the window and cursor helpers and the services'
entry-span expression; split, each part would import the others' private pieces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from typing import Any

from console.base.jsontext import dumps
from console.base.model import Hop, LogRecord, Span
from console.store.api import (
    Cursor,
    Freshness,
    LatestValue,
    MetricSample,
    RollupCell,
    StoreCounts,
    StoreExtent,
    Tailed,
)
from console.store.clickhouse import handoff_schema as hs
from console.store.clickhouse import otel_schema as otel
from console.store.clickhouse import read_records as rr
from console.store.clickhouse.attr_sql import literal
from console.store.clickhouse.counts import counts
from console.store.clickhouse.read_base import ReaderBase, ns

__all__ = ["SignalReadsCh"]

ROLLUP_NS = 10 * 1_000_000_000  # the SQLite summaries' interval (``summaries.ROLLUP_NS``)
_SPAN_END = "(toUnixTimestamp64Nano(Timestamp) + Duration)"
_TAIL_SPAN_NS = 3600 * 10**9  # the tail reads spans that started at most this long ago
# ``summaries.duration_bin`` in SQL: two significant digits of the duration in microseconds.
_BIN = (
    "multiIf(us < 10, 100 + us, us < 100, 200 + us,"
    " length(toString(us)) * 100 + intDiv(us, intExp10(length(toString(us)) - 2)))"
)
_ENTRY = "(SpanKind IN ('Server', 'Consumer') OR ParentSpanId = '')"
# The MetricSample fields each metrics table fills (the others get the defaults), typed alike
# so one UNION ALL reads all five tables.
_METRIC_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("value", "Nullable(Float64)", "NULL"),
    ("count", "Nullable(UInt64)", "NULL"),
    ("sum", "Nullable(Float64)", "NULL"),
    ("bounds", "Array(Float64)", "[]"),
    ("buckets", "Array(UInt64)", "[]"),
    ("scale", "Nullable(Int32)", "NULL"),
    ("zero", "UInt64", "0"),
    ("pos_offset", "Int32", "0"),
    ("pos", "Array(UInt64)", "[]"),
    ("neg_offset", "Int32", "0"),
    ("neg", "Array(UInt64)", "[]"),
    ("lo", "Nullable(Float64)", "NULL"),
    ("hi", "Nullable(Float64)", "NULL"),
)
_HISTOGRAM = {"count": "Count", "sum": "Sum", "lo": "Min", "hi": "Max"}
_METRIC_COLUMNS: dict[str, dict[str, str]] = {
    "gauge": {"value": "Value"},
    "sum": {"value": "Value"},
    "histogram": {**_HISTOGRAM, "bounds": "ExplicitBounds", "buckets": "BucketCounts"},
    "exponential_histogram": {
        **_HISTOGRAM,
        "scale": "Scale",
        "zero": "ZeroCount",
        "pos_offset": "PositiveOffset",
        "pos": "PositiveBucketCounts",
        "neg_offset": "NegativeOffset",
        "neg": "NegativeBucketCounts",
    },
    "summary": {"count": "Count", "sum": "Sum"},
}


def _metric_values(kind: str) -> str:
    own = _METRIC_COLUMNS[kind]
    return ", ".join(
        f"CAST({own.get(field, default)} AS {type_}) AS {field}"
        for field, type_, default in _METRIC_FIELDS
    )


# The order points of one time arrived in (the metrics tables keep whole seconds, so two
# exports of a gauge in one second tie): the part's first block number, then the row's place in
# the part. Blocks are numbered as they are inserted, and a merge keeps rows of equal sort keys
# (one series, one second) in the order of the parts it merged.
_ARRIVAL = "toUInt64OrZero(splitByChar('_', _part)[2]) AS arrival, _part_offset AS row"


class SignalReadsCh(ReaderBase):
    """Panels, signals, the alert rules' series, counts."""

    # --- panels -------------------------------------------------------------------------------

    def service_rollups(self, since_ns: int, until_ns: int) -> list[RollupCell]:
        if not self.has(otel.TRACES):
            return []
        lo = since_ns // ROLLUP_NS * ROLLUP_NS
        hi = (until_ns // ROLLUP_NS + 1) * ROLLUP_NS
        cells: dict[tuple[str, int], list[Any]] = {}
        for service, b, code, n, errors in self.query(
            f"SELECT ServiceName, intDiv(toUnixTimestamp64Nano(Timestamp), {ROLLUP_NS}) AS b,"
            f" {_BIN} AS code, count(), countIf(StatusCode = 'Error') FROM (SELECT ServiceName,"
            " Timestamp, StatusCode, intDiv(Duration, 1000) AS us"
            f" FROM {self.traces} WHERE Timestamp >= {ns(lo)} AND Timestamp < {ns(hi)}"
            f" AND {_ENTRY}) GROUP BY ServiceName, b, code"
        ):
            cell = cells.setdefault((service, b), [0, 0, {}])
            cell[0] += n
            cell[1] += errors
            cell[2][int(code)] = float(n)
        return [
            RollupCell(service, b * ROLLUP_NS, entries, errors, bins)
            for (service, b), (entries, errors, bins) in sorted(cells.items())
        ]

    def latest_values(
        self, names: Collection[str], since_ns: int, until_ns: int | None = None
    ) -> list[LatestValue]:
        if not names or not self.has(hs.SERIES):
            return []
        until = f" AND Timestamp <= {ns(until_ns)}" if until_ns is not None else ""
        return [
            LatestValue(name, subject, detail, value)
            for name, subject, detail, value in self.query(
                "SELECT Name, Subject, Detail, argMax(Value, Timestamp)"
                f" FROM {self.series_table} FINAL WHERE Name IN {{n:Array(String)}}"
                f" AND Timestamp >= {ns(since_ns)}{until} GROUP BY Name, Subject, Detail",
                n=sorted(names),
            )
        ]

    def series_averages(
        self, name: str, slot_ns: int, since_ns: int, until_ns: int
    ) -> list[tuple[str, int, float]]:
        if not self.has(hs.SERIES):
            return []
        return [
            (subject, b, avg)
            for subject, b, avg in self.query(
                "SELECT Subject, b, sum(a) FROM (SELECT Subject, Detail,"
                f" intDiv(toUnixTimestamp64Nano(Timestamp), {int(slot_ns)}) AS b, avg(Value) AS a"
                f" FROM {self.series_table} FINAL WHERE Name = {{n:String}}"
                f" AND Timestamp >= {ns(since_ns)} AND Timestamp <= {ns(until_ns)}"
                " GROUP BY Subject, Detail, b) GROUP BY Subject, b",
                n=name,
            )
        ]

    def series_points(
        self, name: str, since_ns: int, until_ns: int
    ) -> dict[tuple[str, str], list[tuple[int, float]]]:
        out: dict[tuple[str, str], list[tuple[int, float]]] = {}
        if not self.has(hs.SERIES):
            return out
        for subject, detail, t, value in self.query(
            "SELECT Subject, Detail, toUnixTimestamp64Nano(Timestamp), Value"
            f" FROM {self.series_table} FINAL WHERE Name = {{n:String}}"
            f" AND Timestamp >= {ns(since_ns)} AND Timestamp <= {ns(until_ns)}"
            " ORDER BY Timestamp",
            n=name,
        ):
            out.setdefault((subject, detail), []).append((t, value))
        return out

    def _services(self) -> dict[str, tuple[int, int]]:
        """Every service that sent a span, a log record or a metric point: its first and last
        record's time (the SQLite store's ``services``)."""
        parts = []
        if self.has(otel.TRACES):
            parts.append(f"SELECT ServiceName, min(Timestamp) AS lo, max(Timestamp) AS hi FROM"
                         f" {self.traces} GROUP BY ServiceName")  # fmt: skip
        if self.has(otel.LOGS):
            parts.append(f"SELECT ServiceName, min(Timestamp) AS lo, max(Timestamp) AS hi FROM"
                         f" {self.logs_table} GROUP BY ServiceName")  # fmt: skip
        for kind, table in self.metric_tables.items():
            if self.has(otel.METRICS[kind]):
                parts.append(
                    "SELECT ServiceName, toDateTime64(min(TimeUnix), 9) AS lo,"
                    f" toDateTime64(max(TimeUnix), 9) AS hi FROM {table} GROUP BY ServiceName"
                )
        if not parts:
            return {}
        return {
            service: (lo, hi)
            for service, lo, hi in self.query(
                "SELECT ServiceName, toUnixTimestamp64Nano(min(lo)), toUnixTimestamp64Nano(max(hi))"
                f" FROM ({' UNION ALL '.join(parts)}) GROUP BY ServiceName ORDER BY ServiceName"
            )
        }

    def services_last_span(self) -> dict[str, int]:
        return {name: hi for name, (_lo, hi) in self._services().items()}

    def extent(self) -> StoreExtent:
        spans = hops = 0
        times: list[int] = []
        if self.has(otel.TRACES):
            ((spans, lo, hi),) = self.query(
                "SELECT count(), toUnixTimestamp64Nano(min(Timestamp)),"
                f" toUnixTimestamp64Nano(max(Timestamp)) FROM {self.traces}"
            )
            if spans:
                times += [lo, hi]
        if self.has(hs.HOPS):
            ((hops, lo, hi),) = self.query(
                "SELECT count(), toUnixTimestamp64Nano(min(SeenAt)),"
                f" toUnixTimestamp64Nano(max(SeenAt)) FROM {self.hops_table}"
            )
            if hops:
                times += [lo, hi]
        return StoreExtent(
            int(spans), int(hops), min(times) if times else None, max(times) if times else None
        )

    def freshness(self) -> Freshness:
        services = self._services()
        last_hop = last_series = None
        if self.has(hs.HOPS):
            ((n, t),) = self.query(
                f"SELECT count(), toUnixTimestamp64Nano(max(SeenAt)) FROM {self.hops_table}"
            )
            last_hop = t if n else None
        if self.has(hs.SERIES):
            ((n, t),) = self.query(
                f"SELECT count(), toUnixTimestamp64Nano(max(Timestamp)) FROM {self.series_table}"
            )
            last_series = t if n else None
        return Freshness(
            last_span_ns=max((hi for _lo, hi in services.values()), default=None),
            last_hop_ns=last_hop,
            last_series_ns=last_series,
            services=len(services),
        )

    # --- logs, the tail -----------------------------------------------------------------------

    def _logs(self, where: str, order: str, **params: Any) -> list[tuple[Cursor, LogRecord]]:
        if not self.has(otel.LOGS):
            return []
        rows = self.query(
            f"SELECT {self.log_columns} FROM {self.logs_table} WHERE {where} {order}", **params
        )
        return [(Cursor(r[0]), rr.log_record(r, self.correlation_keys)) for r in rows]

    def _log_window(self, since_ns: int, until_ns: int | None) -> str:
        where = f"Timestamp >= {ns(since_ns)}"
        if until_ns is not None:
            where += f" AND Timestamp <= {ns(until_ns)}"
        if self.has(otel.LOGS, "TimestampTime"):  # the older table: partitioned by it
            where += f" AND TimestampTime >= toDateTime({since_ns // 10**9})"
        return where

    def logs_between(
        self,
        since_ns: int,
        until_ns: int | None = None,
        *,
        keep: Callable[[LogRecord], bool] | None = None,
        limit: int | None = None,
    ) -> list[tuple[Cursor, LogRecord]]:
        where = self._log_window(since_ns, until_ns)
        if limit is None:
            got = self._logs(where, "ORDER BY Timestamp")
            return [(c, r) for c, r in got if keep is None or keep(r)]
        out: list[tuple[Cursor, LogRecord]] = []
        page, skip = max(500, 2 * limit), 0
        while len(out) < limit:  # newest first, a page at a time, until enough are kept
            got = self._logs(where, f"ORDER BY Timestamp DESC LIMIT {page} OFFSET {skip}")
            out += [(c, r) for c, r in got if keep is None or keep(r)]
            if len(got) < page:
                break
            skip += page
        out.sort(key=lambda cr: cr[0])
        return out[-limit:]

    def last_cursor(self, kind: type[Span] | type[Hop] | type[LogRecord]) -> Cursor:
        table, column = {
            Span: (otel.TRACES, _SPAN_END),
            Hop: (hs.HOPS, "toUnixTimestamp64Nano(SeenAt)"),
            LogRecord: (otel.LOGS, "toUnixTimestamp64Nano(Timestamp)"),
        }[kind]
        if not self.has(table):
            return Cursor(0)
        name = {Span: self.traces, Hop: self.hops_table, LogRecord: self.logs_table}[kind]
        ((top,),) = self.query(f"SELECT max({column}) FROM {name}")
        return Cursor(int(top or 0))

    def logs_after(self, after: Cursor, limit: int) -> list[tuple[Cursor, LogRecord]]:
        return self._logs(
            f"Timestamp > {ns(after)}", f"ORDER BY Timestamp LIMIT {int(limit)} WITH TIES"
        )

    def tail(self, after: tuple[Cursor, Cursor, Cursor], limit: int) -> Tailed:
        spans: list[tuple[Cursor, Span]] = []
        if self.has(otel.TRACES):
            since = (
                ns(after[0] - _TAIL_SPAN_NS)
                if after[0]
                else f"(SELECT max(Timestamp) FROM {self.traces}) - INTERVAL 1 HOUR"
            )
            rows = self.query(
                f"SELECT {self.span_columns}, {_SPAN_END} AS end FROM {self.traces}"
                f" WHERE Timestamp >= {since} AND end > {int(after[0])}"
                f" ORDER BY end DESC LIMIT {int(limit)}"
            )
            spans = [(Cursor(r[-1]), rr.span(r[:-1], self.correlation_keys)) for r in rows]
        hops: list[tuple[Cursor, Hop]] = []
        if self.has(hs.HOPS):
            rows = self.query(
                f"SELECT {rr.HOP_COLUMNS} FROM {self.hops_table} WHERE SeenAt > {ns(after[1])}"
                f" ORDER BY SeenAt DESC LIMIT {int(limit)}"
            )
            hops = [(Cursor(r[-1]), rr.hop(r)) for r in rows]
        logs = self._logs(
            f"Timestamp > {ns(after[2])}", f"ORDER BY Timestamp DESC LIMIT {int(limit)}"
        )
        spans.reverse()
        hops.reverse()
        logs.reverse()
        return Tailed(
            spans,
            hops,
            logs,
            max([after[0], *(c for c, _ in spans)]),
            max([after[1], *(c for c, _ in hops)]),
            max([after[2], *(c for c, _ in logs)]),
        )

    # --- metrics ------------------------------------------------------------------------------

    def metric_samples(
        self,
        since_ns: int,
        until_ns: int,
        *,
        service: str | None = None,
        name: str | None = None,
        exclude: Collection[str] = (),
    ) -> list[MetricSample]:
        where = [
            f"TimeUnix >= toDateTime({-(-since_ns // 10**9)})",
            f"TimeUnix <= toDateTime({until_ns // 10**9})",
        ]
        if exclude:
            where.append("ServiceName NOT IN {x:Array(String)}")
        if service is not None:
            where.append("ServiceName = {s:String}")
        if name is not None:
            where.append("MetricName = {m:String}")
        parts = [
            f"SELECT ServiceName, MetricName, {literal(kind)}, MetricUnit, Attributes,"
            f" toUnixTimestamp(TimeUnix), toUnixTimestamp(StartTimeUnix), {_metric_values(kind)},"
            f" {_ARRIVAL}"
            f" FROM {table} WHERE {' AND '.join(where)}"
            for kind, table in self.metric_tables.items()
            if self.has(otel.METRICS[kind])
        ]
        if not parts:
            return []
        rows = self.query(
            f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY 6, arrival, row",
            x=sorted(exclude),
            s=service or "",
            m=name or "",
        )
        return [_sample(r) for r in rows]

    def metric_services(self, since_ns: int) -> list[tuple[str, int]]:
        parts = [
            f"SELECT ServiceName, MetricName FROM {table}"
            f" WHERE TimeUnix >= toDateTime({-(-since_ns // 10**9)})"
            for kind, table in self.metric_tables.items()
            if self.has(otel.METRICS[kind])
        ]
        if not parts:
            return []
        return [
            (service, int(n))
            for service, n in self.query(
                f"SELECT ServiceName, uniqExact(MetricName) FROM ({' UNION ALL '.join(parts)})"
                " GROUP BY ServiceName ORDER BY ServiceName"
            )
        ]

    # --- counts -------------------------------------------------------------------------------

    def counts(self) -> StoreCounts:
        return counts(self.session)


def _sample(r: tuple[Any, ...]) -> MetricSample:
    service, name, kind, unit, attrs, t, start, value, count, total = r[:10]
    bounds, buckets, scale, zero, pos_offset, pos, neg_offset, neg, lo, hi = r[10:20]
    return MetricSample(
        service=service,
        name=name,
        kind=kind,
        unit=unit,
        series=dumps(dict(attrs)),
        time_ns=int(t) * 10**9,
        start_ns=int(start) * 10**9,
        value=value,
        count=count,
        sum=total,
        bounds=tuple(bounds) if kind == "histogram" else None,
        buckets=tuple(buckets),
        scale=scale,
        zero=zero,
        pos_offset=pos_offset,
        pos=tuple(pos),
        neg_offset=neg_offset,
        neg=tuple(neg),
        min=_optional(lo),
        max=_optional(hi),
    )


def _optional(value: float | None) -> float | None:
    """A histogram's min or max: the console's writer keeps an absent one as NaN (the exporter
    writes pdata's 0 for it, which reads back as 0)."""
    return None if value is None or math.isnan(value) else value
