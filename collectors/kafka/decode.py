"""Kafka messages to records: a ``Hop`` for every message, a ``DeadLetter`` for dead letters.

This is the tap's hot path, so ``MessageDecoder.decode_batch`` works on a whole batch from
``Consumer.consume`` and keeps per-message work to attribute reads, one header scan and one hash.

What a hop keeps: coordinates, timestamp and its type, key, ``size`` (the value's length in bytes,
0 for a tombstone), headers as bytes, correlation, trace and span ids, the payload's SHA-256 (None
for a tombstone), the cluster id (``MessageDecoder.cluster_id``, set by the tap). Payloads are
kept only for dead letters (up to ``dlq_payload_limit`` bytes, with ``payload_truncated`` set on
the dead letter when cut) or, with ``keep_payloads``, for every hop (up to the same bound;
``len(payload) < size`` shows a cut). Nothing here assumes a payload is text or JSON, or a header
UTF-8.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from hashlib import sha256
from typing import Any

from console.base.dlq_headers import (
    DLQ_HEADER_PREFIXES,
    DlqMatcher,
    decode_dlq_headers,
)
from console.base.headers import HeaderReader
from console.base.model import DeadLetter, Hop, Record

__all__ = ["DEFAULT_DLQ_PAYLOAD_LIMIT", "BatchResult", "MessageDecoder"]

DEFAULT_DLQ_PAYLOAD_LIMIT = 1 << 20
_DLQ_PREFIXES = DLQ_HEADER_PREFIXES


@dataclass(slots=True)
class BatchResult:
    """What one batch held, besides its records."""

    records: list[Record] = field(default_factory=list)
    hops: int = 0
    dead_letters: int = 0
    # (topic, partition) -> the next offset to commit once the records are stored.
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    # topic -> [messages, bytes]
    per_topic: dict[str, list[int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # records per signal when a decoder says (OTLP over Kafka: spans, metrics, logs); empty
    # means hops and dead letters, as counted above
    signals: dict[str, int] = field(default_factory=dict)

    def signal_counts(self) -> dict[str, int]:
        """Records per signal: ``signals``, or ``hops`` and ``dead_letters``."""
        return dict(self.signals) or {"hops": self.hops, "dead_letters": self.dead_letters}

    def merge(self, other: BatchResult) -> None:
        """Fold a later batch into this one (offsets only move forward)."""
        self.records.extend(other.records)
        self.hops += other.hops
        self.dead_letters += other.dead_letters
        for key, offset in other.next_offsets.items():
            if offset > self.next_offsets.get(key, -1):
                self.next_offsets[key] = offset
        for topic, (msgs, nbytes) in other.per_topic.items():
            counts = self.per_topic.setdefault(topic, [0, 0])
            counts[0] += msgs
            counts[1] += nbytes
        self.errors.extend(other.errors)
        for signal, n in other.signals.items():
            self.signals[signal] = self.signals.get(signal, 0) + n


_HOP_FIELDS = (
    "topic",
    "partition",
    "offset",
    "timestamp_ms",
    "timestamp_type",
    "key",
    "size",
    "headers",
    "correlation_id",
    "trace_id",
    "span_id",
    "payload_sha256",
    "payload",
    "seen_ns",
    "cluster_id",
    "business_keys",
)


def _hop_constructor() -> Callable[..., Hop]:
    """A ``Hop`` constructor about twice as fast as the frozen dataclass's ``__init__``.

    A frozen dataclass sets each field through ``object.__setattr__``; here each slot's own
    descriptor is called directly. The result is an ordinary, equal, still-frozen ``Hop``. Should
    ``Hop`` ever change shape, this falls back to the real constructor.
    """
    if tuple(f.name for f in fields(Hop)) != _HOP_FIELDS or "__slots__" not in Hop.__dict__:
        return Hop
    (s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15) = (
        Hop.__dict__[name].__set__ for name in _HOP_FIELDS
    )
    new = object.__new__

    def make(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15=()):  # type: ignore[no-untyped-def]  # the Hop fields, in order
        h = new(Hop)
        s0(h, a0)
        s1(h, a1)
        s2(h, a2)
        s3(h, a3)
        s4(h, a4)
        s5(h, a5)
        s6(h, a6)
        s7(h, a7)
        s8(h, a8)
        s9(h, a9)
        s10(h, a10)
        s11(h, a11)
        s12(h, a12)
        s13(h, a13)
        s14(h, a14)
        s15(h, a15)
        return h

    return make


_new_hop = _hop_constructor()


class MessageDecoder:
    """Turns confluent-kafka ``Message`` objects into records."""

    def __init__(
        self,
        *,
        correlation_headers: Sequence[str] | None = None,
        dlq_patterns: Sequence[str] | None = None,
        dlq_payload_limit: int = DEFAULT_DLQ_PAYLOAD_LIMIT,
        keep_payloads: bool = False,
        key_attributes: Sequence[str] = (),
    ) -> None:
        self.key_attributes = tuple(key_attributes)
        self._key_probes = tuple(f'"{n.split(".")[0]}"'.encode() for n in self.key_attributes)
        self.reader = HeaderReader(correlation_headers, flag_prefixes=_DLQ_PREFIXES)
        self.matcher = DlqMatcher(dlq_patterns)
        self.dlq_payload_limit = max(0, dlq_payload_limit)
        self.keep_payloads = keep_payloads
        # The id of the cluster the messages come from (the tap sets it from broker metadata on
        # each assignment); every hop and dead letter carries it.
        self.cluster_id: str | None = None

    def _business_keys(self, value: bytes) -> tuple[str, ...]:
        """The JSON payload fields named by ``key_attributes`` (a dotted name also reaches into
        nested objects), as text. A payload that is not a JSON object has none."""
        if not any(p in value for p in self._key_probes):
            return ()
        body = value[5:] if value[:1] == b"\x00" and len(value) > 5 else value  # wire format
        if body[:1] != b"{":
            return ()
        try:
            doc = json.loads(body)
        except ValueError:
            return ()
        out: list[str] = []
        for name in self.key_attributes:
            found = doc.get(name) if isinstance(doc, dict) else None
            if found is None and "." in name:
                found = doc
                for part in name.split("."):
                    found = found.get(part) if isinstance(found, dict) else None
            if isinstance(found, str | int) and not isinstance(found, bool):
                text = str(found)
                if text and text not in out:
                    out.append(text)
        return tuple(out)

    def decode_batch(self, messages: Sequence[Any], seen_ns: int) -> BatchResult:
        """Records for every message of a batch; error events are collected, not raised."""
        out = BatchResult()
        records = out.records
        append = records.append
        next_offsets = out.next_offsets
        per_topic = out.per_topic
        scan = self.reader.scan
        new_hop = _new_hop
        is_dlq_topic = self.matcher.is_dlq_topic
        keep = self.keep_payloads
        limit = self.dlq_payload_limit
        cluster_id = self.cluster_id
        probes = self._key_probes
        hops = dead = 0
        for m in messages:
            if m.error() is not None:
                out.errors.append(str(m.error()))
                continue
            topic = m.topic()
            partition = m.partition()
            offset = m.offset()
            ts_type, ts = m.timestamp()
            value = m.value()
            raw_headers = m.headers()
            headers = tuple(raw_headers) if raw_headers else ()
            corr, trace_id, span_id, flagged = scan(headers)
            if value is None:
                size, digest = 0, None
            else:
                size, digest = len(value), sha256(value).hexdigest()
            dlq = flagged or is_dlq_topic(topic)
            payload = None
            if (dlq or keep) and value is not None:
                payload = value[:limit] if size > limit else value
            key = m.key()
            append(
                new_hop(
                    topic,
                    partition,
                    offset,
                    ts,
                    ts_type,
                    key,
                    size,
                    headers,
                    corr,
                    trace_id,
                    span_id,
                    digest,
                    payload,
                    seen_ns,
                    cluster_id,
                    self._business_keys(value) if probes and value else (),
                )
            )
            hops += 1
            if dlq:
                append(
                    DeadLetter(
                        dlq_topic=topic,
                        partition=partition,
                        offset=offset,
                        timestamp_ms=ts,
                        key=key,
                        headers=headers,
                        payload=payload,
                        payload_truncated=size > limit,
                        payload_size=size,
                        correlation_id=corr,
                        trace_id=trace_id,
                        first_seen_ns=seen_ns,
                        cluster_id=cluster_id,
                        **decode_dlq_headers(headers),
                    )
                )
                dead += 1
            next_offsets[(topic, partition)] = offset + 1
            counts = per_topic.get(topic)
            if counts is None:
                per_topic[topic] = [1, size]
            else:
                counts[0] += 1
                counts[1] += size
        out.hops = hops
        out.dead_letters = dead
        return out
