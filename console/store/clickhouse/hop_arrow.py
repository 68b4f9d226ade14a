"""Hops as one Arrow table for ``handoff_hops``: the tap's write path into ClickHouse.

A tap hands the store tens of thousands of hops a second. Built as Python lists and encoded
by clickhouse-connect's Native writer, every hop cost three lists of its own (header names,
header values, business keys) and a Python loop per column; the lists alone kept Python's
garbage collector busy with the queued records (``bench/README.md``: the tap into chDB). Here
each column is one ``pyarrow`` array built in C from one comprehension, the headers one
list-of-struct array split into names and values, and the table goes to the engine as Arrow
(``Client.insert_arrow``: chDB and a ClickHouse server read it natively). pyarrow comes with
the ``clickhouse`` extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from console.base.model import Hop
from console.store.clickhouse import rows

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["hop_table"]

_schema: Any = None


def _hop_schema() -> pa.Schema:
    """``handoff_hops``' columns as Arrow types (the table's own types: ``handoff_schema``)."""
    global _schema
    if _schema is None:
        import pyarrow as pa

        _schema = pa.schema(
            [
                ("Cluster", pa.string()),
                ("Topic", pa.string()),
                ("Partition", pa.int32()),
                ("Offset", pa.int64()),
                ("Timestamp", pa.timestamp("ms")),
                ("TimestampType", pa.uint8()),
                ("Key", pa.binary()),
                ("Size", pa.uint32()),
                ("HeaderNames", pa.list_(pa.string())),
                ("HeaderValues", pa.list_(pa.binary())),
                ("CorrelationId", pa.string()),
                ("TraceId", pa.string()),
                ("SpanId", pa.string()),
                ("PayloadSha256", pa.string()),
                ("Payload", pa.binary()),
                ("BusinessKeys", pa.list_(pa.string())),
                ("SeenAt", pa.timestamp("ns")),
            ]
        )
    return _schema


def hop_table(hops: Sequence[Hop], now_ns: int) -> pa.Table:
    """``hops`` as ``handoff_hops`` rows; ``SeenAt`` is when the tap saw a message (``now_ns``
    when it did not say). ``ValueError`` for a value no column holds."""
    import pyarrow as pa

    schema = _hop_schema()
    headers = pa.array(
        [h.headers for h in hops],
        type=pa.list_(pa.struct([("n", pa.string()), ("v", pa.binary())])),
    )
    header_values = headers.values
    columns = [
        [h.cluster_id or "" for h in hops],
        [h.topic for h in hops],
        [h.partition for h in hops],
        rows.int64_column([h.offset for h in hops], "offset"),
        rows.int64_column([h.timestamp_ms for h in hops], "timestamp"),
        [h.timestamp_type for h in hops],
        [h.key for h in hops],
        [h.size for h in hops],
        pa.ListArray.from_arrays(headers.offsets, header_values.field(0)),
        pa.ListArray.from_arrays(headers.offsets, header_values.field(1)),
        [h.correlation_id or "" for h in hops],
        [h.trace_id or "" for h in hops],
        [h.span_id or "" for h in hops],
        [h.payload_sha256 or "" for h in hops],
        [h.payload for h in hops],
        [h.business_keys for h in hops],
        [h.seen_ns or now_ns for h in hops],
    ]
    arrays = [
        c if isinstance(c, pa.Array) else pa.array(c, type=field.type)
        for c, field in zip(columns, schema, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=schema)
