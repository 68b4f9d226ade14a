"""The CanvasFlow demo pipeline, for real: a real broker, real OTel SDK exporters, a real OTLP
receiver. One ~20 s run with poison and flaky rates above zero is shared by the tests below;
during it the test delivers one event twice and replays one fixed dead letter."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from demo_pipeline.run import Pipeline
from demo_pipeline.runtime import Knobs
from tests.demo_helpers import (
    Rec,
    decode_spring,
    event_headers,
    fix_upload,
    produce,
    read_all,
    upload_event,
)
from tests.otlp_receiver import OtlpReceiver, Received

SERVICES = {
    "canvasflow-upload",
    "canvasflow-image-processor",
    "canvasflow-catalog",
    "canvasflow-license",
    "canvasflow-storefront",
    "canvasflow-order-orchestrator",
    "canvasflow-fulfillment",
    "canvasflow-notification",
}
SPAN_KIND_SERVER, SPAN_KIND_CLIENT, SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER = 2, 3, 4, 5


@dataclass
class Run:
    bootstrap: str
    pipeline: Pipeline
    rx: Received
    summary: dict[str, Any]
    duplicate_cid: str
    replay_cid: str
    topics: dict[str, list[Rec]] = field(default_factory=dict)


def _wait(pred: Any, timeout: float, what: str, step: float = 0.25) -> Any:
    """``pred()`` once it is truthy; the test fails if it is not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


def _first_poison(bootstrap: str, dlt: str) -> Rec | None:
    for rec in read_all(bootstrap, dlt, timeout=3):
        if decode_spring(rec)["fqcn"].endswith("ContractViolation"):
            return rec
    return None


def _shipping_cid(knobs: Knobs) -> str:
    """A fresh correlation id whose upload the image processor does not fail past its last
    retry: the flaky storage is drawn per correlation id (``knobs.rng("image", cid)``), and a
    duplicate that went to the DLT would never ship (the fixture waited for it in vain, 1 run
    in ~12)."""
    exhausting = len(knobs.backoff) + 1
    while True:
        cid = f"dup-{uuid.uuid4().hex[:8]}"
        rng = knobs.rng("image", cid)
        if not (
            rng.random() < knobs.flaky_rate
            and rng.choice((1, 2, 3, 4, 5, exhausting)) == exhausting
        ):
            return cid


@pytest.fixture(scope="module")
def run(kafka_bootstrap: str) -> Iterator[Run]:
    rx = OtlpReceiver().start()
    prefix = f"t{uuid.uuid4().hex[:8]}.canvasflow"
    knobs = Knobs(rate=3, poison_rate=0.25, flaky_rate=0.4, seed=11)
    pipeline = Pipeline(kafka_bootstrap, rx.endpoint, knobs, topic_prefix=prefix)
    t = pipeline.rt.topics
    started = time.monotonic()
    pipeline.start()
    try:
        # the same event delivered twice, as an at-least-once producer may
        dup_cid = _shipping_cid(knobs)
        dup = upload_event(dup_cid)
        for _ in range(2):
            produce(
                kafka_bootstrap,
                t.uploads,
                dup["upload_id"],
                json.dumps(dup).encode(),
                event_headers(dup),
            )
        # an operator fixes a poisoned upload from the DLT and replays it to the original topic
        poison = _wait(
            lambda: _first_poison(kafka_bootstrap, f"{t.uploads}-dlt"),
            20,
            "a contract violation on the uploads DLT",
            step=1.0,
        )
        fixed = fix_upload(poison.json())
        replay_headers = [(k, v) for k, v in poison.headers if not k.startswith("kafka_dlt-")] + [
            ("x-replay-id", uuid.uuid4().hex.encode())
        ]
        produce(
            kafka_bootstrap,
            t.uploads,
            (poison.key or b"").decode(),
            json.dumps(fixed).encode(),
            replay_headers,
        )
        replay_cid = fixed["correlation_id"]
        time.sleep(max(0.0, 20 - (time.monotonic() - started)))
        stats = pipeline.stats

        def landed() -> bool:
            return (
                replay_cid in stats.shipped
                and dup_cid in stats.shipped
                and stats.dead_letters.get("retries-exhausted", 0) >= 1
            )

        try:
            _wait(landed, 60, "the replayed and the duplicated journeys shipped")
        except AssertionError as exc:  # say which part is missing
            raise AssertionError(
                f"{exc}: replayed shipped {replay_cid in stats.shipped}, duplicate shipped "
                f"{dup_cid in stats.shipped}, dead letters {dict(stats.dead_letters)}"
            ) from None
    finally:
        pipeline.stop()
    # stop() shut the exporters down, which sends what they held: nothing is still on its way.
    _wait(lambda: rx.received.services() >= SERVICES, 10, "spans from every service")
    result = Run(kafka_bootstrap, pipeline, rx.received, pipeline.summary(), dup_cid, replay_cid)
    for name in t.all():
        result.topics[name] = read_all(kafka_bootstrap, name)
    rx.stop()
    yield result


