"""Spans as one Arrow table for ``otel_traces``: ``serve``'s write path into ClickHouse.

``serve`` hands the store every span its receivers decode. Built as rows (``rows.py``
``trace_columns``) each span cost a call with seventeen keyword arguments and twenty-two
appends, and clickhouse-connect's Native writer then walked every attribute map again in Python,
as long again as building them (``bench/README.md``, "ClickHouse writer into chDB"). Here
a submit's spans become a ``SpanBatch`` of plain Python columns (``batch``), the writer joins
a batch's and builds one table an INSERT (``SpanBatch.table``), each column one ``pyarrow``
array built in C: the simple columns from one list each, the attribute maps as flat key and
value lists with offsets (a resource's map built once a submit and repeated by ``take``), the
``Events`` and ``Links`` Nested columns as one list array per sub-column sharing its offsets.
The table goes to the engine as Arrow (``Client.insert_arrow``), as ``hop_arrow.py`` sends the
hops.

Only the Map layout (the exporter's default DDL) is built here; a table whose attributes are
``JSON`` keeps ``rows.trace_columns``. Every value is the one ``rows.py`` writes, derived fields
and all: ``rows.py`` holds the rules (``as_string``, ``_put_derived``), this module only lays
out what they return (``tests/test_clickhouse_span_arrow.py`` inserts both and compares rows).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import accumulate, chain, islice
from typing import TYPE_CHECKING, Any

import orjson

from console.base.model import Span, SpanRow
from console.store.clickhouse import rows

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SpanBatch", "attribute_maps", "batch", "trace_table"]

_UINT64 = 2**64 - 1
_KINDS = {i: rows.span_kind_name(i) for i in range(6)}
_STATUSES = {i: rows.status_name(i) for i in range(3)}
_schema: Any = None


def _trace_schema() -> pa.Schema:
    """``otel_traces``' insert columns (``rows.TRACE_COLUMNS``) as Arrow types."""
    global _schema
    if _schema is None:
        import pyarrow as pa

        text_map = pa.map_(pa.string(), pa.string())
        _schema = pa.schema(
            [
                ("Timestamp", pa.timestamp("ns")),
                ("TraceId", pa.string()),
                ("SpanId", pa.string()),
                ("ParentSpanId", pa.string()),
                ("TraceState", pa.string()),
                ("SpanName", pa.string()),
                ("SpanKind", pa.string()),
                ("ServiceName", pa.string()),
                ("ResourceAttributes", text_map),
                ("ScopeName", pa.string()),
                ("ScopeVersion", pa.string()),
                ("SpanAttributes", text_map),
                ("Duration", pa.uint64()),
                ("StatusCode", pa.string()),
                ("StatusMessage", pa.string()),
                ("Events.Timestamp", pa.list_(pa.timestamp("ns"))),
                ("Events.Name", pa.list_(pa.string())),
                ("Events.Attributes", pa.list_(text_map)),
                ("Links.TraceId", pa.list_(pa.string())),
                ("Links.SpanId", pa.list_(pa.string())),
                ("Links.TraceState", pa.list_(pa.string())),
                ("Links.Attributes", pa.list_(text_map)),
            ]
        )
        assert tuple(_schema.names) == rows.TRACE_COLUMNS
    return _schema


def attribute_maps(maps: Sequence[dict[str, str]]) -> pa.Array:
    """Maps of strings as one ``Map(String, String)`` array: flat keys and values, offsets."""
    import pyarrow as pa

    offsets = [0, *accumulate(map(len, maps))]
    keys = [k for m in maps for k in m]
    values = [v for m in maps for v in m.values()]
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(keys, pa.string()), pa.array(values, pa.string())
    )


def _lists(offsets: list[int], values: pa.Array) -> pa.Array:
    import pyarrow as pa

    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)


