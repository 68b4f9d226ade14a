"""What ``dlq show`` presents about one dead letter: headers, payload, contract, journey, replays.

``show(conn, coords, contracts)`` gathers it into a ``DeadLetterDetail`` (``as_dict()`` is the
``--json`` form); ``payload_view`` renders a payload as pretty JSON, text or a hex dump;
``journey_line`` sums up the correlation id's spans and hops in one line.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from collectors.kafka.dlq_headers import decode_dlq_headers, describe_header
from console.contracts import ContractSource, Verdict, check, pretty_json
from console.dlq import (
    Coordinates,
    contract_topic,
    fixes_for,
    get_dead_letter,
    replays_for,
)
from console.model import DeadLetter, FixedPayload, ReplayEntry, header_text, payload_sha256
from console.store import read

__all__ = [
    "DeadLetterDetail",
    "HeaderLine",
    "journey_line",
    "payload_view",
    "show",
]


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
        }


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
    conn: sqlite3.Connection, coords: Coordinates | str, contracts: ContractSource
) -> DeadLetterDetail:
    """Gather ``dlq show``'s data: headers, payload, contract verdicts, journey, replays."""
    d = get_dead_letter(conn, coords)
    kind, text = payload_view(d.payload)
    topic = contract_topic(d)
    fixes = tuple(fixes_for(conn, d))
    fixed_kind = fixed_text = None
    fixed_verdict = None
    if fixes:
        fixed_kind, fixed_text = payload_view(fixes[-1].payload)
        fixed_verdict = check(contracts, topic, fixes[-1].payload)
    return DeadLetterDetail(
        dead_letter=d,
        headers=_header_lines(d),
        decoded=decoded_headers(d),
        payload_kind=kind,
        payload_text=text,
        verdict=check(contracts, topic, d.payload),
        fixes=fixes,
        fixed_kind=fixed_kind,
        fixed_text=fixed_text,
        fixed_verdict=fixed_verdict,
        journey=journey_line(conn, d),
        replays=tuple(replays_for(conn, d)),
    )


def journey_line(conn: sqlite3.Connection, d: DeadLetter) -> str:
    """A one-line summary of the correlation id's spans and hops in the store."""
    key, value = ("correlation_id", d.correlation_id)
    if not value and d.trace_id:
        key, value = "trace_id", d.trace_id
    if not value:
        return "no correlation id or trace id on this dead letter"
    blocks = read.Blocks(conn)
    tids, cids = ([value], []) if key == "trace_id" else ([], [value])
    spans = sorted(blocks.spans(tids, cids), key=lambda s: s.start_ns)[:500]
    hops = sorted(blocks.hops(tids, cids), key=lambda h: (h.timestamp_ms, h.seen_ns))[:500]
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
