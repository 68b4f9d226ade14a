"""TUI refresh benchmark: UI-thread cost per overview refresh, key-press latency and RSS.

A store of N spans and N hops (default 1,000,000 each, spread over the last 15 minutes so the
first refresh has the whole window to read) takes ingest at 10,000 spans/s (plus one hop per span)
from a writer while the app runs headless (``run_test``) and refreshes every second.

Measured:
* UI thread: CPU time of the event-loop thread (``time.thread_time``) divided by the number of
  refreshes it rendered, and the handler time of each refresh message; the worst event-loop stall.
* Worker: wall time of each refresh's queries (off the UI thread).
* Key press: ``down``/``up`` on the services table until the cursor has moved.
* RSS of the TUI process (psutil), the ingest running in a child process (``--ingest process``,
  as with ``serve`` + ``tui --attach``) or in a thread of the same process (``--ingest thread``,
  as with the in-process collector).

    python bench/tui_refresh.py                      # full size
    python bench/tui_refresh.py --scale 0.05 --duration 10   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from bench.smoke import add_smoke, smoke_sizes  # noqa: E402
from console.base.errors import Overloaded  # noqa: E402
from console.base.model import Hop, Span  # noqa: E402
from console.store import Store  # noqa: E402
from console.store.sqlite.ingest import write_batch  # noqa: E402

S = 1_000_000_000
SERVICES = [f"svc-{i:02d}" for i in range(20)]
TOPICS = [f"canvasflow.topic{i}" for i in range(10)]


def make_spans(start: int, n: int, t0: int, t1: int, serial: int) -> list[Span]:
    out = []
    step = max(1, (t1 - t0) // max(1, n))
    for i in range(start, start + n):
        t = t0 + (i - start) * step
        trace = f"{serial:08x}{i:024x}"
        kind = (2, 5, 5, 1)[i % 4]
        out.append(
            Span(
                trace_id=trace,
                span_id=f"{i:016x}",
                parent_span_id=None if kind == 2 else f"{i - 1:016x}",
                name="process" if kind == 5 else "POST /work",
                kind=kind,
                start_ns=t,
                end_ns=t + (1 + i % 97) * 1_000_000,
                service=SERVICES[i % len(SERVICES)],
                status_code=2 if i % 50 == 0 else 0,
                attributes={"http.route": "/work", "n": i % 10},
                correlation_id=f"c{serial}-{i // 4}",
            )
        )
    return out


def make_hops(start: int, n: int, t0: int, t1: int) -> list[Hop]:
    step = max(1, (t1 - t0) // max(1, n))
    return [
        Hop(
            topic=TOPICS[i % len(TOPICS)],
            partition=i % 6,
            offset=i,
            timestamp_ms=(t0 + (i - start) * step) // 1_000_000,
            size=300,
            seen_ns=t0 + (i - start) * step,
            correlation_id=f"h-{i // 4}",
        )
        for i in range(start, start + n)
    ]


def build(db: Path, n: int) -> None:
    store = Store.open(db)
    conn = store.connect()
    now = time.time_ns()
    t0, t1 = now - 15 * 60 * S, now
    batch = 50_000
    started = time.perf_counter()
    for k in range(0, n, batch):
        m = min(batch, n - k)
        span_t0 = t0 + (t1 - t0) * k // n
        span_t1 = t0 + (t1 - t0) * (k + m) // n
        write_batch(
            conn, [*make_spans(k, m, span_t0, span_t1, 0), *make_hops(k, m, span_t0, span_t1)]
        )
    conn.close()
    print(f"built {n:,} spans + {n:,} hops in {time.perf_counter() - started:.1f}s", flush=True)


def ingest(db: str, rate: int, stop: threading.Event | None, start_at: int) -> None:
    """Write ``rate`` spans/s (and as many hops) through the batched writer until stopped."""
    store = Store.open(db)
    writer = store.writer(flush_ms=100)
    i = start_at
    tick = 0.1
    per_tick = int(rate * tick)
    nxt = time.perf_counter()
    try:
        while stop is None or not stop.is_set():
            now = time.time_ns()
            try:
                writer.submit(make_spans(i, per_tick, now - per_tick * 1000, now, 1))
                writer.submit(make_hops(i, per_tick, now - per_tick * 1000, now))
            except Overloaded as exc:  # as the collector does: back off, keep going
                time.sleep(exc.retry_after_s)
                nxt = time.perf_counter()
            i += per_tick
            nxt += tick
            time.sleep(max(0.0, nxt - time.perf_counter()))
    finally:
        writer.close()


def _ingest_process(db: str, rate: int, start_at: int) -> None:
    ingest(db, rate, None, start_at)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def drive(db: Path, duration: float, presses: int) -> dict[str, float]:
    from textual import events

    from tests.tui_helpers import wait_for
    from tui import make_app
    from tui_app.linetable import LineTable
    from tui_app.screens.overview import OverviewScreen

    app = make_app(db, refresh_s=1.0)
    handler_ms: list[float] = []
    worker_ms: list[float] = []
    original = OverviewScreen.on_overview_data

    def timed(self: OverviewScreen, msg: Any) -> None:
        t = time.perf_counter()
        original(self, msg)
        handler_ms.append((time.perf_counter() - t) * 1000)
        worker_ms.append(msg.took_ms)

    OverviewScreen.on_overview_data = timed  # type: ignore[method-assign]  # timing the handler
    proc = psutil.Process()
    rss: list[float] = []
    stalls: list[float] = []
    key_ms: list[float] = []
    async with app.run_test(size=(100, 30)) as pilot:
        started = time.perf_counter()
        rss.append(proc.memory_info().rss / 2**20)
        await wait_for(pilot, lambda: len(handler_ms) >= 1, timeout=600)
        first_ms = worker_ms[0]
        print(f"first refresh (worker, whole window): {first_ms:.0f} ms", flush=True)
        table = app.screen.query_one("#services", LineTable)
        table.focus()
        # Phase 1: refreshes only; the event loop is sampled at 20 Hz to find stalls.
        import cProfile
        import os

        prof = cProfile.Profile() if os.environ.get("TUI_BENCH_PROFILE") else None
        if prof:
            prof.enable()
        cpu0 = time.thread_time()
        n0 = len(handler_ms)
        t_end = time.perf_counter() + duration / 2
        last = time.perf_counter()
        while time.perf_counter() < t_end:
            await asyncio.sleep(0.05)
            now = time.perf_counter()
            stalls.append((now - last - 0.05) * 1000)
            last = now
            rss.append(proc.memory_info().rss / 2**20)
        cpu = time.thread_time() - cpu0
        refreshes = len(handler_ms) - n0
        if prof:
            prof.disable()
            prof.dump_stats("/tmp/tui_ui.prof")
        # Phase 2: key presses while refreshes go on.
        t_end = time.perf_counter() + duration / 2
        key_every = duration / 2 / max(1, presses)
        direction = "down"
        while time.perf_counter() < t_end:
            await asyncio.sleep(key_every)
            row = table.cursor_row
            if row >= table.row_count - 1:
                direction = "up"
            elif row <= 0:
                direction = "down"
            # The key goes in as the terminal driver would send it (pilot.press also waits
            # for the whole process to go idle, which is not what a user waits for).
            t = time.perf_counter()
            driver = app._driver
            assert driver is not None  # run_test's headless driver
            driver.send_message(events.Key(direction, None))
            while table.cursor_row == row:
                await asyncio.sleep(0.001)
            key_ms.append((time.perf_counter() - t) * 1000)
        rss.append(proc.memory_info().rss / 2**20)
        wall = time.perf_counter() - started
        print(f"ran {wall:.0f}s", flush=True)
    steady = worker_ms[1:] or worker_ms
    return {
        "refreshes": refreshes,
        "ui_cpu_ms_per_refresh": cpu * 1000 / max(1, refreshes),
        "handler_ms_p50": pct(handler_ms[1:], 0.5),
        "handler_ms_max": max(handler_ms[1:] or [0]),
        "loop_stall_ms_p99": pct(stalls, 0.99),
        "loop_stall_ms_max": max(stalls or [0]),
        "worker_ms_first": first_ms,
        "worker_ms_p50": pct(steady, 0.5),
        "worker_ms_p95": pct(steady, 0.95),
        "key_ms_p50": pct(key_ms, 0.5),
        "key_ms_p99": pct(key_ms, 0.99),
        "key_ms_max": max(key_ms or [0]),
        "rss_mb_max": max(rss),
        "wall_s": wall,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of 1,000,000 spans/hops")
    ap.add_argument("--rate", type=int, default=10_000, help="ingest spans/s while measuring")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds measured")
    ap.add_argument("--presses", type=int, default=60, help="key presses during the run")
    ap.add_argument("--ingest", choices=("process", "thread"), default="process")
    ap.add_argument("--db", type=Path, default=None, help="store file (default: a temp dir)")
    add_smoke(ap)
    args = smoke_sizes(ap.parse_args(), scale=0.002, rate=500, duration=3.0, presses=6)
    n = int(1_000_000 * args.scale)
    tmp = tempfile.TemporaryDirectory(prefix="tui-bench-")
    db = args.db or Path(tmp.name) / "bench.db"
    if db.exists():
        db.unlink()
    build(db, n)
    stop = threading.Event()
    child = worker = None
    if args.ingest == "process":
        child = mp.get_context("spawn").Process(
            target=_ingest_process, args=(str(db), args.rate, 10 * n)
        )
        child.start()
    else:
        from console.runtime.daemon import tune_gc
        from console.runtime.inprocess import share_gil_with_ui

        tune_gc()  # as the in-process runtime's Daemon.start does
        share_gil_with_ui()  # as start_runtime does for the TUI
        worker = threading.Thread(target=ingest, args=(str(db), args.rate, stop, 10 * n))
        worker.start()
    try:
        result = asyncio.run(drive(db, args.duration, args.presses))
    finally:
        stop.set()
        if child is not None:
            child.terminate()
            child.join(10)
        if worker is not None:
            worker.join(30)
    total = Store.open(db).counts()["spans"]
    added = total - n
    print(
        f"store: {n:,} spans built, {total:,} after ingest ({args.ingest} asked {args.rate}/s,"
        f" achieved {added / result['wall_s']:,.0f}/s)"
    )
    for key, value in result.items():
        print(f"{key:24} {value:10.1f}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
