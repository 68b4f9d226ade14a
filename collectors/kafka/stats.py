"""What the tap learns from librdkafka's statistics JSON (``stats_cb``): connected?, own lag.

Pure: ``parse_stats(text)`` returns ``(connected, lag)`` or None for text that is not JSON.
*connected* is true when a real broker (node id >= 0) is in state ``UP``. *lag* sums, over the
partitions assigned to the tap, the high watermark minus the next offset the tap will hand over
(the last one it received + 1, else its committed offset, else its fetch position); None when no
assigned partition has both numbers yet.
"""

from __future__ import annotations

import json

__all__ = ["parse_stats"]

_POSITION_KEYS = ("app_offset", "committed_offset", "next_offset")


def parse_stats(text: str) -> tuple[bool, int | None] | None:
    try:
        stats = json.loads(text)
    except ValueError:
        return None
    if not isinstance(stats, dict):
        return None
    up = any(
        b.get("state") == "UP" and b.get("nodeid", -1) >= 0
        for b in (stats.get("brokers") or {}).values()
    )
    lag = 0
    known = False
    for topic in (stats.get("topics") or {}).values():
        for pid, p in (topic.get("partitions") or {}).items():
            if int(pid) < 0 or not p.get("desired"):
                continue
            hi = p.get("hi_offset", -1)
            positions = (p.get(k, -1) for k in _POSITION_KEYS)
            pos = next((x for x in positions if x >= 0), -1)
            if hi >= 0 and pos >= 0:
                lag += max(0, hi - pos)
                known = True
    return up, (lag if known else None)
