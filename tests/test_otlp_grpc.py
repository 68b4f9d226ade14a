"""OTLP/gRPC status codes, backpressure and a clean SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

from collectors.otlp.common import ReceiverSettings
from collectors.otlp.decode import spans_from_request
from collectors.otlp.grpc_server import GrpcReceiver
from collectors.otlp.http_server import HttpReceiver
from console.base.model import Span
from console.store import Store
from tests import stored
from tests.otlp_helpers import Serve, count, trace_request, wait_for

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    db = tmp_path_factory.mktemp("grpc") / "h.db"
    with Serve(db, "--otlp-http", "off") as s:
        yield s


def _in_trace(served: Serve, trace_hex: str) -> list[Span]:
    return [sp for sp in stored.spans(served.db) if sp.trace_id == trace_hex]


def _raw(channel: grpc.Channel, body: bytes) -> grpc.StatusCode:
    call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
    try:
        call(body, timeout=30)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_malformed_is_invalid_argument_and_serving_goes_on(served: Serve) -> None:
    with grpc.insecure_channel(served.grpc_target) as channel:
        assert _raw(channel, b"\x0a\xff\xff\xff\xff\x0f junk") == grpc.StatusCode.INVALID_ARGUMENT
        good = trace_request(3, seed=21).SerializeToString()
        assert _raw(channel, good) == grpc.StatusCode.OK
    trace_hex = (21).to_bytes(16, "big").hex()
    wait_for(lambda: len(_in_trace(served, trace_hex)) == 3)


def test_oversized_is_resource_exhausted(served: Serve) -> None:
    options = [("grpc.max_send_message_length", 128 * 1024 * 1024)]
    with grpc.insecure_channel(served.grpc_target, options=options) as channel:
        assert (
            _raw(channel, b"\x00" * (64 * 1024 * 1024 + 16)) == grpc.StatusCode.RESOURCE_EXHAUSTED
        )
        assert _raw(channel, trace_request(1, seed=22).SerializeToString()) == grpc.StatusCode.OK


def test_duplicates_over_grpc_are_one_row(served: Serve) -> None:
    trace_hex = (23).to_bytes(16, "big").hex()
    with grpc.insecure_channel(served.grpc_target) as channel:
        stub = trace_grpc.TraceServiceStub(channel)
        for _ in range(3):
            stub.Export(trace_request(5, seed=23), timeout=10)
            # OK comes only after the commit holding the request: nothing of it is still on
            # its way, so the count is final after each export, not merely at least five.
            assert stored.span_rows(served.db, trace_hex) == 5
    assert len(_in_trace(served, trace_hex)) == 5


def test_sigterm_commits_everything_received(tmp_path: Path) -> None:
    s = Serve(tmp_path / "h.db").start()
    sent = 0
    with grpc.insecure_channel(s.grpc_target) as channel:
        stub = trace_grpc.TraceServiceStub(channel)
        for seed in range(1, 41):
            stub.Export(trace_request(100, seed=seed), timeout=10)
            sent += 100
    with httpx.Client(base_url=s.http_url) as c:
        body = trace_request(100, seed=41).SerializeToString()
        assert (
            c.post(
                "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}
            ).status_code
            == 200
        )
        sent += 100
    assert s.stop(signal.SIGTERM) == 0
    assert count(s.db, "spans") == sent == 4100
    assert f"stopped: {sent} records committed" in s.stderr


def test_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    s = Serve(tmp_path / "h.db").start()
    with grpc.insecure_channel(s.grpc_target) as channel:
        trace_grpc.TraceServiceStub(channel).Export(trace_request(7, seed=3), timeout=10)
    assert s.stop(signal.SIGINT) == 0
    assert count(s.db, "spans") == 7


def test_full_queue_answers_unavailable_and_503(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "h.db")
    writer = store.writer(max_queued=150, flush_ms=60_000, batch_size=1_000_000)
    settings = ReceiverSettings(port=0)
    grpc_rx, http_rx = GrpcReceiver(writer, settings), HttpReceiver(writer, settings)
    grpc_rx.start()
    http_rx.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{grpc_rx.port}") as channel:
            stub = trace_grpc.TraceServiceStub(channel)
            # 100 records queued by a submitter that does not wait (as the tap's metrics do):
            # the writer holds them for its 60 s flush interval, so the queue is full.
            records, _, _ = spans_from_request(trace_request(100, seed=1))
            writer.submit(records)
            with pytest.raises(grpc.RpcError) as err:
                stub.Export(trace_request(100, seed=2), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            trailers = dict(err.value.trailing_metadata())
            retry = RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
            assert retry.retry_delay.seconds >= 1
        body = trace_request(100, seed=3).SerializeToString()
        r = httpx.post(
            f"http://127.0.0.1:{http_rx.port}/v1/traces",
            content=body,
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
        assert grpc_rx.health()["failed_requests"] == 1
        assert http_rx.health()["failed_requests"] == 1
        writer.flush()
        assert writer.queued == 0
        assert _raw_ok(grpc_rx.port)  # room again once the writer caught up
    finally:
        grpc_rx.stop()
        http_rx.stop()
        writer.close()
    assert count(tmp_path / "h.db", "spans") == 200


def _raw_ok(port: int | None) -> bool:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return _raw(channel, trace_request(100, seed=4).SerializeToString()) == grpc.StatusCode.OK
