"""Two replays of one dead letter at the same moment, against one store and the real broker: it
reaches its topic exactly once, counted by ``x-replay-id`` in the target.

Two processes cannot share a chDB store (chDB is one process's), so here the two replays are two
``DeadLetterService`` instances, each on a store opened on its own, in two threads started at
one barrier. Against a ClickHouse server, two processes (or machines) meet the same lock: the
claims in ``handoff_locks`` (console/store/clickhouse/locks.py).
"""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Iterator

import pytest

from console.dlq import DlqFilter
from console.dlq.ledger import ReplayError, replay_lock
from console.dlq.service import DeadLetterService
from console.store import Storage, open_store
from tests.conftest import create_topic
from tests.dlq_helpers import dead_letters_on_broker, headers_of, read_topic

BACKENDS = ("sqlite", "chdb")  # every test on both stores (tests/conftest.py)
REPLAYERS = 3
ROUNDS = 3


@pytest.fixture
def services(store_url: str, kafka_bootstrap: str) -> Iterator[list[DeadLetterService]]:
    """``REPLAYERS`` services, each on the store opened on its own, as separate processes
    would open it."""
    with contextlib.ExitStack() as stack:
        out = []
        for _ in range(REPLAYERS):
            storage = open_store(store_url, upgrade=False)
            stack.callback(storage.close)
            out.append(DeadLetterService(storage, kafka={"bootstrap.servers": kafka_bootstrap}))
        yield out


def _race(services: list[DeadLetterService], coordinates: str) -> list[str]:
    """Every service replays ``coordinates`` at once; what each one did."""
    start = threading.Barrier(len(services))
    results: list[str] = [""] * len(services)

    def run(i: int, service: DeadLetterService) -> None:
        letters = [service.get(coordinates)]
        start.wait()
        try:
            outcome = service.replay(letters)
        except ReplayError as exc:
            results[i] = f"refused: {exc}"
            return
        if outcome.sent:
            results[i] = f"sent {outcome.report.acked}"
        else:
            results[i] = "planned nothing: " + "; ".join(r.reason for r in outcome.plan.refused)

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(services)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), results
    return results


def test_a_dead_letter_replayed_from_several_services_at_once_lands_exactly_once(
    kafka_bootstrap: str, topic: str, store: Storage, services: list[DeadLetterService]
) -> None:
    original, dlt = topic, f"{topic}-dlt"
    create_topic(kafka_bootstrap, original)
    create_topic(kafka_bootstrap, dlt)
    letters = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=dlt,
        original_topic=original,
        payloads=[f'{{"order_id":"o-{i}","quantity":1}}'.encode() for i in range(ROUNDS)],
    )
    for d in letters:
        results = _race(services, d.coordinates)
        assert results.count("sent 1") == 1, results  # one of them sent it
        for r in (
            r for r in results if r != "sent 1"
        ):  # refused while it ran, or found it replayed once it had
            assert "another replay is running on this store" in r or "already replayed" in r, r

    msgs = read_topic(kafka_bootstrap, original)
    ids = collections.Counter(headers_of(m)["x-replay-id"] for m in msgs)
    froms = collections.Counter(headers_of(m)["x-replayed-from"] for m in msgs)
    assert len(msgs) == ROUNDS
    assert set(ids.values()) == {1}
    assert froms == {d.coordinates.encode(): 1 for d in letters}
    with contextlib.closing(store.dead_letters()) as handle:
        assert handle.extent(DlqFilter(status="replayed"))[0] == ROUNDS
        lines = [ln for per in handle.ledger_lines().values() for ln in per]
        assert sorted(ln.state for ln in lines) == ["acked"] * ROUNDS


def test_a_replay_while_another_holds_the_store_is_refused_and_sends_nothing(
    kafka_bootstrap: str,
    topic: str,
    store: Storage,
    services: list[DeadLetterService],
) -> None:
    """In one process, as ``dlq replay`` from another (test_dlq_flow.py, SQLite only)."""
    original, dlt = topic, f"{topic}-dlt"
    create_topic(kafka_bootstrap, original)
    create_topic(kafka_bootstrap, dlt)
    [d] = dead_letters_on_broker(
        kafka_bootstrap, store, dlq_topic=dlt, original_topic=original, payloads=[b'{"a":1}']
    )
    first, second = services[0], services[1]
    with first.dead_letters() as held, replay_lock(held):  # this thread holds it
        [refused] = _race([second], d.coordinates)
        assert "another replay is running on this store" in refused
        assert read_topic(kafka_bootstrap, original) == []
    [sent] = _race([second], d.coordinates)
    assert sent == "sent 1"
    assert len(read_topic(kafka_bootstrap, original)) == 1
