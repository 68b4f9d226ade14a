"""Many taps, one consumer group (issue 26, "What to build" 4): two ``handoff-console tap``
processes in one group, through rebalances and a SIGKILL between an insert and its offset commit,
leave every (topic, partition, offset) exactly once in what the readers see.

Each leg runs the same traffic and the same events; where the killed tap's partitions go next is
what differs, because it decides which store must collapse what is read twice:

* ``sqlite``: both taps write one file. The killed tap's partitions go to the other tap once its
  session expires; that tap reads them again from the offsets committed before the kill, records
  the killed tap had stored already, and the one store keeps each once.
* ``chdb``: each tap writes its own chDB store (chDB is one process). A record read again by the
  other tap would land in the other store, where no engine can collapse it (only a shared
  ClickHouse server can: the README's "Past one machine"). So the killed tap is a static member
  (``group.instance.id``) restarted at once: its partitions come back to it, it reads again into
  its own store, and ``ReplacingMergeTree`` with a read that picks one row keeps each once.

Either way the graceful rebalances (a tap joining, a tap stopped and started) must commit each
revoked partition only after the insert that holds its records, or the union shows a gap or a
second copy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.store import open_store
from tests.conftest import ROOT, create_topic
from tests.tap_helpers import committed_total, produce, unique, wait_for

PARTITIONS = 4


@dataclass
class Tap:
    """One ``handoff-console tap --json`` process and the events it printed."""

    name: str
    proc: subprocess.Popen[str]
    err: Path
    events: list[dict[str, Any]] = field(default_factory=list)

    def last(self, event: str = "status") -> dict[str, Any]:
        found = [e for e in list(self.events) if e["event"] == event]
        return found[-1] if found else {}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGINT) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=90)

    def log(self) -> str:
        return f"{self.name}: {self.err.read_text()[-3000:]}"


@dataclass
class Group:
    """The group's taps, started as a user starts them, and what they read."""

    bootstrap: str
    topic: str
    tmp: Path
    group: str = field(default_factory=lambda: unique("tap-group"))
    runs: list[Tap] = field(default_factory=list)

    def start(self, name: str, store: list[str], *extra: str) -> Tap:
        err = self.tmp / f"{name}-{len(self.runs)}.err"
        proc = subprocess.Popen(
            [sys.executable, "-m", "console", "tap", *store, "--bootstrap", self.bootstrap,
             "--topics", self.topic, "--group", self.group, "--from-beginning", "--json",
             "--status-every", "0.3", "-X", "fetch.wait.max.ms=100",
             "-X", "heartbeat.interval.ms=1000", *extra],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=err.open("w"), text=True,
            env=os.environ.copy(),
        )  # fmt: skip
        tap = Tap(name, proc, err)

        def read() -> None:
            for line in proc.stdout or ():
                tap.events.append(json.loads(line))

        threading.Thread(target=read, daemon=True).start()
        self.runs.append(tap)
        wait_for(lambda: tap.last("started") or not tap.alive(), timeout=60, what=f"{name} up")
        assert tap.alive(), tap.log()
        return tap

    def committed(self) -> int:
        """The group's committed offsets on the topic, summed: messages it will not read again."""
        return committed_total(self.bootstrap, self.group, self.topic, PARTITIONS)

    def owns(self, tap: Tap) -> bool:
        return bool(tap.last().get("assigned_partitions"))

    def kill_all(self) -> None:
        for tap in self.runs:
            if tap.alive():
                tap.proc.kill()
                tap.proc.wait(30)


@dataclass(frozen=True)
class Leg:
    name: str
    stores: tuple[str, str, str]  # the option (--db, --store), tap A's store, tap B's
    takeover: bool  # the killed tap's partitions go to the other tap (else they come back)


def _legs(tmp: Path) -> dict[str, Leg]:
    return {
        "sqlite": Leg("sqlite", ("--db", str(tmp / "one.db"), str(tmp / "one.db")), takeover=True),
        "chdb": Leg("chdb", ("--store", f"chdb://{tmp}/a", f"chdb://{tmp}/b"), takeover=False),
    }


@pytest.fixture
def group(kafka_bootstrap: str, topic: str, tmp_path: Path) -> Iterator[Group]:
    create_topic(kafka_bootstrap, topic, PARTITIONS)
    g = Group(kafka_bootstrap, topic, tmp_path)
    try:
        yield g
    finally:
        g.kill_all()


def _messages(start: int, n: int) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    return [
        (f"k{i}".encode(), b'{"n": %d}' % i, [("x-correlation-id", f"order-{i}".encode())])
        for i in range(start, start + n)
    ]


