"""The ClickHouse reader's ``JourneyLookup``: a journey's spans, hops, log records, dead letters
and replays, found by what a user knows of it.

* Spans by trace id: ``otel_traces_trace_id_ts`` (the exporter's lookup table, filled by its
  materialized view) bounds the time range first, as the exporter's README reads a trace, so
  the primary index and ``idx_trace_id`` prune together.
* Spans and log records by correlation id: the attributes the console resolves
  (``semconv.DEFAULT_CORRELATION_KEYS``) on the record, then on its resource; the exporter's
  ``idx_*_attr_value`` bloom filters serve these lookups. Each record found has its correlation
  id derived again (``semconv``): one whose first correlation attribute names another journey
  is not returned, as the SQLite store would not return it.
* A business key (``trace --key``): a hop's Kafka key or payload field (``BusinessKeys``), or a
  span attribute with that value. The exporter's tables cannot say which attributes a console
  was told to index (``--key-attribute`` is the writer's option), so every span attribute
  counts but the messaging ones that describe the transport (``messaging.system`` and the
  like; the message key attribute counts).
* Hops, dead letters and replays: one row per key (``ORDER BY <version> DESC LIMIT 1 BY
  <key>``: the row a ``ReplacingMergeTree`` keeps once its parts merge), merged yet or not.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from console.base.model import DeadLetter, Hop, LogRecord, ReplayEntry, Span, is_dlq_topic
from console.base.semconv import MESSAGE_KEY_ATTRIBUTES
from console.store.api import Candidate
from console.store.clickhouse import handoff_schema as hs
from console.store.clickhouse import otel_schema as otel
from console.store.clickhouse import read_records as rr
from console.store.clickhouse.read_base import ReaderBase, ids, ns
from console.store.identity import span_identity

__all__ = ["JourneyReads"]

_ONE_SPAN = "LIMIT 1 BY TraceId, SpanId"
_GROUPS_S = 5.0  # how long a topic's consumer groups are kept
_SKEW_NS = 3600 * 10**9  # a consumer's or a linking span's clock may run this far behind
_ACTIVITY_NS = 60 * 10**9  # the SQLite summaries' minute (``summaries.ACTIVITY_NS``)
# When a send was made: its Kafka timestamp, else when the tap saw it (``summaries``).
_SENT = (
    "if(toUnixTimestamp64Milli(Timestamp) > 0, toUnixTimestamp64Milli(Timestamp) * 1000000,"
    " toUnixTimestamp64Nano(SeenAt))"
)


def _key_attribute(name: str) -> bool:
    return name in MESSAGE_KEY_ATTRIBUTES or not name.startswith("messaging.")


class JourneyReads(ReaderBase):
    """``JourneyLookup`` (``console/store/api.py``) over the exporter's and the console's tables."""

    # --- spans, hops, logs --------------------------------------------------------------------

    def _spans_where(self, where: str, **params: Any) -> list[Span]:
        if not self.has(otel.TRACES):
            return []
        rows = self.query(
            f"SELECT {rr.SPAN_COLUMNS} FROM {self.traces} WHERE {where} {_ONE_SPAN}", **params
        )
        return [rr.span(r, self.correlation_keys) for r in rows]

    def _trace_window(self, tids: list[str]) -> tuple[int, int] | None:
        """When the traces' spans start, first to last (``otel_traces_trace_id_ts``, in whole
        seconds: the exporter's ``Start`` and ``End``), or None without the lookup table. The
        last answer is kept: a journey's round asks it for its spans, then for the traces
        that link to them."""
        if not self.has(otel.TRACES_ID_TS):
            return None
        key = tuple(tids)
        if self._window is not None and self._window[0] == key:
            return self._window[1]
        ((lo, hi),) = self.query(
            "SELECT toUnixTimestamp(min(Start)), toUnixTimestamp(max(End))"
            f" FROM {self.trace_ts} WHERE TraceId IN {{t:Array(String)}}",
            t=tids,
        )
        window = (int(lo) * 10**9, (int(hi) + 1) * 10**9)
        self._window = (key, window)
        return window

    def spans(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Span]:
        tids, cs = ids(trace_ids), sorted(set(cids))
        found: list[Span] = []
        if tids:
            where = "TraceId IN {t:Array(String)}"
            window = self._trace_window(tids)
            if window is not None:
                where += f" AND Timestamp >= {ns(window[0])} AND Timestamp < {ns(window[1])}"
            found += self._spans_where(where, t=tids)
        if cs:
            # Any attribute with one of the values (the exporter's idx_*_attr_value serve
            # these), then the span's own correlation id decides, as ``semconv`` derives it.
            wanted = set(cs)
            found += [
                s
                for s in self._spans_where(
                    "hasAny(mapValues(SpanAttributes), {c:Array(String)})"
                    " OR hasAny(mapValues(ResourceAttributes), {c:Array(String)})",
                    c=cs,
                )
                if s.correlation_id in wanted
            ]
        return _unique(found, span_identity)

    def hops(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Hop]:
        tids, cs = ids(trace_ids), sorted(set(cids))
        if not (tids or cs) or not self.has(hs.HOPS):
            return []
        return self._hops("TraceId IN {t:Array(String)} OR CorrelationId IN {c:Array(String)}",
                          t=tids, c=cs)  # fmt: skip

    def _hops(self, where: str, **params: Any) -> list[Hop]:
        """The hops ``where`` selects, one per Kafka coordinate and cluster: the newest seen,
        the row a ``ReplacingMergeTree(SeenAt)`` keeps when its parts merge."""
        newest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for r in self.query(f"SELECT {rr.HOP_COLUMNS} FROM {self.hops_table} WHERE {where}",
                            **params):  # fmt: skip
            key = (r[0], r[1], r[2], r[3])
            if key not in newest or r[-1] > newest[key][-1]:
                newest[key] = r
        return [rr.hop(r) for r in newest.values()]

    def logs(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[LogRecord]:
        tids, cs = ids(trace_ids), sorted(set(cids))
        if not (tids or cs) or not self.has(otel.LOGS):
            return []
        where = ["TraceId IN {t:Array(String)}"] + [
            f"{m}[{rr.literal(k)}] IN {{c:Array(String)}}"
            for m in ("LogAttributes", "ResourceAttributes")
            for k in self.correlation_keys
        ]
        rows = self.query(
            f"SELECT {rr.LOG_COLUMNS} FROM {self.logs_table} WHERE {' OR '.join(where)}",
            t=tids,
            c=cs,
        )
        traces, wanted = set(tids), set(cs)
        records = (rr.log_record(r, self.correlation_keys) for r in rows)
        return [r for r in records if (r.trace_id or "") in traces or r.correlation_id in wanted]

    def hops_at(self, topic: str, partition: int, offset: int) -> list[Hop]:
        if not self.has(hs.HOPS):
            return []
        return self._hops(
            "Topic = {t:String} AND Partition = {p:Int32} AND Offset = {o:Int64}",
            t=topic,
            p=partition,
            o=offset,
        )

    def linking_traces(self, trace_ids: Iterable[str]) -> set[str]:
        """Traces with a span linking to one of ``trace_ids``: the exporter keeps no index on
        ``Links.TraceId``, so the scan starts where the linked traces do (less a clock skew:
        a link points back in time, from a consumer to its producer)."""
        tids = ids(trace_ids)
        if not tids or not self.has(otel.TRACES):
            return set()
        window = self._trace_window(tids)
        since = "" if window is None else f" AND Timestamp >= {ns(window[0] - _SKEW_NS)}"
        rows = self.query(
            f"SELECT DISTINCT TraceId FROM {self.traces}"
            f" WHERE hasAny(Links.TraceId, {{t:Array(String)}}){since}",
            t=tids,
        )
        return {t.lower() for (t,) in rows}

    def by_key(self, value: str | bytes) -> tuple[list[Span], list[Hop]]:
        raw = value.encode() if isinstance(value, str) else value
        try:
            text: str | None = raw.decode()
        except UnicodeDecodeError:
            text = None
        spans: list[Span] = []
        if text and self.has(otel.TRACES):
            spans = [
                s
                for s in self._spans_where("has(mapValues(SpanAttributes), {v:String})", v=text)
                if any(v == text and _key_attribute(k) for k, v in s.attributes.items())
            ]
        hops: list[Hop] = []
        if self.has(hs.HOPS):
            hops = [
                h
                for h in self._hops(
                    "Key = unhex({k:String}) OR has(BusinessKeys, {v:String})",
                    k=raw.hex(),
                    v=text if text is not None else "",
                )
                if h.key == raw or (text is not None and text in h.business_keys)
            ]
        return spans, hops

    # --- dead letters and replays -------------------------------------------------------------

    def _dead_letters(self, where: str, **params: Any) -> list[DeadLetter]:
        if not self.has(hs.DEAD_LETTERS):
            return []
        newest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for r in self.query(
            f"SELECT {rr.DEAD_LETTER_COLUMNS}, Version FROM {self.dead_table} WHERE {where}",
            **params,
        ):
            key = (r[0], r[1], r[2], r[3])
            if key not in newest or r[-1] > newest[key][-1]:
                newest[key] = r
        return [rr.dead_letter(r[:-1]) for r in newest.values()]

    def dead_letters_at(self, topic: str, partition: int, offset: int) -> list[DeadLetter]:
        return self._dead_letters(
            "DlqTopic = {t:String} AND Partition = {p:Int32} AND Offset = {o:Int64}",
            t=topic,
            p=partition,
            o=offset,
        )

    def dead_letters_of(
        self, cids: Iterable[str] = (), trace_ids: Iterable[str] = ()
    ) -> list[DeadLetter]:
        cs, tids = sorted(set(cids)), ids(trace_ids)
        if not (cs or tids):
            return []
        return self._dead_letters(
            "CorrelationId IN {c:Array(String)} OR TraceId IN {t:Array(String)}", c=cs, t=tids
        )

    def replays_of(self, letter: DeadLetter) -> list[ReplayEntry]:
        """The ledger's lines for ``letter`` (by its coordinates: ``handoff_replays`` keeps no
        cluster id, so two clusters' dead letters at one coordinate share their lines)."""
        if not self.has(hs.REPLAYS):
            return []
        rows = self.query(
            f"SELECT {rr.REPLAY_COLUMNS} FROM {self.replays_table}"
            " WHERE DlqTopic = {t:String} AND Partition = {p:Int32} AND Offset = {o:Int64}"
            " ORDER BY Version DESC LIMIT 1 BY ReplayId",
            t=letter.dlq_topic,
            p=letter.partition,
            o=letter.offset,
        )
        return sorted((rr.replay(r) for r in rows), key=lambda r: r.created_ns)

    # --- groups, recent journeys, pending sends -----------------------------------------------

    def consumer_groups(self, topic: str) -> list[str]:
        """Groups known to consume ``topic``: consumer spans' groups, then the tap's
        ``consumer.lag`` series (``detail`` = ``group/partition``). Kept ``_GROUPS_S`` per
        topic: a list of journeys asks it for every journey on the topic."""
        now = time.monotonic()
        kept = self._groups.get(topic)
        if kept is not None and now - kept[0] < _GROUPS_S:
            return list(kept[1])
        parts = []
        if self.has(otel.TRACES):
            parts.append(
                f"SELECT 0 AS src, grp FROM (SELECT {self.span_group} AS grp FROM {self.traces}"
                f" WHERE {self.span_dest} = {{t:String}} AND {self.is_consumer})"
                " WHERE grp != '' GROUP BY grp ORDER BY grp LIMIT 20"
            )
        if self.has(hs.SERIES):
            parts.append(
                "SELECT 1 AS src, splitByChar('/', Detail)[1] AS grp"
                f" FROM {self.series_table} WHERE Name = 'consumer.lag' AND Subject = {{t:String}}"
                " GROUP BY grp"
            )
        groups: list[str] = []
        if parts:
            found = self.query(" UNION ALL ".join(f"({p})" for p in parts), t=topic)
            for _src, g in sorted(found):
                if g and g not in groups:
                    groups.append(g)
        self._groups[topic] = (now, tuple(groups))
        return groups

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

    def _dlq_topics(self) -> list[str]:
        return [t for (t,) in self.query(f"SELECT DISTINCT Topic FROM {self.hops_table}")
                if is_dlq_topic(t)]  # fmt: skip

    def _pending(self, since_ns: int, until_ns: int | None) -> str:
        """SQL for the journeys' sends in the window that no consumer span names yet
        (``Topic, Partition, Offset, cid, sent``), one per Kafka coordinate: what the SQLite
        store keeps as ``pending_sends``, computed here from the hops and the spans."""
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
            f" FROM {self.hops_table} WHERE CorrelationId != ''"
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
            dlq=self._dlq_topics(),
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
                dlq=self._dlq_topics(),
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
        if self.has(hs.HOPS):
            rows += self.query(
                "SELECT CorrelationId, max(sent), 0, 0 FROM (SELECT CorrelationId, Topic,"
                f" {_SENT} AS sent FROM {self.hops_table} WHERE CorrelationId != '')"
                f" WHERE sent >= {int(since_ns)} AND Topic NOT IN {{dlq:Array(String)}}"
                " GROUP BY CorrelationId",
                dlq=self._dlq_topics(),
            )
        if self.has(hs.DEAD_LETTERS):
            rows += self.query(
                "SELECT CorrelationId, max(t), 0, 1 FROM (SELECT CorrelationId,"
                " if(toUnixTimestamp64Nano(FirstSeen) > 0, toUnixTimestamp64Nano(FirstSeen),"
                f" toUnixTimestamp64Milli(Timestamp) * 1000000) AS t FROM {self.dead_table}"
                f" WHERE CorrelationId != '') WHERE t >= {int(since_ns)} GROUP BY CorrelationId"
            )
        return rows


def _unique(records: list[Any], identity: Any) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for r in records:
        key = identity(r)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
