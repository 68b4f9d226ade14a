"""Malformed and fuzzed OTLP at both doors. Real requests from the official SDK encoders are
mutated (bit flips, inserts, cuts, huge varints, stray JSON tokens) and fed:

* to the decoders directly, in a fast loop (``HANDOFF_E2E_FUZZ_CASES``, default 100,000): each
  answers records or ``DecodeError``, nothing else;
* over the wire to a running ``serve`` (``HANDOFF_E2E_WIRE_CASES``, default 3,000, over HTTP as
  protobuf, JSON and gzip, and over gRPC): each answer is 200/400/413/415 or OK/INVALID_ARGUMENT,
  the daemon never falls over, and what it stored before is still there.

With the hypothesis tests in tests/test_otlp_decode_props.py (52,800 cases) and the tap's header
properties (400), the suite runs about 156,000 fuzz and property cases.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from pathlib import Path

import grpc
import httpx
import pytest

from collectors.otlp.decode import (
    decode_logs_request,
    decode_metrics_request,
    decode_trace_request,
)
from tests import stored
from tests.e2e.fuzz_corpus import gzipped, mutate, real_requests
from tests.e2e.support import env_int, integrity
from tests.otlp_helpers import Serve, count, rows, trace_request, wait_for
from tests.test_otlp_decode_props import _only_decode_error

pytestmark = pytest.mark.e2e

FUZZ_CASES = env_int("HANDOFF_E2E_FUZZ_CASES", 100_000)
WIRE_CASES = env_int("HANDOFF_E2E_WIRE_CASES", 3_000)
DECODER = {
    "traces": decode_trace_request,
    "metrics": decode_metrics_request,
    "logs": decode_logs_request,
}
GRPC_METHOD = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}


def test_real_requests_decode_as_sent() -> None:
    """The corpus is sound: unmutated, every request decodes to records with no rejection."""
    for signal, fmt, body in real_requests():
        records, rejected, _ = DECODER[signal](body, fmt)  # type: ignore[arg-type]  # fmt: the fuzzed format names
        assert records and rejected == 0, (signal, fmt)


def test_fuzz_loop_over_mutated_real_requests() -> None:
    corpus = real_requests()
    r = random.Random(20261125)
    started = time.monotonic()
    outcomes: collections.Counter[str] = collections.Counter()
    for _ in range(FUZZ_CASES):
        signal, fmt, body = r.choice(corpus)
        decoder = DECODER[signal]
        # A body of one signal sent to another's decoder is a bad input too.
        if r.random() < 0.1:
            decoder = r.choice(list(DECODER.values()))
        case = mutate(body, r)
        try:
            _only_decode_error(decoder, case, fmt)
        except AssertionError:
            raise
        except Exception as exc:  # anything but DecodeError escaping is the bug we hunt
            raise AssertionError(f"{decoder.__name__} raised {exc!r} on {case!r}") from exc
        outcomes[fmt] += 1
    elapsed = time.monotonic() - started
    print(f"\n{FUZZ_CASES} decoder fuzz cases in {elapsed:.1f}s ({dict(outcomes)})")


def _http_case(r: random.Random, corpus: list[tuple[str, str, bytes]]) -> tuple[str, bytes, dict]:
    signal, fmt, body = r.choice(corpus)
    ctype = "application/x-protobuf" if fmt == "protobuf" else "application/json"
    headers = {"Content-Type": ctype}
    case = mutate(body, r)
    roll = r.random()
    if roll < 0.25:
        headers["Content-Encoding"] = "gzip"
        case = gzipped(case)
    elif roll < 0.3:
        headers["Content-Encoding"] = "gzip"  # says gzip, is not (or is a broken stream)
        case = mutate(gzipped(body), r) if r.random() < 0.5 else case
    elif roll < 0.33:
        headers["Content-Type"] = r.choice(["text/plain", "", "application/protobuf; x=1"])
    return f"/v1/{signal}", case, headers


def test_fuzzed_requests_over_both_transports_against_serve(tmp_path: Path) -> None:
    corpus = real_requests()
    db = tmp_path / "h.db"
    seen_http: collections.Counter[int] = collections.Counter()
    seen_grpc: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    with Serve(db) as s:
        # Something stored before the storm, to find again after it.
        ok = httpx.post(
            f"{s.http_url}/v1/traces",
            content=trace_request(50, seed=777).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert ok.status_code == 200

        def http_worker(seed: int, n: int) -> None:
            r = random.Random(seed)
            with httpx.Client(base_url=s.http_url, timeout=30) as c:
                for _ in range(n):
                    path, body, headers = _http_case(r, corpus)
                    status = c.post(path, content=body, headers=headers).status_code
                    with lock:
                        seen_http[status] += 1

        def grpc_worker(seed: int, n: int) -> None:
            r = random.Random(seed)
            pb = [c for c in corpus if c[1] == "protobuf"]
            with grpc.insecure_channel(s.grpc_target) as channel:
                calls = {k: channel.unary_unary(v) for k, v in GRPC_METHOD.items()}
                for _ in range(n):
                    signal, _, body = r.choice(pb)
                    try:
                        calls[signal](mutate(body, r), timeout=30)
                        code = "OK"
                    except grpc.RpcError as exc:
                        code = exc.code().name
                    with lock:
                        seen_grpc[code] += 1

        per = WIRE_CASES // 4
        threads = [
            threading.Thread(target=http_worker, args=(1, per)),
            threading.Thread(target=http_worker, args=(2, per)),
            threading.Thread(target=grpc_worker, args=(3, per)),
            threading.Thread(target=grpc_worker, args=(4, WIRE_CASES - 3 * per)),
        ]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        assert s.proc is not None and s.proc.poll() is None, "serve fell over"
        # Still answering normally.
        again = httpx.post(
            f"{s.http_url}/v1/traces",
            content=trace_request(5, seed=778).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert again.status_code == 200
        rc = s.stop()
    print(
        f"\n{WIRE_CASES} wire cases in {elapsed:.1f}s: "
        f"HTTP {dict(seen_http)}, gRPC {dict(seen_grpc)}"
    )
    assert rc == 0 and "Traceback" not in s.stderr, s.stderr[-3000:]
    assert sum(seen_http.values()) + sum(seen_grpc.values()) == WIRE_CASES
    assert set(seen_http) <= {200, 400, 413, 415}, seen_http
    assert set(seen_grpc) <= {"OK", "INVALID_ARGUMENT"}, seen_grpc
    assert seen_http[400] > 0 and seen_grpc["INVALID_ARGUMENT"] > 0
    # Nothing stored was lost: the 50 + 5 spans sent whole are there, the file is sound.
    spans = stored.spans(db)
    traces = {sp.trace_id for sp in spans}
    assert f"{777:032x}" in traces and f"{778:032x}" in traces
    assert sum(1 for sp in spans if sp.trace_id == f"{777:032x}") == 50
    assert count(db, "spans") >= 55
    assert integrity(db) == "ok"


def test_a_time_past_int64_drops_that_point_only_and_serve_keeps_storing(tmp_path: Path) -> None:
    """Found by the wire fuzz: a metric point whose fixed64 time does not fit SQLite's INTEGER
    used to kill the store writer, after which nothing was stored. Now only it is dropped."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )
    from opentelemetry.proto.metrics.v1 import metrics_pb2 as m

    def points(*times: int) -> bytes:
        gauge = m.Gauge(data_points=[m.NumberDataPoint(time_unix_nano=t, as_int=1) for t in times])
        metric = m.Metric(name="queue.depth", gauge=gauge)
        return ExportMetricsServiceRequest(
            resource_metrics=[m.ResourceMetrics(scope_metrics=[m.ScopeMetrics(metrics=[metric])])]
        ).SerializeToString()

    pb = {"Content-Type": "application/x-protobuf"}
    db = tmp_path / "h.db"
    with Serve(db) as s:
        bad = httpx.post(f"{s.http_url}/v1/metrics", content=points(5, 2**64 - 1, 6), headers=pb)
        assert bad.status_code == 200
        later = httpx.post(
            f"{s.http_url}/v1/traces",
            content=trace_request(4, seed=9).SerializeToString(),
            headers=pb,
        )
        assert later.status_code == 200
        wait_for(lambda: count(db, "spans") == 4, 20)
        rc = s.stop()
    assert rc == 0 and "Traceback" not in s.stderr, s.stderr
    assert sorted(r[0] for r in rows(db, "SELECT time_ns FROM metric_points")) == [5, 6]
