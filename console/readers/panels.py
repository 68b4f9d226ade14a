"""What the overview shows, as pure queries over the store.

* ``ServiceAggregator`` gives per-service throughput, latency percentiles and error rates over the
  last 15 minutes in buckets (for sparklines). It reads the rollups the writer keeps at ingest
  (``service_rollup``: per service and 10 s, the entry spans, their errors and a histogram of
  their durations in bins of two significant decimal digits of the microseconds), so a refresh
  costs a few rows per service and bucket, however many spans the window holds; a late span
  updates its bucket when it arrives.
* ``topic_panels`` reads the tap's time series (``topic.messages_per_s``, ``consumer.lag``,
  ``dlq.depth``, ...): their newest values and per-bucket averages, as the store aggregates them.

Every read goes through the store's ``PanelReads`` (``console/store/api.py``).
* ``health`` says how fresh each source is. (The live tail's query is in
  ``console/readers/tail.py``.)

Only *entry* spans count for a service: SERVER and CONSUMER spans, and root spans, i.e. the work a
service was asked to do, not every internal step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from console.readers.latency import MetricLatency
from console.store.api import PanelReads, StoreExtent

__all__ = [
    "Health",
    "ServiceAggregator",
    "ServicePanel",
    "StoreExtent",
    "TopicPanel",
    "health",
    "store_extent",
    "topic_panels",
    "with_metric_latency",
]

NS = 1_000_000_000
WINDOW_S = 15 * 60
BUCKETS = 30


def _bin_ms(code: int) -> float:
    """The duration (ms) a bin code stands for (its lower bound)."""
    digits, lead = divmod(code, 100)
    if digits <= 1:
        return lead / 1000
    return float(lead * 10 ** (digits - 2) / 1000)


@dataclass(frozen=True, slots=True)
class ServicePanel:
    service: str
    spans: int
    per_s: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float
    throughput: tuple[float, ...] = ()  # spans/s per bucket, oldest first
    latency_p95: tuple[float, ...] = ()  # ms per bucket
    errors: tuple[float, ...] = ()  # error rate per bucket
    source: str = "spans"  # where the figures come from: "spans" or "metrics" (the metric's name)
    # From metrics: p50/p95/p99 that are only bounds ("le": at most, "gt": more than), else None.
    bounds: tuple[str | None, ...] = ()


@dataclass
class _Bucket:
    count: float = 0.0  # scaled when the history was sampled
    errors: float = 0.0
    bins: dict[int, float] = field(default_factory=dict)
    p95: float | None = None  # cached until the bucket changes


def _percentiles(bins: dict[int, float], qs: tuple[float, ...]) -> list[float | None]:
    total = sum(bins.values())
    if not total:
        return [None] * len(qs)
    out: list[float | None] = []
    ordered = sorted(bins.items())
    for q in qs:
        rank = q * total
        seen = 0.0
        value = _bin_ms(ordered[-1][0])
        for code, n in ordered:
            seen += n
            if seen >= rank:
                value = _bin_ms(code)
                break
        out.append(value)
    return out


class ServiceAggregator:
    """Per-service panels over a sliding window, from the ingest-time rollups."""

    def __init__(
        self, window_s: int = WINDOW_S, buckets: int = BUCKETS, sample: int = 5000
    ) -> None:
        self.window_s = window_s
        self.buckets = buckets
        self.bucket_ns = window_s * NS // buckets
        self.sample = sample  # kept for callers; rollups need no sampling
        self._data: dict[str, dict[int, _Bucket]] = {}

    def refresh(self, store: PanelReads, now_ns: int) -> list[ServicePanel]:
        """The panels for the window ending at ``now_ns``, busiest service first."""
        first = now_ns // self.bucket_ns - self.buckets + 1
        start_ns = first * self.bucket_ns
        data: dict[str, dict[int, _Bucket]] = {}
        for cell in store.service_rollups(start_ns, now_ns):
            pb = cell.start_ns // self.bucket_ns
            if pb < first:
                continue
            bucket = data.setdefault(cell.service, {}).get(pb)
            if bucket is None:
                bucket = data[cell.service][pb] = _Bucket()
            bucket.count += cell.entries
            bucket.errors += cell.errors
            for c, n in cell.bins.items():
                bucket.bins[c] = bucket.bins.get(c, 0) + n
        self._data = data
        return self._panels(first, now_ns)

    def _panels(self, first: int, now_ns: int) -> list[ServicePanel]:
        out: list[ServicePanel] = []
        span_s = self.bucket_ns / NS
        for service, buckets in list(self._data.items()):
            for b in [b for b in buckets if b < first]:
                del buckets[b]
            if not buckets:
                del self._data[service]
                continue
            merged: dict[int, float] = {}
            count = errors = 0.0
            tp, lat, err = [], [], []
            for b in range(first, first + self.buckets):
                bk = buckets.get(b)
                if bk is None:
                    tp.append(0.0)
                    lat.append(0.0)
                    err.append(0.0)
                    continue
                count += bk.count
                errors += bk.errors
                for code, n in bk.bins.items():
                    merged[code] = merged.get(code, 0) + n
                tp.append(bk.count / span_s)
                if bk.p95 is None:
                    bk.p95 = _percentiles(bk.bins, (0.95,))[0] or 0.0
                lat.append(bk.p95)
                err.append(bk.errors / bk.count if bk.count else 0.0)
            elapsed_s = min(self.window_s, max(1.0, (now_ns - first * self.bucket_ns) / NS))
            p50, p95, p99 = _percentiles(merged, (0.5, 0.95, 0.99))
            out.append(
                ServicePanel(
                    service=service,
                    spans=round(count),
                    per_s=count / elapsed_s,
                    p50_ms=p50,
                    p95_ms=p95,
                    p99_ms=p99,
                    error_rate=errors / count if count else 0.0,
                    throughput=tuple(tp),
                    latency_p95=tuple(lat),
                    errors=tuple(err),
                )
            )
        out.sort(key=lambda p: (-p.spans, p.service))
        return out


def with_metric_latency(
    panels: list[ServicePanel], latencies: dict[str, MetricLatency]
) -> list[ServicePanel]:
    """Span panels, plus a panel from a duration histogram (``console/readers/metrics.py``) for each
    service no entry span speaks for (its spans sampled away, or never sent)."""
    have = {p.service for p in panels if p.spans}
    extra = [
        ServicePanel(
            service=m.service,
            spans=0,
            per_s=m.per_s,
            p50_ms=m.p50_ms,
            p95_ms=m.p95_ms,
            p99_ms=m.p99_ms,
            error_rate=m.error_rate,
            source=f"metrics:{m.metric}",
            bounds=m.bounds,
        )
        for m in latencies.values()
        if m.service not in have
    ]
    extra.sort(key=lambda p: (-p.per_s, p.service))
    return [*[p for p in panels if p.service in have], *extra]


@dataclass(frozen=True, slots=True)
class TopicPanel:
    topic: str
    messages_per_s: float | None = None
    bytes_per_s: float | None = None
    rate: tuple[float, ...] = ()  # messages/s per bucket, oldest first
    lag: tuple[tuple[str, float], ...] = ()  # (group, total lag), largest first
    dlq_depth: float | None = None
    dlq_inflow_per_s: float | None = None

    @property
    def lag_total(self) -> float:
        return sum(v for _, v in self.lag)


_SERIES = (
    "topic.messages_per_s",
    "topic.bytes_per_s",
    "consumer.lag",
    "consumer.lag_total",
    "dlq.depth",
    "dlq.inflow_per_s",
)


def store_extent(store: PanelReads) -> StoreExtent:
    """Spans and hops in the store and when the first and last of them happened (from the
    store's metadata: no record is read)."""
    return store.extent()


def topic_panels(
    store: PanelReads,
    now_ns: int,
    *,
    window_s: int = WINDOW_S,
    buckets: int = BUCKETS,
    fresh_s: int = 120,
) -> list[TopicPanel]:
    """Per-topic rates, lag per group and DLQ depth; a value older than ``fresh_s`` is gone."""
    bucket_ns = window_s * NS // buckets
    first = now_ns // bucket_ns - buckets + 1
    latest: dict[tuple[str, str], dict[str, float]] = {}
    for lv in store.latest_values(_SERIES, now_ns - fresh_s * NS, now_ns):
        latest.setdefault((lv.name, lv.subject), {})[lv.detail] = lv.value
    rates: dict[str, list[float]] = {}
    for subject, b, avg in store.series_averages(
        "topic.messages_per_s", bucket_ns, first * bucket_ns, now_ns
    ):
        row = rates.setdefault(subject, [0.0] * buckets)
        if 0 <= b - first < buckets:
            row[b - first] = avg
    topics = sorted({s for _, s in latest} | set(rates))
    out = []
    for t in topics:
        groups: dict[str, float] = dict(latest.get(("consumer.lag_total", t), {}))
        for detail, v in latest.get(("consumer.lag", t), {}).items():
            group = detail.rsplit("/", 1)[0]
            if ("consumer.lag_total", t) not in latest:
                groups[group] = groups.get(group, 0.0) + v
        out.append(
            TopicPanel(
                topic=t,
                messages_per_s=_one(latest.get(("topic.messages_per_s", t))),
                bytes_per_s=_one(latest.get(("topic.bytes_per_s", t))),
                rate=tuple(rates.get(t, ())),
                lag=tuple(sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))),
                dlq_depth=_one(latest.get(("dlq.depth", t))),
                dlq_inflow_per_s=_one(latest.get(("dlq.inflow_per_s", t))),
            )
        )
    return out


