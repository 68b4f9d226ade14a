"""The alert state machine, as Prometheus runs it, kept in the store.

An alert is a rule plus the labels of the thing it is about. When its condition starts to hold
it is *pending*; once it has held for the rule's ``for:`` it is *firing* (a change: ``Change``
with state ``firing``); when the condition no longer holds a firing alert is *resolved* (a
change) and a pending one is forgotten. Each ``Evaluator.step`` reads the alerts' state from the
store, observes, and writes the new state and the changes in one transaction, so a second
process (``watch`` beside the TUI) or a restarted console sees what already fired and never
fires it again.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from console.alerts.observe import Observation, Sources, observe
from console.alerts.rules import Rule
from console.store.api import AlertChanges, AlertReads, AlertRow

__all__ = ["Alert", "ChangeFollower", "Evaluator", "alerts_from_rows", "recent_alerts"]

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as people and Alertmanager see it. ``labels`` include ``alertname`` and
    ``severity``; ``value`` is in the unit ``summary`` names; times are epoch ns."""

    name: str
    state: str  # pending, firing, resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    summary: str
    command: str
    active_since_ns: int
    fired_ns: int | None
    resolved_ns: int | None
    time_ns: int | None = None  # when this change happened (a Change or a recent event)
    kind: str = ""  # the rule's kind (dlq_depth, journeys_stalled, ...)

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, _labels_key(self.labels))

    @property
    def about(self) -> dict[str, str]:
        """The labels that name the thing (dlq_topic, topic, group, service), not the rule's."""
        names = ("dlq_topic", "topic", "group", "service", "component")
        return {k: self.labels[k] for k in names if k in self.labels}

    def to_json(self) -> dict[str, Any]:
        """One ``watch --json`` line / one ``alerts --json`` item."""
        return {
            "alert": self.name,
            "kind": self.kind,
            "state": self.state,
            "labels": self.labels,
            "annotations": self.annotations,
            "value": self.value,
            "summary": self.summary,
            "command": self.command,
            "time": _iso(self.time_ns),
            "active_since": _iso(self.active_since_ns),
            "fired_at": _iso(self.fired_ns),
            "resolved_at": _iso(self.resolved_ns),
        }


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / NS, UTC).isoformat(timespec="milliseconds")


def _labels_key(labels: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(labels.items())), separators=(",", ":"))


def _alert_labels(obs: Observation) -> dict[str, str]:
    rule = obs.rule
    return {**rule.labels, **obs.labels, "alertname": rule.name, "severity": rule.severity}


def _annotations(obs: Observation) -> dict[str, str]:
    fill = {**obs.labels, "value": f"{obs.value:g}"}
    out = {"summary": obs.summary, "command": obs.command}
    for k, v in obs.rule.annotations.items():
        try:
            out[k] = v.format(**fill)
        except (KeyError, IndexError, ValueError):
            out[k] = v
    return out


def _alert(row: AlertRow) -> Alert:
    doc = json.loads(row.doc)
    return Alert(
        name=row.rule,
        state=row.state,
        labels=json.loads(row.labels),
        annotations=doc.get("annotations", {}),
        value=row.value,
        summary=row.summary,
        command=doc.get("command", ""),
        active_since_ns=doc.get("active_since_ns", row.active_since_ns),
        fired_ns=row.fired_ns if row.fired_ns is not None else doc.get("fired_ns"),
        resolved_ns=row.resolved_ns
        if row.resolved_ns is not None or row.state != "resolved"
        else row.time_ns,
        time_ns=row.time_ns,
        kind=doc.get("kind", ""),
    )


def alerts_from_rows(rows: list[AlertRow]) -> list[Alert]:
    return [_alert(r) for r in rows]


def recent_alerts(store: AlertReads, since_ns: int, limit: int = 200) -> list[Alert]:
    """Firings and resolutions since ``since_ns``, newest first."""
    return alerts_from_rows(store.alert_events(since_ns, limit))


class ChangeFollower:
    """Every firing and resolution the store records, whichever process made it (``watch`` and
    the TUI share one state), each reported once: ``new()`` returns those written since the
    last call, starting from when the follower was made."""

    def __init__(self, store: AlertReads) -> None:
        self._after = store.last_alert_event()

    def new(self, store: AlertReads, names: set[str] | None = None) -> list[Alert]:
        rows = store.alert_events_after(self._after)
        if rows:
            self._after = rows[-1].event_id or self._after
        return [a for a in alerts_from_rows(rows) if names is None or a.name in names]


