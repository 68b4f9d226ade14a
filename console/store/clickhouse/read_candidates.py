"""The ClickHouse reader's candidates: what the journey list and the stalled search start from.

The SQLite store keeps summaries at ingest for these (``pending_sends``, ``journey_activity``);
here they are computed from the tables themselves, with the same answers:

* a journey's pending send: a hop with a correlation id, not on a dead-letter topic, that no
  consumer span names by its Kafka coordinates (``messaging.destination.name``, partition,
  offset), one per coordinate;
* where schema version 4's summaries exist (``handoff_sends``, ``handoff_consumed``, kept by
  views at insert: ``lookup_schema.py``), the pending sends and the sends' activity are read
  from them, by time, instead of from every hop and consumer span of the window;
* a journey's activity since a time: its spans' starts (an error span flags it), its sends, its
  dead letters (which flag it), by the SQLite summaries' minute.
"""

from __future__ import annotations

from typing import Any

from console.base.model import is_dlq_topic
from console.store.api import Candidate
from console.store.clickhouse import handoff_schema as hs
from console.store.clickhouse import otel_schema as otel
from console.store.clickhouse.read_base import ReaderBase, ns

__all__ = ["CandidateReads"]

_SKEW_NS = 3600 * 10**9  # a consumer's clock may run this far behind its producer's
_ACTIVITY_NS = 60 * 10**9  # the SQLite summaries' minute (``summaries.ACTIVITY_NS``)
_SENT = (
    "if(toUnixTimestamp64Milli(Timestamp) > 0, toUnixTimestamp64Milli(Timestamp) * 1000000,"
    " toUnixTimestamp64Nano(SeenAt))"
)


def _sent_since(since_ns: int) -> str:
    """SQL keeping the hops that may have been sent since ``since_ns``: stamped since then, or
    with no Kafka timestamp (then ``SeenAt`` says): the partitions (``toDate(Timestamp)``) of
    older days are never read."""
    return f"(Timestamp >= {ns(since_ns)} OR toUnixTimestamp64Milli(Timestamp) <= 0)"


