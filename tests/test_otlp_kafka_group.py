"""``serve --otlp-kafka`` as N processes in one consumer group (issue 26, "What to build" 4): the
OTLP-over-Kafka consumer is the tap's consume loop (``OtlpKafkaConsumer`` subclasses
``KafkaTap``), so it splits the partitions and hands them over on a rebalance by the same rules:
offsets committed only after the insert that holds their records, a revoked partition committed
before it goes.

Two ``serve`` processes, each with a store of its own, read one trace topic while requests keep
arriving: B joins, A is stopped and started again. A span read by both would be in both stores,
where nothing collapses it, and one committed before it was stored would be in neither; the two
stores together must hold every span exactly once.
"""

from __future__ import annotations

import threading
from pathlib import Path

from confluent_kafka import Producer

from console.store import Store
from tests import stored
from tests.conftest import create_topic
from tests.otlp_helpers import Serve, trace_request
from tests.tap_helpers import wait_for
from tests.test_otlp_kafka import group, spec, topics

SPANS = 5  # a request


class Traffic:
    """Trace requests produced to the topic, one every few milliseconds, until ``stop``."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        self.topic = topic
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            body = trace_request(SPANS, seed=self.sent + 1).SerializeToString()
            self.producer.produce(self.topic, body, key=str(self.sent).encode())
            self.sent += 1
            self.producer.poll(0.005)  # the pace: about 150 requests a second at most

    def stop(self) -> int:
        """Stop producing; returns how many requests were sent (every one acknowledged)."""
        self._stop.set()
        self._thread.join(30)
        assert self.producer.flush(30) == 0
        return self.sent


def _spans(db: Path) -> int:
    """Spans the store holds, as ``stats`` counts them (a span stored twice counts twice)."""
    if not db.exists():
        return 0
    return Store.open(db, create=False, upgrade=False).counts()["spans"]


def test_two_serves_in_one_group_store_every_span_once_across_a_join_and_a_restart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    t = topics()
    create_topic(kafka_bootstrap, t["traces"], 4)
    args = ["--otlp-grpc", "off", "--otlp-http", "off", "--bootstrap", kafka_bootstrap]
    args += ["--otlp-kafka-topics", spec(t), "--otlp-kafka-group", group()]
    db_a, db_b = tmp_path / "a.db", tmp_path / "b.db"
    traffic = Traffic(kafka_bootstrap, t["traces"])
    a = Serve(db_a, *args).start()
    b = Serve(db_b, *args)
    try:
        wait_for(lambda: _spans(db_a) > 0, what="a stores spans")
        b.start()  # joins while requests arrive: A hands partitions over mid-stream
        wait_for(lambda: _spans(db_b) > 0, what="b stores spans")
        assert a.stop() == 0  # its partitions go to B, committed after their inserts
        before = _spans(db_b)
        wait_for(lambda: _spans(db_b) > before, what="b takes a's partitions")
        a = Serve(db_a, *args).start()  # and some come back
        before = _spans(db_a)
        wait_for(lambda: _spans(db_a) > before, what="a stores spans again")
        sent = traffic.stop() * SPANS
        wait_for(lambda: _spans(db_a) + _spans(db_b) >= sent, timeout=90, what="every span")
    finally:
        traffic.stop()
        codes = [s.stop() for s in (a, b) if s.proc is not None]
    assert codes == [0, 0], a.stderr + b.stderr
    ids_a = {(s.trace_id, s.span_id) for s in stored.spans(db_a)}
    ids_b = {(s.trace_id, s.span_id) for s in stored.spans(db_b)}
    assert ids_a & ids_b == set()  # read by one serve only
    assert len(ids_a) + len(ids_b) == _spans(db_a) + _spans(db_b) == sent
