"""OffsetTracker: which offsets the tap may commit (collectors/kafka/offsets.py). Fast tier.

The tickets are the store's real ``Ticket``s, resolved here as the writer resolves them.
"""

from __future__ import annotations

import time

import pytest

from collectors.kafka.offsets import OffsetTracker
from console.base.errors import RecordsRejected, StoreError, StoreUnavailable
from console.base.sink import Ticket

P0 = ("orders", 0)
P1 = ("orders", 1)


def _read(tracker: OffsetTracker, partition: tuple[str, int], first: int, last: int) -> None:
    for offset in range(first, last + 1):
        tracker.read(partition, offset)


def test_a_later_ticket_committed_first_lets_nothing_through_until_the_earlier_one_is() -> None:
    tracker = OffsetTracker()
    _read(tracker, P0, 0, 19)
    first, second = Ticket(10), Ticket(10)
    tracker.handed(first, {P0: 10}, hops=10)
    tracker.handed(second, {P0: 20}, hops=10)
    second.resolve()  # the store finished the later batch first
    taken = tracker.take()
    assert taken == {P0: 20}
    with pytest.raises(StoreUnavailable):
        tracker.settle(taken, timeout=0.05)  # the first batch is not stored yet: no commit
    assert tracker.counts().hops == 0
    assert tracker.rewind("not stored in time") == {P0: 0}  # read again from the start


def test_tickets_committed_out_of_order_commit_the_highest_offset_and_count_both() -> None:
    tracker = OffsetTracker()
    _read(tracker, P0, 0, 19)
    _read(tracker, P1, 0, 4)
    first, second = Ticket(10), Ticket(15)
    tracker.handed(first, {P0: 10}, hops=10)
    tracker.handed(second, {P0: 20, P1: 5}, hops=14, dead_letters=1, by_signal={"hops": 14})
    second.resolve()
    first.resolve()
    taken = tracker.take()
    tracker.settle(taken)
    assert taken == {P0: 20, P1: 5}
    counts = tracker.counts()
    assert (counts.hops, counts.dead_letters, counts.by_signal) == (24, 1, {"hops": 14})
    assert tracker.resume_positions() == {P0: 20, P1: 5}
    assert tracker.take() == {}  # nothing handed over since


def test_a_failed_ticket_commits_nothing_and_rewinds_to_what_the_store_last_committed() -> None:
    tracker = OffsetTracker()
    _read(tracker, P0, 0, 9)
    stored = Ticket(10)
    tracker.handed(stored, {P0: 10}, hops=10)
    stored.resolve()
    tracker.settle(tracker.take())
    _read(tracker, P0, 10, 29)
    failed, ok = Ticket(10), Ticket(10)
    tracker.handed(failed, {P0: 20}, hops=10)
    tracker.handed(ok, {P0: 30}, hops=10)
    failed.resolve(StoreUnavailable("disk full", retry_after_s=1.0))
    ok.resolve()
    with pytest.raises(StoreError, match="disk full"):
        tracker.settle(tracker.take())
    counts = tracker.counts()
    assert counts.hops == 10  # the first batch only: the rest is read again, then counted
    assert tracker.rewind("disk full") == {P0: 10}
    after = tracker.counts()
    assert (after.store_error, after.rewinds) == ("disk full", 1)
    assert tracker.take() == {}  # what was handed over since the last commit is forgotten


def test_a_rejected_ticket_is_a_store_error_too() -> None:
    tracker = OffsetTracker()
    ticket = Ticket(1)
    tracker.handed(ticket, {P0: 1}, hops=1)
    ticket.resolve(RecordsRejected("out of range"))
    with pytest.raises(StoreError):
        tracker.settle(tracker.take())


def test_a_successful_settle_clears_the_store_error() -> None:
    tracker = OffsetTracker()
    tracker.rewind("I/O error")
    tracker.handed(Ticket.completed(1), {P0: 1}, hops=1)
    tracker.settle(tracker.take())
    assert tracker.counts().store_error is None


def test_a_failed_kafka_commit_is_committed_with_the_next_offsets() -> None:
    tracker = OffsetTracker()
    tracker.handed(Ticket.completed(10), {P0: 10, P1: 3})
    taken = tracker.take()
    tracker.settle(taken)
    tracker.handed(Ticket.completed(5), {P0: 15})
    tracker.requeue(taken)  # the broker refused the commit: the records are stored
    assert tracker.take() == {P0: 15, P1: 3}  # a requeued offset never lowers a newer one


def test_a_revoke_commits_only_the_revoked_partitions_and_forgets_their_positions() -> None:
    tracker = OffsetTracker()
    _read(tracker, P0, 5, 9)
    _read(tracker, P1, 7, 9)
    tracker.handed(Ticket.completed(8), {P0: 10, P1: 10})
    taken = tracker.take(only={P0})
    assert taken == {P0: 10}
    tracker.settle(taken)
    tracker.revoked([P0])
    assert tracker.pending() == {P1: 10}  # still to commit for the partition kept
    assert tracker.resume_positions() == {P1: 10}  # stored, so read again from 10 at worst
    tracker.read(P0, 42)  # P0 assigned again later, elsewhere in the log
    assert tracker.resume_positions()[P0] == 42


def test_a_new_assignment_forgets_a_stale_position() -> None:
    tracker = OffsetTracker()
    _read(tracker, P0, 100, 110)
    tracker.assigned([P0])
    tracker.read(P0, 3)
    assert tracker.resume_positions() == {P0: 3}


def test_lost_partitions_are_never_committed() -> None:
    tracker = OffsetTracker()
    _read(tracker, P0, 0, 9)
    _read(tracker, P1, 0, 9)
    tracker.handed(Ticket.completed(20), {P0: 10, P1: 10})
    tracker.lost([P1])
    assert tracker.take() == {P0: 10}
    assert tracker.resume_positions() == {P0: 0}


def test_offsets_handed_over_for_a_revoked_partition_are_not_committed_until_it_is_back() -> None:
    """A batch fetched before a rebalance (or held back while the store was overloaded) may be
    handed over after its partition was revoked: its next owner has it now, from the offset
    committed at the revoke, and this consumer must not commit over it."""
    tracker = OffsetTracker()
    tracker.assigned([P0, P1])
    tracker.handed(Ticket.completed(10), {P0: 10, P1: 10})
    taken = tracker.take(only={P0})
    tracker.settle(taken)
    tracker.revoked([P0])
    tracker.handed(Ticket.completed(5), {P0: 15, P1: 12})
    assert tracker.take() == {P1: 12}
    tracker.assigned([P0])  # back again: from its committed offset, 10
    tracker.handed(Ticket.completed(5), {P0: 15})
    assert tracker.take() == {P0: 15}


def test_settle_waits_its_timeout_in_all_however_many_tickets() -> None:
    tracker = OffsetTracker()
    for i in range(20):
        tracker.handed(Ticket(1), {P0: i + 1}, hops=1)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        tracker.settle(tracker.take(), timeout=0.2)
    assert time.monotonic() - started < 2.0  # not 20 x 0.2 s
