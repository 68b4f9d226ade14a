"""Which topics the tap follows: names, or regular expressions starting with ``^`` (as librdkafka).

``--topics 'orders,payments'`` is a list, ``--topics '^canvasflow\\..*'`` a regex (never split on
commas: a regex may hold ``{1,3}``). Kafka's internal topics (``__consumer_offsets``,
``__transaction_state``, ...) are never followed by a regex.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

__all__ = ["TopicSelector", "parse_topics"]


def parse_topics(spec: str | Sequence[str]) -> list[str]:
    """A subscription list from ``'a,b'``, ``'^regex'`` or a list of those."""
    items = [spec] if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        if item.startswith("^"):
            out.append(item)
        else:
            out.extend(part.strip() for part in item.split(",") if part.strip())
    if not out:
        raise ValueError("no topics given")
    for item in out:
        if item.startswith("^"):
            try:
                re.compile(item)
            except re.error as exc:
                raise ValueError(f"bad topic regex {item!r}: {exc}") from None
    return out


class TopicSelector:
    """Tells whether a topic name belongs to a subscription."""

    def __init__(self, subscription: Sequence[str]) -> None:
        self.names = frozenset(s for s in subscription if not s.startswith("^"))
        self.patterns = tuple(re.compile(s) for s in subscription if s.startswith("^"))

    def matches(self, topic: str) -> bool:
        if topic in self.names:
            return True
        if topic.startswith("__"):
            return False
        return any(p.match(topic) for p in self.patterns)

    def select(self, topics: Iterable[str]) -> list[str]:
        return sorted(t for t in topics if self.matches(t))