def _stored(*taps: Tap) -> int:
    """Hops the taps handed over, once each one's store committed at least as many records
    (hops, and a few rate and lag points); 0 until then."""
    last = [tap.last() for tap in taps]
    seen = [h.get("hops_seen", 0) for h in last]
    if all(n > 0 and h.get("records_committed", 0) >= n for n, h in zip(seen, last, strict=True)):
        return sum(seen)
    return 0


@pytest.mark.parametrize("leg_name", ["sqlite", "chdb"])
def test_two_taps_in_one_group_leave_every_offset_exactly_once(
    group: Group, tmp_path: Path, leg_name: str
) -> None:
    leg = _legs(tmp_path)[leg_name]
    option, *stores = leg.stores
    store_a, store_b = ([option, where] for where in stores)
    b_args = ["-X", f"group.instance.id={group.group}-b", "-X", "session.timeout.ms=30000"]
    if leg.takeover:  # a dynamic member: its partitions move once its session expires
        b_args = ["-X", "session.timeout.ms=6000"]
    # The first runs of A and B commit only on a revoke or a stop (--commit-every 600): what
    # they store stays uncommitted until then, so the rebalance and the SIGKILL below land
    # between inserts and their commit, deterministically.
    rarely = ["--commit-every", "600"]
    produced: list[tuple[int, int]] = []

    def send(start: int, n: int) -> list[tuple[int, int]]:
        acks = produce(group.bootstrap, group.topic, _messages(start, n))
        produced.extend(acks)
        return acks

    def all_committed() -> bool:
        return group.committed() == len(produced)

    first = send(0, 200)
    a = group.start("a", store_a, *rarely)
    wait_for(lambda: _stored(a) >= 200, what="a stores the first 200")
    assert a.last()["commits"] == 0

    # B joins: A gives up half its partitions, committing each after the insert holding its
    # records, so B starts after them (uncommitted, B would read them again).
    b = group.start("b", store_b, *rarely, *b_args)
    wait_for(lambda: group.owns(b) and a.last().get("assigned_partitions", 0) < PARTITIONS,
             what="b owns partitions")  # fmt: skip
    moved = {p for _, p in b.last()["partitions"]}
    assert group.committed() == sum(p in moved for p, _ in first)  # A's revoke, nothing else

    send(200, 400)
    wait_for(lambda: _stored(a, b) >= 600, what="both store the next 400")
    killed = b.last()
    assert killed["commits"] == 0, killed  # B's 200-odd hops: stored, not committed
    b.stop(signal.SIGKILL)
    send(600, 300)
    if leg.takeover:
        # A takes B's partitions once B's session expires and reads them again from A's commit.
        wait_for(lambda: a.last().get("hops_seen", 0) >= len(produced), timeout=90,
                 what="a reads b's partitions again")  # fmt: skip
    else:
        # The same static member, back at once: its partitions come back to it, and it reads
        # again, into its own store, what it stored and did not commit.
        b = group.start("b", store_b, *b_args)
        wait_for(lambda: _stored(a, b) >= len(produced), timeout=90,
                 what="b reads its partitions again")  # fmt: skip
        assert b.last()["partitions"] == killed["partitions"]
    # A stops (what it stored is committed first; its partitions go to B) and starts again.
    a.stop()
    assert a.proc.returncode == 0, a.log()
    wait_for(all_committed, what="a's last commit")
    if leg.takeover:
        b = group.start("b", store_b, *b_args)
    wait_for(lambda: b.last().get("assigned_partitions") == PARTITIONS, what="b owns all")
    send(900, 300)
    a = group.start("a", store_a)
    send(1200, 300)
    wait_for(lambda: group.owns(a) and all_committed(), timeout=90, what="everything committed")
    for tap in (a, b):
        tap.stop()
        assert tap.proc.returncode == 0, tap.log()

    # Read again: the killed run's records (stored, uncommitted) and more than the 1,500 sent.
    handed = sum(run.last("stopped").get("hops_seen") or run.last().get("hops_seen", 0)
                 for run in group.runs)  # fmt: skip
    assert handed > len(produced), handed
    # What readers see, through the store interface: each offset once, in one store of the two.
    seen: dict[tuple[int, int], int] = {}
    stats = 0
    for where in sorted(set(stores)):
        store = open_store(where, create=False, upgrade=False)
        reader = store.reader()
        try:
            for partition, offset in sorted(set(produced)):
                n = len(reader.hops_at(group.topic, partition, offset))
                seen[(partition, offset)] = seen.get((partition, offset), 0) + n
            stats += reader.counts()["topics"].get(group.topic, {}).get("hops", 0)
        finally:
            reader.close()
            store.close()  # chDB: this process holds one store at a time
    assert {k: n for k, n in seen.items() if n != 1} == {}
    assert stats == len(set(produced)) == 1500
