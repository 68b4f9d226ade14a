"""What ``dlq show`` presents about one dead letter: headers, payload, contract, journey, replays.

``show(letters, coords, contracts, codec, journey)`` gathers it into a ``DeadLetterDetail``
(``as_dict()`` is the ``--json`` form); ``payload_view`` renders a payload as pretty JSON, text
or a hex dump; ``decoded_view`` first decodes a Confluent wire-format payload (Avro, Protobuf,
JSON Schema) through the schema registry's codec; ``journey_line`` sums up the correlation id's
spans and hops in one line (through the store's ``JourneyLookup``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.base.dlq_headers import decode_dlq_headers, describe_header
from console.base.errors import HandoffError
from console.base.model import (
    DeadLetter,
    FixedPayload,
    Header,
    ReplayEntry,
    header_text,
    payload_sha256,
)
from console.dlq.contracts import ContractSource, Verdict, check
from console.dlq.jsondoc import Violation, pretty_json
from console.dlq.query import (
    contract_topic,
    fixes_for,
    get_dead_letter,
    headers_with_schema,
    replays_for,
)
from console.store.api import JourneyLookup
from console.store.deadletters_api import DeadLetters

if TYPE_CHECKING:
    from console.dlq.codecs import Decoded, PayloadCodec, SchemaInfo

__all__ = [
    "DeadLetterDetail",
    "HeaderLine",
    "PayloadView",
    "decoded_view",
    "journey_line",
    "payload_view",
    "show",
]


@dataclass(frozen=True, slots=True)
class PayloadView:
    """A payload (or key) for people. ``kind``: avro, protobuf, jsonschema (decoded through the
    registry), json, text, hex or empty; ``note`` says why a wire-format payload is not decoded."""

    kind: str
    text: str
    decoded: Decoded | None = None
    note: str = ""

    @property
    def schema(self) -> SchemaInfo | None:
        return self.decoded.schema if self.decoded else None


def decoded_view(
    codec: PayloadCodec | None,
    payload: bytes | None,
    headers: Sequence[Header],
    topic: str,
    *,
    key: bool = False,
) -> PayloadView:
    """``payload`` decoded with its registry schema where it is in the wire format, else as
    ``payload_view`` shows it. A registry that fails leaves the bytes shown and says why."""
    from console.dlq.codecs import wire_schema_ref

    if codec is not None:
        try:
            decoded = codec.decode(payload, headers, topic, key=key)
        except HandoffError as exc:
            kind, text = payload_view(payload)
            return PayloadView(kind, text, None, str(exc))
        if decoded is not None:
            return PayloadView(decoded.kind, decoded.text, decoded)
    kind, text = payload_view(payload)
    ref = wire_schema_ref(payload, headers, key=key)
    note = ""
    if ref and kind == "hex":
        note = f"Confluent wire format ({ref}): pass --schema-registry URL to decode it"
    return PayloadView(kind, text, None, note)


def _decoded_verdict(codec: PayloadCodec | None, view: PayloadView, topic: str) -> Verdict | None:
    """The schema's own verdict on a decoded payload (None: not decoded)."""
    decoded = view.decoded
    if decoded is None or codec is None:
        return None
    where = decoded.schema.describe()
    try:
        problems: Sequence[Violation] = codec.violations(decoded)
    except HandoffError as exc:
        return Verdict(topic, where, None, (), str(exc))
    if problems:
        return Verdict(topic, where, False, tuple(problems), f"{len(problems)} violation(s)")
    return Verdict(topic, where, True, (), f"decodes with {where}")


def payload_view(payload: bytes | None) -> tuple[str, str]:
    """``(kind, text)``: kind is json (pretty-printed), text, hex (a hex dump) or empty."""
    if payload is None:
        return "empty", "(no payload: a tombstone)"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "hex", _hexdump(payload)
    try:
        return "json", pretty_json(json.loads(text))
    except json.JSONDecodeError:
        pass
    if text.isprintable() or all(ch.isprintable() or ch in "\n\t\r" for ch in text):
        return "text", text
    return "hex", _hexdump(payload)


