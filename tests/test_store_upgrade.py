"""A version-1 store (one row per span and per hop) is upgraded to blocks by the writer only:
in resumable chunks, nothing lost, ``stats`` equal before and after; readers refuse it in one
line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from console.base.errors import NeedsUpgradeError
from console.journeys import journey
from console.store import Store
from console.store.sqlite import schema, upgrade
from tests.conftest import run_cli

NOW = 1_790_000_000_000_000_000


def _v1_store(path: Path, spans: int = 300, hops: int = 120, logs: int = 40) -> dict[str, int]:
    """A store as version 1 wrote it: the v1 schema and rows inserted the way its writer did."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    for statement in schema.MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO resources (id, json) VALUES (1, ?)", ('{"service.name":"upload"}',))
    for i in range(spans):
        cid = f"cf-{i // 3}"
        conn.execute(
            "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns,"
            " status_code, status_message, service, scope, correlation_id, msg_system,"
            " msg_destination, msg_partition, msg_offset, msg_operation, msg_group, attributes,"
            " resource_id, events, links) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                f"{i // 3:032x}",
                f"{i + 1:016x}",
                None,
                "work",
                2,
                NOW + i,
                NOW + i + 1000,
                0,
                "",
                "upload" if i % 2 else "catalog",
                "s",
                cid,
                None,
                None,
                None,
                None,
                None,
                None,
                json.dumps({"n": i}),
                1,
                None,
                None,
            ),
        )
    for i in range(hops):
        conn.execute(
            "INSERT INTO hops (topic, partition, offset, timestamp_ms, timestamp_type, key, size,"
            " headers, correlation_id, trace_id, span_id, payload_sha256, payload, seen_ns)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                "canvasflow.uploads",
                i % 3,
                i,
                NOW // 1_000_000,
                1,
                b"up-%d" % i,
                10,
                json.dumps([["x-correlation-id", f"cf-{i}".encode().hex()]]),
                f"cf-{i}",
                f"{i:032x}",
                None,
                None,
                None,
                NOW + i,
            ),
        )
    for i in range(logs):
        conn.execute(
            "INSERT INTO log_records (time_ns, service, severity_number, severity_text, body,"
            " trace_id, span_id, correlation_id, attributes) VALUES (?,?,?,?,?,?,?,?,?)",
            (NOW + i, "upload", 9, "INFO", f"log {i}", None, None, f"cf-{i}", "{}"),
        )
    conn.execute("INSERT INTO services VALUES ('upload', ?, ?), ('catalog', ?, ?)", (NOW,) * 4)
    conn.execute("COMMIT")
    conn.close()
    return {"spans": spans, "hops": hops, "log_records": logs}


def test_reader_refuses_a_v1_store_in_one_line_and_leaves_it_alone(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    _v1_store(db)
    before = db.read_bytes()
    result = run_cli("stats", "--db", str(db), "--json")
    assert result.returncode == 1
    assert "serve --db" in result.stderr and "upgrade" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert db.read_bytes() == before
    with pytest.raises(NeedsUpgradeError):
        Store.open(db, upgrade=False)


def test_writer_upgrades_with_counts_equal_and_journeys_found(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    expected = _v1_store(db)
    store = Store.open(db)  # the writer's open
    counts = dict(store.counts())
    assert {k: counts[k] for k in expected} == expected
    assert counts["per_service"] == {
        "catalog": {"spans": 150},
        "upload": {"spans": 150, "log_records": 40},
    }
    assert counts["topics"] == {"canvasflow.uploads": {"hops": 120}}
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not tables & set(schema.V1_DATA_TABLES)
    j = journey(Store.open(db, upgrade=False), correlation_id="cf-7")
    assert j is not None
    assert len(j.spans) == 3 and {s.attributes["n"] for s in j.spans} == {21, 22, 23}
    assert [(h.topic, h.partition, h.offset) for h in j.hops] == [("canvasflow.uploads", 1, 7)]
    assert j.hops[0].key == b"up-7"
    by_message = journey(Store.open(db, upgrade=False), message="canvasflow.uploads:1:7")
    assert by_message is not None and by_message.correlation_id == "cf-7"


def test_an_interrupted_upgrade_resumes_without_loss_or_doubles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "v1.db"
    expected = _v1_store(db)
    monkeypatch.setattr(upgrade, "CHUNK", 50)
    real = upgrade._move_chunk
    calls = {"n": 0}

    def dies_on_the_fourth_chunk(*args: object, **kwargs: object) -> int:
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # the operator pressed Ctrl+C mid-upgrade
        return real(*args, **kwargs)  # type: ignore[arg-type]  # a spy

    monkeypatch.setattr(upgrade, "_move_chunk", dies_on_the_fourth_chunk)
    with pytest.raises(KeyboardInterrupt):
        Store.open(db)
    with pytest.raises(NeedsUpgradeError):  # half done: readers still refuse
        Store.open(db, upgrade=False)
    monkeypatch.setattr(upgrade, "_move_chunk", real)
    counts = dict(Store.open(db).counts())
    assert {k: counts[k] for k in expected} == expected


_UPGRADER = """
import sys, time
from pathlib import Path
from console.store import Store
from console.store.sqlite import upgrade
upgrade.CHUNK = 200  # many chunks: the two writers' turns interleave
go = Path(sys.argv[2])
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.001)
Store.open(sys.argv[1], upgrade=True)
"""


def test_two_writers_upgrading_one_v1_store_move_each_row_once(tmp_path: Path) -> None:
    """A ``serve`` and a ``tui`` started together on a v1 store: on aabd1af both moved the rows
    (16,000 spans of 8,000) or the loser died with "is not a handoff-console database"."""
    db = tmp_path / "v1.db"
    expected = _v1_store(db, spans=8_000, hops=600, logs=300)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADER, str(db), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    go.touch()  # both start at once
    results = [(p.wait(120), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0, 0], results
    assert not any("not a handoff-console database" in err for _, err in results)
    counts = dict(Store.open(db, upgrade=False).counts())
    assert {k: counts[k] for k in expected} == expected
    conn = sqlite3.connect(db)
    raw = dict(conn.execute("SELECT kind, sum(n) FROM blocks GROUP BY kind").fetchall())
    assert raw == {1: 8_000, 2: 600, 3: 300}  # spans, hops, log records: each stored once
