"""What ``metrics`` reports over a window, from points written to a store: cumulative and delta
histograms, exponential buckets at different scales and below zero, a counter's restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from console.base.model import MetricPoint
from console.store import Store
from tests.conftest import run_cli

S = 1_000_000_000


def _now() -> int:
    import time

    return time.time_ns()


def _metrics(db: Path, *args: str) -> dict[str, dict[str, Any]]:
    out = run_cli("metrics", "--db", str(db), "--json", *args)
    assert out.returncode == 0, out.stderr
    return {m["name"]: m for m in json.loads(out.stdout)}


def test_a_window_counts_only_what_cumulative_points_added_inside_it(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    now = _now()
    start = now - 3600 * S  # the series started an hour ago
    bounds = (10.0, 20.0, 30.0)

    def point(age_s: int, counts: tuple[int, ...]) -> MetricPoint:
        return MetricPoint(
            "job.duration",
            "worker",
            now - age_s * S,
            "histogram",
            count=sum(counts),
            sum=0.0,
            bucket_counts=counts,
            explicit_bounds=bounds,
            unit="ms",
            start_time_ns=start,
        )

    # 1,000 fast jobs before the window, then 100 slow ones inside it.
    Store.open(db).write([point(1200, (1000, 0, 0, 0)), point(60, (1000, 0, 100, 0))])
    got = _metrics(db, "--since", "15m")["job.duration"]
    assert (got["count"], got["points"]) == (100, 1)
    assert 20 < got["p50"] <= 30  # the slow jobs, not the hour's fast ones


def test_exponential_buckets_at_two_scales_and_below_zero(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    now = _now()

    def point(
        age_s: int, scale: int, offset: int, counts: tuple[int, ...], neg: tuple[int, ...] = ()
    ) -> MetricPoint:
        return MetricPoint(
            "temperature.delta",
            "sensor",
            now - age_s * S,
            "exponential_histogram",
            count=sum(counts) + sum(neg),
            sum=0.0,
            unit="Cel",
            start_time_ns=now - (age_s + 10) * S,  # delta points
            scale=scale,
            positive_offset=offset,
            positive_bucket_counts=counts,
            negative_offset=offset,
            negative_bucket_counts=tuple(neg),
        )

    # scale 1: base sqrt(2); bucket 6 is (8, 11.3]. scale 0: base 2; bucket 3 is (8, 16].
    Store.open(db).write(
        [
            point(600, 1, 6, (50,), neg=(150,)),  # 50 readings in (8, 11.3], 150 in [-11.3, -8)
            point(60, 0, 3, (100,)),  # 100 in (8, 16]
        ]
    )
    got = _metrics(db)["temperature.delta"]
    assert got["count"] == 300
    assert -11.32 < got["p50"] <= -8  # the 150th of 300 is the warmest of the negatives
    assert 8 < got["p95"] <= 16 and 8 < got["p99"] <= 16  # both scales merged at scale 0
    low = _metrics(db, "--since", "5m")["temperature.delta"]  # the scale-0 point only
    assert low["count"] == 100 and 8 < low["p50"] <= 16


def test_a_restarted_counter_adds_its_new_run(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    now = _now()
    first, second = now - 300 * S, now - 100 * S

    def point(age_s: int, value: float, start: int) -> MetricPoint:
        return MetricPoint(
            "jobs.done", "worker", now - age_s * S, "sum", value=value, start_time_ns=start
        )

    Store.open(db).write([point(200, 40, first), point(150, 50, first), point(50, 7, second)])
    got = _metrics(db)["jobs.done"]
    assert (got["kind"], got["last"], got["points"], got["p50"]) == ("sum", 7, 3, None)
