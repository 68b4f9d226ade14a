"""kill -9 in the middle of a bulk replay of 10,000 dead letters, then the same command again:
exactly once in the target, counted by ``x-replay-id`` (the procedure of tests/test_dlq_crash.py,
at the issue's size)."""

from __future__ import annotations

import pytest

from console.store import Storage
from tests.e2e.support import env_int
from tests.test_dlq_crash import replay_killed_midway_then_resumed

pytestmark = pytest.mark.e2e

DEAD_LETTERS = env_int("HANDOFF_E2E_DEAD_LETTERS", 10_000)


def test_kill_9_during_bulk_replay_of_10000_then_resume_is_exactly_once(
    kafka_bootstrap: str, topic: str, store: Storage, store_args: list[str]
) -> None:
    timings = replay_killed_midway_then_resumed(
        kafka_bootstrap, topic, store, store_args, DEAD_LETTERS, rate=2000
    )
    print(
        f"\n{DEAD_LETTERS} dead letters: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items())
    )
