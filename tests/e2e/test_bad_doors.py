"""Bad input at the doors other than OTLP: garbage in Kafka headers and payloads, a foreign
database file, a broken contracts directory, an unreachable schema registry. Each gives a clear
one-line error (or is recorded as data), nothing crashes, nothing stored is lost."""

from __future__ import annotations

import hashlib
import json
import random
import socket
import sqlite3
import threading
from pathlib import Path

import pytest
from confluent_kafka import Producer

from console.store import Store
from tests import stored
from tests.conftest import create_topic, free_port, run_cli
from tests.dlq_helpers import dead_letters_on_broker, write_contract
from tests.e2e.support import Tap, integrity, wait_until
from tests.otlp_helpers import count, rows

pytestmark = pytest.mark.e2e

GARBAGE_PER_TOPIC = 300
NAMES = [
    "traceparent", "tracestate", "x-correlation-id", "correlation-id", "baggage",
    "kafka_dlt-original-partition", "kafka_dlt-original-offset", "kafka_dlt-original-topic",
    "kafka_dlt-original-timestamp", "kafka_dlt-exception-message", "__connect.errors.offset",
    "__connect.errors.partition", "__connect.errors.topic", "", "\u00e9\u0301", "x" * 300,
]  # fmt: skip


def _garbage_value(r: random.Random) -> bytes | None:
    return r.choice(
        [
            None,
            b"",
            r.randbytes(r.randint(1, 40)),
            b"00-zz-yy-01",
            b"00-" + b"0" * 32 + b"-" + b"0" * 16 + b"-01",  # all-zero ids: invalid per W3C
            b"\xff\xfe\x00\x01",
            b"\x00\x00\x00",  # a 3-byte "partition"
            b"-1",
            b"99999999999999999999999",
            "\u202e\u0000".encode(),
            r.randbytes(70_000),
        ]
    )


def _produce_garbage(bootstrap: str, topic: str, seed: int) -> None:
    r = random.Random(seed)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 5, "message.max.bytes": 2_000_000}
    )
    for _ in range(GARBAGE_PER_TOPIC):
        headers: list[tuple[str, str | bytes | None]] = [
            (r.choice(NAMES), _garbage_value(r)) for _ in range(r.randint(0, 8))
        ]
        value = r.choice([None, b"", r.randbytes(r.randint(1, 500)), b"{", b'{"order_id":1}'])
        key = r.choice([None, b"", r.randbytes(8)])
        producer.produce(topic, value=value, key=key, headers=headers)
    assert producer.flush(30) == 0


