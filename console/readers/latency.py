"""Latency from semantic-convention duration histograms, for a service whose spans do not speak
for it (sampled away, or never sent): the overview's ``from metrics`` rows."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from console.base.semconv import as_int
from console.readers.metrics import HISTOGRAM_KINDS, Acc, gather
from console.store.api import SignalReads

__all__ = ["DURATION_METRICS", "MetricLatency", "duration_latency"]

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
    # Per p50, p95, p99: "le" where the figure is only an upper bound (one bucket holds every
    # observation), "gt" past the last bucket bound, None for an estimate inside its bucket.
    bounds: tuple[str | None, ...] = (None, None, None)


def _failed(attributes: str) -> bool:
    try:
        a = json.loads(attributes) if attributes else {}
    except ValueError:
        return False
    # An integer, or its text where the store keeps attribute values as text (the clickhouse
    # exporter's maps: "503").
    status = as_int(a.get("http.response.status_code"))
    return bool(a.get("error.type")) or (status is not None and status >= 500)


def duration_latency(
    store: SignalReads, since_ns: int, until_ns: int, exclude: Collection[str] = ()
) -> dict[str, MetricLatency]:
    """Per service (but those in ``exclude``: the overview's services with entry spans), latency
    from the first of ``DURATION_METRICS`` it sent in the window."""
    out: dict[str, MetricLatency] = {}
    skip = list(exclude)
    for name in DURATION_METRICS:
        accs = gather(store, since_ns, until_ns, None, name, skip)
        for (service, _), acc in sorted(accs.items()):
            if service in out or acc.kind not in HISTOGRAM_KINDS:
                continue
            scale = _TO_MS.get(acc.unit)
            if scale is None:
                continue  # a duration in a unit we cannot read is no latency
            m, _ = acc.summarise(since_ns, until_ns)
            if not m.count:
                continue
            failed = Acc(service, name, acc.kind, acc.unit)
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
                tuple(None if e is None else e.bound for e in m.estimates),
            )
    return out
