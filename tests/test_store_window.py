"""The writer's duplicates window keeps to its budget in bytes, and the budget follows
``--retention-bytes`` (issue 24, fault 12: after the first minute of the 10-minute soak, the
windows filling for minutes were most of ``serve``'s growth under a 40 MB bound)."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from console.store import Store
from console.store.sqlite.dedupe import Window
from tests.test_store import NOW, make_span

BUDGET = 1 << 20  # bytes


def _span_ids(batch: int) -> list[Any]:
    return [(os.urandom(16), os.urandom(8)) for _ in range(500)]


def _hop_ids(batch: int) -> list[Any]:
    # Strings as the Kafka client hands them over: a new object with every message.
    return [
        ("".join(["cluster-", "q5Xb2"]), "".join(["shop.orders.", "placed"]), 3, batch * 500 + i)
        for i in range(500)
    ]


def _hashed_ids(batch: int) -> list[Any]:  # log records and metric points
    return [hash(os.urandom(8)) for _ in range(500)]


@pytest.mark.parametrize(
    "make", [_span_ids, _hop_ids, _hashed_ids], ids=["spans", "hops", "logs-and-metrics"]
)
def test_a_window_holds_no_more_bytes_than_its_budget(make: Callable[[int], list[Any]]) -> None:
    """300 batches of 500 new identities through a 1 MiB window: the memory it holds (traced,
    the identities and the sets' tables) never passes 1 MiB, and the newest batch is still in
    it. (Before: the sets' tables were counted at 24 bytes an entry and a batch could overshoot
    half the budget; a 4 MiB window of hashed identities held 6.4 MiB, of spans 4.4 MiB.)"""
    window = Window(BUDGET)
    held: list[int] = []
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for b in range(300):
            ids = make(b)
            window.add_all(ids, [b])
            last = ids
            del ids
            held.append(tracemalloc.get_traced_memory()[0] - base - _list_bytes(last))
    finally:
        tracemalloc.stop()
    assert max(held) <= BUDGET, f"{max(held) / 2**20:.2f} MiB held by a 1 MiB window"
    assert all(i in window for i in last)
    assert window.covers(299)


def _list_bytes(ids: list[Any]) -> int:
    """What the test's own last batch takes (it is alive while measured)."""
    import sys

    return sys.getsizeof(ids) + sum(
        sys.getsizeof(i) + (sum(sys.getsizeof(x) for x in i) if isinstance(i, tuple) else 0)
        for i in ids
    )


def test_a_writer_under_a_40mb_bound_holds_a_window_sized_to_it(store: Store) -> None:
    """A writer with ``retention_bytes`` 40 MB (the soak's bound): from its first 2,000 spans to
    60,000, what the process holds grows by less than 2 MiB (the spans' window is a thirty-second
    of the bound; before, 4 MiB a kind, it grew by 4.2 MiB over the same spans; now 0.6 MiB)."""
    held: list[int] = []
    tracemalloc.start()
    try:
        with store.writer(retention_bytes=40_000_000) as w:
            for b in range(30):
                w.submit([make_span(b * 2000 + i, start=NOW + b) for i in range(2000)]).wait(30)
                held.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert store.counts()["spans"] == 60_000  # a smaller window drops nothing that differs
    growth = max(held) - held[0]
    assert growth < 2 * 2**20, f"{growth / 2**20:.2f} MiB"
