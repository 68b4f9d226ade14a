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
* Where ``handoff_journey_keys`` and its views exist (``lookup_schema.py``, schema version 4),
  a round of a journey first reads that table by its key (``keys_of``): the traces and start
  times of the spans by correlation and trace id, the hops' coordinates, the traces linking
  in. Spans are then read by trace id inside that window (from version 6's copy,
  ``handoff_journey_spans``, in small granules, where it exists), hops by ``handoff_hops``'
  primary key, and the links come from the same read. Without it (a Collector-made store
  before a console writer migrated it, JSON attributes) the lookups above read the exporter's
  tables.
* Hops, dead letters and replays: one row per key (``ORDER BY <version> DESC LIMIT 1 BY
  <key>``: the row a ``ReplacingMergeTree`` keeps once its parts merge), merged yet or not.

Over 400 lines because each lookup keeps its keyed read and the exporter-table read it falls
back to side by side: the two must give the same answer, and are read against each other here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from console.base.model import DeadLetter, Hop, LogRecord, ReplayEntry, Span
from console.base.semconv import DEFAULT_CORRELATION_KEYS, MESSAGE_KEY_ATTRIBUTES
from console.store.clickhouse import handoff_schema as hs
from console.store.clickhouse import otel_schema as otel
from console.store.clickhouse import read_records as rr
from console.store.clickhouse.attr_sql import literal
from console.store.clickhouse.read_base import ReaderBase, ids, ns
from console.store.identity import span_identity

__all__ = ["JourneyReads"]

_ONE_SPAN = "LIMIT 1 BY TraceId, SpanId"
_GROUPS_S = 5.0  # how long a topic's consumer groups are kept
_SKEW_NS = 3600 * 10**9  # a consumer's or a linking span's clock may run this far behind
_STASH_S = 2.0  # a round's read of handoff_journey_keys serves its other lookups this long


# When a send was made: its Kafka timestamp, else when the tap saw it (``summaries``).
def _key_attribute(name: str) -> bool:
    return name in MESSAGE_KEY_ATTRIBUTES or not name.startswith("messaging.")