class _Spans:
    """The per-span values that need Python (attribute maps, resources, events, links),
    collected column by column; ``ev_counts`` and ``lk_counts`` say how many a span has."""

    # The lists a batch's spans extend one after the other (resources are shared: see joined).
    LISTS = (
        "attrs",
        "ev_attrs",
        "ev_counts",
        "ev_names",
        "ev_times",
        "lk_attrs",
        "lk_counts",
        "lk_spans",
        "lk_traces",
    )
    __slots__ = (*LISTS, "res_index", "res_maps", "resources")

    def __init__(self) -> None:
        self.attrs: list[dict[str, str]] = []
        self.res_index: list[int] = []
        self.resources: dict[Any, int] = {}
        self.res_maps: list[dict[str, str]] = []
        self.ev_counts: list[int] = []
        self.ev_times: list[int] = []
        self.ev_names: list[str] = []
        self.ev_attrs: list[dict[str, str]] = []
        self.lk_counts: list[int] = []
        self.lk_traces: list[str] = []
        self.lk_spans: list[str] = []
        self.lk_attrs: list[dict[str, str]] = []

    def resource(self, key: Any, raw: Any) -> int:
        """A resource not seen yet in this batch: its index among the distinct maps."""
        at = self.resources[key] = len(self.res_maps)
        raw_map = rows._text_map(raw) if isinstance(raw, str) else raw
        self.res_maps.append(rows.string_map(raw_map))
        return at

    def events(self, events: Any) -> None:
        n = 0
        for e in events:
            self.ev_times.append(int(e.get("time_ns") or 0))
            self.ev_names.append(e.get("name") or "")
            self.ev_attrs.append(rows.string_map(e.get("attributes")))
            n += 1
        self.ev_counts.append(n)

    def links(self, links: Any) -> None:
        n = 0
        for lk in links:
            self.lk_traces.append(rows._hex(lk[0]))
            self.lk_spans.append(rows._hex(lk[1]))
            self.lk_attrs.append(rows.string_map(lk[2]))
            n += 1
        self.lk_counts.append(n)


def _row_attrs(text: str | None) -> dict[str, str]:
    """A ``SpanRow``'s attributes (JSON text) as strings: the decoded dict, its few values
    that are not text rendered in place (``rows.string_map``'s values)."""
    if not text:
        return {}
    attrs = orjson.loads(text)
    if type(attrs) is not dict:
        return {}
    for k, v in attrs.items():
        kind = type(v)
        if kind is not str:
            attrs[k] = str(v) if kind is int else rows.as_string(v)
    return attrs


def _collect_rows(records: Sequence[SpanRow], out: _Spans) -> None:
    put_derived = rows._put_derived
    attrs_out = out.attrs.append
    resources = out.resources
    res_out = out.res_index.append
    ev_none = out.ev_counts.append
    lk_none = out.lk_counts.append
    for r in records:
        at = resources.get(r[19])
        res_out(out.resource(r[19], r[19]) if at is None else at)
        attrs = _row_attrs(r[18])
        put_derived(attrs, r[11], r[12:18], r[22] if len(r) > 22 else None)
        attrs_out(attrs)
        if r[20]:
            out.events(orjson.loads(r[20]))
        else:
            ev_none(0)
        if r[21]:
            out.links(r[21])
        else:
            lk_none(0)


def _collect_spans(records: Sequence[Span], out: _Spans) -> None:
    attrs_out = out.attrs.append
    resources = out.resources
    res_out = out.res_index.append
    ev_none = out.ev_counts.append
    lk_none = out.lk_counts.append
    for s in records:
        at = resources.get(id(s.resource))
        res_out(out.resource(id(s.resource), s.resource) if at is None else at)
        attrs = rows.span_attributes(s)
        attrs_out(attrs)
        if s.events:
            out.events(s.events)
        else:
            ev_none(0)
        if s.links:
            out.links([(lk.trace_id, lk.span_id, lk.attributes) for lk in s.links])
        else:
            lk_none(0)


def _hex_ids(ids: Sequence[Any]) -> list[str]:
    """``rows._hex`` of each id, raw bytes (the fast decoder's) without the call."""
    hex_id = rows._hex
    return [i.hex() if type(i) is bytes else hex_id(i) for i in ids]


def _row_fields(records: Sequence[SpanRow]) -> list[Sequence[Any]]:
    """``SpanRow``s' simple fields (0 to 10) as columns: ids as hex (transposed in C)."""
    if not records:
        return [()] * 11
    columns: Iterator[Sequence[Any]] = zip(*records, strict=False)
    fields = list(islice(columns, 11))
    for i in (0, 1, 2):
        fields[i] = _hex_ids(fields[i])
    return fields


def _span_fields(spans: Sequence[Span]) -> list[Sequence[Any]]:
    """``Span``s' simple fields in ``SpanRow`` order (their ids are hex text already)."""
    return [
        [s.trace_id for s in spans],
        [s.span_id for s in spans],
        [s.parent_span_id or "" for s in spans],
        [s.name for s in spans],
        [s.kind for s in spans],
        [s.start_ns for s in spans],
        [s.end_ns for s in spans],
        [s.status_code for s in spans],
        [s.status_message for s in spans],
        [s.service for s in spans],
        [s.scope for s in spans],
    ]


