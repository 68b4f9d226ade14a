"""What the tap reads from librdkafka's statistics JSON (pure, no broker)."""

from __future__ import annotations

import json
from typing import Any

from collectors.kafka.stats import parse_stats


def test_librdkafka_statistics_give_connection_and_own_lag() -> None:
    def part(desired: bool, hi: int, app: int, committed: int = -1001) -> dict[str, object]:
        return {
            "desired": desired,
            "hi_offset": hi,
            "app_offset": app,
            "committed_offset": committed,
            "next_offset": hi,
        }

    stats: dict[str, Any] = {
        "brokers": {
            "127.0.0.1:9092/bootstrap": {"state": "INIT", "nodeid": -1},
            "127.0.0.1:9092/1": {"state": "UP", "nodeid": 1},
        },
        "topics": {
            "orders": {
                "partitions": {
                    "0": part(True, 100, 60),  # 40 behind
                    "1": part(True, 50, -1001, committed=45),  # nothing received yet: 5
                    "2": part(False, 999, 0),  # not the tap's
                    "-1": part(True, 7, 0),  # the unassigned pseudo-partition
                }
            }
        },
    }
    assert parse_stats(json.dumps(stats)) == (True, 45)
    stats["brokers"]["127.0.0.1:9092/1"]["state"] = "DOWN"
    stats["topics"] = {}
    assert parse_stats(json.dumps(stats)) == (False, None)
    assert parse_stats("not json") is None