class JourneyReads(ReaderBase):
    """``JourneyLookup`` (``console/store/api.py``) over the exporter's and the console's tables."""

    _stash: Keys | None = None

    # --- spans, hops, logs --------------------------------------------------------------------

    def _spans_where(self, where: str, table: str = "", **params: Any) -> list[Span]:
        if not self.has(otel.TRACES):
            return []
        rows = self.query(
            f"SELECT {self.span_columns} FROM {table or self.traces} WHERE {where} {_ONE_SPAN}",
            **params,
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

    # --- the console's lookup (``handoff_journey_keys``, ``lookup_schema.py``) ---------------

    @property
    def keyed(self) -> bool:
        """Whether ``handoff_journey_keys`` and both its views exist: then it names every
        span's and hop's correlation id and trace, and every span link. A store a Collector
        made (no ``handoff_*`` yet), or whose attributes are JSON, has no such table, and
        every lookup below reads the exporter's tables as it did before version 4."""
        return self.has(hs.KEYS) and self.has(hs.KEYS_SPANS_MV) and self.has(hs.KEYS_HOPS_MV)

    @property
    def spans_copied(self) -> bool:
        """Whether version 6's copy of the spans by trace id and its view exist
        (``handoff_journey_spans``: a trace's spans in one small granule, where
        ``otel_traces`` spreads them over several of 8,192 rows). A store whose attributes
        are JSON has none."""
        return self.has(hs.COPIED_SPANS) and self.has(hs.COPIED_SPANS_MV)

    def keys_of(self, tids: list[str], cs: list[str], fresh: bool = False) -> Keys:
        """One read of ``handoff_journey_keys`` by its key: what a journey's round needs
        before its records (``Keys``). The last one is kept (``_stash``): a round's ``spans``
        reads afresh (``fresh``), its ``hops`` and ``links_to`` ask for the same ids."""
        kept = self._stash
        if kept is not None and kept.ids == (tuple(tids), tuple(cs)):
            if not fresh and time.monotonic() - kept.read_at < _STASH_S:
                return kept
            if kept.fresh:  # just read for this very lookup (``read_ahead._widened``)
                kept.fresh = False
                return kept
        found = Keys((tuple(tids), tuple(cs)))
        for by, source, key, trace, topic, partition, offset, t in self.query(
            "SELECT toString(By), toString(Source), Id, TraceId, toString(Topic), Partition,"
            f" Offset, toInt64(toUnixTimestamp64Nano(Timestamp)) FROM {self.keys_table}"
            " WHERE (By = 'correlation' AND Id IN {c:Array(String)})"
            " OR (By IN ('trace', 'link') AND Id IN {t:Array(String)})",
            t=tids,
            c=cs,
        ):
            if source == "hop":
                found.hops.add((topic, partition, offset))
                if trace:
                    found.hop_traces.add(trace)
            elif by == "link":
                found.links.append((key, trace, t))
            else:
                into = found.by_cid if by == "correlation" else found.by_trace
                lo, hi = into.get(trace, (t, t))
                into[trace] = (min(lo, t), max(hi, t))
        self._stash = found
        return found

    def spans(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Span]:
        tids, cs = ids(trace_ids), sorted(set(cids))
        if not (tids or cs):
            return []
        if self.keyed:
            return self._keyed_spans(tids, cs)
        found: list[Span] = []
        if tids:
            where = "TraceId IN {t:Array(String)}"
            window = self._trace_window(tids)
            if window is not None:
                where += f" AND Timestamp >= {ns(window[0])} AND Timestamp < {ns(window[1])}"
            found += self._spans_where(where, t=tids)
        if cs:
            wanted = set(cs)
            found += [s for s in self._spans_of(cs) if s.correlation_id in wanted]
        return _unique(found, span_identity)

    def _keyed_spans(self, tids: list[str], cs: list[str]) -> list[Span]:
        """The spans of ``tids`` and those carrying ``cs``, in one read: the traces and the
        times ``handoff_journey_keys`` names, read by trace id inside that window (the
        partitions and the primary key's time prune, then ``idx_trace_id``)."""
        keys = self.keys_of(tids, cs, fresh=True)
        default = self.correlation_keys == DEFAULT_CORRELATION_KEYS
        windows = list(keys.by_trace.values())
        if default:
            windows += keys.by_cid.values()
        traces = set(keys.by_trace) | (set(keys.by_cid) if default else set())
        found: list[Span] = []
        if traces:
            lo, hi = min(w[0] for w in windows), max(w[1] for w in windows)
            wanted_t, wanted_c = set(tids), set(cs)
            found = [
                s
                for s in self._spans_where(
                    f"TraceId IN {{t:Array(String)}} AND Timestamp >= {ns(lo)}"
                    f" AND Timestamp <= {ns(hi)}",
                    self.copied_spans_table if self.spans_copied else "",
                    t=sorted(traces),
                )
                if s.trace_id in wanted_t or (default and s.correlation_id in wanted_c)
            ]
        if cs and not default:  # the keys name the default attributes' ids: scan for these
            found += [s for s in self._spans_of(cs) if s.correlation_id in set(cs)]
        return _unique(found, span_identity)

    def _spans_of(self, cs: list[str]) -> list[Span]:
        """Spans with an attribute valued one of ``cs`` (the exporter's idx_*_attr_value serve
        these): the caller keeps those whose own correlation id is one of them."""
        return self._spans_where(
            self.cid_in(otel.TRACES, ("SpanAttributes", "ResourceAttributes")), c=cs
        )

    def hops(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[Hop]:
        tids, cs = ids(trace_ids), sorted(set(cids))
        if not (tids or cs) or not self.has(hs.HOPS):
            return []
        where = "(TraceId IN {t:Array(String)} OR CorrelationId IN {c:Array(String)})"
        if self.keyed:
            # Their coordinates from ``handoff_journey_keys``, then handoff_hops by its key.
            coords = sorted(self.keys_of(tids, cs).hops)
            if not coords:
                return []
            where += " AND (Topic, Partition, Offset) IN ("
            where += ", ".join(f"({literal(t)}, {int(p)}, {int(o)})" for t, p, o in coords) + ")"
        return self._hops(where, t=tids, c=cs)

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
        if self.keyed:  # the same pairs, from the round's read of handoff_journey_keys
            keys = self._stash
            if keys is None or keys.ids[0] != tuple(tids):
                keys = self.keys_of(tids, [])
            elif time.monotonic() - keys.read_at >= _STASH_S:
                keys = self.keys_of(*keys.ids_lists(), fresh=True)
            bound = None
            if keys.by_trace:  # as _trace_window's whole seconds
                bound = min(w[0] for w in keys.by_trace.values()) // 10**9 * 10**9 - _SKEW_NS
            for linked, linking, t in keys.links:
                if bound is None or t >= bound:
                    out.setdefault(linked.lower(), set()).add(linking.lower())
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
        if self.summarised:  # version 4's summary of the consumer spans
            parts.append(
                f"SELECT 0 AS src, ConsumerGroup AS grp FROM {self.groups_table}"
                " WHERE Topic = {t:String} GROUP BY grp ORDER BY grp LIMIT 20"
            )
        elif self.has(otel.TRACES):
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


@dataclass
class Keys:
    """What ``keys_of`` read for ``ids`` (trace ids, correlation ids)."""

    ids: tuple[tuple[str, ...], tuple[str, ...]]
    by_cid: dict[str, tuple[int, int]] = field(default_factory=dict)  # trace -> first, last
    by_trace: dict[str, tuple[int, int]] = field(default_factory=dict)  # trace -> first, last
    hops: set[tuple[str, int, int]] = field(default_factory=set)  # coordinates
    hop_traces: set[str] = field(default_factory=set)  # the hops' traces
    links: list[tuple[str, str, int]] = field(default_factory=list)  # linked, linking, start
    fresh: bool = False  # read for the lookup about to ask for it: ``keys_of(fresh=True)`` takes it
    read_at: float = field(default_factory=time.monotonic)

    def ids_lists(self) -> tuple[list[str], list[str]]:
        return list(self.ids[0]), list(self.ids[1])

    def merge(self, other: Keys) -> None:
        """Add what ``other`` (a read of other ids) found."""
        for mine, theirs in ((self.by_cid, other.by_cid), (self.by_trace, other.by_trace)):
            for trace, (lo, hi) in theirs.items():
                was = mine.get(trace, (lo, hi))
                mine[trace] = (min(was[0], lo), max(was[1], hi))
        self.hops |= other.hops
        self.hop_traces |= other.hop_traces
        self.links += other.links


def _unique(records: list[Any], identity: Any) -> list[Any]:
    seen: set[Any] = set()
    out = []
    for r in records:
        key = identity(r)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out