class SpanBatch:
    """Spans as plain Python columns (``batch``): what a submit keeps until its INSERT.

    The writer joins a batch's submits (``joined``) and builds one Arrow table for the INSERT
    (``table``) in its own thread. Built a submit at a time instead, each 100-span request paid
    some forty pyarrow calls, each letting go of the GIL and waiting to get it back from the
    receiver's other threads, and the engine read the INSERT as one small record batch a
    request (``bench/README.md``). The records themselves are not kept: their columns are
    lists of text and numbers, and dicts of text that Python's collector does not track.
    """

    __slots__ = ("fields", "got")

    def __init__(self, fields: list[Sequence[Any]], got: _Spans) -> None:
        self.fields = fields  # SpanRow fields 0 to 10, one list each (ids as hex)
        self.got = got

    def __len__(self) -> int:
        return len(self.fields[5])

    @staticmethod
    def joined(batches: Sequence[SpanBatch]) -> SpanBatch:
        """The batches as one (their spans in order)."""
        if len(batches) == 1:
            return batches[0]
        fields: list[Sequence[Any]] = [
            list(chain.from_iterable(b.fields[i] for b in batches)) for i in range(11)
        ]
        got = _Spans()
        for b in batches:
            shift = len(got.res_maps)
            got.res_maps.extend(b.got.res_maps)
            got.res_index.extend([i + shift for i in b.got.res_index] if shift else b.got.res_index)
            for name in _Spans.LISTS:
                getattr(got, name).extend(getattr(b.got, name))
        return SpanBatch(fields, got)

    def table(self) -> pa.Table:
        """The spans as ``otel_traces`` rows (``rows.TRACE_COLUMNS``), one Arrow table."""
        import pyarrow as pa

        trace, span, parent, name, kind, start, end, status, message, service, scope = self.fields
        got = self.got
        blank = pa.array([""] * len(start), pa.string())
        ev_offsets = [0, *accumulate(got.ev_counts)]
        lk_offsets = [0, *accumulate(got.lk_counts)]
        columns: list[Any] = [
            start,
            trace,
            span,
            parent,
            blank,  # TraceState: not kept by the console's records
            name,
            [_KINDS.get(k, "") for k in kind],
            service,
            attribute_maps(got.res_maps).take(pa.array(got.res_index, pa.int32())),
            scope,
            blank,  # ScopeVersion: not kept
            attribute_maps(got.attrs),
            # pdata subtracts unsigned nanoseconds: an end before the start wraps, as the
            # exporter's.
            [(e - s) & _UINT64 for s, e in zip(start, end, strict=True)],
            [_STATUSES.get(c, "") for c in status],
            message,
            _lists(ev_offsets, pa.array(got.ev_times, pa.timestamp("ns"))),
            _lists(ev_offsets, pa.array(got.ev_names, pa.string())),
            _lists(ev_offsets, attribute_maps(got.ev_attrs)),
            _lists(lk_offsets, pa.array(got.lk_traces, pa.string())),
            _lists(lk_offsets, pa.array(got.lk_spans, pa.string())),
            _lists(lk_offsets, pa.array([""] * len(got.lk_traces), pa.string())),
            _lists(lk_offsets, attribute_maps(got.lk_attrs)),
        ]
        schema = _trace_schema()
        arrays = [
            c if isinstance(c, pa.Array) else pa.array(c, type=field.type)
            for c, field in zip(columns, schema, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=schema)


def batch(records: Sequence[Span | SpanRow]) -> SpanBatch:
    """Spans (``Span`` or ``SpanRow``) as a ``SpanBatch``: the values ``rows.trace_columns``
    gives for the Map layout (``SpanRow``s first, then ``Span``s: a table's rows have no
    order). ``ValueError`` for a value no column holds, here rather than at the INSERT."""
    span_rows = [r for r in records if isinstance(r, SpanRow)]
    spans: list[Span] = [r for r in records if not isinstance(r, SpanRow)]
    got = _Spans()
    _collect_rows(span_rows, got)
    _collect_spans(spans, got)
    fields: list[Sequence[Any]]
    if spans:
        fields = [
            [*a, *b] for a, b in zip(_row_fields(span_rows), _span_fields(spans), strict=True)
        ]
    else:
        fields = _row_fields(span_rows)
    rows.int64_column(list(fields[5]), "span start")
    rows.int64_column(got.ev_times, "event time")
    return SpanBatch(fields, got)


def trace_table(records: Sequence[Span | SpanRow]) -> pa.Table:
    """Spans as one ``otel_traces`` Arrow table (``batch(records).table()``)."""
    return batch(records).table()
