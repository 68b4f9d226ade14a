"""Deterministic demo traffic for the TUI tests: fixed ids and timestamps around ``NOW``."""

from __future__ import annotations

from typing import Any

from console.base.model import (
    STATUS_ERROR,
    DeadLetter,
    Hop,
    LogRecord,
    MetricPoint,
    SeriesPoint,
    Span,
)

NOW = 1_790_000_000_000_000_000  # 2026-09-21T13:33:20Z
S = 1_000_000_000
MS = 1_000_000

SERVICES = ("upload-service", "image-processor", "catalog-service", "order-orchestrator")


def demo_spans(now: int = NOW, n: int = 120) -> list[Span]:
    """``n`` uploads spread over the last 10 minutes, each through four services."""
    out: list[Span] = []
    for i in range(n):
        t = now - 600 * S + i * (600 * S // n)
        trace = f"{i + 1:032x}"
        corr = f"corr-{i:04d}"
        parent = None
        for j, service in enumerate(SERVICES):
            sid = f"{i + 1:08x}{j + 1:08x}"
            start = t + j * 20 * MS
            dur = (5 + (i * 7 + j * 13) % 60) * MS
            out.append(
                Span(
                    trace_id=trace,
                    span_id=sid,
                    parent_span_id=parent,
                    name="POST /uploads" if j == 0 else f"process canvasflow.step{j}",
                    kind=2 if j == 0 else 5,
                    start_ns=start,
                    end_ns=start + dur,
                    service=service,
                    status_code=2 if (service == "catalog-service" and i % 10 == 0) else 0,
                    correlation_id=corr,
                )
            )
            parent = sid
    return out


def demo_hops(now: int = NOW, n: int = 120) -> list[Hop]:
    return [
        Hop(
            topic="canvasflow.uploads",
            partition=i % 3,
            offset=i // 3,
            timestamp_ms=(now - 600 * S + i * (600 * S // n)) // MS,
            size=300,
            correlation_id=f"corr-{i:04d}",
            trace_id=f"{i + 1:032x}",
            seen_ns=now - 600 * S + i * (600 * S // n) + 5 * MS,
        )
        for i in range(n)
    ]


def demo_series(now: int = NOW) -> list[SeriesPoint]:
    out: list[SeriesPoint] = []
    for k in range(0, 900, 15):
        t = now - k * S
        out.append(SeriesPoint("topic.messages_per_s", "canvasflow.uploads", t, 4 + (k // 15) % 5))
        out.append(SeriesPoint("topic.messages_per_s", "canvasflow.artworks", t, 2 + (k // 30) % 3))
        for p in range(3):
            out.append(
                SeriesPoint("consumer.lag", "canvasflow.uploads", t, 2 + p, f"image-processor/{p}")
            )
    out.append(SeriesPoint("dlq.depth", "canvasflow.uploads.dlq", now - 5 * S, 3))
    out.append(SeriesPoint("dlq.inflow_per_s", "canvasflow.uploads.dlq", now - 5 * S, 0.2))
    return out


_LEVELS = ((5, "DEBUG"), (9, "INFO"), (13, "WARN"), (17, "ERROR"), (21, "FATAL"), (1, "TRACE"))


def demo_logs(now: int = NOW, n: int = 12) -> list[LogRecord]:
    """``n`` log records over the last 12 seconds, every severity, inside the uploads' spans."""
    out = []
    for i in range(n):
        number, text = _LEVELS[i % len(_LEVELS)]
        up = 120 - n + i  # the newest uploads
        out.append(
            LogRecord(
                time_ns=now - (n - i) * S,
                service=SERVICES[i % 4],
                severity_number=number,
                severity_text=text,
                body=f"{text.lower()} while handling upload {up}",
                trace_id=f"{up + 1:032x}",
                span_id=f"{up + 1:08x}{i % 4 + 1:08x}",
                correlation_id=f"corr-{up:04d}",
            )
        )
    return out


def demo_metrics(now: int = NOW) -> list[MetricPoint]:
    """Every 30 s over 15 minutes: a counter, a gauge and a cumulative duration histogram of the
    upload service; an exponential processing-time histogram of the image processor."""
    out: list[MetricPoint] = []
    start = now - 900 * S
    bounds = (5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0)
    for k in range(30):
        t = start + (k + 1) * 30 * S
        common: dict[str, Any] = {"service": "upload-service", "time_ns": t, "start_time_ns": start}
        out.append(MetricPoint("uploads.received", kind="sum", value=10.0 * (k + 1), **common))
        out.append(MetricPoint("queue.depth", kind="gauge", value=float(3 + k % 7), **common))
        n = k + 1
        counts = (0, 2 * n, 4 * n, 8 * n, 4 * n, 2 * n, n, 0)
        out.append(
            MetricPoint(
                "http.server.request.duration",
                kind="histogram",
                count=sum(counts),
                sum=40.0 * sum(counts),
                bucket_counts=counts,
                explicit_bounds=bounds,
                unit="ms",
                **common,
            )
        )
        out.append(
            MetricPoint(
                "messaging.process.duration",
                service="image-processor",
                time_ns=t,
                start_time_ns=t - 30 * S,  # delta temporality
                kind="exponential_histogram",
                count=60,
                sum=60 * 120.0,
                unit="ms",
                scale=2,
                zero_count=0,
                positive_offset=24,
                positive_bucket_counts=(5, 10, 20, 15, 5, 3, 2),
            )
        )
        # A long service name, a unit in braces, and sub-millisecond work in seconds whose every
        # value sits in the first bucket: shown as a bound within the points' max, not a guess.
        renderer: dict[str, Any] = {
            "service": "canvasflow-thumbnail-renderer",
            "time_ns": t,
            "start_time_ns": start,
        }
        out.append(
            MetricPoint("tiles.rendered", kind="sum", value=990.0 * n, unit="{event}", **renderer)
        )
        out.append(
            MetricPoint(
                "canvasflow.process.duration",
                kind="histogram",
                count=99 * n,
                sum=0.0007 * 99 * n,
                bucket_counts=(99 * n, *(0,) * 14),
                explicit_bounds=SEMCONV_S,
                unit="s",
                min=0.0002,
                max=0.0041,
                **renderer,
            )
        )
    return out


SEMCONV_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def demo_records(now: int = NOW) -> list:
    return [*demo_spans(now), *demo_hops(now), *demo_series(now)]


def demo_dead_letters(now: int = NOW) -> list[DeadLetter]:
    """Two Spring-format dead letters of canvasflow.orders with fixed coordinates and times."""
    from tests.dlq_headers_fixture import spring_dlt_headers

    out = []
    for i, (payload, message) in enumerate(
        (
            (b'{"order_id":"o-17","quantity":"two","sku":"canvas-40x60"}', "quantity: not an int"),
            (b'{"quantity":1,"sku":"print-a3"}', "order_id missing"),
        )
    ):
        ts = (now - (300 - i * 60) * S) // MS
        headers = [
            ("x-correlation-id", f"corr-{i + 3:04d}".encode()),
            *spring_dlt_headers(
                topic="canvasflow.orders",
                partition=0,
                offset=40 + i,
                timestamp_ms=ts - 50,
                group="order-orchestrator",
                message=message,
            ),
        ]
        out.append(
            DeadLetter(
                dlq_topic="canvasflow.orders-dlt",
                partition=0,
                offset=7 + i,
                timestamp_ms=ts,
                headers=tuple(headers),
                payload=payload,
                payload_size=len(payload),
                convention="spring",
                original_topic="canvasflow.orders",
                original_partition=0,
                original_offset=40 + i,
                original_timestamp_ms=ts - 50,
                consumer_group="order-orchestrator",
                exception_class="org.springframework.kafka.support.serializer.DeserializationException",
                exception_message=message,
                correlation_id=f"corr-{i + 3:04d}",
                first_seen_ns=ts * MS,
            )
        )
    return out


BIG_TRACE = "b" * 32
BIG_CID = "corr-big-1"


def big_journey(pages: int = 6, tiles: int = 30) -> list[Span]:
    """One request, ``pages`` pages of ``tiles`` tiles each; one tile fails."""
    t = NOW - 60_000 * 1_000_000
    root = Span(
        BIG_TRACE, "r" * 16, "GET /render", t, 0, "renderer", correlation_id=BIG_CID, kind=2
    )
    out: list[Span] = []
    t += MS
    for p in range(pages):
        page_id = f"a{p:015x}"
        start = t
        for k in range(tiles):
            failed = (p, k) == (2, 11)
            out.append(
                Span(
                    BIG_TRACE,
                    f"c{p:07x}{k:08x}",
                    "render-tile",
                    t,
                    t + 200_000 + k * 1000,
                    "renderer",
                    parent_span_id=page_id,
                    status_code=STATUS_ERROR if failed else 0,
                    status_message="tile out of memory" if failed else "",
                )
            )
            t += 300_000
        out.append(Span(BIG_TRACE, page_id, "render-page", start, t, "renderer", root.span_id))
    return [Span(BIG_TRACE, root.span_id, root.name, root.start_ns, t + MS, "renderer",
                 correlation_id=BIG_CID, kind=2), *out]  # fmt: skip
