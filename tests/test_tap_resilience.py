"""The broker goes away and comes back while the tap runs: it says so, then catches up exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.kafka.tap import KafkaTap
from console.store import Store
from tests import stored
from tests.conftest import KafkaHarness, create_topic
from tests.tap_helpers import RecordingSink, committed_total, produce, wait_for

pytestmark = pytest.mark.e2e


def test_broker_stopped_and_started_again_while_tapping(
    tmp_path: Path, kafka_harness: KafkaHarness
) -> None:
    broker = kafka_harness.broker(tmp_path / "broker")
    broker.up(timeout=180)
    tap = None
    store = Store.open(tmp_path / "handoff.db")
    writer = store.writer(batch_size=500, flush_ms=50)
    sink = RecordingSink(writer)
    try:
        bootstrap = broker.bootstrap
        create_topic(bootstrap, "orders", partitions=2)
        produce(bootstrap, "orders", [(None, b"before", [])] * 200)
        tap = KafkaTap(
            sink,
            bootstrap=bootstrap,
            topics="orders",
            group_id="tap-resilience",
            from_beginning=True,
            metrics_interval_s=1.0,
            extra_config={"reconnect.backoff.max.ms": 2000},
        )
        tap.start()
        wait_for(lambda: sink.hops() == 200, what="200 hops before the outage")
        # The tap resumes from its committed position: let it commit before the outage, else the
        # 200 are read again (at-least-once) and the sink sees them twice (the store does not).
        wait_for(
            lambda: committed_total(bootstrap, "tap-resilience", "orders", 2) == 200,
            what="the 200 offsets committed",
        )
        wait_for(lambda: tap.health()["connected"], what="connected")

        broker.down()
        wait_for(lambda: not tap.health()["connected"], timeout=60, what="the tap to notice")
        down = tap.health()
        assert down["last_error"], "the outage is surfaced as an error"
        assert down["running"] is True

        broker.up(timeout=180)
        produce(bootstrap, "orders", [(None, b"after", [])] * 300)
        wait_for(lambda: sink.hops() >= 500, timeout=180, what="the tap to catch up")
        wait_for(lambda: tap.health()["connected"], timeout=60, what="connected again")
    finally:
        if tap is not None:
            tap.stop()
        writer.close()
        broker.down()
    assert len(sink.hop_coordinates) == len(set(sink.hop_coordinates)) == 500
    per_partition: dict[int, list[int]] = {}
    for hop in stored.hops(store):
        per_partition.setdefault(hop.partition, []).append(hop.offset)
    assert sum(len(offsets) for offsets in per_partition.values()) == 500
    for offsets in per_partition.values():
        assert (min(offsets), max(offsets)) == (0, len(offsets) - 1)
