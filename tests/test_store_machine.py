"""The store against a simple model (``store_model.py``), in random interleavings: hypothesis's
rule-based state machine on a real store file (issue 24).

Rules: batches through the writer (``Store.writer``, tickets, as the daemon writes) with resent
spans, re-read hops, look-alike log records and metric points, timestamps hours off this
machine's clock, and records no column holds (rejected per ticket, never acknowledged); a batch
read while it commits; restarts; retention by age (at a clock the test sets) and by size; a
version-1 store upgraded at the start. After every step the public readers, on a second
connection, must agree with the model: everything acknowledged is readable until retention's rule
(by arrival) lets it go, nothing is stored or counted twice, nothing that differs is dropped as a
duplicate, a reader never sees part of a batch, a follower sees every record once.

Retention runs as the store's ``apply_retention`` with the writer stopped (as at a daemon's
start), so its clock can be set; the writer's own pass on a clock is
``test_store_retention.py``'s (a resend after it is stored again).

The budget is small in the fast tier; ``--hypothesis-profile=ci`` (``conftest.py``) runs longer.
``HANDOFF_MACHINE_STEPS=FILE`` appends each example's number of rule steps to FILE (for the
record of how much the machine ran).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from console.base.errors import RecordsRejected
from console.base.model import Hop, Record, Span
from console.dlq.query import list_dead_letters
from console.journeys import journey
from console.readers.logs import new_logs, recent_logs
from console.readers.metrics import gather
from console.readers.tail import tail
from console.store import Cursor, Store, StoreWriter, apply_retention
from console.store.sqlite import schema
from console.store.sqlite.deadletters import SqliteDeadLetters
from console.store.sqlite.reader import SqliteReader
from tests import stored
from tests.store_model import KINDS, Model, ident, trace_of
from tests.store_records import BASE, CIDS, HOUR_NS, arrived, bad_record, own, records
from tests.test_store_upgrade import _v1_store


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="store-machine-"))
        self.path = self.dir / "handoff.db"
        self.model = Model()
        self.cursor = {"logs": 0, "spans": 0, "hops": 0}
        self.seen: dict[str, Counter[tuple[Any, ...]]] = {k: Counter() for k in KINDS}
        self.n = 0  # for correlation ids of one batch
        self.refused: set[str] = set()  # correlation ids of refused requests
        self.writer: StoreWriter | None = None
        self.reader: sqlite3.Connection | None = None
        self.view: SqliteReader | None = None  # the store interface on that connection
        self.steps = 0

    # -- the store's life ------------------------------------------------------------------

    @initialize(v1=st.booleans())
    def open_store(self, v1: bool) -> None:
        """A fresh store, or a version-1 store upgraded by the writer's open."""
        if v1:
            expected = _v1_store(self.path, spans=6, hops=3, logs=2)
        self._open()
        if v1:
            old = stored.spans(self.path) + stored.hops(self.path) + stored.logs(self.path)
            assert Counter(ident(r)[0] for r in old) == {
                "spans": expected["spans"],
                "hops": expected["hops"],
                "logs": expected["log_records"],
            }
            self.model.acknowledged(old)

    def _open(self) -> None:
        self.store = Store.open(self.path)
        self.writer = self.store.writer(flush_ms=50)
        self.reader = self.store.connect(readonly=True)
        self.view = SqliteReader(self.reader)

    def _close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None
            self.view = None

    def teardown(self) -> None:
        self._close()
        shutil.rmtree(self.dir, ignore_errors=True)
        record = os.environ.get("HANDOFF_MACHINE_STEPS")  # a file: one line per example run
        if record:
            with open(record, "a") as f:
                f.write(f"{self.steps}\n")

    @rule()
    def restart(self) -> None:
        self.steps += 1
        self._close()
        self._open()

    # -- writes ----------------------------------------------------------------------------

    @rule(batch=records)
    def write(self, batch: list[Record]) -> None:
        self.steps += 1
        assert self.writer is not None
        batch = arrived(batch)
        self.writer.submit(batch).wait()
        self.model.acknowledged(batch)

    @rule(before=records, after=records, which=st.integers(0, 3), company=records)
    def write_beside_a_bad_record(
        self, before: list[Record], after: list[Record], which: int, company: list[Record]
    ) -> None:
        """Three requests in one group commit, the middle one holding a record no column
        holds: it alone is refused (none of its records stored), the others commit."""
        self.steps += 1
        assert self.writer is not None
        self.n += 1
        cid = f"bad-{self.n}"
        self.refused.add(cid)
        bad = [own(r, cid) for r in company] + [bad_record(which, cid)]
        before, after = arrived(before), arrived(after)
        tickets = [self.writer.submit(b) for b in (before, bad, after)]
        tickets[0].wait()
        with pytest.raises(RecordsRejected):
            tickets[1].wait()
        tickets[2].wait()
        self.model.acknowledged(before + after)

    @rule(n_spans=st.integers(1, 4), n_hops=st.integers(0, 3))
    def read_while_a_batch_commits(self, n_spans: int, n_hops: int) -> None:
        """A journey read on the second connection while its batch commits is whole or absent."""
        self.steps += 1
        assert self.writer is not None and self.view is not None
        self.n += 1
        cid = f"live-{self.n}"
        batch: list[Record] = [
            Span(trace_of(cid), f"{i + 1:016x}", f"op-{i}", BASE + i, BASE + i + 1, "svc-a",
                 correlation_id=cid)
            for i in range(n_spans)
        ]  # fmt: skip
        batch += [
            Hop("live", 0, self.n * 10 + i, 0, correlation_id=cid, trace_id=trace_of(cid))
            for i in range(n_hops)
        ]
        ticket = self.writer.submit(batch)
        while True:
            done = ticket.done
            j = journey(self.view, correlation_id=cid)
            if j is not None:
                assert (len(j.spans), len(j.hops)) == (n_spans, n_hops), "half a batch"
            if done:
                break
        ticket.wait()
        assert j is not None
        self.model.acknowledged(batch)

    # -- retention -------------------------------------------------------------------------

    @rule(data=st.data())
    def retain_by_age(self, data: st.DataObject) -> None:
        """Retention by age at a clock set so its cutoff falls between two batches: what
        arrived before it goes, what arrived after stays (pending dead letters stay)."""
        self.steps += 1
        if not self.model.epochs:
            return
        k = data.draw(st.integers(0, len(self.model.epochs) - 1), label="cutoff after batch")
        cutoff = self.model.epochs[k]
        self._close()
        conn = Store.open(self.path).connect()
        try:
            apply_retention(conn, max_age_s=3600, now_ns=cutoff + HOUR_NS)
        finally:
            conn.close()
        self._open()
        for kind in KINDS:
            if kind == "dead":
                continue
            gone = {key for key in self.model.held[kind] if self.model.batch_of(kind, key) <= k}
            self.model.forget(kind, gone)

    @rule(share=st.sampled_from((0.3, 0.6, 0.9)))
    def retain_by_size(self, share: float) -> None:
        """Retention by size: the oldest arrivals go first, whatever the records' own times."""
        self.steps += 1
        self._close()
        conn = Store.open(self.path).connect()
        try:
            apply_retention(conn, max_bytes=int(schema.live_bytes(conn) * share))
        finally:
            conn.close()
        self._open()
        now = self._stored()
        gone = {kind: self.model.keys(kind) - now[kind].keys() for kind in KINDS if kind != "dead"}
        last_gone = max((self.model.batch_of(k, key) for k, g in gone.items() for key in g),
                        default=-1)  # fmt: skip
        kept_early = [
            (kind, key, self.model.batch_of(kind, key))
            for kind in gone
            for key in now[kind]
            if key in self.model.held[kind] and self.model.batch_of(kind, key) < last_gone
        ]
        assert not kept_early, f"size retention kept {kept_early} but dropped batch {last_gone}"
        for kind, keys in gone.items():
            self.model.forget(kind, keys)

    # -- what readers see --------------------------------------------------------------------

    def _stored(self) -> dict[str, Counter[tuple[Any, ...]]]:
        """Every record the readers show, by kind and identity, on the second connection."""
        conn, view = self.reader, self.view
        assert conn is not None and view is not None
        out: dict[str, Counter[tuple[Any, ...]]] = {k: Counter() for k in KINDS}
        for cid in self.model.cids() | set(CIDS) | self.refused:
            j = journey(view, correlation_id=cid)
            for r in (j.spans + j.hops) if j is not None else ():
                if r.correlation_id == cid:
                    kind, key = ident(r)
                    out[kind][key] += 1
        out["logs"].update(ident(r)[1] for r in recent_logs(view, 0)[0])
        for acc in gather(view, 0, 2**63 - 1, None, None).values():
            for attrs, pts in acc.series.items():
                text = json.dumps(json.loads(attrs), sort_keys=True)
                out["metrics"].update(
                    (acc.service, acc.name, p.time_ns, text, p.value) for p in pts
                )
        out["dead"].update(
            (d.dlq_topic, d.partition, d.offset) for d in list_dead_letters(SqliteDeadLetters(conn))
        )
        return out

    @invariant()
    def readers_agree_with_the_model(self) -> None:
        if self.reader is None:
            return
        now = self._stored()
        for kind in KINDS:
            twice = {k: n for k, n in now[kind].items() if n > 1}
            assert not twice, f"{kind} shown twice: {twice}"
            missing = self.model.keys(kind) - now[kind].keys()
            assert not missing, f"{kind} acknowledged but not readable: {missing}"
            extra = now[kind].keys() - self.model.keys(kind)
            assert not extra, f"{kind} readable but never acknowledged: {extra}"
        counts = self.store.counts()
        assert {
            "spans": counts["spans"],
            "hops": counts["hops"],
            "logs": counts["log_records"],
            "metrics": counts["metric_points"],
            "dead": counts["dead_letters"],
        } == {k: len(self.model.held[k]) for k in KINDS}, "stats count what is not one record"

    @invariant()
    def followers_see_every_record_once(self) -> None:
        """``logs --follow`` and the tail, paging by their cursors, see each record stored once
        (a record retention removed and a sender resent is a new record)."""
        if self.view is None:
            return
        while True:
            got, top = new_logs(self.view, Cursor(self.cursor["logs"]))
            self.seen["logs"].update(ident(r)[1] for r in got)
            if top == self.cursor["logs"]:
                break
            self.cursor["logs"] = top
        batch = tail(self.view, self.cursor["spans"], self.cursor["hops"], limit=10_000)
        self.cursor["spans"], self.cursor["hops"] = batch.last_span_id, batch.last_hop_id
        self.seen["spans"].update((s.trace_id, s.start_ns) for s in batch.spans)
        self.seen["hops"].update((h.topic, h.partition, h.offset) for h in batch.hops)
        for kind in ("logs", "spans", "hops"):
            assert self.seen[kind] == self.model.followed[kind], f"{kind} follower"


def _budget() -> settings:
    """Small in the fast tier; the ``ci`` profile's own budget under ``--hypothesis-profile=ci``."""
    common: dict[str, Any] = {
        "deadline": None,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    }
    if settings.get_current_profile_name() == "ci":
        return settings(settings.default, **common)
    return settings(max_examples=30, stateful_step_count=30, **common)


StoreMachine.TestCase.settings = _budget()
# The ci profile's 100 examples take 1.5-3.5 min here, and shrinking a failure as long again: more
# than the suite's 300 s a test.
TestStoreMachine = pytest.mark.timeout(900)(StoreMachine.TestCase)
