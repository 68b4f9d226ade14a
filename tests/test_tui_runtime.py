"""The TUI with its collector and tap in-process (what `handoff-console tui` runs without
--attach): a span sent over OTLP/HTTP and a message on a tapped topic show on the overview."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer

from console.runtime.inprocess import start_runtime
from tests.conftest import create_topic, free_port
from tests.tui_helpers import screen_text, wait_for
from tui import make_app

pytestmark = pytest.mark.asyncio


def _span(now_ns: int) -> dict[str, object]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "tui-probe"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "GET /probe",
                                "kind": 2,
                                "startTimeUnixNano": str(now_ns - 20_000_000),
                                "endTimeUnixNano": str(now_ns),
                            }
                        ]
                    }
                ],
            }
        ]
    }


async def test_in_process_collector_and_tap_feed_the_overview(
    kafka_bootstrap: str, topic: str, db_path: Path
) -> None:
    create_topic(kafka_bootstrap, topic)
    grpc_port, http_port = free_port(), free_port()
    runtime = start_runtime(
        db_path,
        bootstrap=kafka_bootstrap,
        topics=topic,
        otlp_grpc=f"127.0.0.1:{grpc_port}",
        otlp_http=f"127.0.0.1:{http_port}",
        correlation_headers=["x-order-ref"],  # the tap's options reach the in-process tap
    )
    try:
        app = make_app(db_path, runtime=runtime, refresh_s=0.2, bootstrap=kafka_bootstrap)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: "collector up" in screen_text(app), timeout=30)
            r = httpx.post(f"http://127.0.0.1:{http_port}/v1/traces", json=_span(time.time_ns()))
            assert r.status_code == 200, r.text
            await wait_for(pilot, lambda: "tui-probe" in screen_text(app), timeout=30)
            # The tap joins the group (it starts at the end), then a message becomes a hop.
            await wait_for(pilot, lambda: runtime.status().get("broker") == "up", timeout=60)
            producer = Producer({"bootstrap.servers": kafka_bootstrap})
            deadline = time.monotonic() + 60
            await pilot.press("4")
            while not any("hop" in ln and "c-1" in ln for ln in screen_text(app).splitlines()):
                assert time.monotonic() < deadline, screen_text(app)
                producer.produce(topic, b'{"probe": 1}', headers=[("x-order-ref", b"c-1")])
                producer.flush(10)
                await pilot.pause(1.0)
    finally:
        runtime.stop()