def _hexdump(data: bytes, width: int = 16) -> str:
    lines = []
    for i in range(0, len(data), width):
        chunk = data[i : i + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        printable = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{i:08x}  {hexes:<{width * 3 - 1}}  {printable}")
    return "\n".join(lines) or "(0 bytes)"


@dataclass(frozen=True, slots=True)
class HeaderLine:
    name: str
    value: str  # the tap's describe_header(): Spring's binary numbers decoded, text, or 0x-hex
    raw: str  # header_text(): UTF-8 text or 0x-hex, as the bytes are


def _header_lines(d: DeadLetter) -> tuple[HeaderLine, ...]:
    return tuple(HeaderLine(n, describe_header(n, v), header_text(v)) for n, v in d.headers)


def decoded_headers(d: DeadLetter) -> dict[str, Any]:
    """What the DLQ headers say (the tap's ``decode_dlq_headers``), the record's fields as
    fallback where the headers are silent."""
    decoded = decode_dlq_headers(d.headers)
    for key, value in list(decoded.items()):
        if value is None:
            decoded[key] = getattr(d, key, None)
    return decoded


@dataclass(frozen=True, slots=True)
class DeadLetterDetail:
    """Everything ``dlq show`` presents about one dead letter."""

    dead_letter: DeadLetter
    headers: tuple[HeaderLine, ...]
    decoded: dict[str, Any]  # decode_dlq_headers(): convention, original_*, exception_*, ...
    payload_kind: str
    payload_text: str
    verdict: Verdict  # of the original payload
    fixes: tuple[FixedPayload, ...]
    fixed_kind: str | None
    fixed_text: str | None
    fixed_verdict: Verdict | None  # of the latest fix
    journey: str
    replays: tuple[ReplayEntry, ...]
    payload: PayloadView | None = None
    fixed: PayloadView | None = None
    key: PayloadView | None = None

    def as_dict(self) -> dict[str, Any]:
        d = self.dead_letter
        return {
            "dlq_topic": d.dlq_topic,
            "partition": d.partition,
            "offset": d.offset,
            "coordinates": d.coordinates,
            "timestamp_ms": d.timestamp_ms,
            "status": d.status,
            "convention": d.convention,
            "original_topic": d.original_topic,
            "original_partition": d.original_partition,
            "original_offset": d.original_offset,
            "original_timestamp_ms": d.original_timestamp_ms,
            "consumer_group": d.consumer_group,
            "exception_class": d.exception_class,
            "exception_cause_class": d.exception_cause_class,
            "exception_message": d.exception_message,
            "stacktrace": d.stacktrace,
            "correlation_id": d.correlation_id,
            "trace_id": d.trace_id,
            "key": header_text(d.key) if d.key is not None else None,
            "headers": [{"name": h.name, "value": h.value, "raw": h.raw} for h in self.headers],
            "decoded_headers": self.decoded,
            "payload_kind": self.payload_kind,
            "payload": self.payload_text,
            "payload_sha256": payload_sha256(d.payload),
            "payload_truncated": d.payload_truncated,
            "payload_size": d.payload_size,
            "contract": self.verdict.as_dict(),
            "fixes": [
                {
                    "version": f.version,
                    "sha256": f.sha256,
                    "author": f.author,
                    "created_ns": f.created_ns,
                }
                for f in self.fixes
            ],
            "fixed_payload": self.fixed_text,
            "fixed_contract": self.fixed_verdict.as_dict() if self.fixed_verdict else None,
            "journey": self.journey,
            "replays": [_ledger_dict(r) for r in self.replays],
            "cluster_id": d.cluster_id,
            "schema": _schema_dict(self.payload),
            "payload_note": self.payload.note if self.payload else "",
            "key_kind": self.key.kind if self.key else ("empty" if d.key is None else "text"),
            "key_decoded": self.key.text if self.key and self.key.decoded else None,
            "fixed_kind": self.fixed_kind,
            "fixed_schema": _schema_dict(self.fixed),
        }


def _schema_dict(view: PayloadView | None) -> dict[str, Any] | None:
    schema = view.schema if view else None
    return schema.as_dict() if schema else None


def _ledger_dict(r: ReplayEntry) -> dict[str, Any]:
    return {
        "replay_id": r.replay_id,
        "replay_count": r.replay_count,
        "state": r.state,
        "target_topic": r.target_topic,
        "target_partition": r.target_partition,
        "target_offset": r.target_offset,
        "payload_sha256": r.payload_sha256,
        "created_ns": r.created_ns,
        "acked_ns": r.acked_ns,
        "error": r.error,
        "os_user": r.os_user,
    }


def show(
    store: DeadLetters,
    coords: tuple[str, int, int] | str,
    contracts: ContractSource,
    codec: PayloadCodec | None = None,
    journey: Callable[[DeadLetter], str] = lambda d: "",
) -> DeadLetterDetail:
    """Gather ``dlq show``'s data: headers, payload (decoded through ``codec`` when it is in the
    wire format), contract verdicts, ``journey``'s line for it, replays."""
    d = get_dead_letter(store, coords)
    topic = contract_topic(d)
    view = decoded_view(codec, d.payload, d.headers, topic)
    key = decoded_view(codec, d.key, d.headers, topic, key=True) if d.key is not None else None
    fixes = tuple(fixes_for(store, d))
    fixed_view = None
    fixed_verdict = None
    if fixes:
        last = fixes[-1]
        fixed_view = decoded_view(
            codec, last.payload, headers_with_schema(d.headers, last.schema_header), topic
        )
        fixed_verdict = _decoded_verdict(codec, fixed_view, topic) or check(
            contracts, topic, last.payload
        )
    return DeadLetterDetail(
        dead_letter=d,
        headers=_header_lines(d),
        decoded=decoded_headers(d),
        payload_kind=view.kind,
        payload_text=view.text,
        verdict=_decoded_verdict(codec, view, topic) or _plain_verdict(contracts, topic, d, view),
        fixes=fixes,
        fixed_kind=fixed_view.kind if fixed_view else None,
        fixed_text=fixed_view.text if fixed_view else None,
        fixed_verdict=fixed_verdict,
        journey=journey(d),
        replays=tuple(replays_for(store, d)),
        payload=view,
        fixed=fixed_view,
        key=key,
    )


def _plain_verdict(
    contracts: ContractSource, topic: str, d: DeadLetter, view: PayloadView
) -> Verdict:
    """The JSON contract's verdict; a wire-format payload nobody decoded is not judged as JSON."""
    if view.note:
        return Verdict(topic, "", None, (), view.note)
    return check(contracts, topic, d.payload)


def journey_line(store: JourneyLookup, d: DeadLetter) -> str:
    """A one-line summary of the correlation id's spans and hops in the store."""
    key, value = ("correlation_id", d.correlation_id)
    if not value and d.trace_id:
        key, value = "trace_id", d.trace_id
    if not value:
        return "no correlation id or trace id on this dead letter"
    tids, cids = ([value], []) if key == "trace_id" else ([], [value])
    spans = sorted(store.spans(tids, cids), key=lambda s: s.start_ns)[:500]
    hops = sorted(store.hops(tids, cids), key=lambda h: (h.timestamp_ms, h.seen_ns))[:500]
    if not spans and not hops:
        return f"no spans or hops for {key.replace('_', ' ')} {value} in the store"
    parts = []
    if spans:
        services: list[str] = []
        for s in spans:
            if not services or services[-1] != s.service:
                services.append(s.service)
        errors = [s for s in spans if s.is_error]
        line = f"{' → '.join(services)} ({len(spans)} span{'s' if len(spans) != 1 else ''}"
        if errors:
            e = errors[0]
            line += f", {len(errors)} error{'s' if len(errors) != 1 else ''}: first at {e.service}"
            if e.status_message:
                line += f" ({e.status_message[:60]})"
        parts.append(line + ")")
    if hops:
        shown = [f"{h.topic}:{h.partition}:{h.offset}" for h in hops[:4]]
        more = f" … +{len(hops) - 4}" if len(hops) > 4 else ""
        parts.append("hops " + " → ".join(shown) + more)
    return "; ".join(parts)
