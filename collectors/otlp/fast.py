"""The hot path for protobuf trace requests: same records as ``decode.spans_from_request``, faster.

Most of the cost of decoding a span is walking its attributes, one Python object per
``KeyValue`` and ``AnyValue``. Here the request is parsed with a *view* of ``trace.proto`` built at
import time from the generated descriptors, identical except that ``Span.attributes`` is declared
``repeated bytes``: a length-delimited field is the same on the wire whether it holds a message or
bytes, so each attribute arrives as its serialized ``KeyValue``. Those bytes key a bounded cache of
``(key, value, json fragment)``; a miss is parsed by the generated ``KeyValue`` class. Real traffic
repeats most attributes (system, destination, route, group...), so most attributes cost one
dictionary lookup, and the span's attribute JSON is joined from the cached fragments.

No wire format is parsed by hand: every byte goes through the protobuf runtime.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError as _ProtoDecodeError
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from collectors.otlp.decode import (
    _GROUP_KEYS,
    _OFFSET_KEYS,
    _OPERATION_KEYS,
    DEFAULT_CORRELATION_KEYS,
    Decoded,
    DecodeError,
    _first,
    _int,
    _text,
    decode_any_value,
    decode_attributes,
    decode_event,
    decode_resource,
    decode_span,
)
from collectors.otlp.validate import BAD_IDS, MAX_INT64, Rejections, span_problem
from console.base.jsontext import dumps
from console.base.model import EncodedAttributes, SpanRow
from console.base.semconv import MESSAGE_KEY_ATTRIBUTES
from console.base.semconv import business_keys as _business_keys

__all__ = ["FastTraceDecoder"]

_OLD = ".opentelemetry.proto.trace.v1."
_PACKAGE = "handoff_console.otlp_view.trace"


def _view_class() -> Any:
    """``TracesData`` (wire-identical to ExportTraceServiceRequest) with attributes as bytes."""
    pool = descriptor_pool.DescriptorPool()
    for module in (common_pb2, resource_pb2):
        dep = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(dep)
        pool.Add(dep)
    fdp = descriptor_pb2.FileDescriptorProto()
    trace_pb2.DESCRIPTOR.CopyToProto(fdp)
    fdp.name = "handoff_console/otlp_view/trace.proto"
    fdp.package = _PACKAGE
    fdp.ClearField("options")

    def retarget(message: descriptor_pb2.DescriptorProto) -> None:
        for f in message.field:
            if f.type_name.startswith(_OLD):
                f.type_name = f".{_PACKAGE}.{f.type_name[len(_OLD) :]}"
        for nested in message.nested_type:
            retarget(nested)

    for message in fdp.message_type:
        retarget(message)
        if message.name == "Span":
            for f in message.field:
                if f.name == "attributes":
                    f.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    f.ClearField("type_name")
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.TracesData"))


_TracesView = _view_class()
_KeyValue = common_pb2.KeyValue


class FastTraceDecoder:
    """``decode(body)`` -> ``(spans, rejected, message)`` of a protobuf trace request."""

    def __init__(
        self,
        correlation_keys: Sequence[str] = DEFAULT_CORRELATION_KEYS,
        cache_entries: int = 10_000,
        key_attributes: Sequence[str] = (),
    ) -> None:
        self.correlation_keys = tuple(correlation_keys)
        self.key_attributes = tuple(key_attributes)
        # Decoded attributes by their raw bytes. About 400 bytes an entry: 50,000 of them took
        # ~20 MiB, filled over minutes by values that never repeat (correlation ids, offsets),
        # and kept serve's RSS growing through a 10-minute soak; 10,000 (~4 MiB) still holds
        # every attribute that does repeat (a benchmark's 64 request variants use 324).
        self.cache_entries = cache_entries
        self._cache: dict[bytes, tuple[str, Any, str, bool]] = {}
        self._lock = threading.Lock()
        # The attributes a record's derived fields come from (correlation id, messaging).
        self._derived = frozenset(
            (
                *self.correlation_keys,
                "messaging.system",
                "messaging.destination.name",
                "messaging.destination.partition.id",
                *_OFFSET_KEYS,
                *_OPERATION_KEYS,
                *_GROUP_KEYS,
                *MESSAGE_KEY_ATTRIBUTES,
                *self.key_attributes,
            )
        )

    def _miss(self, raw: bytes) -> tuple[str, Any, str, bool]:
        try:
            kv = _KeyValue.FromString(raw)
        except _ProtoDecodeError as exc:
            raise DecodeError(f"malformed protobuf body: bad attribute: {exc}") from None
        value = decode_any_value(kv.value)
        entry = (kv.key, value, dumps({kv.key: value})[1:-1], kv.key in self._derived)
        cache = self._cache
        if len(cache) >= self.cache_entries:
            with self._lock:
                cache.clear()
        cache[raw] = entry
        return entry

    def attributes(self, raws: Sequence[bytes]) -> EncodedAttributes:
        out = EncodedAttributes()
        if not raws:
            out.json = "{}"
            return out
        get = self._cache.get
        fragments = []
        for raw in raws:
            entry = get(raw) or self._miss(raw)
            out[entry[0]] = entry[1]
            fragments.append(entry[2])
        # A repeated key keeps the last value in the dict; then the fragments would disagree.
        out.json = "{" + ",".join(fragments) + "}" if len(out) == len(fragments) else None
        return out

    def decode(self, body: bytes) -> Decoded:
        try:
            request = _TracesView.FromString(body)
        except _ProtoDecodeError as exc:
            raise DecodeError(f"malformed protobuf body: {exc}") from None
        keys = self.correlation_keys
        spans: list[Any] = []
        append = spans.append
        rejected = Rejections("spans")
        for rs in request.resource_spans:
            service, resource = decode_resource(rs.resource)
            for ss in rs.scope_spans:
                scope = ss.scope.name
                for span in ss.spans:
                    why = span_problem(span)
                    if why is not None:
                        self.attributes(span.attributes)  # still a DecodeError when malformed
                        rejected.add(why)
                        continue
                    attrs = self.attributes(span.attributes)
                    append(
                        decode_span(
                            span, service, resource, scope, keys, attrs, self.key_attributes
                        )
                    )
        return spans, rejected.count, rejected.message()

    def decode_rows(self, body: bytes) -> Decoded:
        """``decode`` without ``Span`` objects: each span comes as the ``SpanRow`` the store
        keeps (raw ids, attribute JSON joined from cached fragments, derived fields read from the
        few attributes they come from), which is what the receivers hand to the store. Stored
        byte for byte as ``decode`` would be (tests/test_otlp_decode_props.py checks it)."""
        try:
            request = _TracesView.FromString(body)
        except _ProtoDecodeError as exc:
            raise DecodeError(f"malformed protobuf body: {exc}") from None
        keys = self.correlation_keys
        key_names = self.key_attributes
        get = self._cache.get
        miss = self._miss
        rows: list[Any] = []
        append = rows.append
        rejected = Rejections("spans")
        for rs in request.resource_spans:
            service, resource = decode_resource(rs.resource)
            resource_json = dumps(resource) if resource else "{}"
            resource_cid = _first(resource, keys) if resource else None
            for ss in rs.scope_spans:
                scope = ss.scope.name
                for span in ss.spans:
                    tid, sid = span.trace_id, span.span_id
                    entries = [get(raw) or miss(raw) for raw in span.attributes]
                    start, end = span.start_time_unix_nano, span.end_time_unix_nano
                    if len(tid) != 16 or len(sid) != 8 or start > MAX_INT64 or end > MAX_INT64:
                        rejected.add(span_problem(span) or BAD_IDS)
                        continue
                    if entries:
                        attrs_json = "{" + ",".join([e[2] for e in entries]) + "}"
                        if len({e[0] for e in entries}) != len(entries):  # a repeated key
                            attrs_json = dumps({e[0]: e[1] for e in entries})
                        special = {e[0]: e[1] for e in entries if e[3]}
                    else:
                        attrs_json = "{}"
                        special = {}
                    if special:
                        cid = _first(special, keys)
                        if cid is None:
                            cid = resource_cid
                        sget = special.get
                        system = _text(sget("messaging.system"))
                        dest = _text(sget("messaging.destination.name"))
                        part = _int(sget("messaging.destination.partition.id"))
                        off = _int(_first(special, _OFFSET_KEYS))
                        op = _text(_first(special, _OPERATION_KEYS))
                        group = _text(_first(special, _GROUP_KEYS))
                        bkeys = _business_keys(special, key_names) or None
                    else:
                        cid = resource_cid
                        system = dest = part = off = op = group = bkeys = None
                    status = span.status
                    append(
                        SpanRow(
                            (
                                tid,
                                sid,
                                span.parent_span_id or None,
                                span.name,
                                span.kind,
                                start,
                                end,
                                status.code,
                                status.message,
                                service,
                                scope,
                                _text(cid),
                                system,
                                dest,
                                part,
                                off,
                                op,
                                group,
                                attrs_json,
                                resource_json,
                                dumps([decode_event(e) for e in span.events])
                                if span.events
                                else None,
                                [
                                    [
                                        lk.trace_id.hex(),
                                        lk.span_id.hex(),
                                        decode_attributes(lk.attributes),
                                    ]
                                    for lk in span.links
                                ]
                                if span.links
                                else None,
                                bkeys,
                            )
                        )
                    )
        return rows, rejected.count, rejected.message()
