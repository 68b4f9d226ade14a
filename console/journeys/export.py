"""A journey as JSON: the console's own stable shape, and OTLP JSON for other tools.

``journey_json`` (``trace --json``), keys never renamed, new keys only added::

    {
      "correlation_id": str | null,
      "status": "completed" | "in_flight" | "stalled" | "dead_lettered" | "replayed" | "failed",
      "where": str,            # service or topic where it stands
      "detail": str,           # the status in one line
      "groups": [str],         # stalled: the groups that should take the message
      "reason": str | null,    # dead letter's or error's message
      "after": str | null,     # replayed: what happened after the last replay
      "trace_ids": [str],
      "started_ns": int, "ended_ns": int, "duration_ms": float,
      "services": [str],
      "spans": [{"trace_id", "span_id", "parent_span_id", "name", "service", "kind",
                 "start_ns", "end_ns", "duration_ms", "status_code", "status_message", "error",
                 "correlation_id", "messaging": {...} | null, "links": [{"trace_id", "span_id"}],
                 "attributes": {...}, "events": [{"name", "time_ns", "attributes"}]}],
      "hops": [{"topic", "partition", "offset", "timestamp_ms", "time_ns", "correlation_id",
                "trace_id", "span_id", "replay_id", "size", "headers": {name: text},
                "key": the message key as text when it is UTF-8, else ``0x`` hex, or null}],
      "dead_letters": [{"dlq_topic", "partition", "offset", "timestamp_ms", "original_topic",
                        "original_partition", "original_offset", "consumer_group",
                        "exception_class", "exception_message", "convention", "status"}],
      "replays": [{"replay_id", "dlq_topic", "partition", "offset", "target_topic", "state",
                   "created_ns", "acked_ns", "target_partition", "target_offset", "error"}],
      "handoffs": [{"kind": "async" | "sync", "topic", "partition", "offset", "from_service",
                    "from_span_id", "sent_ns", "to_service", "to_span_id", "received_ns",
                    "gap_ms", "consumer_group", "replay_id", "operation", "delivered",
                    "taken"}],
      "logs": [{"time_ns", "service", "severity_text", "body", "trace_id", "span_id"}]
    }

``summary_json`` (``journeys --json``, ``trace --key --json`` when several match)::

    {"correlation_id", "status", "where", "detail", "started": ISO 8601 UTC (ms), "started_ns",
     "ended_ns", "duration_ms", "services": [str], "trace_count"}

``otlp_json``: an ``ExportTraceServiceRequest`` in OTLP JSON (hex ids, lowerCamelCase, enums as
integers, 64-bit integers as strings), one ``resourceSpans`` per service.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from console.base.model import DeadLetter, Hop, ReplayEntry, Span, header_text
from console.journeys.derive import hop_ns, replay_id_of
from console.journeys.types import Handoff, Journey, JourneySummary

__all__ = ["handoff_json", "journey_json", "otlp_json", "summary_json"]


def _span(s: Span) -> dict[str, Any]:
    messaging = None
    if s.messaging_system or s.messaging_destination:
        messaging = {
            "system": s.messaging_system,
            "destination": s.messaging_destination,
            "partition": s.messaging_partition,
            "offset": s.messaging_offset,
            "operation": s.messaging_operation,
            "consumer_group": s.messaging_consumer_group,
        }
    return {
        "trace_id": s.trace_id,
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "name": s.name,
        "service": s.service,
        "kind": s.kind,
        "start_ns": s.start_ns,
        "end_ns": s.end_ns,
        "duration_ms": round(s.duration_ns / 1e6, 3),
        "status_code": s.status_code,
        "status_message": s.status_message,
        "error": s.is_error,
        "correlation_id": s.correlation_id,
        "messaging": messaging,
        "links": [{"trace_id": lk.trace_id, "span_id": lk.span_id} for lk in s.links],
        "attributes": s.attributes,
        "events": [
            {
                "name": e.get("name", ""),
                "time_ns": e.get("time_ns"),
                "attributes": e.get("attributes") or {},
            }
            for e in s.events
        ],
    }


def _hop(h: Hop) -> dict[str, Any]:
    return {
        "topic": h.topic,
        "partition": h.partition,
        "offset": h.offset,
        "timestamp_ms": h.timestamp_ms,
        "time_ns": hop_ns(h),
        "correlation_id": h.correlation_id,
        "trace_id": h.trace_id,
        "span_id": h.span_id,
        "replay_id": replay_id_of(h),
        "size": h.size,
        "headers": {name: header_text(value) for name, value in h.headers},
        "key": None if h.key is None else header_text(h.key),
    }


def _dead_letter(d: DeadLetter) -> dict[str, Any]:
    return {
        "dlq_topic": d.dlq_topic,
        "partition": d.partition,
        "offset": d.offset,
        "timestamp_ms": d.timestamp_ms,
        "original_topic": d.original_topic,
        "original_partition": d.original_partition,
        "original_offset": d.original_offset,
        "consumer_group": d.consumer_group,
        "exception_class": d.exception_class,
        "exception_message": d.exception_message,
        "convention": d.convention,
        "status": d.status,
    }


def _replay(r: ReplayEntry) -> dict[str, Any]:
    return {
        "replay_id": r.replay_id,
        "dlq_topic": r.dlq_topic,
        "partition": r.partition,
        "offset": r.offset,
        "target_topic": r.target_topic,
        "state": r.state,
        "created_ns": r.created_ns,
        "acked_ns": r.acked_ns,
        "target_partition": r.target_partition,
        "target_offset": r.target_offset,
        "error": r.error,
    }


def handoff_json(h: Handoff) -> dict[str, Any]:
    return {
        "kind": h.kind,
        "topic": h.topic,
        "partition": h.partition,
        "offset": h.offset,
        "from_service": h.from_service,
        "from_span_id": h.from_span_id,
        "sent_ns": h.sent_ns,
        "to_service": h.to_service,
        "to_span_id": h.to_span_id,
        "received_ns": h.received_ns,
        "gap_ms": h.gap_ms,
        "consumer_group": h.consumer_group,
        "replay_id": h.replay_id,
        "operation": h.operation,
        "delivered": h.delivered,
        "taken": h.taken,
    }


def summary_json(s: JourneySummary) -> dict[str, Any]:
    return {
        "correlation_id": s.correlation_id,
        "status": s.status,
        "where": s.where,
        "detail": s.detail,
        "started": datetime.fromtimestamp(s.started_ns / 1e9, UTC).isoformat(
            timespec="milliseconds"
        ),
        "started_ns": s.started_ns,
        "ended_ns": s.ended_ns,
        "duration_ms": round(s.duration_ms, 3),
        "services": list(s.services),
        "trace_count": s.trace_count,
    }


def journey_json(j: Journey) -> dict[str, Any]:
    return {
        "correlation_id": j.correlation_id,
        "status": j.status,
        "where": j.where,
        "detail": j.detail,
        "groups": list(j.groups),
        "reason": j.reason,
        "after": j.after,
        "trace_ids": list(j.trace_ids),
        "started_ns": j.started_ns,
        "ended_ns": j.ended_ns,
        "duration_ms": round(j.duration_ms, 3),
        "services": list(j.services),
        "spans": [_span(s) for s in j.spans],
        "hops": [_hop(h) for h in j.hops],
        "dead_letters": [_dead_letter(d) for d in j.dead_letters],
        "replays": [_replay(r) for r in j.replays],
        "handoffs": [handoff_json(h) for h in j.handoffs],
        "logs": [
            {
                "time_ns": r.time_ns,
                "service": r.service,
                "severity_text": r.severity_text,
                "body": r.body,
                "trace_id": r.trace_id,
                "span_id": r.span_id,
            }
            for r in j.logs
        ],
    }


def _any_value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [_any_value(x) for x in v]}}
    if isinstance(v, dict):
        return {"kvlistValue": {"values": _attributes(v)}}
    if v is None:
        return {}
    return {"stringValue": str(v)}


def _attributes(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _any_value(v)} for k, v in attrs.items()]


def _otlp_span(s: Span) -> dict[str, Any]:
    out: dict[str, Any] = {
        "traceId": s.trace_id,
        "spanId": s.span_id,
        "name": s.name,
        "kind": s.kind,
        "startTimeUnixNano": str(s.start_ns),
        "endTimeUnixNano": str(s.end_ns),
        "attributes": _attributes(s.attributes),
        "status": {
            "code": s.status_code,
            **({"message": s.status_message} if s.status_message else {}),
        },
    }
    if s.parent_span_id:
        out["parentSpanId"] = s.parent_span_id
    if s.events:
        out["events"] = [
            {
                "timeUnixNano": str(e.get("time_ns", 0)),
                "name": str(e.get("name", "")),
                "attributes": _attributes(e.get("attributes") or {}),
            }
            for e in s.events
        ]
    if s.links:
        out["links"] = [
            {"traceId": lk.trace_id, "spanId": lk.span_id, "attributes": _attributes(lk.attributes)}
            for lk in s.links
        ]
    return out


def otlp_json(spans: Sequence[Span]) -> dict[str, Any]:
    """Spans as an OTLP JSON ``ExportTraceServiceRequest``, grouped by service then scope."""
    by_service: dict[str, dict[str, list[Span]]] = {}
    resources: dict[str, dict[str, Any]] = {}
    for s in spans:
        by_service.setdefault(s.service, {}).setdefault(s.scope, []).append(s)
        resources.setdefault(s.service, s.resource)
    resource_spans = []
    for service, scopes in by_service.items():
        attrs = {**resources[service], "service.name": service}
        resource_spans.append(
            {
                "resource": {"attributes": _attributes(attrs)},
                "scopeSpans": [
                    {"scope": {"name": scope}, "spans": [_otlp_span(s) for s in group]}
                    for scope, group in scopes.items()
                ],
            }
        )
    return {"resourceSpans": resource_spans}
