"""Nothing acknowledged that was not stored: a write lock another process holds past the writer's
busy timeout makes commits fail; ``flush`` and tickets raise, both receivers answer
503/UNAVAILABLE with a retry hint, nothing is counted, and once the lock is gone the store holds
every record that was acknowledged (and those nobody waited for), and none that was refused."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.rpc.error_details_pb2 import RetryInfo
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

from collectors.otlp.common import ReceiverSettings
from collectors.otlp.decode import spans_from_request
from collectors.otlp.grpc_server import GrpcReceiver
from collectors.otlp.http_server import HttpReceiver
from console.base.errors import StoreUnavailable
from console.store import Store, StoreWriter
from tests.otlp_helpers import trace_request, wait_for
from tests.store_faults import LockHolder

BUSY_MS = 300


@pytest.fixture
def receivers(store: Store) -> Iterator[tuple[StoreWriter, GrpcReceiver, HttpReceiver]]:
    writer = store.writer(flush_ms=50, busy_timeout_ms=BUSY_MS)
    settings = ReceiverSettings(port=0)
    grpc_rx, http_rx = GrpcReceiver(writer, settings), HttpReceiver(writer, settings)
    grpc_rx.start()
    http_rx.start()
    try:
        yield writer, grpc_rx, http_rx
    finally:
        grpc_rx.stop()
        http_rx.stop()
        writer.close()


def _http(rx: HttpReceiver, service: str, seed: int) -> httpx.Response:
    return httpx.post(
        f"http://127.0.0.1:{rx.port}/v1/traces",
        content=trace_request(4, service=service, seed=seed).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )


def _grpc(rx: GrpcReceiver, service: str, seed: int) -> grpc.StatusCode:
    with grpc.insecure_channel(f"127.0.0.1:{rx.port}") as channel:
        try:
            trace_grpc.TraceServiceStub(channel).Export(
                trace_request(4, service=service, seed=seed), timeout=30
            )
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNAVAILABLE:
                trailers = dict(err.trailing_metadata())
                retry = RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
                assert retry.retry_delay.seconds >= 1
            return err.code()
    return grpc.StatusCode.OK


def test_write_lock_held_past_busy_timeout_refuses_then_recovers(
    store: Store, receivers: tuple[StoreWriter, GrpcReceiver, HttpReceiver]
) -> None:
    writer, grpc_rx, http_rx = receivers
    assert _http(http_rx, "before", 1).status_code == 200
    assert _grpc(grpc_rx, "before", 2) == grpc.StatusCode.OK
    assert writer.committed == 8

    with LockHolder(store.path) as lock:
        # The request's commit waits out the busy timeout, fails, and the client is told so.
        r = _http(http_rx, "refused", 3)
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert writer.failing and "locked" in (writer.error or "")
        # Refused at once now, without waiting for a commit.
        assert _grpc(grpc_rx, "refused", 4) == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(StoreUnavailable):
            writer.submit(spans_from_request(trace_request(2, service="refused", seed=5))[0])
        # Records nobody waits for are kept for a retry; flush says they are not stored yet.
        wait_for(lambda: writer.retry_after_s() == 0, timeout=10)
        unwaited = writer.submit(spans_from_request(trace_request(5, service="kept", seed=6))[0])
        with pytest.raises(StoreUnavailable, match="locked"):
            writer.flush(timeout=30)
        assert not unwaited.done
        assert writer.committed == 8  # nothing that failed was counted
        assert http_rx.health()["failed_requests"] == 1
        assert grpc_rx.health()["failed_requests"] == 1
        lock.release()

        # The writer retries by itself (a waiter now would be refused at once, as receivers
        # are), and the receivers answer 200 / OK again.
        wait_for(lambda: unwaited.done, timeout=30)
        assert unwaited.error is None
        wait_for(lambda: _http(http_rx, "after", 7).status_code == 200, timeout=30)
        assert _grpc(grpc_rx, "after", 8) == grpc.StatusCode.OK
    writer.flush()
    assert not writer.failing and writer.error is None
    per_service = store.counts()["per_service"]
    assert per_service == {
        "before": {"spans": 8},
        "kept": {"spans": 5},
        "after": {"spans": 8},
    }, per_service
    assert writer.committed == 21
