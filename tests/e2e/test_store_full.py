"""Nothing acknowledged that was not stored, with the store on a real full filesystem (a small
tmpfs filled to the last byte):

* ``serve``: while the disk is full the official OTLP exporters (HTTP and gRPC) are answered
  503 / UNAVAILABLE, not 200, and keep retrying; once space is freed their retries land, and the
  store holds every span an exporter was told was exported.
* ``tap``: while the disk is full the tap commits no offset past what the store holds; once space
  is freed the store holds every message of the topic and the group's offsets reach its end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from console.store import Store
from tests.conftest import create_topic
from tests.e2e.support import Tap, integrity, wait_until
from tests.otlp_helpers import Serve, trace_request
from tests.store_faults import SmallDisk, small_disk
from tests.tap_helpers import produce, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
def disk() -> Iterator[SmallDisk]:
    with small_disk("16m") as d:
        yield d


def _spans(service: str, n: int) -> list[ReadableSpan]:
    """``n`` finished spans of ``service``, made by the SDK as a service would make them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("e2e.store-full")
    for i in range(n):
        with tracer.start_as_current_span(f"work-{i}") as span:
            span.set_attribute("seq", i)
    provider.shutdown()
    return list(memory.get_finished_spans())


class _Transient(logging.Handler):
    """Counts the exporters' "Transient error ... retrying" warnings: a refusal they retry."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Transient error"):
            self.seen.append(message)


def test_serve_on_a_full_disk_refuses_then_stores_every_acknowledged_span(
    disk: SmallDisk,
) -> None:
    db = disk.path / "h.db"
    transient = _Transient()
    logging.getLogger("opentelemetry.exporter").addHandler(transient)
    try:
        with Serve(db) as s:
            exporters = {
                "http": HttpExporter(endpoint=f"{s.http_url}/v1/traces", timeout=90),
                "grpc": GrpcExporter(endpoint=s.grpc_target, insecure=True, timeout=90),
            }
            batches = {t: (_spans(f"via-{t}", 20), _spans(f"via-{t}", 300)) for t in exporters}
            for t, exporter in exporters.items():
                assert exporter.export(batches[t][0]) == SpanExportResult.SUCCESS

            assert disk.fill() > 0
            # A request now is refused with a retry hint on both transports: not 200.
            r = httpx.post(
                f"{s.http_url}/v1/traces",
                content=trace_request(3, service="refused", seed=7).SerializeToString(),
                headers={"Content-Type": "application/x-protobuf"},
                timeout=60,
            )
            assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
            with grpc.insecure_channel(s.grpc_target) as channel, pytest.raises(grpc.RpcError) as e:
                trace_grpc.TraceServiceStub(channel).Export(
                    trace_request(3, service="refused", seed=8), timeout=60
                )
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE

            # The exporters send while the disk is full: refused, they retry.
            results: dict[str, SpanExportResult] = {}
            threads = [
                threading.Thread(
                    target=lambda t=t, x=x: results.__setitem__(t, x.export(batches[t][1]))
                )
                for t, x in exporters.items()
            ]
            for thread in threads:
                thread.start()
            wait_until(
                lambda: sum("traces" in m or "span" in m for m in transient.seen) >= 4,
                60,
                "both exporters to be refused and retry",
            )
            assert results == {}, "an exporter was told its spans were stored on a full disk"

            disk.free()
            for thread in threads:
                thread.join(120)
            assert results == {"http": SpanExportResult.SUCCESS, "grpc": SpanExportResult.SUCCESS}
            for exporter in exporters.values():
                exporter.shutdown()
            rc = s.stop()
        assert rc == 0, s.stderr
    finally:
        logging.getLogger("opentelemetry.exporter").removeHandler(transient)

    assert "store cannot commit" in s.stderr and "full" in s.stderr, s.stderr
    assert "store committing again" in s.stderr, s.stderr
    per_service = Store.open(db).counts()["per_service"]
    # Every span an exporter was told was exported is stored; the refused requests are not.
    assert per_service == {"via-grpc": {"spans": 320}, "via-http": {"spans": 320}}, per_service
    assert integrity(db) == "ok"


_COORDINATOR_MOVING = (
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
)


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Messages below the group's committed offsets (asked without joining the group)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    deadline = time.monotonic() + 30
    try:
        while True:
            try:
                tps = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=20)
                return sum(max(0, tp.offset) for tp in tps)
            except KafkaException as exc:
                # A broker that just started may not have loaded the group's coordinator yet
                # (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS): ask again, as a client would.
                if exc.args[0].code() not in _COORDINATOR_MOVING or time.monotonic() > deadline:
                    raise
                threading.Event().wait(0.2)  # back off before asking again
    finally:
        c.close()


def _stored_hops(db: Path, topic: str) -> int:
    topics = Store.open(db).counts()["topics"]
    return int(topics.get(topic, {}).get("hops", 0))


def test_tap_on_a_full_disk_commits_no_offset_past_the_store(
    disk: SmallDisk, kafka_bootstrap: str, topic: str
) -> None:
    create_topic(kafka_bootstrap, topic, partitions=2)
    group = unique("full-disk")
    db = disk.path / "h.db"
    Store.open(db)
    produce(kafka_bootstrap, topic, [(None, b"before", [])] * 50)
    total = 50 + 4000

    def committed_within_stored() -> int:
        committed = _committed(kafka_bootstrap, group, topic, 2)  # first: both only grow
        stored = _stored_hops(db, topic)
        assert committed <= stored, f"offsets committed to {committed}, store holds {stored}"
        return committed

    with Tap(db, kafka_bootstrap, topic, "--group", group, "--from-beginning") as tap:
        wait_until(lambda: committed_within_stored() == 50, 60, "the first 50 committed")
        with disk.kept_full():
            # Each hop keeps its headers: ~4 MB of them, more than the WAL's slack (a WAL is
            # rewritten in place, so a store on a full disk still commits what fits there).
            blob = [("blob", b"h" * 1000)]
            produce(kafka_bootstrap, topic, [(None, b"x" * 1000, blob)] * (total - 50))
            wait_until(lambda: "STORE FAILING" in tap.output, 60, "the status line to say so")
            failing_lines = tap.output.count("STORE FAILING")
            # Keep checking while the tap runs into the full disk for a few status lines.
            wait_until(
                lambda: (
                    committed_within_stored() >= 0
                    and tap.output.count("STORE FAILING") >= failing_lines + 2
                ),
                60,
                "two more status lines while failing",
            )
            assert _committed(kafka_bootstrap, group, topic, 2) < total

        disk.free()
        wait_until(lambda: committed_within_stored() == total, 180, "every offset committed")
        assert _stored_hops(db, topic) == total  # each (topic, partition, offset) once
        assert tap.stop() == 0, tap.output
    stopped = [line for line in tap.lines if line.startswith("stopped:")]
    assert stopped and stopped[-1].startswith(f"stopped: {total:,} hops"), tap.output
    assert integrity(db) == "ok"
