"""The SQLite store's side of ``console/store/api.py``'s ``StoreReader``: one connection, and the
SQL the readers, journeys, panels and the tail used to hold themselves.

A ``Cursor`` here is a record id (``read.record_id``: the block's id and the record's place in
it); a snapshot is one read transaction (``read.snapshot``), and inside it one cache of decoded
blocks, so a journey that asks for the same block in several rounds decodes it once.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

from console.base.model import DeadLetter, Hop, LogRecord, ReplayEntry, Span
from console.store.api import (
    Candidate,
    Cursor,
    Freshness,
    LatestValue,
    MetricSample,
    RollupCell,
    StoreCounts,
    StoreExtent,
    Tailed,
)
from console.store.sqlite import read, rows, schema
from console.store.sqlite.alerts import AlertReadsSql
from console.store.sqlite.blocks import KIND_HOP, KIND_LOG, KIND_SPAN, loads_json
from console.store.sqlite.summaries import ACTIVITY_NS, FLAG_DEAD, FLAG_ERROR, ROLLUP_NS

__all__ = ["SqliteReader"]

_CHUNK = 500  # values per IN (...) list
_KINDS = {Span: KIND_SPAN, Hop: KIND_HOP, LogRecord: KIND_LOG}
_METRIC_COLUMNS = (
    "service, name, kind, unit, time_ns, start_time_ns, value, count, sum, bucket_counts, "
    "explicit_bounds, attributes, exp_scale, exp_zero_count, exp_positive_offset, "
    "exp_positive_counts, exp_negative_offset, exp_negative_counts, min_value, max_value"
)


def _load(text: str | None) -> tuple[Any, ...]:
    return tuple(json.loads(text)) if text else ()


def _sample(r: sqlite3.Row) -> MetricSample:
    bounds = _load(r["explicit_bounds"])
    return MetricSample(
        service=r["service"],
        name=r["name"],
        kind=r["kind"],
        unit=r["unit"],
        series=r["attributes"],
        time_ns=r["time_ns"],
        start_ns=r["start_time_ns"],
        value=r["value"],
        count=r["count"],
        sum=r["sum"],
        bounds=tuple(float(b) for b in bounds) if r["bucket_counts"] is not None else None,
        buckets=tuple(_load(r["bucket_counts"])),
        scale=r["exp_scale"],
        zero=r["exp_zero_count"] or 0,
        pos_offset=r["exp_positive_offset"] or 0,
        pos=tuple(_load(r["exp_positive_counts"])),
        neg_offset=r["exp_negative_offset"] or 0,
        neg=tuple(_load(r["exp_negative_counts"])),
        min=r["min_value"],
        max=r["max_value"],
    )


class SqliteReader(AlertReadsSql):
    """A ``StoreReader`` on one connection (one thread at a time; the TUI holds a lock)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        conn.row_factory = sqlite3.Row
        self.conn = conn
        self._depth = 0
        self._blocks: read.Blocks | None = None

    # --- sessions and snapshots ---------------------------------------------------------------

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with read.snapshot(self.conn):
            self._depth += 1
            if self._depth == 1:
                self._blocks = read.Blocks(self.conn)
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._blocks = None

    @property
    def _b(self) -> read.Blocks:
        return self._blocks if self._blocks is not None else read.Blocks(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SqliteReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def counts(self) -> StoreCounts:
        return schema.counts(self.conn)

    # --- journeys -----------------------------------------------------------------------------

    def spans(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Span]:
        return self._b.spans(trace_ids, cids)

    def hops(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Hop]:
        return self._b.hops(trace_ids, cids)

    def logs(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[LogRecord]:
        return self._b.logs(trace_ids, cids)

    def hops_at(self, topic: str, partition: int, offset: int) -> list[Hop]:
        return self._b.hops_at(topic, partition, offset)

    def linking_traces(self, trace_ids: Iterable[str]) -> set[str]:
        return self._b.linking_traces(trace_ids)

    def by_key(self, value: str | bytes) -> tuple[list[Span], list[Hop]]:
        return self._b.by_key(value)

    def dead_letters_at(self, topic: str, partition: int, offset: int) -> list[DeadLetter]:
        return [
            rows.dead_letter_from_row(r)
            for r in self.conn.execute(
                "SELECT * FROM dead_letters WHERE dlq_topic = ? AND partition = ? AND offset = ?",
                (topic, partition, offset),
            ).fetchall()
        ]

    def dead_letters_of(
        self, cids: Iterable[str] = (), trace_ids: Iterable[str] = ()
    ) -> list[DeadLetter]:
        out: list[DeadLetter] = []
        for column, values in (("correlation_id", cids), ("trace_id", trace_ids)):
            items = sorted(values)
            for i in range(0, len(items), _CHUNK):
                chunk = items[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                out.extend(
                    rows.dead_letter_from_row(r)
                    for r in self.conn.execute(
                        f"SELECT * FROM dead_letters WHERE {column} IN ({marks})", chunk
                    )
                )
        return out

    def replays_of(self, letter: DeadLetter) -> list[ReplayEntry]:
        return [
            rows.replay_from_row(r)
            for r in self.conn.execute(
                "SELECT * FROM replay_ledger WHERE dlq_topic = ? AND partition = ? "
                "AND offset = ? AND coalesce(cluster_id, '') = ?",
                (letter.dlq_topic, letter.partition, letter.offset, letter.cluster_id or ""),
            )
        ]

    def consumer_groups(self, topic: str) -> list[str]:
        return read.consumer_groups(self.conn, topic)

    def recent_journeys_on_topic(self, topic: str, limit: int) -> list[str]:
        found = read.recent_hop_cids(self.conn, topic, limit)
        for cid, t in self.conn.execute(
            "SELECT correlation_id, max(first_seen_ns) FROM dead_letters"
            " WHERE (dlq_topic = ? OR original_topic = ?) AND correlation_id IS NOT NULL"
            " GROUP BY correlation_id",
            (topic, topic),
        ):
            found[cid] = max(found.get(cid, 0), t)
        return [cid for cid, _ in sorted(found.items(), key=lambda kv: -kv[1])[:limit]]

    def waiting_sends(
        self, since_ns: int, until_ns: int, newest: int
    ) -> list[tuple[str, int, list[str]]]:
        cur = self.conn.cursor()
        cur.row_factory = None
        window = (since_ns, until_ns)
        # One pass in the primary key's order (topic first): no sort, no id reaches Python.
        counts = cur.execute(
            "SELECT topic, count(*) FROM pending_sends"
            " WHERE sent_ns >= ? AND sent_ns < ? AND correlation_id IS NOT NULL GROUP BY topic",
            window,
        ).fetchall()
        out = []
        for topic, waiting in counts:
            rows = cur.execute(
                "SELECT correlation_id FROM pending_sends WHERE topic = ?"
                " AND sent_ns >= ? AND sent_ns < ? AND correlation_id IS NOT NULL"
                " ORDER BY sent_ns DESC LIMIT ?",
                (topic, *window, 4 * newest),
            ).fetchall()
            out.append((topic, waiting, list(dict.fromkeys(cid for (cid,) in rows))[:newest]))
        return out

    def prefetch(self, cids: Collection[str]) -> None:
        """Nothing to read ahead: each lookup is an index probe in this process."""

    def candidates(self, since_ns: int, pending_only: bool = False) -> dict[str, Candidate]:
        found: dict[str, Candidate] = {}
        cur = self.conn.cursor()
        cur.row_factory = None
        for cid, first, last in cur.execute(
            "SELECT correlation_id, min(sent_ns), max(sent_ns) FROM pending_sends"
            " WHERE sent_ns >= ? AND correlation_id IS NOT NULL GROUP BY correlation_id",
            (since_ns,),
        ):
            found[cid] = Candidate(last_ns=last, pending_ns=first)
        if pending_only:
            return found
        for cid, last, err, dead in cur.execute(
            "SELECT correlation_id, max(last_ns), max(flags & ?), max(flags & ?)"
            " FROM journey_activity WHERE bucket >= ? GROUP BY correlation_id",
            (FLAG_ERROR, FLAG_DEAD, since_ns // ACTIVITY_NS),
        ):
            if last < since_ns and cid not in found:
                continue
            c = found.get(cid)
            if c is None:
                c = found[cid] = Candidate()
            c.last_ns = max(c.last_ns, last)
            c.error = bool(err)
            c.dead = bool(dead)
        return found

    # --- panels -------------------------------------------------------------------------------

    def service_rollups(self, since_ns: int, until_ns: int) -> list[RollupCell]:
        return [
            RollupCell(service, b * ROLLUP_NS, entries, errors, _bins(bins))
            for service, b, entries, errors, bins in self.conn.execute(
                "SELECT service, bucket, entries, errors, bins FROM service_rollup"
                " WHERE bucket >= ? AND bucket <= ? AND entries > 0",
                (since_ns // ROLLUP_NS, until_ns // ROLLUP_NS),
            )
        ]

    def latest_values(
        self, names: Collection[str], since_ns: int, until_ns: int | None = None
    ) -> list[LatestValue]:
        marks = ",".join("?" * len(names))
        sql = (
            "SELECT name, subject, detail, value, max(time_ns) FROM series"
            f" WHERE name IN ({marks}) AND time_ns >= ?"
        )
        args: list[Any] = [*names, since_ns]
        if until_ns is not None:
            sql += " AND time_ns <= ?"
            args.append(until_ns)
        return [
            LatestValue(name, subject, detail, value)
            for name, subject, detail, value, _t in self.conn.execute(
                sql + " GROUP BY name, subject, detail", args
            )
        ]

    def series_averages(
        self, name: str, slot_ns: int, since_ns: int, until_ns: int
    ) -> list[tuple[str, int, float]]:
        return [
            (subject, b, avg)
            for subject, b, avg in self.conn.execute(
                "SELECT subject, b, sum(a) FROM (SELECT subject, detail, time_ns / ? AS b,"
                " avg(value) AS a FROM series WHERE name = ? AND time_ns >= ? AND time_ns <= ?"
                " GROUP BY subject, detail, b) GROUP BY subject, b",
                (slot_ns, name, since_ns, until_ns),
            )
        ]

    def extent(self) -> StoreExtent:
        spans = hops = 0
        first: int | None = None
        last: int | None = None
        for kind, n, lo, hi in self.conn.execute(
            "SELECT kind, sum(n), min(min_ns), max(max_ns) FROM blocks WHERE kind IN (?, ?)"
            " GROUP BY kind",
            (KIND_SPAN, KIND_HOP),
        ):
            if kind == KIND_SPAN:
                spans = int(n or 0)
            else:
                hops = int(n or 0)
            first = lo if first is None else min(first, lo)
            last = hi if last is None else max(last, hi)
        return StoreExtent(spans, hops, first, last)

    def freshness(self) -> Freshness:
        def newest(sql: str, *args: Any) -> int | None:
            row = self.conn.execute(sql, args).fetchone()
            return None if row is None else row[0]

        return Freshness(
            last_span_ns=newest("SELECT max(last_seen_ns) FROM services"),
            last_hop_ns=newest(
                "SELECT max_ns FROM blocks WHERE kind = ? ORDER BY id DESC LIMIT 1", KIND_HOP
            ),
            last_series_ns=newest("SELECT max(time_ns) FROM series"),
            services=self.conn.execute("SELECT count(*) FROM services").fetchone()[0],
        )

    # --- logs, metrics, tail ------------------------------------------------------------------

    def logs_between(
        self,
        since_ns: int,
        until_ns: int | None = None,
        *,
        keep: Callable[[LogRecord], bool] | None = None,
        limit: int | None = None,
    ) -> list[tuple[Cursor, LogRecord]]:
        got = read.logs_between(self.conn, since_ns, until_ns, keep=keep, limit=limit)
        return [(Cursor(rid), r) for rid, r in got]

    def last_cursor(self, kind: type[Span] | type[Hop] | type[LogRecord]) -> Cursor:
        return Cursor(read.last_block_id(self.conn, _KINDS[kind]))

    def logs_after(self, after: Cursor, limit: int) -> list[tuple[Cursor, LogRecord]]:
        return [
            (Cursor(rid), r) for rid, r in read.records_after(self.conn, KIND_LOG, after, limit)
        ]

    def tail(self, after: tuple[Cursor, Cursor, Cursor], limit: int) -> Tailed:
        with self.reading():
            tops = [read.last_block_id(self.conn, k) for k in (KIND_SPAN, KIND_HOP, KIND_LOG)]
            found = [
                [
                    (Cursor(rid), rec)
                    for rid, rec in read.newest_records(self.conn, kind, since, limit)
                    if rid <= top
                ]
                for kind, since, top in zip(
                    (KIND_SPAN, KIND_HOP, KIND_LOG), after, tops, strict=True
                )
            ]
        return Tailed(
            found[0],
            found[1],
            found[2],
            Cursor(max(tops[0], after[0])),
            Cursor(max(tops[1], after[1])),
            Cursor(max(tops[2], after[2])),
        )

    def metric_samples(
        self,
        since_ns: int,
        until_ns: int,
        *,
        service: str | None = None,
        name: str | None = None,
        exclude: Collection[str] = (),
    ) -> list[MetricSample]:
        where: list[str] = ["time_ns >= ?", "time_ns <= ?"]
        args: list[Any] = [since_ns, until_ns]
        if exclude:
            where.append(f"service NOT IN ({','.join('?' * len(exclude))})")
            args.extend(exclude)
        if service is not None:
            where.append("service = ?")
            args.append(service)
        if name is not None:
            where.append("name = ?")
            args.append(name)
        cur = self.conn.cursor()
        cur.row_factory = sqlite3.Row
        sql = f"SELECT {_METRIC_COLUMNS} FROM metric_points WHERE {' AND '.join(where)}"
        return [_sample(r) for r in cur.execute(sql + " ORDER BY time_ns, id", args)]

    def metric_services(self, since_ns: int) -> list[tuple[str, int]]:
        return [
            (s, n)
            for s, n in self.conn.execute(
                "SELECT service, count(DISTINCT name) FROM metric_points WHERE time_ns >= ?"
                " GROUP BY service ORDER BY service",
                (since_ns,),
            )
        ]


def _bins(text: str) -> dict[int, float]:
    return {int(code): n for code, n in loads_json(text).items()}
