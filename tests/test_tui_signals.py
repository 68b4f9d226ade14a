"""Log records in the live tail and the metrics screen (5), driven with the pilot over a store."""

from __future__ import annotations

import re

import pytest
from textual.app import App

from console.base.model import MetricPoint
from console.store import Storage
from tests.tui_data import NOW, S, demo_logs, demo_metrics, demo_records
from tests.tui_helpers import screen_text, wait_for
from tui import make_app
from tui_app.linetable import LineTable

pytestmark = pytest.mark.asyncio
BACKENDS = ("sqlite", "chdb", "chdb-json")  # every test that takes ``store`` on each store


_ROW = re.compile(r"^\W*\d\d:\d\d:\d\d\.\d{3}\s+(span|hop|log)\s")


def _kinds(app: App[None]) -> set[str]:
    return {m.group(1) for line in screen_text(app).splitlines() if (m := _ROW.match(line))}


def _rows(app: App[None]) -> list[str]:
    return [
        line
        for line in screen_text(app).splitlines()
        if (m := _ROW.match(line)) and m.group(1) == "log"
    ]


async def test_tail_shows_logs_beside_spans_filters_them_and_opens_their_journey(
    store: Storage, store_url: str
) -> None:
    store.write([*demo_records(), *demo_logs()])
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: "shown" in screen_text(app) and _rows(app))
        text = screen_text(app)
        assert _kinds(app) == {"span", "hop", "log"}  # beside each other, in time order
        assert "kind: all" in text
        await pilot.press("t", "t", "t")  # all -> spans -> hops -> logs
        await wait_for(pilot, lambda: "kind: logs" in screen_text(app))
        assert app.screen.query_one("#tail", LineTable).row_count == 12
        assert _kinds(app) == {"log"}
        await pilot.press("v", "v", "v")  # any -> DEBUG -> INFO -> WARN
        await wait_for(pilot, lambda: "logs: WARN" in screen_text(app))
        levels = sorted({row.split(" log ")[1].split()[1] for row in _rows(app)})
        assert levels == ["ERROR", "FATAL", "WARN"]
        assert app.screen.query_one("#tail", LineTable).row_count == 6
        # The cursor sits on the newest record (a FATAL of upload 118): Enter opens its journey.
        newest = _rows(app)[-1]
        assert "FATAL" in newest and "corr-0118" in newest
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "WaterfallScreen")
        assert "corr-0118" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "TailScreen")


async def test_metrics_screen_lists_each_service_and_charts_a_histogram(
    store: Storage, store_url: str
) -> None:
    store.write([*demo_records(), *demo_metrics()])
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: "3 services" in screen_text(app))
        text = screen_text(app)
        # The longest service name whole, a braced unit whole, a one-bucket histogram a bound.
        assert "canvasflow-thumbnail-renderer " in text and "29,700 {event}" in text
        assert "≤ 0.0041 s" in text
        await pilot.press("down")
        await wait_for(pilot, lambda: "metrics of image-processor" in screen_text(app))
        text = screen_text(app)
        assert "messaging.process.duration" in text and " exp " in text
        await pilot.press("down")  # the upload service's metrics
        await wait_for(pilot, lambda: "metrics of upload-service" in screen_text(app))
        row = next(
            line for line in screen_text(app).splitlines() if "http.server.request.duration" in line
        )
        assert "n=630" in row and "ms" in row
        gauge = next(line for line in screen_text(app).splitlines() if "queue.depth" in line)
        assert " 4 " in gauge  # the gauge's last value
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "MetricChartScreen")
        chart = screen_text(app)
        assert "upload-service · http.server.request.duration · histogram" in chart
        assert "count 630" in chart and "p95" in chart and "UTC" in chart
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "MetricsScreen")


def _license_api(ok: int, failed: int) -> list[MetricPoint]:
    """A service whose spans are all sampled away: only its HTTP server duration histogram
    (seconds, cumulative), 5xx answers split out as semantic conventions say."""
    start = NOW - 600 * S
    out = []
    for k in (1, 2):  # two exports; the window holds what the second says in all
        for status, n in ((200, ok), (503, failed)):
            counts = (0, k * n * 3 // 4, k * n // 4, 0) if status == 200 else (0, 0, 0, k * n)
            out.append(
                MetricPoint(
                    "http.server.request.duration",
                    "license-api",
                    start + k * 60 * S,
                    "histogram",
                    count=sum(counts),
                    sum=0.0,
                    bucket_counts=counts,
                    explicit_bounds=(0.01, 0.1, 1.0),
                    unit="s",
                    attributes={"http.response.status_code": status, "http.route": "/license"},
                    start_time_ns=start,
                )
            )
    return out


async def test_overview_takes_latency_from_duration_metrics_when_spans_are_sampled_away(
    store: Storage, store_url: str
) -> None:
    store.write([*demo_records(), *_license_api(ok=80, failed=20)])
    app = make_app(store_url, now=NOW, refresh_s=3600)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: "license-api" in screen_text(app))
        text = screen_text(app)
        row = next(line for line in text.splitlines() if "license-api" in line)
        # 200 observations in 15 min; p50 85 ms inside (10 ms, 100 ms]; p95 and p99 in the
        # 5xx overflow bucket (no max sent): only its 1 s floor is known, and the cell says so.
        assert "from metrics" in row and "20%" in row
        cells = row.split()
        assert cells[cells.index("metrics") + 1 : cells.index("metrics") + 4] == [
            "85",
            ">1.0s",
            ">1.0s",
        ]
        assert "'from metrics' rows: http.server.request.duration" in text
        # Services with entry spans keep their span figures.
        upload = next(line for line in text.splitlines() if "upload-service" in line)
        assert "from metrics" not in upload
