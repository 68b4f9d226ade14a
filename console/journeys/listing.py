"""``journeys()``: the recent journeys with their status, fast on a big store.

Two passes. A light pass reads only summaries kept at ingest: ``journey_activity`` (per
correlation id and minute: the last activity, an error span, a dead letter) and
``pending_sends`` (messages the tap saw that no consumer has named yet). It gives every
correlation id a tentative status: a dead letter -> dead_lettered/replayed; a pending send ->
stalled/in_flight; an error span -> failed; else completed. The stalled search reads only the
pending sends. Then, most recent first, ``journey()`` confirms each candidate whose tentative status
matches the filter until ``limit`` are found, so the summaries agree exactly with ``trace``:
``journey()`` stays the judge. Journeys without a correlation id are not listed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from console.base.errors import InputError
from console.journeys.assemble import journey
from console.journeys.types import STATUSES, JourneySummary
from console.store.api import Candidate, JourneyLookup, Opens, Storage, StoreReader

__all__ = [
    "DEFAULT_SINCE_S",
    "StalledOnTopic",
    "journeys",
    "journeys_on_topic",
    "recent_cids_on_topic",
    "stalled_by_topic",
]

DEFAULT_SINCE_S = 3600.0
_AHEAD = 50  # journeys read ahead at a time (``JourneyLookup.prefetch``)


def _tentative(c: Candidate, now_ns: int, stall_ns: int) -> str:
    """A candidate's status from the summaries alone (``journey()`` confirms it)."""
    if c.dead:
        return "dead_lettered"
    if c.pending_ns is not None:
        return "stalled" if now_ns - c.pending_ns > stall_ns else "in_flight"
    return "failed" if c.error else "completed"


def journeys(
    store: Storage | StoreReader,
    status: str | None = None,
    since_s: float | None = None,
    service: str | None = None,
    limit: int = 50,
    stall_after_s: float = 30,
    now_ns: int | None = None,
) -> list[JourneySummary]:
    """Journeys with activity in the last ``since_s`` seconds (default an hour), most recent
    first, optionally only those with ``status`` or touching ``service``."""
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    now = time.time_ns() if now_ns is None else now_ns
    since_ns = now - int((DEFAULT_SINCE_S if since_s is None else since_s) * 1e9)
    reader = store.reader() if isinstance(store, Opens) else store
    try:
        with reader.reading():  # one block: what it reads ahead serves every journey in it
            return _listed(reader, status, since_ns, service, limit, stall_after_s, now)
    finally:
        if reader is not store:
            reader.close()


def _listed(
    reader: StoreReader,
    status: str | None,
    since_ns: int,
    service: str | None,
    limit: int,
    stall_after_s: float,
    now: int,
) -> list[JourneySummary]:
    pending_only = status in ("stalled", "in_flight")
    lights = reader.candidates(since_ns, pending_only)
    stall_ns = int(stall_after_s * 1e9)
    order = sorted(lights.items(), key=lambda kv: kv[1].last_ns, reverse=True)
    wanted = [cid for cid, light in order if _may_be(status, light, now, stall_ns)]
    out: list[JourneySummary] = []
    for i, cid in enumerate(wanted):
        if i % _AHEAD == 0:  # the next journeys' records, read in bulk where that helps
            reader.prefetch(wanted[i : i + _AHEAD])
        j = journey(reader, correlation_id=cid, stall_after_s=stall_after_s, now_ns=now)
        if j is None or (status is not None and j.status != status):
            continue
        if service is not None and service not in j.services:
            continue
        out.append(j.summary())
        if len(out) >= limit:
            break
    return out


def _may_be(status: str | None, light: Candidate, now: int, stall_ns: int) -> bool:
    """Whether a candidate may turn out to have ``status`` (``journey()`` judges)."""
    if status is None:
        return True
    guess = _tentative(light, now, stall_ns)
    # A pending send is only a candidate: a consumer span that names no offset never clears
    # it, so such a journey may still turn out completed or failed. An error span is only a
    # candidate too: a retry that worked recovers it.
    maybe = (
        (status == "replayed" and guess == "dead_lettered")
        or (status in ("completed", "failed") and guess in ("stalled", "in_flight"))
        or (status == "completed" and guess == "failed")
    )
    return guess == status or maybe


def journeys_on_topic(
    store: StoreReader,
    topic: str,
    status: str | None = None,
    limit: int = 100,
    stall_after_s: float = 30,
    now_ns: int | None = None,
) -> list[JourneySummary]:
    """The newest journeys that crossed ``topic`` (or were dead-lettered to it), optionally only
    those with ``status``, newest first."""
    out = []
    with store.reading():
        cids = recent_cids_on_topic(store, topic, limit)
        store.prefetch(cids)
        for cid in cids:
            j = journey(store, correlation_id=cid, stall_after_s=stall_after_s, now_ns=now_ns)
            if j is not None and (status is None or j.status == status):
                out.append(j.summary())
    return out


def recent_cids_on_topic(store: JourneyLookup, topic: str, limit: int) -> list[str]:
    """The correlation ids of the newest journeys that crossed ``topic`` or were dead-lettered to
    it, newest first."""
    return store.recent_journeys_on_topic(topic, limit)


@dataclass(frozen=True, slots=True)
class StalledOnTopic:
    """Sends on ``topic`` nobody took for longer than the stall limit (``waiting``: messages,
    from the pending sends), how many of the newest journeys among them ``journey()`` confirmed
    stalled (``confirmed``, it checks until ``enough``), and the groups that should take them."""

    topic: str
    waiting: int
    confirmed: int
    groups: tuple[str, ...]


def stalled_by_topic(
    store: StoreReader,
    stall_after_s: float,
    now_ns: int,
    enough: int = 1,
    since_s: float = DEFAULT_SINCE_S,
) -> list[StalledOnTopic]:
    """Per topic, the journeys stalled on it, for the alert rules: one scan of the pending sends
    (as ``journeys(status="stalled")``'s light pass), then ``journey()`` judges the newest of each
    topic until ``enough`` are confirmed (a pending send is only a candidate), never more than
    ``enough + 10``, so a topic costs a few journeys however many wait there."""
    window = (now_ns - int(since_s * 1e9), now_ns - int(stall_after_s * 1e9))
    out = []
    for topic, waiting, newest in store.waiting_sends(*window, newest=enough + 10):
        confirmed = 0
        groups: tuple[str, ...] = ()
        for cid in newest:
            j = journey(store, correlation_id=cid, stall_after_s=stall_after_s, now_ns=now_ns)
            if j is not None and j.status == "stalled":
                confirmed += 1
                groups = groups or j.groups
                if confirmed >= enough:
                    break
        out.append(StalledOnTopic(topic, waiting, confirmed, groups))
    return out
