"""Percentiles a user reads from ``metrics``: known distributions sent with the official SDK's
exporter to a real ``serve``, in milliseconds and in seconds, with explicit buckets (the SDK's
default bounds, made for milliseconds, and the semantic conventions' bounds for seconds) and with
exponential buckets. Every estimate must lie within the values' [min, max] and in the same
bucket as the true percentile; one resting on a single bucket must say it is a bound."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource

from demo_pipeline.telemetry import Telemetry, duration_histogram
from tests.conftest import run_cli
from tests.otlp_helpers import Serve

SEMCONV_S = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}


def _durations_ms(seed: int, median: float = 0.7, n: int = 2000) -> list[float]:
    """Log-normal request times around ``median`` ms (0.7: the demo's), a tail to a few times it."""
    rng = random.Random(seed)
    return [math.exp(rng.gauss(math.log(median), 0.6)) for _ in range(n)]


def _slow_ms(seed: int, n: int = 500) -> list[float]:
    """Batch jobs of 2-20 s in milliseconds: the top runs past the SDK's last bound (10 s)."""
    rng = random.Random(seed)
    return [rng.uniform(2000, 20000) for _ in range(n)]


# name -> (unit, values, exponential?, advisory bounds)
CASES: dict[str, tuple[str, list[float], bool, list[float] | None]] = {
    "fast.ms.default-bounds": ("ms", _durations_ms(1), False, None),
    "fast.s.default-bounds": ("s", [v / 1000 for v in _durations_ms(2)], False, None),
    "fast.s.semconv-bounds": ("s", [v / 1000 for v in _durations_ms(3)], False, SEMCONV_S),
    "calls.s.semconv-bounds": ("s", [v / 1000 for v in _durations_ms(7, 40)], False, SEMCONV_S),
    "slow.ms.default-bounds": ("ms", _slow_ms(4), False, None),
    "fast.ms.exponential": ("ms", _durations_ms(5), True, None),
    "fast.s.exponential": ("s", [v / 1000 for v in _durations_ms(6)], True, None),
}


def _truth(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    db = tmp_path_factory.mktemp("quantiles") / "h.db"
    with Serve(db) as s:
        exporter = OTLPMetricExporter(endpoint=s.grpc_target, insecure=True)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        exponential = [n for n, c in CASES.items() if c[2]]
        meters = MeterProvider(
            resource=Resource.create({"service.name": "renderer"}),
            metric_readers=[reader],
            views=[
                View(instrument_name=n, aggregation=ExponentialBucketHistogramAggregation())
                for n in exponential
            ],
        )
        meter = meters.get_meter("quantiles")
        for name, (unit, values, _, bounds) in CASES.items():
            h = meter.create_histogram(name, unit=unit, explicit_bucket_boundaries_advisory=bounds)
            for v in values:
                h.record(v)
        meters.shutdown()  # exports, and serve acknowledges only what it stored
        out = run_cli("metrics", "--db", str(db), "--json", "--since", "1h")
        text = run_cli("metrics", "--db", str(db), "--since", "1h", env={"COLUMNS": "160"})
    assert out.returncode == 0, out.stderr
    assert text.returncode == 0, text.stderr
    got = {m["name"]: m for m in json.loads(out.stdout)}
    got["<text>"] = {"stdout": text.stdout}
    return got


@pytest.mark.parametrize("name", list(CASES))
def test_every_estimate_lies_within_min_max_and_the_true_percentile_s_bucket(
    reported: dict[str, dict[str, Any]], name: str
) -> None:
    unit, values, _, _ = CASES[name]
    m = reported[name]
    assert (m["unit"], m["count"]) == (unit, len(values))
    assert m["min"] == pytest.approx(min(values)) and m["max"] == pytest.approx(max(values))
    for key, q in QUANTILES.items():
        value, (low, high), truth = m[key], m[f"{key}_range"], _truth(values, q)
        assert isinstance(value, float | int) and isinstance(low, float | int)
        assert isinstance(high, float | int)
        assert min(values) <= value <= max(values), (key, value)
        assert low <= truth <= high, (key, truth, low, high)  # the truth is in the bucket ...
        assert low <= value <= high, (key, value, low, high)  # ... and so is the estimate
        if m[f"{key}_bound"] == "le":
            assert value >= truth


def test_seconds_in_millisecond_buckets_are_shown_as_a_bound_not_a_guess(
    reported: dict[str, dict[str, Any]],
) -> None:
    """The issue's trap: every value in the first default bucket (0, 5]. Without min/max the
    console showed p50 2.5 s for sub-millisecond work."""
    m = reported["fast.s.default-bounds"]
    assert (m["p50_bound"], m["p95_bound"], m["p99_bound"]) == ("le", "le", "le")
    assert m["p50"] == m["max"] < 0.01
    row = next(
        ln for ln in str(reported["<text>"]["stdout"]).splitlines() if "fast.s.default" in ln
    )
    assert row.count("≤ ") == 3 and " s " in row + " "
    # Sub-millisecond work is below the conventions' first bound too: a bound, at most the max.
    semconv = reported["fast.s.semconv-bounds"]
    assert semconv["p50_bound"] == "le" and semconv["p50"] == semconv["max"] < 0.005
    # Work of tens of ms spreads over those buckets: plain estimates, no bounds.
    fine = reported["calls.s.semconv-bounds"]
    assert (fine["p50_bound"], fine["p95_bound"], fine["p99_bound"]) == (None, None, None)
    assert 0.025 < fine["p50"] < 0.05 < fine["p95"] < 0.25


def test_exponential_estimates_stay_close_to_the_truth(
    reported: dict[str, dict[str, Any]],
) -> None:
    """Exponential buckets keep their exact arithmetic: the SDK's default scale puts an estimate
    within a fraction of a percent of the true value."""
    for name in ("fast.ms.exponential", "fast.s.exponential"):
        values = CASES[name][1]
        for key, q in QUANTILES.items():
            got = reported[name][key]
            assert isinstance(got, float)
            assert got == pytest.approx(_truth(values, q), rel=0.01), (name, key)


def test_the_demo_s_durations_land_in_the_conventions_buckets(tmp_path: Path) -> None:
    """The demo's duration histograms (seconds) use the semantic conventions' boundaries, so a
    30 ms step reads inside (25 ms, 50 ms], not somewhere in (0, 5 s]."""
    db = tmp_path / "h.db"
    with Serve(db) as s:
        tel = Telemetry("canvasflow-catalog", f"http://{s.grpc_target}")
        name = "http.client.request.duration"
        duration = duration_histogram(tel.meter, name)
        for _ in range(95):
            duration.record(0.030)
        for _ in range(5):
            duration.record(0.300)
        tel.meter_provider.shutdown()
        out = run_cli("metrics", "--db", str(db), "--json", "--name", name)
    assert out.returncode == 0, out.stderr
    (m,) = json.loads(out.stdout)
    # The bucket (25 ms, 50 ms], narrowed below by the min (every fast step took 30 ms).
    assert m["p50_range"] == [0.03, 0.05] and m["p50_bound"] is None
    # (250 ms, 500 ms] narrowed above by the max: the slow steps took 300 ms.
    assert m["p99_range"] == [0.25, 0.3] and 0.25 <= m["p99"] <= 0.3
