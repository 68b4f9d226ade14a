"""Metric points over a window: one summary per service and metric, and one metric's series.

Points come from the store's ``metric_samples`` (``console/store/api.py``). A histogram's
distribution over the window is the sum of what each point added in it: a point that shares its
series' start time with the one before (cumulative temporality, the SDK's default) adds the
difference, any other point (delta, or a restarted series) adds itself. The newest point of the
ten minutes before the window serves as the baseline, so a cumulative histogram is not counted
from its start (a series that exported nothing in those ten minutes is counted from its start).
Percentiles come from ``console/readers/quantiles.py``: inside a bucket, never outside the
points' ``min``/``max``, and marked as a bound where one bucket holds everything.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.readers.quantiles import Distribution, Estimate
from console.readers.quantiles import Point as _Point
from console.store.api import MetricSample, SignalReads

__all__ = [
    "HISTOGRAM_KINDS",
    "Acc",
    "MetricSeries",
    "MetricSummary",
    "gather",
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
    # Histograms: p50, p95, p99 as estimates (each says whether it is only a bound, and the
    # interval the truth lies in), and the smallest and largest value when the points carry them.
    estimates: tuple[Estimate | None, ...] = ()
    min: float | None = None
    max: float | None = None

    def estimate(self, q: str) -> Estimate | None:
        """The estimate of ``"p50"``, ``"p95"`` or ``"p99"`` (None for gauges and sums)."""
        i = ("p50", "p95", "p99").index(q)
        return self.estimates[i] if i < len(self.estimates) else None

    def to_json(self) -> dict[str, Any]:
        out = {
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
            "min": self.min,
            "max": self.max,
        }
        for q in ("p50", "p95", "p99"):
            e = self.estimate(q)
            # "le": p50 is only an upper bound ("≤ 5 s"); "gt": past the last bucket bound.
            out[f"{q}_bound"] = None if e is None else e.bound
            out[f"{q}_range"] = None if e is None else [e.to_json()["low"], e.to_json()["high"]]
        return out


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


# --- points -----------------------------------------------------------------------------------


def _point(m: MetricSample) -> tuple[str, _Point]:
    """(series key, point) from a stored sample."""
    return m.series, _Point(
        time_ns=m.time_ns,
        start_ns=m.start_ns,
        value=m.value,
        count=m.count,
        sum=m.sum,
        bounds=m.bounds,
        buckets=m.buckets,
        scale=m.scale,
        zero=m.zero,
        pos_offset=m.pos_offset,
        pos=m.pos,
        neg_offset=m.neg_offset,
        neg=m.neg,
        min=m.min,
        max=m.max,
    )


class Acc:
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
        total = Distribution()
        per_slot = [Distribution() for _ in range(slots)]
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
            estimates = tuple(total.quantile(q) for q in (0.5, 0.95, 0.99))
            p50, p95, p99 = (None if e is None else e.value for e in estimates)
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
                estimates=estimates,
                min=total.min,
                max=total.max,
            )
            return summary, MetricSeries(
                summary,
                since_ns,
                until_ns,
                slot_ns,
                spark,
                tuple(max(0, d.count) for d in per_slot),
                tuple(_value(d.quantile(0.95)) for d in per_slot),
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


def _value(e: Estimate | None) -> float | None:
    return None if e is None else e.value


def _continues(prev: _Point | None, p: _Point) -> bool:
    """Whether ``p`` is the next cumulative point of ``prev``'s series (same start time)."""
    return prev is not None and prev.start_ns != 0 and prev.start_ns == p.start_ns


def gather(
    store: SignalReads,
    since_ns: int,
    until_ns: int,
    service: str | None,
    name: str | None,
    exclude: Collection[str] = (),
) -> dict[tuple[str, str], Acc]:
    accs: dict[tuple[str, str], Acc] = {}
    samples = store.metric_samples(
        since_ns, until_ns, service=service, name=name, exclude=list(exclude)
    )
    for r in samples:
        acc = accs.get((r.service, r.name))
        if acc is None:
            acc = accs[(r.service, r.name)] = Acc(r.service, r.name, r.kind, r.unit)
        acc.points += 1
        key, p = _point(r)
        acc.series.setdefault(key, []).append(p)
    for (svc, metric), acc in accs.items():
        if acc.kind not in (*HISTOGRAM_KINDS, "sum"):
            continue
        # The newest point of the ten minutes before the window (ns are whole: < since_ns).
        before = store.metric_samples(
            since_ns - _BASELINE_NS, since_ns - 1, service=svc, name=metric
        )
        for r in before:
            key, p = _point(r)
            acc.baseline[key] = p  # the newest before the window wins
    return accs


def metric_summaries(
    store: SignalReads,
    since_ns: int,
    until_ns: int,
    *,
    service: str | None = None,
    name: str | None = None,
) -> list[MetricSummary]:
    """One summary per service and metric with points in ``[since_ns, until_ns]``, by service and
    name."""
    accs = gather(store, since_ns, until_ns, service, name)
    return [accs[k].summarise(since_ns, until_ns)[0] for k in sorted(accs)]


def metric_series(
    store: SignalReads, service: str, name: str, since_ns: int, until_ns: int, slots: int = 60
) -> MetricSeries | None:
    """One metric of one service over the window, in ``slots`` slots; None without points."""
    accs = gather(store, since_ns, until_ns, service, name)
    acc = accs.get((service, name))
    if acc is None:
        return None
    # No more columns than the points have distinct times: a chart without holes between them.
    times = {p.time_ns for pts in acc.series.values() for p in pts}
    return acc.summarise(since_ns, until_ns, max(1, min(slots, len(times))))[1]


def metric_services(store: SignalReads, since_ns: int) -> list[tuple[str, int]]:
    """Services with metric points since ``since_ns``, and how many metrics each sent."""
    return store.metric_services(since_ns)


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