def _cids(recs: list[Rec]) -> list[str]:
    return [r.json().get("correlation_id", "") for r in recs]


def test_every_service_exports_spans_logs_and_metrics(run: Run) -> None:
    assert run.rx.services() >= SERVICES
    assert {s for s, _, _ in run.rx.logs} >= {"canvasflow-upload", "canvasflow-image-processor"}
    names = {name for _, name in run.rx.metrics}
    assert {
        "canvasflow.process.duration",
        "canvasflow.events.produced",
        "canvasflow.dead_letters",
        "http.client.request.duration",
    } <= names


def test_logs_come_at_several_severities_inside_their_journeys_spans(run: Run) -> None:
    records = run.rx.log_records
    assert {n for _, n, _, _, _ in records} >= {5, 9, 13, 17}  # DEBUG, INFO, WARN, ERROR
    journey = [r for r in records if r[4].get("correlation.id")]
    assert len(journey) > 20
    # Emitted inside the active span: trace and span ids ride along with the correlation id.
    assert all(int(tid, 16) and int(sid, 16) for _, _, tid, sid, _ in journey)
    spans = {(s.trace_id, s.span_id) for s in run.rx.spans}
    assert sum((tid, sid) in spans for _, _, tid, sid, _ in journey) > len(journey) // 2
    names = {(service, name) for service, name in run.rx.metrics}
    assert ("canvasflow-image-processor", "messaging.process.duration") in names
    assert ("canvasflow-image-processor", "canvasflow.dedup.keys") in names
    assert ("canvasflow-upload", "canvasflow.uploads.target_rate") in names
    assert ("canvasflow-upload", "messaging.client.operation.duration") in names


def test_journeys_complete_with_the_uploads_correlation_ids(run: Run) -> None:
    t = run.pipeline.rt.topics
    shipped = [r for r in run.topics[t.status] if r.json()["event_type"] == "OrderShipped"]
    assert len(shipped) >= 5
    assert run.summary["journeys_completed"] == len({r.json()["correlation_id"] for r in shipped})
    uploaded = set(_cids(run.topics[t.uploads]))
    for rec in shipped:
        cid = rec.json()["correlation_id"]
        assert cid in uploaded
        assert rec.header("x-correlation-id") == cid.encode()
    cid = shipped[0].json()["correlation_id"]
    for topic in (t.uploads, t.artworks, t.catalog, t.orders, t.commands, t.replies):
        assert cid in _cids(run.topics[topic]), topic
    steps = [
        r.json()["event_type"] for r in run.topics[t.commands] if r.json()["correlation_id"] == cid
    ]
    assert steps == ["ValidatePayment", "ReserveInventory", "SchedulePrint", "ShipOrder"]


def test_every_event_carries_the_four_headers_and_matches_its_contract(run: Run) -> None:
    from demo_pipeline.contracts import validate

    t = run.pipeline.rt.topics
    for topic in (t.artworks, t.catalog, t.orders, t.commands, t.replies, t.status):
        for rec in run.topics[topic]:
            assert rec.header("traceparent"), topic
            assert rec.header("event-type") == rec.json()["event_type"].encode()
            assert rec.header("schema-version") == b"1"
            assert rec.header("x-correlation-id") == rec.json()["correlation_id"].encode()
            validate(topic, rec.value)


def test_dead_letters_carry_decodable_spring_headers(run: Run) -> None:
    t = run.pipeline.rt.topics
    dead = [r for topic in t.main() for r in run.topics[f"{topic}-dlt"]]
    assert run.summary["dead_letters"].get("contract-violation", 0) >= 2
    assert run.summary["dead_letters"].get("retries-exhausted", 0) >= 1
    assert len(dead) == run.summary["dead_letters_total"]
    reasons = set()
    for rec in dead:
        h = decode_spring(rec)
        assert h["topic"] == rec.topic.removesuffix("-dlt")
        assert h["group"].startswith(t.prefix)
        assert h["timestamp_type"] == "CreateTime" and h["timestamp"] > 1_600_000_000_000
        assert rec.header("x-correlation-id") and rec.header("traceparent")
        original = next(
            r
            for r in run.topics[h["topic"]]
            if r.partition == h["partition"] and r.offset == h["offset"]
        )
        assert original.value == rec.value
        reasons.add((h["fqcn"], h["cause"]))
    assert (
        "demo_pipeline.contracts.ContractViolation",
        "jsonschema.exceptions.ValidationError",
    ) in reasons
    assert any(f == "demo_pipeline.consumer.TransientError" for f, _ in reasons)


