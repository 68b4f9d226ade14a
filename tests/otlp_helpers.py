"""A real ``handoff-console serve`` in a subprocess, on ports the OS picks, for the OTLP tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from console.store import Store
from tests import stored

ROOT = Path(__file__).resolve().parent.parent
_LISTEN = re.compile(r"OTLP/(gRPC|HTTP) listening on (\S+):(\d+)")
_METRICS = re.compile(r"Prometheus metrics on (http://\S+/metrics)")


class Serve:
    """``with Serve(db, ...) as s:`` starts ``serve`` and reads the ports it prints; ``db`` is a
    SQLite file (``--db``) or a store URL (``--store``: ``chdb:///...``)."""

    def __init__(self, db: Path | str, *args: str, env: dict[str, str] | None = None) -> None:
        url = isinstance(db, str) and "://" in db
        self.store = ["--store", str(db)] if url else ["--db", str(db)]
        self.db = Path() if url else Path(db)  # the SQLite file, for tests that read it
        self.args = args
        self.env = env or {}
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self.metrics_url: str | None = None  # with --metrics
        self.stderr = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Serve:
        cmd = [sys.executable, "-m", "console", "serve", *self.store]
        if not any(a.startswith("--otlp-grpc") for a in self.args):
            cmd += ["--otlp-grpc", "127.0.0.1:0"]
        if not any(a.startswith("--otlp-http") for a in self.args):
            cmd += ["--otlp-http", "127.0.0.1:0"]
        env = {k: v for k, v in os.environ.items() if k != "HANDOFF_AUTH_TOKEN"}
        self.proc = subprocess.Popen(
            [*cmd, *self.args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env={**env, **self.env},
        )
        deadline = time.monotonic() + 30
        assert self.proc.stderr is not None
        lines: list[str] = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError("serve exited early: " + "".join(lines))
            lines.append(line)
            m = _LISTEN.search(line)
            if m and m.group(1) == "gRPC":
                self.grpc_port = int(m.group(3))
            elif m:
                self.http_port = int(m.group(3))
            if (found := _METRICS.search(line)) is not None:
                self.metrics_url = found.group(1)
            if line.startswith("store:"):
                return self
        raise AssertionError("serve did not start: " + "".join(lines))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the daemon and wait; returns its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        return self.proc.returncode

    def __enter__(self) -> Serve:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.stop()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def rows(db: Path, sql: str, *params: Any) -> list[Any]:
    conn = Store.open(db).connect(readonly=True)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def trace_request(n: int = 3, *, service: str = "orders", seed: int = 1, attrs: int = 3) -> Any:
    """An ``ExportTraceServiceRequest`` of ``n`` spans of one trace with distinct ids."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    trace_id = seed.to_bytes(16, "big")
    base = time.time_ns() - 60_000_000_000  # recent: retention (24h by default) keeps it
    spans = [
        Span(
            trace_id=trace_id,
            span_id=(seed * 100_000 + i + 1).to_bytes(8, "big"),
            parent_span_id=(seed * 100_000).to_bytes(8, "big") if i else b"",
            name=f"op-{i}",
            kind=Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=base + i,
            end_time_unix_nano=base + 100_000 + i,
            attributes=[
                KeyValue(key=f"attr.{k}", value=AnyValue(string_value=f"value-{k}"))
                for k in range(attrs)
            ],
        )
        for i in range(n)
    ]
    resource = Resource(
        attributes=[KeyValue(key="service.name", value=AnyValue(string_value=service))]
    )
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=spans)])]
    )


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def count(db: Path, table: str) -> int:
    """Rows of ``table``; for spans, hops and log_records (blocks in the store, no longer
    tables) the distinct records stored, as ``tests.stored`` reads them."""
    if table in ("spans", "hops", "log_records"):
        return stored.count(db, table)
    return rows(db, f"SELECT count(*) FROM {table}")[0][0]
