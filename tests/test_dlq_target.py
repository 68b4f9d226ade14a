"""Replay goes back to the cluster a dead letter came from, to a topic that exists, in key order.

Two real clusters from the harness (``console.runtime.broker.Broker``): the session's broker, where
the dead letters are tapped, and a second one started here, which a replay must refuse.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from console.store import Store
from tests.conftest import KafkaHarness, create_topic, run_cli
from tests.dlq_helpers import cluster_id_of, dead_letters_on_broker, read_topic


@pytest.fixture(scope="module")
def second_cluster(kafka_harness: KafkaHarness) -> Iterator[str]:
    broker = kafka_harness.broker()
    broker.up()
    try:
        yield broker.bootstrap
    finally:
        broker.down()


def _ledger(db_path: Path) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT replay_id, state FROM replay_ledger").fetchall()


def _replay(db_path: Path, bootstrap: str, *args: str) -> tuple[int, str, str]:
    r = run_cli("dlq", "replay", *args, "--yes", "--bootstrap", bootstrap, "--db", str(db_path))
    return r.returncode, r.stdout, r.stderr


def test_replay_to_another_cluster_is_refused_and_produces_nothing(
    kafka_bootstrap: str, second_cluster: str, topic: str, store: Store, db_path: Path
) -> None:
    create_topic(kafka_bootstrap, f"{topic}-dlt")
    create_topic(second_cluster, topic)  # the topic exists there: only the cluster differs
    [d] = dead_letters_on_broker(
        kafka_bootstrap, store, dlq_topic=f"{topic}-dlt", original_topic=topic, payloads=[b"{}"]
    )
    ours, theirs = cluster_id_of(kafka_bootstrap), cluster_id_of(second_cluster)
    assert d.cluster_id == ours != theirs

    rc, _out, err = _replay(db_path, second_cluster, d.coordinates)
    assert rc == 2, err
    assert ours in err and theirs in err and "nothing produced" in err
    assert read_topic(second_cluster, topic) == []
    assert _ledger(db_path) == []

    rc, _out, err = _replay(db_path, second_cluster, d.coordinates, "--force-cluster", ours)
    assert rc == 2 and "is not the target's cluster" in err
    assert read_topic(second_cluster, topic) == []

    rc, _out, err = _replay(db_path, second_cluster, d.coordinates, "--force-cluster", theirs)
    assert rc == 0, err
    assert len(read_topic(second_cluster, topic)) == 1


def test_a_missing_target_topic_is_an_error_and_is_not_created(
    kafka_bootstrap: str, topic: str, store: Store, db_path: Path
) -> None:
    create_topic(kafka_bootstrap, f"{topic}-dlt")
    [d] = dead_letters_on_broker(
        kafka_bootstrap, store, dlq_topic=f"{topic}-dlt", original_topic=topic, payloads=[b"{}"]
    )
    rc, _out, err = _replay(db_path, kafka_bootstrap, d.coordinates)
    assert rc == 1
    assert f"topic {topic} does not exist" in err and "never creates" in err
    from confluent_kafka.admin import AdminClient

    topics = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).topics
    assert topic not in topics
    assert _ledger(db_path) == []


def test_keyed_replay_without_its_partition_lands_where_java_would(
    kafka_bootstrap: str, topic: str, store: Store, db_path: Path
) -> None:
    """``--to`` a topic with fewer partitions than the original: the key decides, with murmur2
    (Java's default partitioner), not librdkafka's CRC32."""
    create_topic(kafka_bootstrap, f"{topic}-dlt")
    create_topic(kafka_bootstrap, f"{topic}.retry", partitions=6)
    letters = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=f"{topic}-dlt",
        original_topic=topic,
        payloads=[b'{"n": %d}' % i for i in range(12)],
    )
    # Spring said partition 0 for each: move them so the original partition does not exist.
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE dead_letters SET original_partition = 99")
    rc, _out, err = _replay(db_path, kafka_bootstrap, "--all", "--to", f"{topic}.retry")
    assert rc == 0, err
    got = {m.key(): m.partition() for m in read_topic(kafka_bootstrap, f"{topic}.retry")}
    assert len(got) == len(letters)
    # Where a murmur2 producer (what Java clients use) puts the same keys.
    create_topic(kafka_bootstrap, f"{topic}.java", partitions=6)
    java = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2"})
    for key in got:
        java.produce(f"{topic}.java", key=key, value=b"")
    assert java.flush(30) == 0
    expected = {m.key(): m.partition() for m in read_topic(kafka_bootstrap, f"{topic}.java")}
    assert got == expected
    assert len(set(got.values())) > 1


def test_unreachable_broker_says_so_once_and_writes_no_ledger_line(
    kafka_bootstrap: str, topic: str, store: Store, db_path: Path
) -> None:
    create_topic(kafka_bootstrap, f"{topic}-dlt")
    [d] = dead_letters_on_broker(
        kafka_bootstrap, store, dlq_topic=f"{topic}-dlt", original_topic=topic, payloads=[b"{}"]
    )
    started = time.monotonic()
    rc, out, err = _replay(db_path, "127.0.0.1:1", d.coordinates)
    assert rc == 1
    assert time.monotonic() - started < 30
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "127.0.0.1:1" in lines[0] and "cannot reach Kafka" in lines[0]
    assert "Connect to" not in out
    assert _ledger(db_path) == []
    shown = run_cli("dlq", "show", d.coordinates, "--db", str(db_path), "--json")
    assert json.loads(shown.stdout)["status"] == "pending"


def test_spring_dead_letter_without_a_value_is_listed_discardable_not_replayable(
    kafka_bootstrap: str, topic: str, store: Store, db_path: Path
) -> None:
    create_topic(kafka_bootstrap, topic)
    create_topic(kafka_bootstrap, f"{topic}-dlt")
    empty, other = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=f"{topic}-dlt",
        original_topic=topic,
        payloads=[None, b"{}"],
    )
    assert empty.payload is None and empty.convention == "spring"
    listed = json.loads(run_cli("dlq", "list", "--db", str(db_path), "--json").stdout)
    assert {i["coordinates"] for i in listed} == {empty.coordinates, other.coordinates}
    rc, _out, err = _replay(db_path, kafka_bootstrap, empty.coordinates)
    assert rc == 1 and "has no value" in err and "dlq fix" in err
    assert read_topic(kafka_bootstrap, topic) == []
    r = run_cli("dlq", "discard", empty.coordinates, "--yes", "--db", str(db_path))
    assert r.returncode == 0, r.stderr


def test_two_clusters_in_one_store_keep_both_dead_letters(store: Store) -> None:
    from console import dlq
    from console.base.errors import InputError
    from console.base.model import DeadLetter

    letters = [
        DeadLetter("orders-dlt", 0, 7, 1, payload=b"{}", cluster_id=c, first_seen_ns=1)
        for c in ("cluster-a", "cluster-b")
    ]
    store.write(letters)
    store.write(letters)  # the tap re-reads after a restart: still one row each
    conn = store.dead_letters()
    listed = dlq.list_dead_letters(conn)
    assert sorted(str(i.cluster_id) for i in listed) == ["cluster-a", "cluster-b"]
    with pytest.raises(InputError, match="more than one cluster"):
        dlq.get_dead_letter(conn, "orders-dlt:0:7")


def _two_clusters_at_one_address(store: Store) -> None:
    from console.base.model import DeadLetter

    store.write(
        [
            DeadLetter(
                "orders-dlt",
                0,
                7,
                1,
                payload=b'{"n": 1}',
                original_topic="orders",
                cluster_id=c,
                first_seen_ns=1,
            )
            for c in ("cluster-a", "cluster-b")
        ]
    )


def test_a_cluster_picks_one_of_two_dead_letters_and_its_fix_stays_its_own(
    store: Store, db_path: Path, tmp_path: Path
) -> None:
    _two_clusters_at_one_address(store)
    db = ("--db", str(db_path))
    refused = run_cli("dlq", "show", "orders-dlt:0:7", *db)
    assert refused.returncode == 2 and "CLUSTER/orders-dlt:0:7" in refused.stderr
    fixed = tmp_path / "fixed.json"
    fixed.write_text('{"n": 2}')
    r = run_cli("dlq", "fix", "cluster-a/orders-dlt:0:7", "--payload-file", str(fixed), *db)
    assert r.returncode == 0, r.stderr

    def shown(*how: str) -> dict:
        r = run_cli("dlq", "show", *how, "--json", *db)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    a = shown("orders-dlt:0:7", "--cluster", "cluster-a")
    b = shown("cluster-b/orders-dlt:0:7")
    assert a["cluster_id"] == "cluster-a" and len(a["fixes"]) == 1
    assert b["cluster_id"] == "cluster-b" and b["fixes"] == []
    r = run_cli("dlq", "discard", "orders-dlt:0:7", "--cluster", "cluster-b", "--yes", *db)
    assert r.returncode == 0 and "discarded 1 of 1" in r.stdout, r.stderr
    listed = json.loads(run_cli("dlq", "list", "--status", "discarded", "--json", *db).stdout)
    assert [(i["cluster_id"], i["status"]) for i in listed] == [("cluster-b", "discarded")]
    by_cluster = json.loads(run_cli("dlq", "list", "--cluster", "cluster-a", "--json", *db).stdout)
    assert [(i["cluster_id"], i["status"]) for i in by_cluster] == [("cluster-a", "pending")]
    alone = run_cli("dlq", "discard", "--cluster", "cluster-a", "--yes", *db)
    assert alone.returncode == 2 and "--all or a filter" in alone.stderr  # narrows, never picks
    r = run_cli("dlq", "discard", "--all", "--cluster", "cluster-b", "--yes", *db)
    assert r.returncode == 0 and "nothing to discard" in r.stdout, r.stderr  # b's is discarded
    mixed = run_cli("dlq", "show", "cluster-a/orders-dlt:0:7", "--cluster", "cluster-b", *db)
    assert mixed.returncode == 2 and "--cluster names cluster-b" in mixed.stderr


def test_fixes_and_ledger_lines_from_before_go_to_the_dead_letter_they_were_made_for(
    db_path: Path,
) -> None:
    """A version-4 store's fix and ledger line (keyed by coordinates alone) belong, after the
    upgrade, to the dead letter first seen there, not to a later one from another cluster."""
    from console.store.sqlite import schema

    conn = sqlite3.connect(db_path, isolation_level=None)
    for migration in schema.MIGRATIONS[:4]:
        for statement in migration.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 4")
    for table in schema.V1_DATA_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    for cluster, seen in (("cluster-b", 2), ("cluster-a", 1)):
        conn.execute(
            "INSERT INTO dead_letters (dlq_topic, partition, offset, timestamp_ms, headers, "
            "payload, payload_truncated, payload_size, convention, first_seen_ns, status, "
            "cluster_id) VALUES ('orders-dlt', 0, 7, 1, '[]', X'7B7D', 0, 2, 'none', ?, "
            "'pending', ?)",
            (seen, cluster),
        )
    conn.execute(
        "INSERT INTO fixed_payloads (dlq_topic, partition, offset, version, payload, sha256, "
        "created_ns, author) VALUES ('orders-dlt', 0, 7, 1, X'7B7D', 'x', 1, 'me')"
    )
    conn.execute(
        "INSERT INTO replay_ledger (replay_id, dlq_topic, partition, offset, target_topic, "
        "payload_sha256, state, replay_count, created_ns, os_user) "
        "VALUES ('r1', 'orders-dlt', 0, 7, 'orders', 'x', 'acked', 1, 1, 'me')"
    )
    conn.close()
    Store.open(db_path)
    db = ("--db", str(db_path))

    def shown(cluster: str) -> dict:
        r = run_cli("dlq", "show", f"{cluster}/orders-dlt:0:7", "--json", *db)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    a, b = shown("cluster-a"), shown("cluster-b")
    assert (len(a["fixes"]), len(a["replays"])) == (1, 1)
    assert (b["fixes"], b["replays"]) == ([], [])
