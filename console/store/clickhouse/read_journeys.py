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

from console.base.model import DeadLetter, Hop, LogRecord, ReplayEntry, Span
from console.base.semconv import MESSAGE_KEY_ATTRIBUTES
from console.store.clickhouse import handoff_schema as hs
from console.store.clickhouse import otel_schema as otel
from console.store.clickhouse import read_records as rr
from console.store.clickhouse.read_base import ReaderBase, ids, ns
from console.store.identity import span_identity

__all__ = ["JourneyReads"]

_ONE_SPAN = "LIMIT 1 BY TraceId, SpanId"
_GROUPS_S = 5.0  # how long a topic's consumer groups are kept
_SKEW_NS = 3600 * 10**9  # a consumer's or a linking span's clock may run this far behind


# When a send was made: its Kafka timestamp, else when the tap saw it (``summaries``).
def _key_attribute(name: str) -> bool:
    return name in MESSAGE_KEY_ATTRIBUTES or not name.startswith("messaging.")


class JourneyReads(ReaderBase):
    """``JourneyLookup`` (``console/store/api.py``) over the exporter's and the console's tables."""

    # --- spans, hops, logs --------------------------------------------------------------------

    def _spans_where(self, where: str, **params: Any) -> list[Span]:
        if not self.has(otel.TRACES):
            return []
        rows = self.query(
            f"SELECT {self.span_columns} FROM {self.traces} WHERE {where} {_ONE_SPAN}", **params
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
                    self.cid_in(otel.TRACES, ("SpanAttributes", "ResourceAttributes")), c=cs
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
        rows = self.query(
            f"SELECT {self.log_columns} FROM {self.logs_table} WHERE TraceId IN {{t:Array(String)}}"
            f" OR {self.cid_in(otel.LOGS, ('LogAttributes', 'ResourceAttributes'))}",
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
        return {t for found in self.links_to(ids(trace_ids)).values() for t in found}

    def links_to(self, tids: list[str]) -> dict[str, set[str]]:
        """Per trace of ``tids``, the traces with a span linking to it, starting where the
        linked traces do (less a clock skew: a link points back in time, from a consumer to
        its producer). The exporter keeps no index on ``Links.TraceId``: the console's
        ``handoff_trace_links`` answers where its view exists, else a scan of that column."""
        out: dict[str, set[str]] = {t: set() for t in tids}
        if not tids or not self.has(otel.TRACES):
            return out
        window = self._trace_window(tids)
        since = "" if window is None else f" AND Timestamp >= {ns(window[0] - _SKEW_NS)}"
        if self.has(hs.LINKS) and self.has(hs.LINKS_MV):
            # The console's lookup (``handoff_schema``'s version 3), by its key: the same
            # pairs as the scan below, without reading every span since the traces started.
            sql = (
                f"SELECT Linked, TraceId FROM {self.links_table}"
                f" WHERE Linked IN {{t:Array(String)}}{since} GROUP BY Linked, TraceId"
            )
        else:
            sql = (
                "SELECT linked, TraceId FROM (SELECT TraceId, arrayJoin(arrayFilter(x -> has("
                f"{{t:Array(String)}}, x), Links.TraceId)) AS linked FROM {self.traces}"
                f" WHERE hasAny(Links.TraceId, {{t:Array(String)}}){since})"
                " GROUP BY linked, TraceId"
            )
        for linked, linking in self.query(sql, t=tids):
            out.setdefault(linked.lower(), set()).add(linking.lower())
        return out

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
                for s in self._spans_where(self.holds_value(otel.TRACES, "SpanAttributes", text))
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
        """The ledger's lines for ``letter`` (by its coordinates and cluster)."""
        if not self.has(hs.REPLAYS):
            return []
        rows = self.query(
            f"SELECT {rr.REPLAY_COLUMNS} FROM {self.replays_table}"
            " WHERE DlqTopic = {t:String} AND Partition = {p:Int32} AND Offset = {o:Int64}"
            " AND Cluster = {c:String} ORDER BY Version DESC LIMIT 1 BY ReplayId",
            t=letter.dlq_topic,
            p=letter.partition,
            o=letter.offset,
            c=letter.cluster_id or "",
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


def _unique(records: list[Any], identity: Any) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for r in records:
        key = identity(r)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
