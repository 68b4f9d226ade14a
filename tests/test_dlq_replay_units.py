"""Planning, the ledger, reconciliation after a crash, the cluster guard and the partition choice,
through an in-memory cluster (tests/dlq_fake_cluster.py) and a real store: the fast tier.

The end-to-end tests (test_dlq_flow.py, test_dlq_crash.py, e2e/test_replay_crash.py,
test_dlq_target.py) run the same code against the real broker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from console import dlq
from console.base.model import DeadLetter
from console.dlq.service import DeadLetterService
from console.dlq.target import BrokerUnreachable, ClusterMismatch, replay_producer_config
from console.store import DeadLetters, Storage
from tests.dlq_fake_cluster import FakeCluster, FakeMessage, java_partition

CLUSTER = "cluster-a"
BACKENDS = ("sqlite", "chdb")  # every test on both stores (tests/conftest.py)


def _letters(store: Storage, n: int, *, original_partition: int = 0) -> list[DeadLetter]:
    letters = [
        DeadLetter(
            "orders-dlt",
            0,
            i,
            1_000 + i,
            key=f"key-{i}".encode(),
            payload=f'{{"n": {i}}}'.encode(),
            payload_size=8,
            convention="spring",
            original_topic="orders",
            original_partition=original_partition,
            original_offset=100 + i,
            cluster_id=CLUSTER,
            first_seen_ns=1,
        )
        for i in range(n)
    ]
    store.write(letters)
    with contextlib.closing(store.dead_letters()) as conn:
        return [dlq.get_dead_letter(conn, d.coordinates) for d in letters]


@pytest.fixture
def handle(store: Storage) -> Iterator[DeadLetters]:
    """The store's dead letters, as a second reader of what a replay wrote (closed after: a
    chDB store lets go of its engine when every handle has)."""
    with contextlib.closing(store.dead_letters()) as handle:
        yield handle


def _replay(store: Storage, cluster: FakeCluster, letters: list[DeadLetter]) -> tuple:
    """The dead-letter service's replay (what ``dlq replay`` and the TUI call), via ``cluster``."""
    outcome = DeadLetterService(store, cluster=cluster).replay(letters)
    return outcome.reconciled, outcome.plan, outcome.report


def test_the_ledger_line_is_pending_before_the_message_leaves_and_acked_after(
    store: Storage,
    handle: DeadLetters,
) -> None:
    cluster = FakeCluster(CLUSTER)
    cluster.create("orders", 3)
    (d,) = _letters(store, 1)
    seen: list[str] = []
    reader = handle
    cluster.on_produce = lambda topic, msg: seen.extend(
        line.state for line in dlq.replays_for(reader, d)
    )
    _, plan, report = _replay(store, cluster, [d])
    assert seen == ["pending"]  # committed, and visible to another connection, before produce
    assert report.acked == 1 and not report.errors
    (line,) = dlq.replays_for(reader, d)
    assert (line.state, line.target_topic, line.target_partition, line.target_offset) == (
        "acked",
        "orders",
        0,
        0,
    )
    assert dlq.get_dead_letter(reader, d.coordinates).status == "replayed"
    (_, _, msg) = cluster.produced[0]
    assert msg.header("x-replay-id") == plan.items[0].replay_id.encode()
    assert msg.header("x-replayed-from") == b"orders-dlt:0:0"
    assert not any(n.startswith("kafka_dlt-") for n, _ in msg.headers)


def test_a_replay_goes_to_the_original_partition_else_where_java_would_put_its_key(
    store: Storage,
    handle: DeadLetters,
) -> None:
    cluster = FakeCluster(CLUSTER)
    cluster.create("orders", 3)
    kept = _letters(store, 1, original_partition=2)
    store.write([DeadLetter("orders-dlt", 1, 0, 1, key=b"key-x", payload=b"{}",
                            original_topic="orders", original_partition=7,
                            cluster_id=CLUSTER, first_seen_ns=1)])  # fmt: skip
    gone = dlq.get_dead_letter(handle, "orders-dlt:1:0")
    _, plan, report = _replay(store, cluster, [*kept, gone])
    assert report.acked == 2
    by_coords = {it.coordinates: it.target_partition for it in plan.items}
    assert by_coords == {"orders-dlt:0:0": 2, "orders-dlt:1:0": None}
    # The original partition 7 is not in a 3-partition topic: placed by murmur2, as Java would.
    assert [m.key for m in cluster.topics["orders"][java_partition(b"key-x", 3)]] == [b"key-x"]
    assert [m.key for m in cluster.topics["orders"][2]][-1] == b"key-0"
    assert replay_producer_config({})["partitioner"] == "murmur2_random"


