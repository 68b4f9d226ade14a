"""The OTLP load generator of ``bench/otlp_ingest.py`` and ``bench/peer_otlp.py``: ``threads``
senders of 100-span ``ExportTraceServiceRequest`` bodies (``bench/spans.py``) over gRPC or HTTP,
in a closed loop or paced to a rate."""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.spans import RequestFactory

__all__ = ["EXPORT", "SPANS_PER_REQUEST", "Load"]

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SPANS_PER_REQUEST = 100


class Load:
    """``threads`` senders over one transport; closed loop, or paced to ``rate`` spans/s.

    Also used by ``bench/peers.py`` against Jaeger: ``requests`` stops after that many requests
    were sent, ``factory_kw`` goes to each sender's ``RequestFactory`` and, with
    ``correlations=True`` there, ``ids`` collects one ``(trace id, correlation id)`` of every
    ``keep_ids_every``-th request answered OK.
    """

    def __init__(
        self,
        transport: str,
        port: int,
        threads: int,
        rate: float | None = None,
        *,
        requests: int | None = None,
        factory_kw: dict[str, Any] | None = None,
        keep_ids_every: int = 0,
    ) -> None:
        self.transport, self.port, self.threads, self.rate = transport, port, threads, rate
        self.ok = 0
        self.refused = 0
        self.errors = 0
        self.requests, self.factory_kw, self.keep_ids_every = (
            requests,
            factory_kw or {},
            keep_ids_every,
        )
        self.sent = 0
        self.ids: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> None:
        for w in self._workers:
            w.start()

    def stop(self) -> None:
        self._stop.set()
        self.wait()

    def running(self) -> bool:
        return any(w.is_alive() for w in self._workers)

    def wait(self, timeout: float = 30) -> None:
        for w in self._workers:
            w.join(timeout)

    def _ticket(self) -> bool:
        """Whether one more request may go out (always, without a ``requests`` limit)."""
        if self.requests is None:
            return True
        with self._lock:
            if self.sent >= self.requests:
                return False
            self.sent += 1
            return True

    def _count(self, outcome: str) -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)

    def _sender(self) -> Any:
        if self.transport == "grpc":
            import grpc

            channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
            call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)

            def send(body: bytes) -> str:
                try:
                    call(body, timeout=30)
                    return "ok"
                except grpc.RpcError as exc:
                    return "refused" if exc.code() == grpc.StatusCode.UNAVAILABLE else "errors"

            return send
        import httpx

        client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        headers = {"Content-Type": "application/x-protobuf"}

        def send_http(body: bytes) -> str:
            status = client.post("/v1/traces", content=body, headers=headers).status_code
            return "ok" if status == 200 else "refused" if status in (429, 503) else "errors"

        return send_http

    def _run(self) -> None:
        send = self._sender()
        factory = RequestFactory(SPANS_PER_REQUEST, **self.factory_kw)
        interval = None if not self.rate else self.threads * SPANS_PER_REQUEST / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set() and self._ticket():
            body = factory.next()
            outcome = send(body)
            while outcome == "refused" and self.requests is not None and not self._stop.is_set():
                time.sleep(0.02)  # a fixed amount of data: resend what was refused
                outcome = send(body)
            self._count(outcome)
            if outcome == "ok" and self.keep_ids_every and factory.last_ids:
                with self._lock:
                    if self.ok % self.keep_ids_every == 0:
                        self.ids.append(factory.last_ids[0])
            if interval is not None:
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_at = time.monotonic()  # behind: do not burst to catch up
            elif outcome == "refused":
                time.sleep(0.02)  # what an exporter's backoff would do, briefly
