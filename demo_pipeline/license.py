"""The license service: a small Starlette app on 127.0.0.1 that the catalog calls synchronously.

Its SERVER spans follow the HTTP semantic conventions (``http.request.method``, ``http.route``,
``http.response.status_code``, ...), parented by the caller's ``traceparent``. With the outage
knob on, every call answers 503, which opens the catalog's circuit breaker.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
from typing import Any

import uvicorn
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from demo_pipeline.telemetry import PROPAGATOR, Telemetry

__all__ = ["LicenseService"]

ROUTE = "/licenses/{artwork_id}"


class _ServerSpans:
    """ASGI middleware: one SERVER span per HTTP request."""

    def __init__(self, app: Any, tel: Telemetry, port: int) -> None:
        self.app, self.tel, self.port = app, tel, port

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        route = ROUTE if scope["path"].startswith("/licenses/") else scope["path"]
        attrs = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "http.route": route,
            "server.address": "127.0.0.1",
            "server.port": self.port,
            "network.protocol.version": scope.get("http_version", "1.1"),
            "user_agent.original": headers.get("user-agent", ""),
        }
        if "x-correlation-id" in headers:
            attrs["correlation.id"] = headers["x-correlation-id"]
        with self.tel.tracer.start_as_current_span(
            f"{method} {route}",
            context=PROPAGATOR.extract(headers),
            kind=SpanKind.SERVER,
            attributes=attrs,
        ) as span:

            async def traced_send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    code = int(message["status"])
                    span.set_attribute("http.response.status_code", code)
                    if code >= 500:
                        span.set_attribute("error.type", str(code))
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, traced_send)


class LicenseService:
    """Serve ``GET /licenses/{artwork_id}`` in a thread until ``stop()``."""

    def __init__(self, tel: Telemetry, *, outage: bool = False, slow_ms: int = 0) -> None:
        self.tel = tel
        self.outage = outage
        self.slow_ms = slow_ms
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self._checks = tel.meter.create_counter("canvasflow.license.checks", unit="{request}")
        app = Starlette(routes=[Route(ROUTE, self._license)])
        config = uvicorn.Config(
            _ServerSpans(app, tel, self.port), log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="svc-license", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _license(self, request: Request) -> JSONResponse:
        artwork_id = request.path_params["artwork_id"]
        if self.slow_ms:
            await asyncio.sleep(self.slow_ms / 1000)
        if self.outage:
            self._checks.add(1, {"outcome": "unavailable"})
            self.tel.log.warning("license registry unavailable")
            return JSONResponse({"error": "license registry unavailable"}, status_code=503)
        license_id = "lic-" + hashlib.sha1(artwork_id.encode()).hexdigest()[:10]
        self._checks.add(1, {"outcome": "verified"})
        return JSONResponse(
            {"artwork_id": artwork_id, "license_id": license_id, "status": "verified"}
        )

    def _serve(self) -> None:
        self._server.run(sockets=[self._sock])

    def start(self) -> None:
        self._thread.start()
        for _ in range(100):
            if self._server.started:
                return
            threading.Event().wait(0.05)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
