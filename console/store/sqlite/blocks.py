"""Records in blocks: how spans, hops and log records are laid out inside one compressed blob.

A block holds up to ``MAX_RECORDS`` records of one kind (or about ``MAX_RAW_BYTES`` before
compression). Its blob is ``zstd(msgpack([version, columns, resources, records]))``:

* ``columns`` carry what lookups select on, one entry per record: trace ids (16 raw bytes),
  correlation ids, and for spans the trace ids their links point at. A reader picks its records
  from them without decoding the others.
* ``resources`` are the block's distinct OTLP resource maps (JSON text), referenced by index.
* ``records`` are the records themselves, each packed on its own (msgpack ``bin``), so a reader
  unpacks only the ones it picked.

Trace and span ids travel as raw bytes (half the size of hex, and random bytes do not compress).
The block is the truth: keys and summaries only point at it.

Why ~440 lines in one room: each record kind's encoder and decoder sit side by side (spans,
hops, log records, and ``BlockReader`` over all three), so a record's layout is written once on
each side in one file and a change to one is seen beside the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import compress
from typing import Any

import msgpack
import zstandard

from console.base.jsontext import dumps
from console.base.model import Hop, LogRecord, Span, SpanLink, SpanRow

__all__ = [
    "KIND_HOP",
    "KIND_LOG",
    "KIND_SPAN",
    "MAX_RAW_BYTES",
    "MAX_RECORDS",
    "BlockReader",
    "encode_hops",
    "encode_logs",
    "encode_spans",
    "loads_json",
    "span_row",
]

KIND_SPAN = 1
KIND_HOP = 2
KIND_LOG = 3

MAX_RECORDS = 1000
MAX_RAW_BYTES = 256 * 1024
_VERSION = 1
_LEVEL = 3

_packb = msgpack.Packer(use_bin_type=True, autoreset=True).pack
_compressor = zstandard.ZstdCompressor(level=_LEVEL)
_decompressor = zstandard.ZstdDecompressor()

try:  # orjson when present: the attribute maps are the bulk of a span
    import orjson

    def loads_json(text: str | bytes) -> Any:
        return orjson.loads(text)

except ImportError:  # pragma: no cover - orjson is a dependency
    import json

    def loads_json(text: str | bytes) -> Any:
        return json.loads(text)


def _raw(hex_id: str | None) -> bytes | str | None:
    """An id as raw bytes (decoders give lowercase hex); anything else stays text (msgpack keeps
    the type, so it comes back as given)."""
    if hex_id is None:
        return None
    try:
        raw = bytes.fromhex(hex_id)
    except ValueError:
        return hex_id
    return raw if len(raw) * 2 == len(hex_id) else hex_id


def _hex(raw: bytes | str | None) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    return raw.hex()


def _compress(version: int, columns: list[Any], resources: list[str], packed: list[bytes]) -> bytes:
    return _compressor.compress(_packb([version, columns, resources, packed]))


# -- spans ---------------------------------------------------------------------------------


def span_row(s: Span) -> SpanRow:
    """A ``Span`` laid out as the fast decoder lays out what it decodes (``SpanRow``)."""
    res = s.resource
    return SpanRow(
        (
            _raw(s.trace_id),
            _raw(s.span_id),
            _raw(s.parent_span_id),
            s.name,
            s.kind,
            s.start_ns,
            s.end_ns,
            s.status_code,
            s.status_message,
            s.service,
            s.scope,
            s.correlation_id,
            s.messaging_system,
            s.messaging_destination,
            s.messaging_partition,
            s.messaging_offset,
            s.messaging_operation,
            s.messaging_consumer_group,
            getattr(s.attributes, "json", None) or dumps(s.attributes),
            dumps(res) if res else "{}",
            dumps(s.events) if s.events else None,
            [[lk.trace_id, lk.span_id, lk.attributes] for lk in s.links] if s.links else None,
            list(s.business_keys) if s.business_keys else None,
        )
    )


def encode_spans(spans: Sequence[Span | SpanRow]) -> bytes:
    """One block of spans (the caller keeps it under ``MAX_RECORDS``)."""
    by_text: dict[str, int] = {}
    resource_texts: list[str] = []
    tids: list[bytes | str | None] = []
    cids: list[str | None] = []
    links: list[list[str] | None] = []
    bkeys: list[list[str] | None] = []
    packed: list[bytes] = []
    for s in spans:
        r = s if isinstance(s, SpanRow) else span_row(s)
        links.append([lk[0] for lk in r[21]] if r[21] else None)
        bkeys.append(list(r[22]) if len(r) > 22 and r[22] else None)
        text = r[19]
        idx = by_text.get(text)
        if idx is None:
            idx = by_text[text] = len(resource_texts)
            resource_texts.append(text)
        tids.append(r[0])
        cids.append(r[11])
        packed.append(
            _packb(
                (
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    r[8],
                    r[9],
                    r[10],
                    r[12],
                    r[13],
                    r[14],
                    r[15],
                    r[16],
                    r[17],
                    r[18],
                    idx,
                    r[20],
                    r[21],
                )
            )
        )
    columns: list[Any] = [tids, cids, links]
    if any(bkeys):  # added in a fourth column: blocks without it read as having none
        columns.append(bkeys)
    return _compress(_VERSION, columns, resource_texts, packed)


def _span(
    tid: bytes | str,
    cid: str | None,
    rec: Sequence[Any],
    resources: list[Any],
    bkeys: Sequence[str] | None = None,
) -> Span:
    (
        sid,
        parent,
        name,
        kind,
        start,
        end,
        code,
        message,
        service,
        scope,
        system,
        dest,
        part,
        off,
        op,
        group,
        attrs,
        ridx,
        events,
        links,
    ) = rec
    res = resources[ridx]
    if isinstance(res, str):
        res = resources[ridx] = loads_json(res)
    return Span(
        trace_id=_hex(tid) or "",
        span_id=_hex(sid) or "",
        parent_span_id=_hex(parent),
        name=name,
        kind=kind,
        start_ns=start,
        end_ns=end,
        status_code=code,
        status_message=message,
        service=service,
        scope=scope,
        correlation_id=cid,
        messaging_system=system,
        messaging_destination=dest,
        messaging_partition=part,
        messaging_offset=off,
        messaging_operation=op,
        messaging_consumer_group=group,
        attributes=loads_json(attrs),
        resource=res,
        events=tuple(loads_json(events)) if events else (),
        links=tuple(SpanLink(t, i, a) for t, i, a in links) if links else (),
        business_keys=tuple(bkeys) if bkeys else (),
    )


# -- hops ----------------------------------------------------------------------------------


def _headers_out(h: Hop) -> list[list[Any]]:
    """Headers as stored. A ``traceparent`` that says exactly this hop's trace and span id keeps
    only its flags (``[name, flags, 1]``): the ids are in the record already, and 24 random bytes
    a hop are most of what a block cannot compress."""
    out: list[list[Any]] = []
    prefix = None
    for name, value in h.headers:
        if name == "traceparent" and value is not None and h.trace_id and h.span_id:
            if prefix is None:
                prefix = f"00-{h.trace_id}-{h.span_id}-".encode()
            if len(value) == len(prefix) + 2 and value.startswith(prefix):
                out.append([name, value[-2:], 1])
                continue
        out.append([name, value])
    return out


def _headers_in(headers: list[list[Any]], tid: str | None, sid: str | None) -> tuple[Any, ...]:
    return tuple(
        (e[0], f"00-{tid}-{sid}-".encode() + e[1]) if len(e) == 3 else (e[0], e[1]) for e in headers
    )


def _sha_out(sha: str | None) -> bytes | str | None:
    raw = _raw(sha)
    return raw if isinstance(raw, bytes) and len(raw) == 32 else sha


def encode_hops(hops: Sequence[Hop]) -> bytes:
    tids: list[bytes | str | None] = []
    cids: list[str | None] = []
    bkeys: list[list[str] | None] = []
    packed: list[bytes] = []
    for h in hops:
        tids.append(_raw(h.trace_id))
        cids.append(h.correlation_id)
        found = getattr(h, "business_keys", ())
        bkeys.append(list(found) if found else None)
        packed.append(
            _packb(
                (
                    h.topic,
                    h.partition,
                    h.offset,
                    h.timestamp_ms,
                    h.timestamp_type,
                    h.key,
                    h.size,
                    _headers_out(h),
                    _raw(h.span_id),
                    _sha_out(h.payload_sha256),
                    h.payload,
                    h.seen_ns,
                    getattr(h, "cluster_id", None),
                )
            )
        )
    columns: list[Any] = [tids, cids]
    if any(bkeys):  # the third column stays the (span-only) links: business keys are the fourth
        columns.extend([[], bkeys])
    return _compress(_VERSION, columns, [], packed)


def _hop(tid: bytes | str | None, cid: str | None, rec: Sequence[Any], bkeys: Any = None) -> Hop:
    topic, part, off, ts, ts_type, key, size, headers, sid, sha, payload, seen, cluster = rec
    trace_id, span_id = _hex(tid), _hex(sid)
    return Hop(
        topic=topic,
        partition=part,
        offset=off,
        timestamp_ms=ts,
        timestamp_type=ts_type,
        key=key,
        size=size,
        headers=_headers_in(headers, trace_id, span_id),
        correlation_id=cid,
        trace_id=trace_id,
        span_id=span_id,
        payload_sha256=sha.hex() if isinstance(sha, bytes) else sha,
        payload=payload,
        seen_ns=seen,
        cluster_id=cluster,
        business_keys=tuple(bkeys) if bkeys else (),
    )


# -- logs ----------------------------------------------------------------------------------


def encode_logs(logs: Sequence[LogRecord]) -> bytes:
    tids: list[bytes | str | None] = []
    cids: list[str | None] = []
    packed: list[bytes] = []
    for r in logs:
        tids.append(_raw(r.trace_id))
        cids.append(r.correlation_id)
        packed.append(
            _packb(
                (
                    r.time_ns,
                    r.service,
                    r.severity_number,
                    r.severity_text,
                    r.body,
                    _raw(r.span_id),
                    dumps(r.attributes),
                )
            )
        )
    return _compress(_VERSION, [tids, cids], [], packed)


def _log(tid: bytes | str | None, cid: str | None, rec: Sequence[Any]) -> LogRecord:
    time_ns, service, sev_n, sev_t, body, sid, attrs = rec
    return LogRecord(
        time_ns=time_ns,
        service=service,
        severity_number=sev_n,
        severity_text=sev_t,
        body=body,
        trace_id=_hex(tid),
        span_id=_hex(sid),
        correlation_id=cid,
        attributes=loads_json(attrs),
    )


# -- reading -------------------------------------------------------------------------------


class BlockReader:
    """One block, decompressed once; records are unpacked only when asked for."""

    __slots__ = (
        "bkeys",
        "cids",
        "kind",
        "links",
        "packed",
        "resources",
        "tids",
    )

    def __init__(self, kind: int, blob: bytes) -> None:
        version, columns, resources, packed = msgpack.unpackb(
            _decompressor.decompress(blob), raw=False, use_list=True
        )
        if version != _VERSION:
            raise ValueError(f"block format {version} is newer than this handoff-console")
        self.kind = kind
        self.tids: list[bytes | str | None] = columns[0]
        self.cids: list[str | None] = columns[1]
        self.links: list[list[str] | None] = columns[2] if len(columns) > 2 else []
        # business-key values per record (a later column: older blocks have none)
        self.bkeys: list[list[str] | None] = columns[3] if len(columns) > 3 else []
        self.resources: list[Any] = resources
        self.packed: list[bytes] = packed

    def __len__(self) -> int:
        return len(self.packed)

    def select(self, trace_ids: Iterable[str] = (), cids: Iterable[str] = ()) -> list[int]:
        """Indexes of the records whose trace id or correlation id is one of those given (a
        membership test per column, at C speed: no per-block index is built)."""
        want_t = {r for r in (_raw(t) for t in trace_ids) if r is not None}
        want_c = {c for c in cids if c is not None}
        found: set[int] = set()
        if want_t:
            found.update(compress(range(len(self.tids)), map(want_t.__contains__, self.tids)))
        if want_c:
            found.update(compress(range(len(self.cids)), map(want_c.__contains__, self.cids)))
        return sorted(found)

    def linking(self, trace_ids: set[str]) -> list[int]:
        """Indexes of the spans with a link to one of ``trace_ids``."""
        return [i for i, lks in enumerate(self.links) if lks and not trace_ids.isdisjoint(lks)]

    def keyed(self, value: str) -> list[int]:
        """Indexes of the records with ``value`` among their business keys (a span's message key
        attribute, a hop's payload fields)."""
        return [i for i, found in enumerate(self.bkeys) if found and value in found]

    def trace_hex(self, i: int) -> str | None:
        return _hex(self.tids[i])

    def record(self, i: int) -> Span | Hop | LogRecord:
        rec = msgpack.unpackb(self.packed[i], raw=False, use_list=True)
        bkeys = self.bkeys[i] if self.bkeys else None
        if self.kind == KIND_SPAN:
            return _span(self.tids[i] or b"", self.cids[i], rec, self.resources, bkeys)
        if self.kind == KIND_HOP:
            return _hop(self.tids[i], self.cids[i], rec, bkeys)
        return _log(self.tids[i], self.cids[i], rec)

    def fields(self, i: int) -> list[Any]:
        """The raw field list of record ``i`` (cheap scans that need a few fields)."""
        fields: list[Any] = msgpack.unpackb(self.packed[i], raw=False, use_list=True)
        return fields

    def records(self, indexes: Iterable[int] | None = None) -> list[Any]:
        idx = range(len(self.packed)) if indexes is None else indexes
        return [self.record(i) for i in idx]
