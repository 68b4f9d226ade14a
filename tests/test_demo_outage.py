"""Under --license-outage the catalog's circuit opens and it lists artworks provisionally, so
journeys still complete."""

from __future__ import annotations

import uuid

from demo_pipeline.run import Pipeline
from demo_pipeline.runtime import Knobs
from tests.demo_helpers import read_all
from tests.otlp_receiver import OtlpReceiver
from tests.tap_helpers import wait_for


def test_license_outage_opens_the_circuit_and_catalog_falls_back(kafka_bootstrap: str) -> None:
    rx = OtlpReceiver().start()
    knobs = Knobs(rate=4, poison_rate=0, flaky_rate=0, license_outage=True, seed=3)
    pipeline = Pipeline(kafka_bootstrap, rx.endpoint, knobs, f"o{uuid.uuid4().hex[:8]}.canvasflow")
    pipeline.start()
    try:
        # Opened twice: after its cool-down the circuit half-opened (a state change inside a
        # catalog process span), its trial call failed, and it opened again.
        wait_for(
            lambda: (
                (s := pipeline.summary())["circuit_opened"] >= 2
                and s["license_fallbacks"] >= 3
                and s["journeys_completed"] >= 3
            ),
            timeout=120,
            what="the circuit to open, half-open and open again; three journeys on fallbacks",
        )
    finally:
        pipeline.stop()  # flushes and shuts the exporters down: what they held is sent
    wait_for(
        lambda: (
            ("canvasflow-catalog", "canvasflow.circuit_breaker.transitions") in rx.received.metrics
        ),
        timeout=30,
        what="the catalog's circuit breaker metric",
    )
    rx.stop()
    summary = pipeline.summary()
    got = rx.received

    assert summary["circuit_opened"] >= 1
    assert summary["license_fallbacks"] >= 3
    assert summary["journeys_completed"] >= 3
    # the first calls really went out and failed with 503, on both sides of the wire
    clients = [s for s in got.spans if s.service == "canvasflow-catalog" and s.kind == 3]
    servers = [s for s in got.spans if s.service == "canvasflow-license" and s.kind == 2]
    assert clients and all(s.attributes["http.response.status_code"] == 503 for s in clients)
    assert servers and all(s.attributes["http.response.status_code"] == 503 for s in servers)
    # once open, calls stop: fewer HTTP calls than artworks listed
    assert len(clients) < summary["license_fallbacks"]
    # a span, a log and a metric say the circuit opened
    process = [s for s in got.spans if s.service == "canvasflow-catalog" and s.kind == 5]
    assert any("circuit_breaker.state_change" in s.events for s in process)
    assert any(s.attributes.get("circuit_breaker.state") == "open" for s in process)
    assert any(s.attributes.get("canvasflow.license.fallback") for s in process)
    assert any(
        "circuit breaker opened" in body for svc, body, _ in got.logs if svc == "canvasflow-catalog"
    )
    assert ("canvasflow-catalog", "canvasflow.circuit_breaker.transitions") in got.metrics
    # every listing went out provisional
    listed = [r.json() for r in read_all(kafka_bootstrap, pipeline.rt.topics.catalog)]
    assert listed and {p["license_status"] for p in listed} == {"provisional"}
