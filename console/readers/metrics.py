"""Metric points over a window: one summary per service and metric, and one metric's series.

Points stay rows in ``metric_points``. A histogram's distribution over the window is the sum of
what each point added in it: a point that shares its series' start time with the one before
(cumulative temporality, the SDK's default) adds the difference, any other point (delta, or a
restarted series) adds itself. The newest point of the ten minutes before the window serves as
the baseline, so a cumulative histogram is not counted from its start (a series that exported
nothing in those ten minutes is counted from its start). Percentiles interpolate inside a bucket
(linearly for explicit bounds, geometrically for exponential buckets), as Prometheus'
``histogram_quantile`` does; they are estimates as good as the buckets are fine.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DURATION_METRICS",
    "HISTOGRAM_KINDS",
    "MetricLatency",
    "MetricSeries",
    "MetricSummary",
    "duration_latency",
    "metric_series",
    "metric_services",
    "metric_summaries",
    "sparkline",
]

HISTOGRAM_KINDS = ("histogram", "exponential_histogram")
SLOTS = 24  # points of a sparkline
_BARS = "▁▂▃▄▅▆▇█"
# How far before the window to look for a cumulative series' baseline point.
_BASELINE_NS = 10 * 60 * 1_000_000_000
_COLUMNS = (
    "service, name, kind, unit, time_ns, start_time_ns, value, count, sum, bucket_counts, "
    "explicit_bounds, attributes, exp_scale, exp_zero_count, exp_positive_offset, "
    "exp_positive_counts, exp_negative_offset, exp_negative_counts"
)


@dataclass(frozen=True, slots=True)
class MetricSummary:
    service: str
    name: str
    kind: str
    unit: str
    points: int
    last: float | None  # gauges and sums
    count: int | None  # histograms: observations in the window
    p50: float | None
    p95: float | None
    p99: float | None
    spark: tuple[float | None, ...] = ()  # SLOTS values across the window, None where empty

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "name": self.name,
            "kind": self.kind,
            "unit": self.unit,
            "points": self.points,
            "last": self.last,
            "count": self.count,
            "p50": self.p50,
            "p95": self.p95,
            "p99": self.p99,
        }


@dataclass(frozen=True, slots=True)
class MetricSeries:
    """One metric of one service over the window, in ``SLOTS`` slots (for a chart)."""

    summary: MetricSummary
    since_ns: int
    until_ns: int
    slot_ns: int
    values: tuple[float | None, ...] = field(default=())  # gauge/sum value, histogram mean
    counts: tuple[int, ...] = field(default=())  # histograms: observations per slot
    p95s: tuple[float | None, ...] = field(default=())  # histograms: p95 per slot


# --- distributions ----------------------------------------------------------------------------


class _Dist:
    """A histogram's observations merged over points: explicit buckets or exponential ones."""

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.bounds: tuple[float, ...] | None = None
        self.buckets: list[int] = []
        self.scale: int | None = None
        self.zero = 0
        self.pos: dict[int, int] = {}
        self.neg: dict[int, int] = {}

    def add(self, p: _Point, sign: int = 1) -> None:
        self.count += sign * (p.count or 0)
        self.sum += sign * (p.sum or 0.0)
        if p.scale is not None:
            self._add_exponential(p, sign)
        elif p.bounds is not None:
            if self.bounds is None or self.bounds != p.bounds:
                if self.bounds is not None and sign > 0 and any(self.buckets):
                    return  # bounds changed mid-window: keep the first layout's buckets
                self.bounds, self.buckets = p.bounds, [0] * len(p.buckets)
            for i, c in enumerate(p.buckets[: len(self.buckets)]):
                self.buckets[i] += sign * c

    def _add_exponential(self, p: _Point, sign: int) -> None:
        scale = p.scale
        assert scale is not None
        if self.scale is None:
            self.scale = scale
        elif scale < self.scale:  # coarsen what we hold to the point's scale
            shift = self.scale - scale
            self.pos = _rescale(self.pos, shift)
            self.neg = _rescale(self.neg, shift)
            self.scale = scale
        shift = scale - self.scale
        self.zero += sign * p.zero
        for target, offset, counts in (
            (self.pos, p.pos_offset, p.pos),
            (self.neg, p.neg_offset, p.neg),
        ):
            for i, c in enumerate(counts):
                if c:
                    k = (offset + i) >> shift
                    target[k] = target.get(k, 0) + sign * c

    def quantile(self, q: float) -> float | None:
        if self.count <= 0:
            return None
        if self.scale is not None:
            return self._quantile_exponential(q)
        if self.bounds is None or not self.buckets:
            return None
        total = sum(self.buckets)
        if total <= 0:
            return None
        rank = q * total
        seen = 0
        bounds = self.bounds
        for i, c in enumerate(self.buckets):
            if c <= 0:
                continue
            if seen + c >= rank:
                if i >= len(bounds):  # the overflow bucket: its lower bound is all we know
                    return bounds[-1] if bounds else None
                hi = bounds[i]
                lo = bounds[i - 1] if i > 0 else min(0.0, hi)
                return lo + (hi - lo) * (rank - seen) / c
            seen += c
        return bounds[-1] if bounds else None

    def _quantile_exponential(self, q: float) -> float | None:
        assert self.scale is not None
        base = 2.0 ** (2.0**-self.scale)
        order: list[tuple[float, float, int]] = []  # (lo, hi, count) from smallest value up
        for k in sorted(self.neg, reverse=True):
            order.append((-(base ** (k + 1)), -(base**k), self.neg[k]))
        order.append((0.0, 0.0, self.zero))
        for k in sorted(self.pos):
            order.append((base**k, base ** (k + 1), self.pos[k]))
        total = sum(c for _, _, c in order if c > 0)
        if total <= 0:
            return None
        rank, seen = q * total, 0
        for lo, hi, c in order:
            if c <= 0:
                continue
            if seen + c >= rank:
                f = (rank - seen) / c
                if lo > 0:
                    return lo * (hi / lo) ** f
                if hi < 0:
                    return -((-hi) * ((-lo) / (-hi)) ** (1 - f))
                return 0.0
            seen += c
        return order[-1][1]


