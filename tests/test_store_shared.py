"""Taps of one consumer group write one SQLite file together (issue 26, "Many taps, one consumer
group"): a hop or dead letter stored by two processes is stored once, one tap owns retention and
another takes it over when it dies, and the writers that keep state of their own (``serve``, a
``tui`` without ``--attach``) are still refused beside them (``console/store/sqlite/guard.py``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.base.model import Hop
from console.store import Store
from tests.conftest import ROOT, free_port, run_cli
from tests.otlp_helpers import Serve
from tests.tap_helpers import wait_for

_ADDRS = ("--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0")


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(30)


def _tap(db: Path) -> subprocess.Popen[str]:
    """``handoff-console tap`` into ``db``; its broker is not there (nothing to read is needed
    here: the writer is what is tested), so it keeps trying while it runs."""
    return _spawn(
        "-m", "console", "tap", "--db", str(db), "--topics", "orders", "--status-every", "0",
        "--bootstrap", f"127.0.0.1:{free_port()}",
    )  # fmt: skip


def _started(tap: subprocess.Popen[str]) -> None:
    assert tap.stderr is not None
    while True:
        line = tap.stderr.readline()
        assert line, f"tap exited: {tap.wait(10)}"
        if line.startswith("tapping "):
            return


def _refusal(*command: str, db: Path) -> str:
    result = run_cli(*command, "--db", str(db), timeout=60)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_a_hop_or_dead_letter_two_taps_store_is_stored_once(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """Two processes store the same 600 hops and 60 dead letters, each in its own shuffled order,
    at the same time: each process's duplicates window holds only what it stored itself, so only
    the store can see that the other process stored a record first."""
    db, go = tmp_path / "h.db", tmp_path / "go"
    Store.open(db)
    n = 600
    for seed in (1, 2):
        procs.append(_spawn("-m", "tests.shared_writer", "write", str(db), str(go), str(n),
                            str(seed)))  # fmt: skip
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    go.touch()  # both write from now on, each batch committed as soon as it is handed over
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert (p.returncode, out) == (0, "done\n"), err
    store = Store.open(db)
    counts = store.counts()
    assert counts["hops"] == n + 2  # and one warm-up hop each
    assert counts["topics"]["orders"] == {"hops": n}
    assert counts["dead_letters"] == n // 10
    reader = store.reader()
    try:
        at: list[list[Hop]] = [reader.hops_at("orders", i % 2, i // 2) for i in range(n)]
        assert [len(hops) for hops in at] == [1] * n
        assert all(len(reader.dead_letters_at("orders-dlt", 0, i)) == 1 for i in range(0, n, 10))
    finally:
        reader.close()


def test_taps_share_a_store_and_serve_or_tui_beside_them_are_refused(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    db = tmp_path / "h.db"
    first = _tap(db)
    procs.append(first)
    _started(first)
    second = _tap(db)
    procs.append(second)
    _started(second)  # admitted beside the first
    for command in (["serve", *_ADDRS], ["tui", *_ADDRS]):
        line = _refusal(*command, db=db)
        assert f"already has a writer: pid {first.pid} (handoff-console tap --db {db}" in line
        assert "--attach" in line
    first.send_signal(signal.SIGKILL)
    first.wait(30)
    line = _refusal("serve", *_ADDRS, db=db)  # the second tap still writes it
    assert "already has writers: taps" in line or f"pid {second.pid} (" in line, line
    assert second.poll() is None
    assert run_cli("stats", "--db", str(db), "--json").returncode == 0  # readers go on reading


def test_a_tap_beside_a_serve_is_refused_naming_it(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    with Serve(db) as serve:
        assert serve.proc is not None
        line = _refusal("tap", "--topics", "orders", "--bootstrap", f"127.0.0.1:{free_port()}",
                        db=db)  # fmt: skip
        assert f"already has a writer: pid {serve.proc.pid} (handoff-console serve" in line
        assert "taps share a store only with other taps" in line


def test_retention_passes_to_another_tap_when_its_owner_dies(
    tmp_path: Path, procs: list[subprocess.Popen[str]]
) -> None:
    """Retention runs in one tap (the owner: serve's refusal names it); when it is killed, the
    other takes retention over and records older than the limit still go."""
    db = tmp_path / "h.db"
    store = Store.open(db)
    for _ in range(2):  # one after the other: the first to open its writer owns retention
        procs.append(_spawn("-m", "tests.shared_writer", "hold", str(db)))
        assert procs[-1].stdout is not None and procs[-1].stdout.readline() == "ready\n"
    owner, other = procs

    def write_two_hours_ago() -> None:
        old = time.time_ns() - 2 * 3600 * 10**9
        store.write([Hop("orders", 0, 1, old // 10**6, seen_ns=old)], now_ns=old)

    write_two_hours_ago()
    wait_for(lambda: store.counts()["hops"] == 0, timeout=30, what="the owner's retention")
    assert f"pid {owner.pid} (" in _refusal("serve", *_ADDRS, db=db)
    owner.send_signal(signal.SIGKILL)
    owner.wait(30)
    write_two_hours_ago()
    assert store.counts()["hops"] == 1
    wait_for(lambda: store.counts()["hops"] == 0, timeout=30, what="the other tap's retention")
    assert f"pid {other.pid} (" in _refusal("serve", *_ADDRS, db=db)
    assert other.poll() is None
