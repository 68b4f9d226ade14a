"""What makes two records the same record, and where a hop's offset is filed: one rule each.

The writer's duplicate check, its probe of the stored blocks and the readers that hide a record
stored twice all call these, so they cannot disagree.

* A span is ``(trace id, span id)``, both as the raw bytes the blocks keep.
* A hop is ``(cluster id, topic, partition, offset)``.
* A log record has no id: it is the same record when every field a sender sets is the same
  (time, service, severity number and text, body, trace and span ids, attributes, correlation
  id). Two "order placed" logs in one millisecond that differ in an attribute, or in their
  severity text alone, are two records.
* A metric point is the same point when its series (name, service, kind, attributes), its times
  and its value (value, count, sum, buckets) are. Two gauge points of one series at one time with
  different values are two points.

Attributes are compared as maps, whatever order their keys came in (``canonical``): a resend
re-encoded with its keys in another order is the same record.

Log and metric identities are kept as a hash (the window must not hold every recent body); a
collision costs one record, never a record stored twice.

Hop buckets: a block of hops files each (topic, partition) range ``lo..hi`` under every bucket
``offset // HOP_BUCKET`` from ``lo`` to ``hi`` (or, when that would be more than 16 buckets, a
sparse compacted topic, under the wide buckets ``-1 - offset // WIDE_BUCKET``). So a block that
holds ``offset`` is always filed under one of ``hop_buckets(offset)``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from console.base.jsontext import dumps
from console.base.model import Hop, LogRecord, MetricPoint, Span, SpanRow

__all__ = [
    "HOP_BUCKET",
    "WIDE_BUCKET",
    "block_buckets",
    "canonical",
    "canonical_text",
    "hop_buckets",
    "hop_fields_identity",
    "hop_identity",
    "log_identity",
    "metric_identity",
    "metric_row_identity",
    "raw_id",
    "span_fields_identity",
    "span_identity",
    "span_row_identity",
]

HOP_BUCKET = 4096  # hop_ranges: offsets per bucket
WIDE_BUCKET = 1 << 24  # ... and per wide bucket (sparse offsets)
_MAX_NARROW = 16  # a range over more buckets than this is filed under wide buckets


def raw_id(hex_id: str | None) -> bytes | str | None:
    """An id as the raw bytes blocks keep (text that is not hex stays text)."""
    if hex_id is None:
        return None
    try:
        raw = bytes.fromhex(hex_id)
    except ValueError:
        return hex_id
    return raw if len(raw) * 2 == len(hex_id) else hex_id


def span_row_identity(row: SpanRow) -> tuple[Any, Any]:
    return (row[0], row[1])


def span_identity(span: Span) -> tuple[Any, Any]:
    return (raw_id(span.trace_id), raw_id(span.span_id))


def span_fields_identity(trace_id: Any, fields: list[Any]) -> tuple[Any, Any]:
    """``span_identity`` of a span still packed in a block: its trace id column entry and its
    ``BlockReader.fields`` (which begin with the span id)."""
    return (trace_id, fields[0])


def hop_identity(h: Hop) -> tuple[Any, ...]:
    return (getattr(h, "cluster_id", None), h.topic, h.partition, h.offset)


def hop_fields_identity(fields: list[Any]) -> tuple[Any, ...]:
    """``hop_identity`` of a hop still packed in a block (``BlockReader.fields``)."""
    return (fields[12], fields[0], fields[1], fields[2])


def log_identity(r: LogRecord) -> int:
    return hash(
        (
            "l",
            r.time_ns,
            r.service,
            r.severity_number,
            r.severity_text,
            r.body,
            r.trace_id,
            r.span_id,
            r.correlation_id,
            canonical(r.attributes),
        )
    )


def metric_identity(m: MetricPoint) -> int:
    return metric_row_identity(
        m.name,
        m.service,
        m.time_ns,
        m.start_time_ns,
        m.kind,
        canonical(m.attributes),
        m.value,
        m.count,
        m.sum,
        dumps(m.bucket_counts) if m.bucket_counts else None,
    )


def metric_row_identity(*fields: Any) -> int:
    """``metric_identity`` of a stored row: name, service, time_ns, start_time_ns, kind,
    attributes (``canonical`` text), value, count, sum, bucket_counts (JSON text or None)."""
    return hash(("m", *fields))


def canonical(attributes: Any) -> str:
    """Attributes as JSON text with their keys sorted (at every depth), so two maps equal as
    maps have one text: the stored text keeps the sender's order (``dumps``), identities use
    this."""
    try:
        return orjson.dumps(attributes, default=str, option=orjson.OPT_SORT_KEYS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(attributes, default=str, sort_keys=True, separators=(",", ":"))


def canonical_text(text: str) -> str:
    """``canonical`` of attributes stored as JSON text (``dumps``)."""
    return canonical(json.loads(text)) if text else text


def hop_buckets(offset: int) -> tuple[int, int]:
    """The two buckets a block holding ``offset`` may be filed under (narrow, wide)."""
    return offset // HOP_BUCKET, -1 - offset // WIDE_BUCKET


def block_buckets(lo: int, hi: int) -> range:
    """The buckets a block holding offsets ``lo..hi`` of one partition is filed under."""
    first, last = lo // HOP_BUCKET, hi // HOP_BUCKET
    if last - first <= _MAX_NARROW:
        return range(first, last + 1)
    return range(-1 - lo // WIDE_BUCKET, -2 - hi // WIDE_BUCKET, -1)
