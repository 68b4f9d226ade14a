"""A big journey as ``trace`` prints it: runs of repeated siblings folded into one line each
(errors, Kafka sends and the slowest of each run kept), the critical path on top, ``--all`` for
every span. The journey is sent with the OpenTelemetry SDK's exporter to a real ``serve``."""

from __future__ import annotations

import json
import re
import time

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from tests.conftest import run_cli
from tests.otlp_helpers import Serve

MS = 1_000_000
PAGES, TILES = 12, 40
CID = "big-fold-1"
FAILED = {(4, 17)}  # (page, tile) that fail
SLOW = (7, 25)  # the slowest tile of its page: 9 ms where the others take 0.1-0.5 ms


def send(s: Serve) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "canvasflow-renderer"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=s.grpc_target, insecure=True))
    )
    tracer = provider.get_tracer("test")
    t = time.time_ns() - 60_000 * MS
    root = tracer.start_span(
        "GET /render", kind=SpanKind.SERVER, start_time=t, attributes={"correlation.id": CID}
    )
    t += MS
    for p in range(PAGES):
        page = tracer.start_span("render-page", context=set_span_in_context(root), start_time=t)
        ctx = set_span_in_context(page)
        for k in range(TILES):
            tile = tracer.start_span("render-tile", context=ctx, start_time=t)
            if (p, k) in FAILED:
                tile.set_status(Status(StatusCode.ERROR, "tile out of memory"))
            t += 9 * MS if (p, k) == SLOW else (100_000 + (k * 37 % 5) * 100_000)
            tile.end(end_time=t)
        if p == 9:  # one page hands its result to Kafka: a send is never folded away
            send_span = tracer.start_span(
                "canvasflow.pages send",
                context=ctx,
                kind=SpanKind.PRODUCER,
                start_time=t,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": "canvasflow.pages",
                    "messaging.operation.type": "send",
                },
            )
            t += 200_000
            send_span.end(end_time=t)
        t += 100_000
        page.end(end_time=t)
    root.end(end_time=t + MS)
    provider.shutdown()


@pytest.fixture(scope="module", params=["sqlite", "chdb"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The store serve wrote the journey to, as ``trace``'s options: on each backend."""
    where = tmp_path_factory.mktemp("fold")
    url = str(where / "h.db") if request.param == "sqlite" else f"chdb://{where / 'chdb'}"
    with Serve(url) as s:
        send(s)
        assert s.stop() == 0
    return ["--db", url] if request.param == "sqlite" else ["--store", url]


def _trace(db: list[str], *args: str) -> list[str]:
    out = run_cli("trace", "--correlation-id", CID, *db, *args, env={"COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def _waterfall(lines: list[str]) -> list[str]:
    """The lines below the waterfall's header (the critical path above names spans too)."""
    return lines[next(i for i, ln in enumerate(lines) if ln.rstrip().endswith("took")) :]


def test_repeated_siblings_fold_into_one_line_each(db: list[str]) -> None:
    lines = _trace(db)
    total = 1 + PAGES * (TILES + 1) + 1
    assert len(lines) < 80, len(lines)  # 494 spans, not 494 lines
    folds = [ln for ln in lines if "… " in ln and " more " in ln]
    pattern = r"… (\d+) more render-tile · p50 \d+\.\d ms · max \d+\.\d ms · \d+ errors?"
    assert sum(bool(re.search(pattern, ln)) for ln in folds) >= 3, folds
    pages = [ln for ln in folds if "more render-page" in ln]
    assert len(pages) == 1 and "spans below" in pages[0]
    summary = re.match(rf"([\d,]+) of {total:,} spans folded into (\d+) lines", lines[-1])
    assert summary is not None, lines[-1]
    assert int(summary.group(2)) == len(folds)
    hidden = int(summary.group(1).replace(",", ""))
    assert total - hidden < 60  # what is left is a screen, not a scroll


def test_errors_sends_and_the_slowest_stay_in_view(db: list[str]) -> None:
    lines = _waterfall(_trace(db))
    assert sum("render-tile  ✖ tile out of memory" in ln for ln in lines) == 1
    assert sum("canvasflow.pages send" in ln for ln in lines) == 1
    # The slow tile (9 ms) is the slowest of its run: kept, with its duration.
    assert any("render-tile" in ln and ln.rstrip().endswith("9.0 ms") for ln in lines)
    # The pages holding them are kept too (besides the first three and the slowest page).
    assert sum(bool(re.search(r"\brender-page\s", ln)) for ln in lines) >= 3 + 2


def test_the_critical_path_comes_first(db: list[str]) -> None:
    lines = _trace(db)
    head = next(i for i, ln in enumerate(lines) if ln.startswith("critical path · "))
    table = next(i for i, ln in enumerate(lines) if ln.rstrip().endswith("took"))
    assert head < table
    path = lines[head + 1 : table]
    # Sequential pages and tiles: every one is on the path, and the shares add up.
    assert any(f"render-page ×{PAGES}" in ln for ln in path)  # noqa: RUF001
    assert any(f"render-tile ×{PAGES * TILES}" in ln for ln in path)  # noqa: RUF001


def test_all_prints_every_span(db: list[str]) -> None:
    lines = _trace(db, "--all")
    assert sum(bool(re.search(r"\brender-tile\b", ln)) for ln in lines) >= PAGES * TILES
    assert not any(" more render-" in ln for ln in lines)
    spans = json.loads(run_cli("trace", "--correlation-id", CID, *db, "--json").stdout)["spans"]
    assert len(spans) == 1 + PAGES * (TILES + 1) + 1  # --json: every span, as before


def test_the_critical_path_skips_work_that_overlapped_it() -> None:
    """Jaeger's rule: the last child to finish is critical, then the last one to finish before
    it started; a child running in parallel with a critical one is not on the path."""
    from console.base.model import Span
    from console.journeys.fold import critical_path

    def span(sid: str, start: int, end: int, parent: str | None = "root") -> Span:
        return Span("t" * 32, sid, sid, start * MS, end * MS, "svc", parent_span_id=parent)

    spans = (
        span("root", 0, 100, None),
        span("early", 0, 15),
        span("parallel", 10, 60),
        span("last", 20, 90),
    )
    got = {st.span.name: st.on_path_ns // MS for st in critical_path(spans)}
    assert got == {"root": 15, "early": 15, "last": 70}  # 10 after "last", 5 between
    assert sum(got.values()) == 100