def test_after_a_crash_between_produce_and_ack_reconcile_finds_them_and_sends_nothing_twice(
    store: Storage,
    handle: DeadLetters,
) -> None:
    cluster = FakeCluster(CLUSTER, crash_after=1)
    cluster.create("orders", 1)
    letters = _letters(store, 3)
    _, _, report = _replay(store, cluster, letters)
    assert report.acked == 1
    assert "2 message(s) not acknowledged" in report.errors["*"]
    conn = handle
    assert sorted(dlq.replays_for(conn, d)[-1].state for d in letters) == [
        "acked",
        "pending",
        "pending",
    ]
    cluster.crash_after = None
    rec, plan, again = _replay(store, cluster, letters)
    assert (rec.checked, rec.found, rec.missing) == (2, 2, 0)
    assert plan.items == [] and again.acked == 0
    assert all("already replayed" in r.reason for r in plan.refused)
    assert len(cluster.topics["orders"][0]) == 3  # each message once
    assert {dlq.get_dead_letter(conn, d.coordinates).status for d in letters} == {"replayed"}


def test_a_message_the_broker_refused_is_sent_again_with_the_same_replay_id(
    store: Storage,
    handle: DeadLetters,
) -> None:
    cluster = FakeCluster(CLUSTER, refuse={"orders"})
    cluster.create("orders", 1)
    (d,) = _letters(store, 1)
    _, plan, report = _replay(store, cluster, [d])
    assert report.failed == 1 and "refused" in report.errors[d.coordinates]
    first_id = plan.items[0].replay_id
    assert dlq.replays_for(handle, d)[-1].state == "failed"
    cluster.refuse.clear()
    rec, plan, report = _replay(store, cluster, [d])
    assert (rec.checked, rec.found, rec.missing) == (1, 0, 1)
    assert [(it.replay_id, it.resumed) for it in plan.items] == [(first_id, True)]
    assert report.acked == 1
    assert [m.header("x-replay-id") for m in cluster.topics["orders"][0]] == [first_id.encode()]


def test_the_cluster_guard_refuses_another_cluster_before_any_ledger_line(
    store: Storage, handle: DeadLetters
) -> None:
    cluster = FakeCluster("cluster-b")
    cluster.create("orders", 1)
    (d,) = _letters(store, 1)
    conn = handle
    service = DeadLetterService(store, cluster=cluster)
    with pytest.raises(ClusterMismatch, match="came from cluster cluster-a, but fake:9092"):
        service.check_target([d])
    with pytest.raises(ClusterMismatch, match="--force-cluster cluster-c is not"):
        service.check_target([d], force_cluster="cluster-c")
    assert service.check_target([d], force_cluster="cluster-b").cluster_id == "cluster-b"
    store.write([DeadLetter("orders-dlt", 5, 0, 1, payload=b"{}", original_topic="orders",
                            first_seen_ns=1)])  # fmt: skip
    unknown = dlq.get_dead_letter(conn, "orders-dlt:5:0")
    with pytest.raises(ClusterMismatch, match="came from cluster unknown"):
        service.check_target([unknown])
    with pytest.raises(ClusterMismatch, match="came from cluster cluster-a"):  # nothing sent
        service.replay([d])
    cluster.down = True
    with pytest.raises(BrokerUnreachable, match="cannot reach Kafka at fake:9092"):
        service.replay([d])
    assert dlq.replays_for(conn, d) == [] and cluster.produced == []


def test_a_topic_the_target_lacks_is_refused_and_never_created(store: Storage) -> None:
    cluster = FakeCluster(CLUSTER)
    (d,) = _letters(store, 1)
    _, plan, report = _replay(store, cluster, [d])
    assert plan.items == [] and report.acked == 0
    assert "topic orders does not exist on cluster cluster-a" in plan.refused[0].reason
    assert "orders" not in cluster.topics


def test_a_truncated_payload_is_read_back_whole_from_the_dlq_topic(
    store: Storage, handle: DeadLetters
) -> None:
    cluster = FakeCluster(CLUSTER)
    cluster.create("orders", 1)
    cluster.create("orders-dlt", 1)
    whole = b'{"n": 0, "padding": "' + b"x" * 100 + b'"}'
    cluster.append("orders-dlt", 0, FakeMessage(whole, b"key-0", ()))
    store.write([DeadLetter("orders-dlt", 0, 0, 1, key=b"key-0", payload=whole[:16],
                            payload_truncated=True, payload_size=len(whole),
                            original_topic="orders", cluster_id=CLUSTER,
                            first_seen_ns=1)])  # fmt: skip
    d = dlq.get_dead_letter(handle, "orders-dlt:0:0")
    _, _, report = _replay(store, cluster, [d])
    assert report.acked == 1
    assert cluster.topics["orders"][0][0].value == whole
