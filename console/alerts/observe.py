"""What each rule sees in the store now: one ``Observation`` per thing whose condition holds.

Each kind asks the readers the panels and lists already use (``console.dlq.depth_summary``,
``console.journeys.journeys``, ``console.readers.panels``) and the two small history queries of
``console/readers/history.py``; nothing here writes. ``observe`` returns only what holds *now*:
``console/alerts/engine.py`` turns that into pending, firing and resolved over time.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from console import dlq
from console.alerts.rules import Rule
from console.journeys import stalled_by_topic
from console.readers import history, panels
from console.store.api import Storage, StoreReader

__all__ = ["DlqDepth", "Observation", "Sources", "observe"]

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Observation:
    """A rule's condition holding for one thing (``labels`` say which), with the value that broke
    the threshold (in the unit ``summary`` names) and the command that shows it."""

    rule: Rule
    labels: dict[str, str]
    value: float
    summary: str
    command: str


DlqDepth = Callable[[dlq.DlqFilter | None], list[dlq.DepthRow]]


@dataclass(frozen=True, slots=True)
class Sources:
    """What the rules look at and where their state goes: the store (``change_alerts``), a
    reader on it, and the dead letters' depth per DLQ topic (``console.dlq.depth_summary`` on
    the caller's ``DeadLetters``, ``Storage.dead_letters()``)."""

    store: Storage
    reader: StoreReader
    dlq_depth: DlqDepth


Observer = Callable[[Sources, Rule, int, Mapping[str, str] | None], list[Observation]]


def _matches(rule: Rule, **names: str) -> bool:
    return all(fnmatchcase(names[k], g) for k, g in rule.match.items() if k in names)


def _plural(n: float, one: str, many: str) -> str:
    return f"{n:,.0f} {one if n == 1 else many}"


def _dlq_depth(src: Sources, rule: Rule, now_ns: int, _: object) -> list[Observation]:
    above = rule.number("above")
    out = []
    for row in src.dlq_depth(None):
        if row.pending > above and _matches(rule, topic=row.dlq_topic):
            out.append(
                Observation(
                    rule,
                    {"dlq_topic": row.dlq_topic},
                    float(row.pending),
                    f"{_plural(row.pending, 'dead letter', 'dead letters')} pending on "
                    f"{row.dlq_topic} (above {above:g})",
                    f"handoff-console dlq list --topic {row.dlq_topic} --status pending",
                )
            )
    return out


def _dlq_rising(src: Sources, rule: Rule, now_ns: int, _rt: object) -> list[Observation]:
    by, window = rule.number("by"), rule.number("window")
    since_ms = (now_ns - int(window * NS)) // 1_000_000
    out = []
    for row in src.dlq_depth(dlq.DlqFilter(since_ms=since_ms)):
        if row.total >= by and _matches(rule, topic=row.dlq_topic):
            out.append(
                Observation(
                    rule,
                    {"dlq_topic": row.dlq_topic},
                    float(row.total),
                    f"{_plural(row.total, 'dead letter', 'dead letters')} arrived on "
                    f"{row.dlq_topic} in the last {window:g} s (rising by {by:g} or more)",
                    f"handoff-console dlq list --topic {row.dlq_topic} --since {window:g}s",
                )
            )
    return out


def _stalled(src: Sources, rule: Rule, now_ns: int, _: object) -> list[Observation]:
    """Journeys stalled longer than ``longer_than`` per topic (or per group that should take
    them): the alert fires once ``journey()`` confirms more than ``above`` of them; its value is
    how many messages wait there (sends nobody took)."""
    after, per, above = rule.number("longer_than"), rule.params["per"], rule.number("above")
    enough = int(above) + 1
    waiting: dict[str, list[int]] = {}  # name -> [waiting, confirmed]
    for s in stalled_by_topic(src.reader, after, now_ns, enough=enough):
        names = [s.topic] if per == "topic" else list(s.groups) or ["(no known group)"]
        for name in names:
            if _matches(rule, **{per: name}):
                w = waiting.setdefault(name, [0, 0])
                w[0] += s.waiting
                w[1] += s.confirmed
    return [
        Observation(
            rule,
            {per: name},
            float(n),
            f"journeys stalled: {_plural(n, 'message', 'messages')} not taken for over "
            f"{after:g} s {'on' if per == 'topic' else 'by group'} {name}",
            f"handoff-console journeys --status stalled --stall-after {after:g}s",
        )
        for name, (n, confirmed) in sorted(waiting.items())
        if confirmed >= enough
    ]


