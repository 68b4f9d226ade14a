"""OTLP/HTTP against a running ``serve``: JSON, gzip, bad bodies, limits, duplicates."""

from __future__ import annotations

import gzip
import time
import zlib
from collections.abc import Iterator

import httpx
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests import stored
from tests.otlp_helpers import Serve, count, rows, trace_request, wait_for

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    db = tmp_path_factory.mktemp("http") / "h.db"
    # Some bodies carry 2018 timestamps (the spec's examples): keep retention out of the way.
    with Serve(db, "--otlp-grpc", "off", "--retention-age", "36500d") as s:
        yield s


@pytest.fixture
def client(served: Serve) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.http_url, timeout=30) as c:
        yield c


def _span_ids(served: Serve, trace_hex: str) -> list[str]:
    return [sp.span_id for sp in stored.spans(served.db) if sp.trace_id == trace_hex]


def test_otlp_json_with_hex_ids_and_string_int64(served: Serve, client: httpx.Client) -> None:
    trace_hex, span_hex = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "uploads"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "canvasflow.uploads"},
                        "spans": [
                            {
                                "traceId": trace_hex,
                                "spanId": span_hex,
                                "parentSpanId": "eee19b7ec3c1b173",
                                "name": "upload accepted",
                                "kind": 3,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": 1544712661000000000,
                                "attributes": [
                                    {"key": "size", "value": {"intValue": "1024"}},
                                    {"key": "correlation_id", "value": {"stringValue": "up-9"}},
                                ],
                                "status": {"code": 2, "message": "too big"},
                                "someFutureField": {"ignored": True},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    r = client.post("/v1/traces", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {}
    wait_for(lambda: _span_ids(served, trace_hex) == [span_hex])
    (span,) = [sp for sp in stored.spans(served.db) if sp.trace_id == trace_hex]
    assert (span.service, span.scope, span.kind) == ("uploads", "canvasflow.uploads", 3)
    assert (span.start_ns, span.end_ns) == (1544712660000000000, 1544712661000000000)
    assert (span.status_code, span.status_message) == (2, "too big")
    assert span.parent_span_id == "eee19b7ec3c1b173"
    assert span.correlation_id == "up-9"
    assert dict(span.attributes) == {"size": 1024, "correlation_id": "up-9"}


def test_gzip_protobuf_answers_in_protobuf(served: Serve, client: httpx.Client) -> None:
    req = trace_request(5, seed=11)
    body = gzip.compress(req.SerializeToString())
    r = client.post("/v1/traces", content=body, headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-protobuf"
    assert ExportTraceServiceResponse.FromString(r.content) == ExportTraceServiceResponse()
    wait_for(lambda: len(_span_ids(served, (11).to_bytes(16, "big").hex())) == 5)


def test_malformed_bodies_are_400_and_the_next_request_succeeds(
    served: Serve, client: httpx.Client
) -> None:
    r = client.post("/v1/traces", content=b"\x0a\xff\xff\xff\xff\x0f garbage", headers=PB)
    assert r.status_code == 400
    assert "malformed" in Status.FromString(r.content).message
    r = client.post("/v1/logs", content=b'{"resourceLogs": [', headers=JS)
    assert r.status_code == 400 and r.json()["code"] == 400
    r = client.post(
        "/v1/traces", json={"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}
    )
    assert r.status_code == 400 and "traceId" in r.json()["message"]
    r = client.post("/v1/metrics", json={"resourceMetrics": "not a list"})
    assert r.status_code == 400
    r = client.post("/v1/traces", content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/v1/traces", content=trace_request(2, seed=12).SerializeToString(), headers=PB)
    assert r.status_code == 200
    wait_for(lambda: len(_span_ids(served, (12).to_bytes(16, "big").hex())) == 2)


def test_bad_ids_are_rejected_as_partial_success(served: Serve, client: httpx.Client) -> None:
    req = trace_request(3, seed=13)
    req.resource_spans[0].scope_spans[0].spans[1].trace_id = b"\x01\x02"
    r = client.post("/v1/traces", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 1 and "trace or span id" in partial.error_message
    wait_for(lambda: len(_span_ids(served, (13).to_bytes(16, "big").hex())) == 2)


def test_duplicate_spans_are_one_row(served: Serve, client: httpx.Client) -> None:
    body = trace_request(4, seed=14).SerializeToString()
    trace_hex = (14).to_bytes(16, "big").hex()
    for _ in range(3):
        assert client.post("/v1/traces", content=body, headers=PB).status_code == 200
        # 200 comes only after the commit holding the request: the count is final, not a floor.
        assert stored.span_rows(served.db, trace_hex) == 4
    assert len(_span_ids(served, trace_hex)) == 4


def test_oversized_body_is_413(served: Serve, client: httpx.Client) -> None:
    big = b"\x00" * (64 * 1024 * 1024 + 1)
    r = client.post("/v1/traces", content=big, headers=PB)
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(65):
            yield b"\x00" * (1024 * 1024)

    r = client.post("/v1/traces", content=chunks(), headers=PB)
    assert r.status_code == 413


def test_gzip_bomb_is_413_quickly(served: Serve, client: httpx.Client) -> None:
    deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\x00" * (16 * 1024 * 1024)
    bomb = b"".join(deflate.compress(zeros) for _ in range(16)) + deflate.flush()  # 256 MiB
    assert len(bomb) < 2 * 1024 * 1024
    started = time.monotonic()
    r = client.post("/v1/traces", content=bomb, headers={**PB, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert time.monotonic() - started < 5
    import psutil

    assert served.proc is not None
    assert psutil.Process(served.proc.pid).memory_info().rss < 400 * 1024 * 1024


def test_not_otlp_paths(client: httpx.Client) -> None:
    assert client.post("/v1/profiles", content=b"", headers=PB).status_code == 404
    assert client.get("/v1/traces").status_code == 405


def test_metrics_and_logs_json(served: Serve, client: httpx.Client) -> None:
    metrics = {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]
                },
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "billing.latency",
                                "summary": {
                                    "dataPoints": [{"timeUnixNano": "5", "count": "4", "sum": 2.5}]
                                },
                            },
                            {
                                "name": "billing.sizes",
                                "exponentialHistogram": {
                                    "dataPoints": [
                                        {"timeUnixNano": "6", "count": "3", "sum": 9, "scale": 2}
                                    ]
                                },
                            },
                        ]
                    }
                ],
            }
        ]
    }
    assert client.post("/v1/metrics", json=metrics).status_code == 200
    logs = {
        "resourceLogs": [
            {
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "7",
                                "severityNumber": 9,
                                "body": {
                                    "kvlistValue": {
                                        "values": [{"key": "a", "value": {"intValue": 1}}]
                                    }
                                },
                                "traceId": "5b8efff798038103d269b633813fc60c",
                            }
                        ]
                    }
                ]
            }
        ]
    }
    assert client.post("/v1/logs", json=logs).status_code == 200
    wait_for(
        lambda: count(served.db, "metric_points") >= 2 and count(served.db, "log_records") >= 1
    )
    got = {
        r["name"]: r for r in rows(served.db, "SELECT * FROM metric_points WHERE service='billing'")
    }
    assert (got["billing.latency"]["kind"], got["billing.latency"]["count"]) == ("summary", 4)
    assert (
        got["billing.sizes"]["kind"] == "exponential_histogram" and got["billing.sizes"]["sum"] == 9
    )
    (log,) = [r for r in stored.logs(served.db) if r.time_ns == 7]
    assert (log.service, log.body) == ("unknown_service", '{"a": 1}')
    assert log.trace_id == "5b8efff798038103d269b633813fc60c"