class Evaluator:
    """Evaluates ``rules`` over a store; ``step`` returns the changes it made."""

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules
        self._names = {r.name for r in rules}

    def step(
        self,
        src: Sources,
        now_ns: int,
        runtime: Mapping[str, str] | None = None,
    ) -> list[Alert]:
        """Observe at ``now_ns`` through ``src`` and move every alert on;
        the firings and resolutions made now (already stored) are returned, in rule order. The
        store is read first, outside the transaction, so the write lock is held only for the few
        rows written (``Storage.change_alerts``: states and events as one transaction); a change
        another process recorded after ``now_ns`` wins over what this (older) look saw."""
        seen = observe(src, self.rules, now_ns, runtime)
        changes: list[Alert] = []

        def decide(known_rows: list[AlertRow]) -> AlertChanges:  # inside the transaction
            return self._apply(known_rows, seen, now_ns, changes)

        src.store.change_alerts(decide)
        return changes

    def _apply(
        self, rows: list[AlertRow], seen: list[Observation], now_ns: int, changes: list[Alert]
    ) -> AlertChanges:
        known = {(r.rule, r.labels): r for r in rows}
        events: list[tuple[AlertRow, int]] = []
        holding: dict[tuple[str, str], AlertRow] = {}
        for obs in seen:
            labels = _alert_labels(obs)
            key = (obs.rule.name, _labels_key(labels))
            before = known.get(key)
            if before is not None and (before.resolved_ns or 0) > now_ns:
                holding[key] = before  # resolved by another process after we looked: stale
                continue
            row = _held(before, obs, key[1], now_ns)
            holding[key] = row
            if row.state == "firing" and (before is None or before.state != "firing"):
                events.append(_event(row, now_ns))
                changes.append(_alert(_at(row, now_ns)))
        gone: list[tuple[str, str]] = []
        for key, before in known.items():
            # Another rule set's alerts (a second process with its own --rules) are its own.
            if key in holding or before.state == "resolved" or before.rule not in self._names:
                continue
            if (before.fired_ns or before.active_since_ns) > now_ns:
                continue  # fired (or began) in another process after we looked: not ours to end
            if before.state == "pending":
                gone.append(key)  # it never fired: nothing to resolve
                continue
            resolved = _replace(before, state="resolved", resolved_ns=now_ns)
            holding[key] = resolved
            events.append(_event(resolved, now_ns))
            changes.append(_alert(_at(resolved, now_ns)))
        return AlertChanges(list(holding.values()), gone, events)

    @staticmethod
    def current(store: AlertReads) -> list[Alert]:
        """Every alert the store holds (pending, firing and resolved), as last evaluated."""
        return alerts_from_rows(store.alert_states())


def _held(before: AlertRow | None, obs: Observation, labels: str, now_ns: int) -> AlertRow:
    """The row of an alert whose condition holds now: pending until its ``for:`` has passed
    since it began to hold, then firing (``fired_ns`` is now on the step it starts to fire)."""
    active = before is not None and before.state in ("pending", "firing")
    since = before.active_since_ns if before is not None and active else now_ns
    fired = before.fired_ns if before is not None and before.state == "firing" else None
    if fired is None and (now_ns - since) >= obs.rule.for_s * NS:
        fired = now_ns
    doc = json.dumps(
        {"annotations": _annotations(obs), "command": obs.command, "kind": obs.rule.kind}
    )
    state = "pending" if fired is None else "firing"
    return AlertRow(obs.rule.name, labels, state, since, fired, None, obs.value, obs.summary, doc)


def _event(row: AlertRow, now_ns: int) -> tuple[AlertRow, int]:
    """An alert event at ``now_ns``; its doc also keeps when the episode began and fired."""
    doc = {**json.loads(row.doc), "active_since_ns": row.active_since_ns, "fired_ns": row.fired_ns}
    return _replace(row, doc=json.dumps(doc)), now_ns


def _replace(row: AlertRow, **changes: Any) -> AlertRow:
    return dataclasses.replace(row, **changes)


def _at(row: AlertRow, time_ns: int) -> AlertRow:
    return _replace(row, time_ns=time_ns)