def _lag_above(src: Sources, rule: Rule, now_ns: int, _: object) -> list[Observation]:
    above = rule.number("above")
    out = []
    for p in panels.topic_panels(src.reader, now_ns):
        for group, lag in p.lag:
            if lag > above and _matches(rule, topic=p.topic, group=group):
                out.append(
                    Observation(
                        rule,
                        {"topic": p.topic, "group": group},
                        lag,
                        f"group {group} lags {_plural(lag, 'message', 'messages')} behind on "
                        f"{p.topic} (above {above:g})",
                        "handoff-console tui  (overview: topics, lag per group)",
                    )
                )
    return out


def _lag_growing(src: Sources, rule: Rule, now_ns: int, _rt: object) -> list[Observation]:
    """Lag that rose at every sample for ``growing_for`` (samples must cover 90 % of it)."""
    span = rule.number("growing_for")
    since = now_ns - int(span * NS)
    out = []
    for (topic, group), points in history.series_history(
        src.reader, "consumer.lag_total", since, now_ns
    ).items():
        if len(points) < 2 or points[-1][0] - points[0][0] < 0.9 * span * NS:
            continue
        values = [v for _, v in points]
        rising = all(b >= a for a, b in itertools.pairwise(values))
        if rising and values[-1] > values[0] and _matches(rule, topic=topic, group=group):
            out.append(
                Observation(
                    rule,
                    {"topic": topic, "group": group},
                    values[-1],
                    f"group {group} lag on {topic} grew from {values[0]:,.0f} to "
                    f"{values[-1]:,.0f} messages over {span:g} s",
                    "handoff-console tui  (overview: topics, lag per group)",
                )
            )
    return out


def _error_rate(src: Sources, rule: Rule, now_ns: int, _rt: object) -> list[Observation]:
    above, window, least = (
        rule.number("above_percent"),
        rule.number("window"),
        rule.number("min_spans"),
    )
    out = []
    # Buckets of 10 s (the rollups'), so the window trails now within 10 s.
    seconds = max(10, int(window))
    aggregator = panels.ServiceAggregator(window_s=seconds, buckets=max(1, seconds // 10))
    for p in aggregator.refresh(src.reader, now_ns):
        rate = p.error_rate * 100
        if p.spans >= least and rate > above and _matches(rule, service=p.service):
            out.append(
                Observation(
                    rule,
                    {"service": p.service},
                    rate,
                    f"{p.service}: {rate:.1f} % of {p.spans:,} entry spans failed in the last "
                    f"{window:g} s (above {above:g} %)",
                    f"handoff-console journeys --service {p.service} --status failed",
                )
            )
    return out


def _quiet(src: Sources, rule: Rule, now_ns: int, _: object) -> list[Observation]:
    quiet, lookback = rule.number("quiet_for"), rule.number("lookback")
    out = []
    for service, last in sorted(history.services_last_seen(src.reader).items()):
        silent_s = (now_ns - last) / NS
        if quiet < silent_s <= lookback and _matches(rule, service=service):
            out.append(
                Observation(
                    rule,
                    {"service": service},
                    silent_s,
                    f"no spans from {service} for {silent_s:,.0f} s (quiet for over {quiet:g} s)",
                    f"handoff-console journeys --service {service} --since {lookback:g}s",
                )
            )
    return out


def _ingest(
    src: Sources, rule: Rule, now_ns: int, runtime: Mapping[str, str] | None
) -> list[Observation]:
    """The console's own store failing to commit, or its receivers refusing requests: known only
    where a runtime runs in this process (the TUI's collector, ``watch`` beside ``serve``'s
    daemon), never guessed from the file."""
    if not runtime:
        return []
    if runtime.get("store") == "failing" or runtime.get("ingest") == "refusing":
        detail = runtime.get("detail") or "the console cannot store what it receives"
        return [Observation(rule, {"component": "ingest"}, 1.0, detail, "handoff-console stats")]
    return []


_OBSERVERS: dict[str, Callable[..., list[Observation]]] = {
    "dlq_depth": _dlq_depth,
    "dlq_rising": _dlq_rising,
    "journeys_stalled": _stalled,
    "lag_above": _lag_above,
    "lag_growing": _lag_growing,
    "error_rate": _error_rate,
    "service_quiet": _quiet,
    "ingest": _ingest,
}


def observe(
    src: Sources,
    rules: list[Rule],
    now_ns: int,
    runtime: Mapping[str, str] | None = None,
) -> list[Observation]:
    """Every rule's observations at ``now_ns``, in rule order."""
    out: list[Observation] = []
    for rule in rules:
        out.extend(_OBSERVERS[rule.kind](src, rule, now_ns, runtime))
    return out
