"""Alert rules: a TOML file (``--rules FILE``) in Prometheus's alerting-rule shape, or the defaults.

Each ``[[rules]]`` table has a ``name`` (Prometheus's ``alert``), a ``kind`` with that kind's
thresholds (the expression), ``for`` (how long the condition must hold before the alert fires),
a ``severity``, and optional ``labels`` and ``annotations``; ``topic``, ``group`` and ``service``
narrow a rule to the names matching a glob. The file is checked against ``RULES_SCHEMA`` (JSON
Schema, through jsonschema) and a bad one raises ``InputError`` naming the rule and the key.

=====================  =======================================  ====================================
kind                   keys (units in the value)                one alert per
=====================  =======================================  ====================================
``dlq_depth``          ``above`` (dead letters pending)         DLQ topic
``dlq_rising``         ``by`` (dead letters), ``window``        DLQ topic
``journeys_stalled``   ``longer_than``, ``per`` (topic|group),  topic or consumer group
                       ``above`` (journeys)
``lag_above``          ``above`` (messages)                     consumer group and topic
``lag_growing``        ``growing_for``                          consumer group and topic
``error_rate``         ``above_percent``, ``window``,           service
                       ``min_spans`` (entry spans)
``service_quiet``      ``quiet_for``, ``lookback``              service
``ingest``             (none: the console's own store/receivers) the console
=====================  =======================================  ====================================
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from console.base.config import parse_duration
from console.base.errors import InputError

__all__ = ["DEFAULT_RULES_TOML", "KINDS", "RULES_SCHEMA", "Rule", "load_rules", "parse_rules"]

_DURATION = {"type": "string", "minLength": 1}
_COUNT = {"type": "number", "minimum": 0}
_COMMON: dict[str, Any] = {
    "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
    "kind": {"type": "string"},
    "for": _DURATION,
    "severity": {"type": "string", "enum": ["info", "warning", "critical", "page"]},
    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    "topic": {"type": "string"},
    "group": {"type": "string"},
    "service": {"type": "string"},
}

#: Each kind's own keys: (JSON Schema, required).
KINDS: dict[str, dict[str, tuple[dict[str, Any], bool]]] = {
    "dlq_depth": {"above": (_COUNT, True)},
    "dlq_rising": {"by": (_COUNT, True), "window": (_DURATION, True)},
    "journeys_stalled": {
        "longer_than": (_DURATION, True),
        "per": ({"enum": ["topic", "group"]}, False),
        "above": (_COUNT, False),
    },
    "lag_above": {"above": (_COUNT, True)},
    "lag_growing": {"growing_for": (_DURATION, True)},
    "error_rate": {
        "above_percent": ({"type": "number", "minimum": 0, "maximum": 100}, True),
        "window": (_DURATION, False),
        "min_spans": (_COUNT, False),
    },
    "service_quiet": {"quiet_for": (_DURATION, True), "lookback": (_DURATION, False)},
    "ingest": {},
}


def _kind_schema(kind: str, keys: dict[str, tuple[dict[str, Any], bool]]) -> dict[str, Any]:
    return {
        "if": {"properties": {"kind": {"const": kind}}},
        "then": {
            "properties": {**_COMMON, **{k: s for k, (s, _) in keys.items()}},
            "required": ["name", "kind", *(k for k, (_, req) in keys.items() if req)],
            "additionalProperties": False,
        },
    }


RULES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rules": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "kind"],
                "properties": {"kind": {"enum": sorted(KINDS)}},
                "allOf": [_kind_schema(k, v) for k, v in KINDS.items()],
            },
        }
    },
    "required": ["rules"],
    "additionalProperties": False,
}

_DEFAULTS = {
    "per": "topic",
    "above": 0,
    "window": "5m",
    "min_spans": 10,
    "lookback": "24h",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One alerting rule. Durations are seconds; ``params`` holds the kind's thresholds."""

    name: str
    kind: str
    for_s: float = 0.0
    severity: str = "warning"
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    match: dict[str, str] = field(default_factory=dict)  # topic/group/service globs

    def number(self, key: str) -> float:
        """A threshold or a duration (seconds) of the kind's ``params``."""
        return float(self.params[key])


DEFAULT_RULES_TOML = """\
# handoff-console's default alert rules (used when --rules is not given).
[[rules]]
name = "DeadLettersPending"
kind = "dlq_depth"
above = 0
for = "0s"
severity = "warning"
annotations = { summary = "dead letters wait on {dlq_topic}" }

[[rules]]
name = "DeadLettersRising"
kind = "dlq_rising"
by = 50
window = "5m"
for = "0s"
severity = "critical"

[[rules]]
name = "JourneysStalled"
kind = "journeys_stalled"
longer_than = "5m"
per = "topic"
for = "1m"
severity = "warning"

[[rules]]
name = "ConsumerLagHigh"
kind = "lag_above"
above = 10000
for = "5m"
severity = "warning"

[[rules]]
name = "ConsumerLagGrowing"
kind = "lag_growing"
growing_for = "10m"
for = "0s"
severity = "warning"

[[rules]]
name = "ServiceErrorRate"
kind = "error_rate"
above_percent = 5
window = "5m"
min_spans = 20
for = "2m"
severity = "warning"

[[rules]]
name = "ServiceQuiet"
kind = "service_quiet"
quiet_for = "10m"
lookback = "24h"
for = "0s"
severity = "warning"

[[rules]]
name = "ConsoleIngestFailing"
kind = "ingest"
for = "0s"
severity = "critical"
"""

_DURATIONS = ("window", "longer_than", "growing_for", "quiet_for", "lookback")


def parse_rules(text: str, source: str = "rules") -> list[Rule]:
    """The rules in TOML ``text``; ``InputError`` (exit 2) names what is wrong and where."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not TOML: {exc}") from None
    validator = jsonschema.Draft202012Validator(RULES_SCHEMA)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "the file"
        name = _rule_name(doc, list(e.absolute_path))
        raise InputError(f"{source}: {where}{name}: {e.message}")
    rules = [_rule(raw, source) for raw in doc["rules"]]
    names = [r.name for r in rules]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{source}: rule names must be unique: {', '.join(twice)}")
    return rules


def _rule_name(doc: Any, path: list[Any]) -> str:
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        try:
            return f" (rule {doc['rules'][path[1]]['name']!r})"
        except (KeyError, IndexError, TypeError):
            return ""
    return ""


def _seconds(raw: dict[str, Any], key: str, source: str) -> float:
    try:
        return parse_duration(str(raw[key]))
    except ValueError as exc:
        raise InputError(f"{source}: rule {raw['name']!r}: {key}: {exc}") from None


def _rule(raw: dict[str, Any], source: str) -> Rule:
    kind = raw["kind"]
    params = {k: raw.get(k, _DEFAULTS.get(k)) for k in KINDS[kind]}
    for key in _DURATIONS:
        if key in params:
            params[key] = _seconds({**raw, key: params[key]}, key, source)
    return Rule(
        name=raw["name"],
        kind=kind,
        for_s=_seconds(raw, "for", source) if "for" in raw else 0.0,
        severity=raw.get("severity", "warning"),
        labels=dict(raw.get("labels", {})),
        annotations=dict(raw.get("annotations", {})),
        params=params,
        match={k: raw[k] for k in ("topic", "group", "service") if k in raw},
    )


def load_rules(path: Path | None) -> list[Rule]:
    """The rules in ``path``, or the defaults when ``path`` is None."""
    if path is None:
        return parse_rules(DEFAULT_RULES_TOML, "default rules")
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError(f"--rules {path}: {exc.strerror or exc}") from None
    return parse_rules(text, str(path))