def test_garbage_headers_and_payloads_are_recorded_not_fatal(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    db = tmp_path / "h.db"
    dlt = f"{topic}-dlt"
    create_topic(kafka_bootstrap, topic, partitions=2)
    create_topic(kafka_bootstrap, dlt)
    _produce_garbage(kafka_bootstrap, topic, 1)
    _produce_garbage(kafka_bootstrap, dlt, 2)
    with Tap(db, kafka_bootstrap, f"{topic},{dlt}", "--from-beginning") as tap:
        wait_until(lambda: count(db, "hops") >= 2 * GARBAGE_PER_TOPIC, 90, "every hop stored")
        assert tap.proc is not None and tap.proc.poll() is None, tap.output
        rc = tap.stop()
    assert rc == 0 and "Traceback" not in tap.output, tap.output[-3000:]
    # One hop per message, per partition exactly the offsets the broker assigned.
    per_tp: dict[tuple[str, int], list[int]] = {}
    for hop in stored.hops(db):
        per_tp.setdefault((hop.topic, hop.partition), []).append(hop.offset)
    assert sum(len(offsets) for offsets in per_tp.values()) == 2 * GARBAGE_PER_TOPIC
    assert all(max(offsets) - min(offsets) + 1 == len(offsets) for offsets in per_tp.values())
    assert count(db, "dead_letters") >= GARBAGE_PER_TOPIC  # everything on the -dlt topic

    # The commands that read them do not fall over on what the tap stored.
    listed = run_cli("dlq", "list", "--json", "--limit", "0", "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert len(items) == count(db, "dead_letters")
    for item in random.Random(3).sample(items, 15):
        coords = f"{item['dlq_topic']}:{item['partition']}:{item['offset']}"
        shown = run_cli("dlq", "show", coords, "--json", "--db", str(db))
        assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
        json.loads(shown.stdout)
    journeys = run_cli("journeys", "--json", "--db", str(db))
    assert journeys.returncode == 0 and "Traceback" not in journeys.stderr, journeys.stderr
    assert integrity(db) == "ok"


def _foreign_files(tmp_path: Path) -> list[Path]:
    foreign = tmp_path / "app.sqlite"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.commit()
    conn.close()
    garbage = tmp_path / "notes.db"
    garbage.write_bytes(random.Random(5).randbytes(8192))
    return [foreign, garbage]


@pytest.mark.parametrize(
    "command",
    [
        ["stats"],
        ["serve", "--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0"],
        ["tap", "--topics", "anything", "--bootstrap", "127.0.0.1:1"],
        ["dlq", "list"],
        ["dlq", "audit"],
        ["journeys"],
        ["trace", "--correlation-id", "x"],
    ],
    ids=lambda c: c[0] if c[0] != "dlq" else f"dlq-{c[1]}",
)
def test_foreign_database_is_refused_untouched_at_every_command(
    tmp_path: Path, command: list[str]
) -> None:
    for path in _foreign_files(tmp_path):
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        r = run_cli(*command, "--db", str(path), timeout=60)
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
        assert "not a handoff-console database" in lines[0] or "another application" in lines[0]
        assert "--db" in lines[0]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
        assert not Path(f"{path}-wal").exists()


@pytest.fixture
def one_dead_letter(kafka_bootstrap: str, topic: str, db_path: Path) -> str:
    create_topic(kafka_bootstrap, topic)
    create_topic(kafka_bootstrap, f"{topic}-dlt")
    [d] = dead_letters_on_broker(
        kafka_bootstrap,
        Store.open(db_path),
        dlq_topic=f"{topic}-dlt",
        original_topic=topic,
        payloads=[b'{"order_id":"o-1","quantity":"two"}'],
    )
    return d.coordinates


def _broken_dirs(tmp_path: Path, topic: str) -> dict[str, Path]:
    not_json = write_contract(tmp_path / "not-json", "x")
    (not_json / f"{topic}.schema.json").write_text('{"type": "object",\n  "properties": }')
    bad_schema = tmp_path / "bad-schema"
    bad_schema.mkdir()
    (bad_schema / f"{topic}.schema.json").write_text('{"type": "no-such-type"}')
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory")
    unreadable = tmp_path / "unreadable"
    unreadable.mkdir()
    (unreadable / f"{topic}.schema.json").mkdir()  # a directory where a file should be
    return {
        "missing": tmp_path / "missing",
        "a file": a_file,
        "not JSON": not_json,
        "not a JSON Schema": bad_schema,
        "unreadable": unreadable,
    }


def _silent_server() -> tuple[str, threading.Event]:
    """A TCP port that accepts and closes at once: a 'registry' that is not HTTP."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                conn.close()
            except OSError:
                continue
        sock.close()

    threading.Thread(target=run, daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


def _state(db: Path) -> tuple[object, ...]:
    return (
        rows(db, "SELECT status FROM dead_letters")[0][0],
        count(db, "fixed_payloads"),
        count(db, "audit_log"),
        count(db, "dead_letters"),
    )


def test_broken_contracts_and_unreachable_registry_are_clear_errors(
    one_dead_letter: str, topic: str, db_path: Path, tmp_path: Path
) -> None:
    coords = one_dead_letter
    before = _state(db_path)
    assert before == ("pending", 0, 0, 1)
    for why, directory in _broken_dirs(tmp_path, topic).items():
        for cmd in (["fix", coords, "--set", "quantity=2"], ["show", coords]):
            r = run_cli("dlq", *cmd, "--contracts", str(directory), "--db", str(db_path))
            assert r.returncode != 0, (why, cmd, r.stdout)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: "), (why, r.stderr)
            assert str(directory.name) in lines[0] or topic in lines[0], (why, lines[0])
        assert _state(db_path) == before, why
    closed = f"http://127.0.0.1:{free_port()}"
    silent, stop = _silent_server()
    try:
        for url in (closed, silent, "http://no-such-host.invalid:8081"):
            r = run_cli(
                "dlq", "fix", coords, "--set", "quantity=2", "--schema-registry", url,
                "--db", str(db_path), timeout=60,
            )  # fmt: skip
            assert r.returncode == 1, (url, r.stdout)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: schema registry at"), r.stderr
            assert _state(db_path) == before
    finally:
        stop.set()
    # With a sound contract the same fix goes through: nothing was left half done.
    good = write_contract(tmp_path / "good", topic)
    r = run_cli("dlq", "fix", coords, "--set", "quantity=2", "--contracts", str(good),
                "--db", str(db_path))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert count(db_path, "fixed_payloads") == 1