def _rescale(buckets: dict[int, int], shift: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for k, c in buckets.items():
        out[k >> shift] = out.get(k >> shift, 0) + c
    return out


# --- points -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Point:
    time_ns: int
    start_ns: int
    value: float | None
    count: int | None
    sum: float | None
    bounds: tuple[float, ...] | None
    buckets: tuple[int, ...]
    scale: int | None
    zero: int
    pos_offset: int
    pos: tuple[int, ...]
    neg_offset: int
    neg: tuple[int, ...]


def _load(text: str | None) -> tuple[Any, ...]:
    return tuple(json.loads(text)) if text else ()


def _select(conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
    """``sql`` on ``conn`` with rows read by column name (the caller's connection keeps its own
    row factory)."""
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    return cur.execute(sql, args)


def _point(r: sqlite3.Row) -> tuple[str, _Point]:
    """(series key, point) from a row of ``_COLUMNS``."""
    bounds = _load(r["explicit_bounds"])
    return r["attributes"], _Point(
        time_ns=r["time_ns"],
        start_ns=r["start_time_ns"],
        value=r["value"],
        count=r["count"],
        sum=r["sum"],
        bounds=tuple(float(b) for b in bounds) if r["bucket_counts"] is not None else None,
        buckets=tuple(_load(r["bucket_counts"])),
        scale=r["exp_scale"],
        zero=r["exp_zero_count"] or 0,
        pos_offset=r["exp_positive_offset"] or 0,
        pos=tuple(_load(r["exp_positive_counts"])),
        neg_offset=r["exp_negative_offset"] or 0,
        neg=tuple(_load(r["exp_negative_counts"])),
    )


class _Acc:
    """Everything one (service, metric) contributes to a summary and a chart."""

    def __init__(self, service: str, name: str, kind: str, unit: str) -> None:
        self.service, self.name, self.kind, self.unit = service, name, kind, unit
        self.points = 0
        self.series: dict[str, list[_Point]] = {}
        self.baseline: dict[str, _Point] = {}

    def summarise(
        self, since_ns: int, until_ns: int, slots: int = SLOTS
    ) -> tuple[MetricSummary, MetricSeries]:
        slot_ns = max(1, (until_ns - since_ns) // slots)

        def slot(t: int) -> int:  # slots are (lo, hi]: a point at until_ns is in the last
            return min(slots - 1, max(0, (t - since_ns - 1) // slot_ns))

        histogram = self.kind in HISTOGRAM_KINDS
        total = _Dist()
        per_slot = [_Dist() for _ in range(slots)]
        values: list[list[float]] = [[] for _ in range(slots)]
        last: float | None = None
        last_t = -1
        for key, pts in self.series.items():
            prev = self.baseline.get(key)
            for p in pts:
                if histogram:
                    for d in (total, per_slot[slot(p.time_ns)]):
                        d.add(p)
                        if prev is not None and _continues(prev, p):
                            d.add(prev, -1)
                elif p.value is not None:
                    v = p.value
                    # A cumulative sum's spark shows what each point added.
                    if self.kind == "sum" and prev is not None and _continues(prev, p):
                        v -= prev.value or 0.0
                    values[slot(p.time_ns)].append(v)
                prev = p
            if not histogram and pts and pts[-1].value is not None:
                if self.kind == "sum":  # counters split by attributes: their total
                    last = (last or 0.0) + pts[-1].value
                elif pts[-1].time_ns >= last_t:
                    last, last_t = pts[-1].value, pts[-1].time_ns
        if histogram:
            spark = tuple(d.sum / d.count if d.count > 0 else None for d in per_slot)
            p50, p95, p99 = (total.quantile(q) for q in (0.5, 0.95, 0.99))
            summary = MetricSummary(
                self.service,
                self.name,
                self.kind,
                self.unit,
                self.points,
                None,
                max(0, total.count),
                p50,
                p95,
                p99,
                spark=spark,
            )
            return summary, MetricSeries(
                summary,
                since_ns,
                until_ns,
                slot_ns,
                spark,
                tuple(max(0, d.count) for d in per_slot),
                tuple(d.quantile(0.95) for d in per_slot),
            )
        # Gauges: the mean value in a slot; sums: the mean a point added (a counter's pace).
        spark = tuple(sum(v) / len(v) if v else None for v in values)
        summary = MetricSummary(
            self.service,
            self.name,
            self.kind,
            self.unit,
            self.points,
            last,
            None,
            None,
            None,
            None,
            spark=spark,
        )
        return summary, MetricSeries(summary, since_ns, until_ns, slot_ns, spark)


def _continues(prev: _Point | None, p: _Point) -> bool:
    """Whether ``p`` is the next cumulative point of ``prev``'s series (same start time)."""
    return prev is not None and prev.start_ns != 0 and prev.start_ns == p.start_ns


def _gather(
    conn: sqlite3.Connection,
    since_ns: int,
    until_ns: int,
    service: str | None,
    name: str | None,
    exclude: Collection[str] = (),
) -> dict[tuple[str, str], _Acc]:
    where: list[str] = ["time_ns >= ?", "time_ns <= ?"]
    args: list[Any] = [since_ns, until_ns]
    if exclude:
        where.append(f"service NOT IN ({','.join('?' * len(exclude))})")
        args.extend(exclude)
    if service is not None:
        where.append("service = ?")
        args.append(service)
    if name is not None:
        where.append("name = ?")
        args.append(name)
    accs: dict[tuple[str, str], _Acc] = {}
    sql = f"SELECT {_COLUMNS} FROM metric_points WHERE {' AND '.join(where)} ORDER BY time_ns, id"
    for r in _select(conn, sql, args):
        acc = accs.get((r["service"], r["name"]))
        if acc is None:
            acc = accs[(r["service"], r["name"])] = _Acc(
                r["service"], r["name"], r["kind"], r["unit"]
            )
        acc.points += 1
        key, p = _point(r)
        acc.series.setdefault(key, []).append(p)
    for (svc, metric), acc in accs.items():
        if acc.kind not in (*HISTOGRAM_KINDS, "sum"):
            continue
        for r in _select(
            conn,
            f"SELECT {_COLUMNS} FROM metric_points WHERE service = ? AND name = ?"
            " AND time_ns < ? AND time_ns >= ? ORDER BY time_ns, id",
            (svc, metric, since_ns, since_ns - _BASELINE_NS),
        ):
            key, p = _point(r)
            acc.baseline[key] = p  # the newest before the window wins
    return accs


def metric_summaries(
    conn: sqlite3.Connection,
    since_ns: int,
    until_ns: int,
    *,
    service: str | None = None,
    name: str | None = None,
) -> list[MetricSummary]:
    """One summary per service and metric with points in ``[since_ns, until_ns]``, by service and
    name."""
    accs = _gather(conn, since_ns, until_ns, service, name)
    return [accs[k].summarise(since_ns, until_ns)[0] for k in sorted(accs)]


def metric_series(
    conn: sqlite3.Connection, service: str, name: str, since_ns: int, until_ns: int, slots: int = 60
) -> MetricSeries | None:
    """One metric of one service over the window, in ``slots`` slots; None without points."""
    accs = _gather(conn, since_ns, until_ns, service, name)
    acc = accs.get((service, name))
    if acc is None:
        return None
    # No more columns than the points have distinct times: a chart without holes between them.
    times = {p.time_ns for pts in acc.series.values() for p in pts}
    return acc.summarise(since_ns, until_ns, max(1, min(slots, len(times))))[1]


def metric_services(conn: sqlite3.Connection, since_ns: int) -> list[tuple[str, int]]:
    """Services with metric points since ``since_ns``, and how many metrics each sent."""
    return [
        (s, n)
        for s, n in conn.execute(
            "SELECT service, count(DISTINCT name) FROM metric_points WHERE time_ns >= ?"
            " GROUP BY service ORDER BY service",
            (since_ns,),
        )
    ]


def sparkline(values: Sequence[float | None]) -> str:
    """Block characters scaled between the smallest and largest value; a space where empty."""
    real = [v for v in values if v is not None and math.isfinite(v)]
    if not real:
        return " " * len(values)
    lo, hi = min(real), max(real)
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(" ")
        elif hi == lo:
            out.append(_BARS[len(_BARS) // 2])
        else:
            out.append(_BARS[round((v - lo) / (hi - lo) * (len(_BARS) - 1))])
    return "".join(out)


# Semantic-convention duration histograms of the work a service is asked to do, in order of
# preference when a service sends more than one.
DURATION_METRICS = ("http.server.request.duration", "messaging.process.duration")
_TO_MS = {"s": 1000.0, "ms": 1.0, "us": 0.001, "ns": 0.000001}


@dataclass(frozen=True, slots=True)
class MetricLatency:
    """A service's latency over the window from a semantic-convention duration histogram."""

    service: str
    metric: str
    count: int
    per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float  # observations with ``error.type`` or an HTTP 5xx status


def _failed(attributes: str) -> bool:
    try:
        a = json.loads(attributes) if attributes else {}
    except ValueError:
        return False
    status = a.get("http.response.status_code")
    return bool(a.get("error.type")) or (isinstance(status, int) and status >= 500)


def duration_latency(
    conn: sqlite3.Connection, since_ns: int, until_ns: int, exclude: Collection[str] = ()
) -> dict[str, MetricLatency]:
    """Per service (but those in ``exclude``: the overview's services with entry spans), latency
    from the first of ``DURATION_METRICS`` it sent in the window."""
    out: dict[str, MetricLatency] = {}
    skip = list(exclude)
    for name in DURATION_METRICS:
        for (service, _), acc in sorted(
            _gather(conn, since_ns, until_ns, None, name, skip).items()
        ):
            if service in out or acc.kind not in HISTOGRAM_KINDS:
                continue
            scale = _TO_MS.get(acc.unit)
            if scale is None:
                continue  # a duration in a unit we cannot read is no latency
            m, _ = acc.summarise(since_ns, until_ns)
            if not m.count:
                continue
            failed = _Acc(service, name, acc.kind, acc.unit)
            failed.series = {k: v for k, v in acc.series.items() if _failed(k)}
            failed.baseline = acc.baseline
            errors = 0
            if failed.series:
                errors = failed.summarise(since_ns, until_ns)[0].count or 0
            window_s = max(1.0, (until_ns - since_ns) / 1e9)
            out[service] = MetricLatency(
                service,
                name,
                m.count,
                m.count / window_s,
                None if m.p50 is None else m.p50 * scale,
                None if m.p95 is None else m.p95 * scale,
                None if m.p99 is None else m.p99 * scale,
                errors / m.count,
            )
    return out
