"""The replay lock a store keeps (``DeadLetters.take_lock``): one holder at a time, however many
ask at once; a dead holder's lock is taken over. On SQLite it is a transaction; on ClickHouse,
claims in ``handoff_locks`` (console/store/clickhouse/locks.py)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import pytest

from console.store import DeadLetters, Storage

BACKENDS = ("sqlite", "chdb")  # every test on both stores (tests/conftest.py)
LOCK = "replay_lock"


@pytest.fixture
def handles(store: Storage) -> Iterator[list[DeadLetters]]:
    """Six handles on the store, as six replays would each open one."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(contextlib.closing(store.dead_letters())) for _ in range(6)]


def _everyone_alive(holder: str) -> bool:
    return True


def test_many_ask_at_once_one_holds_the_others_are_told_who(handles: list[DeadLetters]) -> None:
    start = threading.Barrier(len(handles))
    answers: dict[str, str | None] = {}

    def ask(i: int, handle: DeadLetters) -> None:
        start.wait()
        answers[f"holder-{i}"] = handle.take_lock(LOCK, f"holder-{i}", _everyone_alive)

    threads = [threading.Thread(target=ask, args=(i, h)) for i, h in enumerate(handles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    holders = [me for me, held_by in answers.items() if held_by is None]
    assert len(answers) == len(handles)
    assert len(holders) == 1, answers
    [holder] = holders
    assert {held_by for me, held_by in answers.items() if me != holder} == {holder}

    # Released, the next one takes it; the one holding it is named to anyone else.
    handles[int(holder.rpartition("-")[2])].release_lock(LOCK, holder)
    assert handles[0].take_lock(LOCK, "next", _everyone_alive) is None
    assert handles[1].take_lock(LOCK, "late", _everyone_alive) == "next"


def test_a_dead_holders_lock_is_taken_over(handles: list[DeadLetters]) -> None:
    assert handles[0].take_lock(LOCK, "crashed", _everyone_alive) is None
    assert handles[1].take_lock(LOCK, "me", _everyone_alive) == "crashed"
    assert handles[1].take_lock(LOCK, "me", lambda holder: holder != "crashed") is None
    assert handles[2].take_lock(LOCK, "third", _everyone_alive) == "me"


@pytest.mark.backends("chdb")
def test_a_claim_whose_heartbeat_stopped_is_let_go_after_its_lease(
    store: Storage, handles: list[DeadLetters]
) -> None:
    """A holder on another host that died: no ``alive`` can see it, its lease can."""
    from console.store.clickhouse.handoff_schema import LOCKS
    from console.store.clickhouse.locks import LEASE_S
    from console.store.clickhouse.storage import ClickHouseStorage

    assert isinstance(store, ClickHouseStorage)
    beat = time.time_ns() - int(LEASE_S * 1e9) - 1_000_000_000
    client = store.new_client()
    try:
        client.insert(
            store.table(LOCKS),
            [[LOCK, "t-gone", "elsewhere:1", beat, beat, 0, 1]],
            column_names=["Name", "Token", "Holder", "Claimed", "Heartbeat", "Released", "Version"],
        )
    finally:
        client.close()
    assert handles[0].take_lock(LOCK, "me", _everyone_alive) is None
    assert handles[1].take_lock(LOCK, "other", _everyone_alive) == "me"
