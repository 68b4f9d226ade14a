"""Values no SQLite INTEGER holds (an OTLP fixed64 past 2**63-1) are rejected where they arrive and
reported as the OTLP specification says; the records beside them are stored (issue 24, fault 2).

On aabd1af a span with ``start_time_unix_nano`` >= 2**63 was answered ``200`` with an empty
``partial_success`` and silently dropped, and 200 good spans beside one bad one were stored as
200 blocks of one record each."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from console.base.errors import RecordsRejected
from console.base.model import Span
from console.store import Store
from tests import stored
from tests.otlp_helpers import Serve, rows, trace_request

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
PAST = 2**64 - 1  # a legal fixed64, past what SQLite stores


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    db = tmp_path_factory.mktemp("range") / "h.db"
    with Serve(db, "--retention-age", "36500d") as s:
        yield s


def _span_ids(served: Serve, seed: int) -> list[str]:
    trace_hex = seed.to_bytes(16, "big").hex()
    return [sp.span_id for sp in stored.spans(served.db) if sp.trace_id == trace_hex]


def test_a_span_past_2_63_is_rejected_and_its_neighbour_stored_over_http(served: Serve) -> None:
    req = trace_request(2, seed=31)
    req.resource_spans[0].scope_spans[0].spans[1].start_time_unix_nano = PAST
    r = httpx.post(f"{served.http_url}/v1/traces", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 1
    assert "start_time_unix_nano past 2**63-1" in partial.error_message
    assert len(_span_ids(served, 31)) == 1  # 200 came after the commit: no wait needed


def test_nothing_storable_is_a_bad_request_over_http_and_grpc(served: Serve) -> None:
    req = trace_request(1, seed=32)
    req.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano = PAST
    r = httpx.post(f"{served.http_url}/v1/traces", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 400
    assert "end_time_unix_nano past 2**63-1" in r.text
    with grpc.insecure_channel(served.grpc_target) as channel, pytest.raises(grpc.RpcError) as err:
        trace_grpc.TraceServiceStub(channel).Export(req, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _span_ids(served, 32) == []


def test_json_log_records_and_data_points_past_2_63_are_rejected(served: Serve) -> None:
    now = 1_790_000_000_000_000_000
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "range"}}]}
    logs = {
        "resourceLogs": [
            {
                "resource": resource,
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"timeUnixNano": str(now), "body": {"stringValue": "kept"}},
                            {"timeUnixNano": str(PAST), "body": {"stringValue": "too late"}},
                        ]
                    }
                ],
            }
        ]
    }
    r = httpx.post(f"{served.http_url}/v1/logs", content=json.dumps(logs), headers=JS)
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]  # int64 as a string, as OTLP JSON writes it
    assert int(partial["rejectedLogRecords"]) == 1
    assert "time_unix_nano past 2**63-1" in partial["errorMessage"]
    assert [lg.body for lg in stored.logs(served.db) if lg.service == "range"] == ["kept"]

    gauge = {
        "name": "queue.depth",
        "gauge": {
            "dataPoints": [
                {"timeUnixNano": str(now), "asDouble": 3},
                {"timeUnixNano": str(now), "startTimeUnixNano": str(PAST), "asDouble": 7},
            ]
        },
    }
    metrics = {"resourceMetrics": [{"resource": resource, "scopeMetrics": [{"metrics": [gauge]}]}]}
    r = httpx.post(f"{served.http_url}/v1/metrics", content=json.dumps(metrics), headers=JS)
    assert r.status_code == 200
    partial = r.json()["partialSuccess"]
    assert int(partial["rejectedDataPoints"]) == 1
    assert "start_time_unix_nano past 2**63-1" in partial["errorMessage"]
    values = rows(served.db, "SELECT value FROM metric_points WHERE service = 'range'")
    assert [v[0] for v in values] == [3.0]


def _span(i: int, start: int) -> Span:
    return Span(
        trace_id=f"{i + 1:032x}",
        span_id=f"{i + 1:016x}",
        name="op",
        start_ns=start,
        end_ns=1_790_000_000_000_000_000,
        service="writer",
    )


def test_a_record_the_write_path_cannot_store_fails_only_its_ticket(tmp_path: Path) -> None:
    """Past the decoders (a library caller, or a future bug on the write path): the request
    holding the bad record is told it was not stored, the 200 others commit as one block."""
    store = Store.open(tmp_path / "w.db")
    now = 1_790_000_000_000_000_000
    with store.writer(flush_ms=60_000, batch_size=100_000) as w:
        good = [w.submit([_span(i, now + i)]) for i in range(200)]
        bad = w.submit([_span(500, 2**63)])
        good[0].wait(30)  # the commit of everything queued
        with pytest.raises(RecordsRejected, match="1 records not stored"):
            bad.wait(30)
        for t in good:
            t.wait(30)
        assert (w.committed, w.rejected) == (200, 1)
    assert len(stored.spans(store)) == 200
    assert [tuple(r) for r in rows(store.path, "SELECT count(*), sum(n) FROM blocks")] == [(1, 200)]