class CandidateReads(ReaderBase):
    """``recent_journeys_on_topic``, ``waiting_sends`` and ``candidates`` of ``JourneyLookup``."""

    def recent_journeys_on_topic(self, topic: str, limit: int) -> list[str]:
        found: dict[str, int] = {}
        if self.has(hs.HOPS):
            for cid, t in self.query(
                "SELECT CorrelationId, max(toUnixTimestamp64Nano(SeenAt)) AS t"
                f" FROM {self.hops_table} WHERE Topic = {{t:String}} AND CorrelationId != ''"
                " GROUP BY CorrelationId ORDER BY t DESC LIMIT {n:UInt32}",
                t=topic,
                n=limit,
            ):
                found[cid] = t
        if self.has(hs.DEAD_LETTERS):
            for cid, t in self.query(
                "SELECT CorrelationId, max(toUnixTimestamp64Nano(FirstSeen))"
                f" FROM {self.dead_table} WHERE (DlqTopic = {{t:String}}"
                " OR OriginalTopic = {t:String}) AND CorrelationId != '' GROUP BY CorrelationId",
                t=topic,
            ):
                found[cid] = max(found.get(cid, 0), t)
        return [cid for cid, _ in sorted(found.items(), key=lambda kv: -kv[1])[:limit]]

    def _dlq_topics(self, since_ns: int) -> list[str]:
        """The dead-letter topics among the topics of the sends since ``since_ns`` (every
        statement below keeps only those sends)."""
        if self.summarised:
            sql = f"SELECT DISTINCT Topic FROM {self.sends_table} WHERE Sent >= {ns(since_ns)}"
        else:
            sql = f"SELECT DISTINCT Topic FROM {self.hops_table}"
        return [t for (t,) in self.query(sql) if is_dlq_topic(t)]

    def _pending(self, since_ns: int, until_ns: int | None) -> str:
        """SQL for the journeys' sends in the window that no consumer span names yet
        (``Topic, Partition, Offset, cid, sent``), one per Kafka coordinate: what the SQLite
        store keeps as ``pending_sends``, computed here from the hops and the spans, or read
        from their summaries (``handoff_sends``, ``handoff_consumed``: two range reads by time
        of narrow tables, the same rows)."""
        if self.summarised:
            until = f" AND Sent < {ns(until_ns)}" if until_ns is not None else ""
            return (
                "SELECT Topic, Partition, Offset, any(CorrelationId) AS cid, min(sent) AS sent_ns"
                " FROM (SELECT Topic, Partition, Offset, CorrelationId,"
                f" toUnixTimestamp64Nano(Sent) AS sent FROM {self.sends_table}"
                f" WHERE Sent >= {ns(since_ns)}{until} AND Topic NOT IN {{dlq:Array(String)}})"
                " WHERE (Topic, Partition, Offset) NOT IN (SELECT Topic, Partition, Offset"
                f" FROM {self.consumed_table} WHERE Timestamp >= {ns(since_ns - _SKEW_NS)})"
                " GROUP BY Topic, Partition, Offset"
            )
        until = f" AND sent < {int(until_ns)}" if until_ns is not None else ""
        consumed = "SELECT NULL, NULL, NULL WHERE 0"
        if self.has(otel.TRACES):
            consumed = (
                f"SELECT {self.span_dest}, {self.span_partition}, {self.span_offset}"
                f" FROM {self.traces} WHERE Timestamp >= {ns(since_ns - _SKEW_NS)}"
                f" AND {self.span_dest} != '' AND {self.is_consumer}"
                f" AND {self.span_offset} IS NOT NULL"
            )
        return (
            "SELECT Topic, Partition, Offset, any(CorrelationId) AS cid, min(sent) AS sent_ns"
            f" FROM (SELECT Topic, Partition, Offset, CorrelationId, {_SENT} AS sent"
            f" FROM {self.hops_table} WHERE CorrelationId != '' AND {_sent_since(since_ns)}"
            " AND Topic NOT IN {dlq:Array(String)})"
            f" WHERE sent >= {int(since_ns)}{until}"
            f" AND (Topic, Partition, Offset) NOT IN ({consumed})"
            " GROUP BY Topic, Partition, Offset"
        )

    def waiting_sends(
        self, since_ns: int, until_ns: int, newest: int
    ) -> list[tuple[str, int, list[str]]]:
        if not self.has(hs.HOPS):
            return []
        pending = self._pending(since_ns, until_ns)
        out = []
        for topic, waiting, cids in self.query(
            "SELECT Topic, count(),"
            " arraySlice(arrayMap(x -> x.2, arrayReverseSort(groupArray((sent_ns, cid)))), 1,"
            " {k:UInt32}) FROM (" + pending + ") GROUP BY Topic ORDER BY Topic",
            dlq=self._dlq_topics(since_ns),
            k=4 * newest,
        ):
            out.append((topic, waiting, list(dict.fromkeys(cids))[:newest]))
        return out

    def candidates(self, since_ns: int, pending_only: bool = False) -> dict[str, Candidate]:
        found: dict[str, Candidate] = {}
        if self.has(hs.HOPS):
            for cid, first, last in self.query(
                "SELECT cid, min(sent_ns), max(sent_ns) FROM ("
                + self._pending(since_ns, None)
                + ") GROUP BY cid",
                dlq=self._dlq_topics(since_ns),
            ):
                found[cid] = Candidate(last_ns=last, pending_ns=first)
        if pending_only:
            return found
        activity: dict[str, list[int]] = {}  # cid -> [last, error, dead]
        for cid, last, error, dead in self._activity(since_ns - since_ns % _ACTIVITY_NS):
            a = activity.setdefault(cid, [0, 0, 0])
            a[0], a[1], a[2] = max(a[0], last), a[1] | error, a[2] | dead
        for cid, (last, error, dead) in activity.items():
            if last < since_ns and cid not in found:
                continue
            c = found.get(cid)
            if c is None:
                c = found[cid] = Candidate()
            c.last_ns = max(c.last_ns, last)
            c.error = bool(error)
            c.dead = bool(dead)
        return found

    def _activity(self, since_ns: int) -> list[tuple[Any, ...]]:
        """``(cid, last activity, error span, dead letter)`` since ``since_ns``, per source: the
        spans, the journeys' sends, the dead letters (the SQLite store's ``journey_activity``)."""
        rows: list[tuple[Any, ...]] = []
        if self.has(otel.TRACES):
            rows += self.query(
                "SELECT cid, max(start), max(error), 0 FROM (SELECT"
                f" {self.span_cid} AS cid, toUnixTimestamp64Nano(Timestamp) AS start,"
                f" StatusCode = 'Error' AS error FROM {self.traces}"
                f" WHERE Timestamp >= {ns(since_ns)}) WHERE cid != '' GROUP BY cid"
            )
        if self.summarised:
            rows += self.query(
                "SELECT CorrelationId, max(toUnixTimestamp64Nano(Sent)), 0, 0"
                f" FROM {self.sends_table} WHERE Sent >= {ns(since_ns)}"
                " AND Topic NOT IN {dlq:Array(String)} GROUP BY CorrelationId",
                dlq=self._dlq_topics(since_ns),
            )
        elif self.has(hs.HOPS):
            rows += self.query(
                "SELECT CorrelationId, max(sent), 0, 0 FROM (SELECT CorrelationId, Topic,"
                f" {_SENT} AS sent FROM {self.hops_table} WHERE CorrelationId != ''"
                f" AND {_sent_since(since_ns)})"
                f" WHERE sent >= {int(since_ns)} AND Topic NOT IN {{dlq:Array(String)}}"
                " GROUP BY CorrelationId",
                dlq=self._dlq_topics(since_ns),
            )
        if self.has(hs.DEAD_LETTERS):
            rows += self.query(
                "SELECT CorrelationId, max(t), 0, 1 FROM (SELECT CorrelationId,"
                " if(toUnixTimestamp64Nano(FirstSeen) > 0, toUnixTimestamp64Nano(FirstSeen),"
                f" toUnixTimestamp64Milli(Timestamp) * 1000000) AS t FROM {self.dead_table}"
                f" WHERE CorrelationId != '') WHERE t >= {int(since_ns)} GROUP BY CorrelationId"
            )
        return rows