def _one(values: dict[str, float] | None) -> float | None:
    return None if not values else sum(values.values())


@dataclass(frozen=True, slots=True)
class Health:
    """How fresh each source is: seconds since its newest record (None: never seen)."""

    last_span_s: float | None
    last_hop_s: float | None
    last_series_s: float | None
    services: int
    collector: str = "unknown"  # up, idle, down, unknown (from the runtime when in-process)
    tap: str = "unknown"
    broker: str = "unknown"
    detail: str = ""
    store: str = "unknown"  # "failing" while the in-process writer cannot commit
    # OTLP over Kafka: messages on the OTLP topics its group has not taken yet (None: not
    # consuming, or no sample in the last minute); its state from the runtime when in-process.
    otlp_kafka_lag: float | None = None
    otlp_kafka: str = "unknown"


def health(store: PanelReads, now_ns: int, runtime: dict[str, str] | None = None) -> Health:
    """Freshness from the store; ``runtime`` (an in-process daemon's status) overrides states."""

    def age(t: int | None) -> float | None:
        return None if t is None else max(0.0, (now_ns - t) / NS)

    fresh = store.freshness()
    span_s = age(fresh.last_span_ns)
    hop_s = age(fresh.last_hop_ns)
    series_s = age(fresh.last_series_ns)
    services = fresh.services
    rt = runtime or {}
    otlp_lag = _otlp_kafka_lag(store, now_ns)
    if "otlp_kafka_lag" in rt:
        otlp_lag = float(rt["otlp_kafka_lag"])
    tap_s = min((x for x in (hop_s, series_s) if x is not None), default=None)

    def state(a: float | None) -> str:
        return "unknown" if a is None else ("up" if a < 30 else "idle")

    return Health(
        last_span_s=span_s,
        last_hop_s=hop_s,
        last_series_s=series_s,
        services=services,
        collector=rt.get("collector", state(span_s)),
        tap=rt.get("tap", state(tap_s)),
        broker=rt.get("broker", state(series_s)),
        detail=rt.get("detail", ""),
        store=rt.get("store", "unknown"),
        otlp_kafka_lag=otlp_lag,
        otlp_kafka=rt.get("otlp_kafka", "unknown" if otlp_lag is None else "up"),
    )


def _otlp_kafka_lag(store: PanelReads, now_ns: int) -> float | None:
    """The newest ``otlp_kafka.lag`` sample of the last minute, summed over groups."""
    latest: dict[str, float] = {}
    for lv in store.latest_values(("otlp_kafka.lag",), now_ns - 60 * NS):
        latest[lv.subject] = lv.value  # one per (subject, detail): the newest wins per subject
    return sum(latest.values()) if latest else None
