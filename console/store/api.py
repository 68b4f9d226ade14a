"""What the product asks of storage, whatever engine keeps it.

Readers (``console/readers/``, ``console/journeys/``), the CLI and the TUI hold these protocols,
never a connection; every statement of SQL lives behind them (``console/store/sqlite/`` and
``console/store/clickhouse/``). Nothing here is a table, a rowid, a block or a transaction of one
engine:

* a ``Cursor`` is an opaque position in one record kind's arrival order. A caller keeps the one
  it was given, compares two of the same kind (the newer is the greater) and hands it back; it
  never computes with one. ``Cursor(0)`` is "before everything".
* ``StoreReader.reading()`` is an opaque snapshot: the reads inside one ``with`` block see the
  store as of one commit (a journey never shows a hop whose span is not there yet). Blocks
  nest; outside one, each read is its own.

The protocols, by what they serve:

* ``Storage``: one store (``console.store.open_store``): its ``Writer`` (submit, with tickets:
  ``console/base/sink.py``), synchronous writes, counts, readers.
* ``StoreReader``: ``JourneyLookup`` (journeys by correlation id, trace id, coordinates or key,
  candidates by status in a window), ``PanelReads`` (series per service and per topic, groups and
  lag, freshness), ``SignalReads`` (logs and metric points in a window, followers, the tail).
* ``AlertReads`` (part of ``StoreReader``): series over a window and services' last span for the
  alert rules, the alerts' state and their events after a cursor; ``Storage.change_alerts``
  writes one evaluation's states and events as one transaction.
* ``DeadLetters`` (``console/store/deadletters_api.py``): dead letters by filter, fixes, the
  replay ledger and the audit, each write that must land together one method (a fix and its
  audit line, acks with the dead letters' status and their audit lines, the replay lock).
  ``Storage.dead_letters()`` hands one out; the dead-letter service (``console/dlq/service.py``)
  holds it, never the engine's own class.

One room past 400 lines: it is the whole interface the engines implement and the rooms above
them hold, with the values it passes; split, each engine would import every part anyway.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NewType, Protocol, TypedDict, cast, runtime_checkable

from console.base.model import DeadLetter, Hop, LogRecord, Record, ReplayEntry, Span
from console.base.sink import Ticket
from console.store.deadletters_api import DeadLetters

__all__ = [
    "AlertChanges",
    "AlertReads",
    "AlertRow",
    "Candidate",
    "Cursor",
    "DeadLetters",
    "Freshness",
    "JourneyLookup",
    "LatestValue",
    "MetricSample",
    "Opens",
    "PanelReads",
    "RollupCell",
    "SignalReads",
    "Storage",
    "StoreCounts",
    "StoreExtent",
    "StoreReader",
    "Tailed",
    "Writer",
    "reading",
]

Cursor = NewType("Cursor", int)


class StoreCounts(TypedDict):
    """What ``stats`` prints (``stats --json`` has these keys)."""

    spans: int
    metric_points: int
    log_records: int
    hops: int
    dead_letters: int
    services: list[str]
    per_service: dict[str, dict[str, int]]
    topics: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class StoreExtent:
    """What the store holds, whatever the window: counts and the newest record's time."""

    spans: int
    hops: int
    first_ns: int | None
    last_ns: int | None


@dataclass(slots=True)
class Candidate:
    """A journey with activity in a window, judged from summaries kept at ingest (no records
    read): its last activity, an error or dead letter seen, its oldest pending send."""

    last_ns: int = 0
    pending_ns: int | None = None
    error: bool = False
    dead: bool = False


@dataclass(frozen=True, slots=True)
class RollupCell:
    """One service's entry spans in one rollup interval starting at ``start_ns``: how many, how
    many failed, and their durations as a histogram (bin code -> count)."""

    service: str
    start_ns: int
    entries: int
    errors: int
    bins: dict[int, float]


@dataclass(frozen=True, slots=True)
class LatestValue:
    """The newest value of one series (``name`` about ``subject``, e.g. a topic; ``detail`` e.g.
    ``group/partition``) in a window."""

    name: str
    subject: str
    detail: str
    value: float


