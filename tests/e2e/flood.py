"""Overload generator: threads sending big OTLP trace batches back to back, ignoring Retry-After.

    python -m tests.e2e.flood --transport http --target http://127.0.0.1:4318 --duration 60

Each request carries ``--batch`` spans of a fresh trace id (so none is a duplicate). Prints one
JSON line: requests, accepted spans, each status seen, and how many overload answers lacked the
retry hint (HTTP ``Retry-After``; gRPC ``google.rpc.RetryInfo`` in the trailers).
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import os
import threading
import time
from typing import Any

from tests.otlp_helpers import trace_request

_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: collections.Counter[str] = collections.Counter()
        self.accepted = 0
        self.no_hint = 0
        self.retry_after: collections.Counter[str] = collections.Counter()

    def add(self, code: str, spans: int, hint: str | None, overload: bool) -> None:
        with self.lock:
            self.codes[code] += 1
            if code in ("200", "OK"):
                self.accepted += spans
            if overload:
                if hint is None:
                    self.no_hint += 1
                else:
                    self.retry_after[hint] += 1


def _bodies(batch: int, worker: int) -> Any:
    template = trace_request(batch, service="flood", seed=1, attrs=6).SerializeToString()
    old = (1).to_bytes(16, "big")
    base = (os.getpid() << 24) | (worker << 20)
    for n in itertools.count(1):
        yield template.replace(old, (base + n).to_bytes(16, "big"))


def _http(target: str, batch: int, worker: int, until: float, tally: Tally) -> None:
    import httpx

    headers = {"Content-Type": "application/x-protobuf"}
    with httpx.Client(base_url=target, timeout=30) as client:
        for body in _bodies(batch, worker):
            if time.monotonic() > until:
                return
            try:
                r = client.post("/v1/traces", content=body, headers=headers)
            except httpx.HTTPError as exc:
                tally.add(type(exc).__name__, 0, None, False)
                continue
            overload = r.status_code in (429, 503)
            tally.add(str(r.status_code), batch, r.headers.get("retry-after"), overload)


def _grpc(target: str, batch: int, worker: int, until: float, tally: Tally) -> None:
    import grpc

    with grpc.insecure_channel(target) as channel:
        export = channel.unary_unary(_METHOD)
        for body in _bodies(batch, worker):
            if time.monotonic() > until:
                return
            try:
                export(body, timeout=30)
            except grpc.RpcError as exc:
                code = exc.code()
                trailers = dict(exc.trailing_metadata() or ())
                hint = "retryinfo" if "google.rpc.retryinfo-bin" in trailers else None
                tally.add(code.name, 0, hint, code == grpc.StatusCode.UNAVAILABLE)
                continue
            tally.add("OK", batch, None, False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["http", "grpc"], required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    send = _http if args.transport == "http" else _grpc
    tally = Tally()
    until = time.monotonic() + args.duration
    threads = [
        threading.Thread(target=send, args=(args.target, args.batch, i, until, tally))
        for i in range(args.threads)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(
        json.dumps(
            {
                "codes": dict(tally.codes),
                "accepted_spans": tally.accepted,
                "overload_without_hint": tally.no_hint,
                "retry_after": dict(tally.retry_after),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