def test_transient_failures_are_retried_with_decay_then_succeed(run: Run) -> None:
    t = run.pipeline.rt.topics
    retried = run.topics[f"{t.uploads}-retry"]
    assert run.summary["retries"] >= 3
    attempts = {int(r.header("x-retry-attempt") or 0) for r in retried}
    assert {1, 2, 3, 4} <= attempts
    recovered = {r.json()["correlation_id"] for r in retried} & set(run.pipeline.stats.shipped)
    assert recovered, "no retried upload went on to ship"
    # The consumer of a retry names the record it took, as real instrumentation does.
    taken = {
        (s.attributes["messaging.destination.name"], s.attributes["messaging.kafka.offset"])
        for s in run.rx.spans
        if s.attributes.get("canvasflow.retry.attempt")
    }
    records = {
        (name, r.offset) for name, rs in run.topics.items() if name.endswith("-retry") for r in rs
    }
    assert (f"{t.uploads}-retry", retried[0].offset) in taken
    assert taken <= records


def test_duplicate_delivery_has_one_side_effect(run: Run) -> None:
    t = run.pipeline.rt.topics
    assert _cids(run.topics[t.uploads]).count(run.duplicate_cid) == 2
    assert _cids(run.topics[t.artworks]).count(run.duplicate_cid) == 1
    assert _cids(run.topics[t.status]).count(run.duplicate_cid) == 1
    assert run.summary["duplicates_skipped"] >= 1
    assert any(s.attributes.get("canvasflow.duplicate") for s in run.rx.spans)


def test_a_fixed_replay_completes_its_journey(run: Run) -> None:
    t = run.pipeline.rt.topics
    assert run.replay_cid in run.pipeline.stats.shipped
    shipped = [r for r in run.topics[t.status] if r.json()["correlation_id"] == run.replay_cid]
    assert [r.json()["event_type"] for r in shipped] == ["OrderShipped"]
    replayed = [s for s in run.rx.spans if s.attributes.get("canvasflow.replay.id")]
    assert any(s.attributes.get("canvasflow.outcome") == "success" for s in replayed)


def test_license_call_has_http_client_and_server_spans(run: Run) -> None:
    clients = [
        s for s in run.rx.spans if s.service == "canvasflow-catalog" and s.kind == SPAN_KIND_CLIENT
    ]
    servers = {
        s.span_id: s
        for s in run.rx.spans
        if s.service == "canvasflow-license" and s.kind == SPAN_KIND_SERVER
    }
    assert clients and servers
    c = clients[0]
    assert c.attributes["http.request.method"] == "GET"
    assert c.attributes["http.response.status_code"] == 200
    assert c.attributes["url.full"].startswith("http://127.0.0.1:")
    child = next(s for s in servers.values() if s.parent_span_id == c.span_id)
    assert child.trace_id == c.trace_id
    assert child.attributes["http.route"] == "/licenses/{artwork_id}"
    assert child.attributes["http.response.status_code"] == 200


def test_messaging_spans_follow_the_semantic_conventions(run: Run) -> None:
    producers = [s for s in run.rx.spans if s.kind == SPAN_KIND_PRODUCER]
    consumers = [s for s in run.rx.spans if s.kind == SPAN_KIND_CONSUMER]
    p = producers[0].attributes
    assert p["messaging.system"] == "kafka" and p["messaging.operation.type"] == "send"
    assert p["messaging.destination.name"] and p["messaging.kafka.message.key"]
    assert p["correlation.id"]
    c = consumers[0].attributes
    assert c["messaging.operation.type"] == "process"
    for key in (
        "messaging.destination.partition.id",
        "messaging.kafka.offset",
        "messaging.consumer.group.name",
        "correlation.id",
    ):
        assert key in c
    by_id = {s.span_id: s for s in producers}
    image = [s for s in consumers if s.service == "canvasflow-image-processor"]
    assert any(s.parent_span_id in by_id for s in image), "image processor spans are children"
    notify = [s for s in consumers if s.service == "canvasflow-notification"]
    assert notify and all(not s.parent_span_id and s.links for s in notify), "notification links"
