"""A lock on a ClickHouse store without a transaction: claims in ``handoff_locks``.

ClickHouse has no compare-and-set, but an INSERT that has returned is seen by every read that
starts after it (one server; on a replicated cluster, with ``insert_quorum`` and
``select_sequential_consistency``). That is enough for mutual exclusion by claims:

1. write a claim (a token of its own, the holder, a heartbeat);
2. read every live claim on the name;
3. no other: held (the claim is written again, saying so). Another: take the claim back
   (written again, released) and refuse.

Two claimants cannot both win: each reads after its own claim returned, so whichever of the two
reads last sees the other's claim (unless that one was taken back). Both may lose when they
claim at the same moment: a loser looks again after random short whiles; a claim that says it
is held is the holder (refused, naming it); when the name is free, it tries again (a few
times, then refuses). Never two holders; rarely, two refusals at once.

A claim is live while its holder is (``alive``: a process on this host) and its heartbeat is
fresh: the holder writes it again every ``HEARTBEAT_S`` from a thread of its own, so a holder
killed on another host, which no ``alive`` can see, lets go after ``LEASE_S``. A claim whose
holder ``alive`` says is gone is written released by whoever sees it (taken over).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from console.store.clickhouse.connect import engine_error
from console.store.clickhouse.handoff_schema import LOCKS
from console.store.clickhouse.session import Session

__all__ = ["HEARTBEAT_S", "LEASE_S", "Claims"]

LEASE_S = 120.0  # a claim whose heartbeat is older is let go
HEARTBEAT_S = 10.0
_ATTEMPTS = 5
_CLAIMED, _HELD = 1, 2  # a claim's versions: claimed, then held (heartbeats count on from 2)
_LAST = 2**62  # a released claim's version: above any heartbeat's
_COLUMNS = ["Name", "Token", "Holder", "Claimed", "Heartbeat", "Released", "Version"]


class _Claim(NamedTuple):
    token: str
    holder: str
    version: int


class Query(Protocol):
    def __call__(self, sql: str, **params: Any) -> Sequence[Sequence[Any]]: ...


class Claims:
    """The claims one ``DeadLetters`` handle holds (``take``, ``release``, ``close``)."""

    def __init__(self, session: Session, query: Query) -> None:
        self._session = session
        self._query = query  # the handle's own client
        self._held: dict[tuple[str, str], _Heartbeat] = {}  # (name, holder) -> its heartbeat

    def take(self, name: str, holder: str, alive: Callable[[str], bool]) -> str | None:
        """Hold ``name`` as ``holder`` (None), or the holder of a live claim on it."""
        others: list[_Claim] = []
        for _ in range(_ATTEMPTS):
            token = uuid.uuid4().hex
            claimed = time.time_ns()
            _write(self._session, [_row(name, token, holder, claimed, claimed, 0, _CLAIMED)])
            others = self._live(name, alive, but=token)
            if not others:
                # Held: said so (a claimant that lost tells this claim from another claimant's).
                _write(
                    self._session, [_row(name, token, holder, claimed, time.time_ns(), 0, _HELD)]
                )
                beat = _Heartbeat(self._session, name, token, holder, claimed)
                self._held[(name, holder)] = beat
                beat.start()
                return None
            _write(self._session, [_row(name, token, holder, claimed, time.time_ns(), 1, _LAST)])
            held = self._held_by(name, alive, but=token)
            if held is not None:
                return held
        return others[0].holder  # a claimant at the same moment each time: refused, never both

    def _held_by(self, name: str, alive: Callable[[str], bool], *, but: str) -> str | None:
        """The holder of ``name`` once it says so; None when the name is free, or when only
        claimants came and went while this looked (a few random short whiles)."""
        for _ in range(_ATTEMPTS):
            time.sleep(random.uniform(0.05, 0.3))
            now = self._live(name, alive, but=but)
            if not now:
                return None
            held = [c.holder for c in now if c.version >= _HELD]
            if held:
                return held[0]
        return None

    def release(self, name: str, holder: str) -> None:
        beat = self._held.pop((name, holder), None)
        if beat is not None:
            beat.stop(release=True)

    def close(self) -> None:
        """Stop every heartbeat (claims not released expire after ``LEASE_S``)."""
        for beat in self._held.values():
            beat.stop(release=False)
        self._held.clear()

    def _live(self, name: str, alive: Callable[[str], bool], *, but: str) -> list[_Claim]:
        """The live claims on ``name`` but token ``but``, oldest first. A
        claim whose holder ``alive`` says is gone is released (taken over, as a row replaced)."""
        rows = self._query(
            f"SELECT Token, Holder, toUnixTimestamp64Nano(Claimed), Version"
            f" FROM {self._session.table(LOCKS)} FINAL"
            " WHERE Name = {name:String} AND Token != {but:String} AND Released = 0"
            " AND Heartbeat >= fromUnixTimestamp64Nano(toInt64({fresh:Int64}))"
            " ORDER BY Claimed, Token",
            name=name,
            but=but,
            fresh=time.time_ns() - int(LEASE_S * 1e9),
        )
        live = [_Claim(str(t), str(h), int(v)) for t, h, _, v in rows if alive(str(h))]
        gone = [(str(t), str(h), int(c)) for t, h, c, _ in rows if not alive(str(h))]
        if gone:
            now = time.time_ns()
            _write(self._session, [_row(name, t, h, c, now, 1, _LAST) for t, h, c in gone])
        return live


class _Heartbeat:
    """Writes one claim again every ``HEARTBEAT_S`` until stopped (then, released)."""

    def __init__(self, session: Session, name: str, token: str, holder: str, claimed: int):
        self._session = session
        self._claim = (name, token, holder, claimed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lock-{name}", daemon=True)
        self._version = _HELD

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            self._version += 1
            try:
                _write(self._session, [_row(*self._claim, time.time_ns(), 0, self._version)])
            except Exception:  # the next beat tries again; the lease covers a few misses
                continue

    def stop(self, *, release: bool) -> None:
        self._stop.set()
        self._thread.join()
        if release:
            _write(self._session, [_row(*self._claim, time.time_ns(), 1, _LAST)])


def _row(
    name: str, token: str, holder: str, claimed: int, beat: int, released: int, version: int
) -> list[Any]:
    return [name, token, holder, claimed, beat, released, version]


def _write(session: Session, rows: list[list[Any]]) -> None:
    client = session.new_client()
    try:
        client.insert(
            session.table(LOCKS), rows, column_names=_COLUMNS, settings={"async_insert": 0}
        )
    except Exception as exc:
        raise engine_error(session.target, exc) from exc
    finally:
        client.close()
