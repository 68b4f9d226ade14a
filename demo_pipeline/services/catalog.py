"""Catalog service: checks each artwork's license with the license service over HTTP (httpx,
timeout, circuit breaker, fallback to a provisional listing), then publishes ArtworkPublished."""

from __future__ import annotations

import time

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from demo_pipeline.breaker import CircuitBreaker, CircuitOpen
from demo_pipeline.consumer import Delivery, Handler
from demo_pipeline.messaging import new_event
from demo_pipeline.runtime import Runtime
from demo_pipeline.services.base import Service
from demo_pipeline.telemetry import PROPAGATOR, duration_histogram

__all__ = ["CatalogService"]


class CatalogService(Service):
    name = "canvasflow-catalog"
    group_name = "catalog"

    def __init__(self, rt: Runtime, license_url: str, timeout_s: float = 0.5) -> None:
        super().__init__(rt)
        self.license_url = license_url.rstrip("/")
        self.http = httpx.Client(timeout=httpx.Timeout(timeout_s))
        self.breaker = CircuitBreaker(
            failure_threshold=3, reset_after_s=5.0, on_change=self._changed
        )
        m = self.tel.meter
        self._fallbacks = m.create_counter("canvasflow.license.fallbacks", unit="{call}")
        self._transitions = m.create_counter("canvasflow.circuit_breaker.transitions")
        self._latency = duration_histogram(m, "http.client.request.duration")

    def handlers(self) -> dict[str, Handler]:
        return {self.rt.topics.artworks: self.publish}

    def _changed(self, old: str, new: str) -> None:
        span = trace.get_current_span()
        span.add_event("circuit_breaker.state_change", {"from": old, "to": new})
        self._transitions.add(
            1, {"circuit_breaker.state": new, "peer.service": "canvasflow-license"}
        )
        if new == "open":
            self.rt.stats.add("circuit_opened")
            self.tel.log.warning("license circuit breaker opened (%s -> %s)", old, new)
        else:
            self.tel.log.info("license circuit breaker %s -> %s", old, new)

    def check_license(self, artwork_id: str, correlation_id: str = "") -> str | None:
        """The license id, or None when the check failed or the circuit is open (fallback)."""
        try:
            self.breaker.before_call()
        except CircuitOpen:
            return None
        url = f"{self.license_url}/licenses/{artwork_id}"
        request = self.http.build_request("GET", url)
        attrs: dict[str, AttributeValue] = {
            "http.request.method": "GET",
            "url.full": url,
            "server.address": request.url.host,
            "server.port": request.url.port or 80,
            "peer.service": "canvasflow-license",
            "correlation.id": correlation_id,
        }
        with self.tel.tracer.start_as_current_span(
            "GET", kind=SpanKind.CLIENT, attributes=attrs
        ) as span:
            carrier: dict[str, str] = {}
            PROPAGATOR.inject(carrier)
            request.headers.update(carrier)
            request.headers["x-correlation-id"] = correlation_id
            started = time.perf_counter()
            try:
                response = self.http.send(request)
            except httpx.HTTPError as exc:
                span.set_attribute("error.type", type(exc).__qualname__)
                span.set_status(Status(StatusCode.ERROR, str(exc)))
                self.breaker.failure()
                return None
            finally:
                self._latency.record(time.perf_counter() - started, {"http.request.method": "GET"})
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_attribute("error.type", str(response.status_code))
                span.set_status(Status(StatusCode.ERROR))
                self.breaker.failure()
                return None
            self.breaker.success()
            return str(response.json()["license_id"])

    def publish(self, d: Delivery) -> None:
        p = d.payload
        if p["event_type"] != "ArtworkProcessed":
            return
        license_id = self.check_license(p["artwork_id"], d.correlation_id)
        fields = {k: p[k] for k in ("artwork_id", "artist_id", "title", "price", "currency")}
        if license_id is None:
            self.rt.stats.add("license_fallbacks")
            self._fallbacks.add(1, {"circuit_breaker.state": self.breaker.state})
            d.span.set_attribute("canvasflow.license.fallback", True)
            d.span.set_attribute("circuit_breaker.state", self.breaker.state)
            self.tel.log.warning(
                "license check unavailable (circuit %s): listing provisionally",
                self.breaker.state,
                extra={"correlation.id": d.correlation_id},
            )
            event = new_event(
                "ArtworkPublished", d.correlation_id, **fields, license_status="provisional"
            )
        else:
            event = new_event(
                "ArtworkPublished",
                d.correlation_id,
                **fields,
                license_id=license_id,
                license_status="verified",
            )
        self.emitter.emit(self.rt.topics.catalog, p["artwork_id"], event)

    def close(self, timeout: float = 10.0) -> int:
        self.http.close()
        return super().close(timeout)