@dataclass(frozen=True, slots=True)
class Freshness:
    """When each source last wrote (ns; None: never) and how many services are known."""

    last_span_ns: int | None
    last_hop_ns: int | None
    last_series_ns: int | None
    services: int


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One stored metric point: its metric (service, name, kind, unit), its series (the
    attributes' JSON text) and the point's fields."""

    service: str
    name: str
    kind: str
    unit: str
    series: str
    time_ns: int
    start_ns: int
    value: float | None
    count: int | None
    sum: float | None
    bounds: tuple[float, ...] | None
    buckets: tuple[int, ...]
    scale: int | None
    zero: int
    pos_offset: int
    pos: tuple[int, ...]
    neg_offset: int
    neg: tuple[int, ...]
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class Tailed:
    """The newest records after three cursors, oldest first, each with its own cursor, and the
    cursor of the newest record of each kind (where the next call carries on)."""

    spans: Sequence[tuple[Cursor, Span]]
    hops: Sequence[tuple[Cursor, Hop]]
    logs: Sequence[tuple[Cursor, LogRecord]]
    last_span: Cursor
    last_hop: Cursor
    last_log: Cursor


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert's episode (``alert_state``) or one change (``alert_events``: ``time_ns``)."""

    rule: str
    labels: str  # sorted JSON: the alert's identity
    state: str  # pending, firing, resolved
    active_since_ns: int
    fired_ns: int | None
    resolved_ns: int | None
    value: float | None
    summary: str
    doc: str  # JSON object
    time_ns: int | None = None
    event_id: Cursor | None = None  # an ``alert_events`` row's id (its order of writing)


@dataclass(frozen=True, slots=True)
class AlertChanges:
    """What one alert evaluation writes, all or nothing: every alert's new state, the
    ``(rule, labels)`` of those gone, and each firing or resolution with its time (ns)."""

    states: Sequence[AlertRow]
    gone: Sequence[tuple[str, str]]
    events: Sequence[tuple[AlertRow, int]]


class JourneyLookup(Protocol):
    """The records a journey is assembled from, found by what a user knows of it."""

    def spans(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Span]: ...
    def hops(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Hop]: ...
    def logs(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[LogRecord]: ...
    def hops_at(self, topic: str, partition: int, offset: int) -> list[Hop]: ...
    def linking_traces(self, trace_ids: Iterable[str]) -> set[str]: ...
    def by_key(self, value: str | bytes) -> tuple[list[Span], list[Hop]]: ...
    def dead_letters_at(self, topic: str, partition: int, offset: int) -> list[DeadLetter]: ...
    def dead_letters_of(
        self, cids: Iterable[str] = (), trace_ids: Iterable[str] = ()
    ) -> list[DeadLetter]: ...
    def replays_of(self, letter: DeadLetter) -> list[ReplayEntry]: ...
    def consumer_groups(self, topic: str) -> list[str]: ...
    def recent_journeys_on_topic(self, topic: str, limit: int) -> list[str]:
        """Correlation ids of the newest journeys that crossed ``topic`` or were dead-lettered
        to it, newest first."""
        ...

    def waiting_sends(
        self, since_ns: int, until_ns: int, newest: int
    ) -> list[tuple[str, int, list[str]]]:
        """Per topic, the sends in ``[since_ns, until_ns)`` nobody took yet: ``(topic, how many
        messages, the correlation ids of up to ``newest`` of them, newest first)``."""
        ...

    def candidates(self, since_ns: int, pending_only: bool = False) -> dict[str, Candidate]:
        """Per correlation id with activity since ``since_ns``; ``pending_only`` reads only the
        pending sends (enough to find the stalled and in-flight ones)."""
        ...

    def prefetch(self, cids: Collection[str]) -> None:
        """A hint: the journeys of ``cids`` are read next, inside this ``reading()`` block. A
        backend whose every lookup is a round trip (ClickHouse) reads their records in bulk
        here; SQLite has nothing to gain and ignores it. Answers never change, only their
        cost."""
        ...


class PanelReads(Protocol):
    """The overview's series: per service, per topic, and how fresh each source is."""

    def service_rollups(self, since_ns: int, until_ns: int) -> list[RollupCell]: ...
    def latest_values(
        self, names: Collection[str], since_ns: int, until_ns: int | None = None
    ) -> list[LatestValue]: ...
    def series_averages(
        self, name: str, slot_ns: int, since_ns: int, until_ns: int
    ) -> list[tuple[str, int, float]]:
        """``(subject, slot, value)`` per slot (slot = time_ns // slot_ns): each detail's mean
        in the slot, added up over the details (N taps' rates of one topic add up)."""
        ...

    def extent(self) -> StoreExtent: ...
    def freshness(self) -> Freshness: ...


class SignalReads(Protocol):
    """Logs and metric points in a window, and followers that carry on from a cursor."""

    def logs_between(
        self,
        since_ns: int,
        until_ns: int | None = None,
        *,
        keep: Callable[[LogRecord], bool] | None = None,
        limit: int | None = None,
    ) -> list[tuple[Cursor, LogRecord]]: ...
    def last_cursor(self, kind: type[Span] | type[Hop] | type[LogRecord]) -> Cursor: ...
    def logs_after(self, after: Cursor, limit: int) -> list[tuple[Cursor, LogRecord]]: ...
    def tail(self, after: tuple[Cursor, Cursor, Cursor], limit: int) -> Tailed: ...
    def metric_samples(
        self,
        since_ns: int,
        until_ns: int,
        *,
        service: str | None = None,
        name: str | None = None,
        exclude: Collection[str] = (),
    ) -> list[MetricSample]: ...
    def metric_services(self, since_ns: int) -> list[tuple[str, int]]: ...


class AlertReads(Protocol):
    """What the alert rules see besides the panels, and the alerts' own state and events."""

    def series_points(
        self, name: str, since_ns: int, until_ns: int
    ) -> dict[tuple[str, str], list[tuple[int, float]]]:
        """Series ``name``'s samples in ``[since_ns, until_ns]`` per ``(subject, detail)``,
        oldest first (time in ns, the value in the series' own unit)."""
        ...

    def services_last_span(self) -> dict[str, int]:
        """Every service that sent a span, and when its newest span ended (epoch ns)."""
        ...

    def alert_states(self) -> list[AlertRow]: ...
    def alert_events(self, since_ns: int, limit: int = 200) -> list[AlertRow]:
        """Firings and resolutions since ``since_ns``, newest first."""
        ...

    def alert_events_after(self, after: Cursor) -> list[AlertRow]:
        """Every firing and resolution written after ``after`` (by any process), oldest first;
        each carries its own cursor (``event_id``)."""
        ...

    def last_alert_event(self) -> Cursor: ...


class StoreReader(JourneyLookup, PanelReads, SignalReads, AlertReads, Protocol):
    """One reader's session on a store (a CLI command, the TUI's worker). Close it when done."""

    def reading(self) -> contextlib.AbstractContextManager[None]: ...
    def counts(self) -> StoreCounts: ...
    def close(self) -> None: ...


class Writer(Protocol):
    """The store's one batched writer: a ``Sink`` (``submit`` returns a ``Ticket`` resolved when
    the records are committed, or failed when they are not) with what status lines report."""

    max_queued: int  # records queued before ``submit`` raises ``Overloaded``
    committed: int  # records committed
    rejected: int  # records the write path cannot store (their tickets failed)
    not_stored: int  # records still failing when the writer closed
    failed_commits: int
    batches: int
    last_commit_ns: int
    last_error: str | None
    error: str | None  # set while failing: why the last commit failed
    commit_observer: Callable[[float], None] | None  # each commit's seconds, when set

    @property
    def queued(self) -> int: ...
    @property
    def failing(self) -> bool: ...
    def submit(self, records: Sequence[Record]) -> Ticket: ...
    def flush(self, timeout: float = 60.0) -> None: ...
    def close(self, timeout: float = 60.0) -> None: ...


class Storage(Protocol):
    """One store: where records go and readers come from."""

    #: ``(batch_size, flush_ms)`` for a writer fed at a high rate (a tap): what the engine
    #: takes best. ClickHouse pays a fixed cost an INSERT (a part in each table and view).
    bulk_batching: tuple[int, int]

    def writer(
        self,
        *,
        batch_size: int = 20_000,
        flush_ms: int = 200,
        max_queued: int = 200_000,
        retention_age_s: float | None = None,
        retention_bytes: int | None = None,
        shared: bool = False,
    ) -> Writer:
        """The store's batched writer. ``shared``: its records are keyed (a tap's hops and dead
        letters, by their Kafka coordinates), so other shared writers (the other taps of its
        consumer group) may write the same store at the same time; an engine that keeps one
        writer's state in memory (SQLite: retention, the duplicates window of records with no
        id) admits them beside each other only (``console/store/sqlite/guard.py``)."""
        ...

    def reader(self) -> StoreReader: ...
    def dead_letters(self) -> DeadLetters:
        """The dead letters, their fixes, ledger and audit: a handle of its own (close it)."""
        ...

    def size_bytes(self) -> int:
        """Bytes the store holds on disk (what retention by size bounds)."""
        ...

    def write(self, records: Sequence[Record], *, now_ns: int | None = None) -> None: ...
    def counts(self) -> StoreCounts: ...
    def change_alerts(self, decide: Callable[[list[AlertRow]], AlertChanges]) -> AlertChanges:
        """One transaction: every alert's state is read, ``decide`` says what changes, and the
        new states and their events are written together (a second process sees all or none)."""
        ...

    def close(self) -> None:
        """Let go of the store's own connections (a chDB store's engine: a process holds one
        chDB directory at a time). Its writer and readers are closed by their owners."""
        ...


@runtime_checkable
class Opens(Protocol):
    """Anything that opens readers (a ``Storage``), told apart from a reader at run time."""

    def reader(self) -> StoreReader: ...


@contextlib.contextmanager
def reading(source: Storage | StoreReader) -> Iterator[StoreReader]:
    """A reader inside one snapshot: ``source``'s own when it is a reader (left open), else a new
    one on the store (closed after)."""
    # hasattr, not isinstance(source, Opens): a runtime protocol check costs ~7 us a journey.
    if hasattr(source, "reader"):
        reader = cast(Storage, source).reader()
        try:
            with reader.reading():
                yield reader
        finally:
            reader.close()
        return
    with source.reading():
        yield source
