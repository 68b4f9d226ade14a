"""OTLP ingest benchmark: spans/s committed to the store by a collector pinned to one core.

    python bench/otlp_ingest.py [--seconds 30] [--warmup 3] [--inflight 8] [--json]
                                [--floor-spans 200000]

The collector runs in its own process (this script with ``--role collector``), pinned with
``os.sched_setaffinity`` to ``--collector-cpu``; this process is the load generator, pinned to the
other cores. Each request is an ExportTraceServiceRequest of 100 spans with 15 attributes each
(``bench/spans.py``), re-stamped with fresh trace ids so every span is a new row.

Phases, each against a fresh collector and database:
  grpc/store, http/store   closed loop, spans/s committed (rows in the store over the window)
  grpc/null,  http/null    the same receivers into a NullSink: the decode-only ceiling
  grpc/store+metrics       grpc/store with what `serve --metrics` adds (the commit histogram,
                           the /metrics server) and a scrape every second; grpc/metrics_cost
                           is its spans per CPU-second over grpc/store's
  grpc/overload            open loop at twice the grpc/store rate: RSS of the collector over
                           time and how many requests were answered UNAVAILABLE (backpressure)
  sqlite/floor             on the collector's core, no network: the same requests decoded
                           in-process, then written straight into a fresh store by the store's
                           own ``write_batch`` (blocks, keys, summaries, commit), and encoded into
                           blocks only; ``serial_limit`` is the best a one-core collector could
                           commit given the measured gRPC decode-only rate and that write rate

``collector_cpu_share`` is the CPU the collector actually got (1.0 = its whole core) and
``spans_per_cpu_s`` the spans handled per CPU-second it used: on a shared machine the second
figure says what one uncontended core would do.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.otlp_load import SPANS_PER_REQUEST, Load  # noqa: E402
from bench.smoke import add_smoke, smoke_sizes  # noqa: E402
from bench.spans import RequestFactory  # noqa: E402

# --- the collector process ----------------------------------------------------------------------


def run_collector(sink_kind: str, db: str, cpu: int, metrics: bool = False) -> None:
    from collectors.otlp.common import ReceiverSettings
    from collectors.otlp.grpc_server import GrpcReceiver
    from collectors.otlp.http_server import HttpReceiver
    from console.runtime.daemon import Daemon
    from console.store import NullSink, open_store

    os.sched_setaffinity(0, {cpu})
    daemon = Daemon(open_store(db))  # a SQLite file, or a store URL (bench/clickhouse.py)
    sink: Any = daemon.sink if sink_kind == "store" else NullSink()
    grpc_rx = daemon.add(GrpcReceiver(sink, ReceiverSettings(port=0)))
    http_rx = daemon.add(HttpReceiver(sink, ReceiverSettings(port=0)))
    endpoint = None
    if metrics:  # what `serve --metrics` adds: the commit histogram and the /metrics server
        from console.runtime.metrics import ConsoleMetrics, MetricsEndpoint

        daemon.metrics = ConsoleMetrics(daemon)
        endpoint = daemon.add(MetricsEndpoint(daemon.metrics, "127.0.0.1", 0))
    daemon.install_signal_handlers()
    daemon.start()
    metrics_port = endpoint.port if endpoint is not None else 0
    print(f"READY {grpc_rx.port} {http_rx.port} {metrics_port}", flush=True)
    threading.Thread(target=_answer_counts, args=(daemon,), daemon=True).start()
    daemon.wait()
    daemon.stop()
    daemon.store.close()  # a chDB store lets go of its engine, for the bench to read it
    print(f"DONE {daemon.writer.committed}", flush=True)


def _answer_counts(daemon: Any) -> None:
    """Each ``COUNT`` line on stdin is answered with the records the writer committed: how the
    bench counts a store no other process may open while this one runs (chDB)."""
    for line in sys.stdin:
        if line.strip() == "COUNT":
            print(f"COUNT {daemon.writer.committed}", flush=True)


def run_floor(cpu: int, spans: int) -> None:
    """Print, as JSON, what decoding and the store's own write path cost on this core: the same
    requests decoded in-process, then written straight into a fresh store by ``write_batch``
    (blocks, keys, summaries, commit; no queue, no network), and encoded into blocks only."""
    from collectors.otlp.fast import FastTraceDecoder
    from console.runtime.daemon import tune_gc
    from console.store import Store
    from console.store.sqlite import blocks, ingest

    os.sched_setaffinity(0, {cpu})
    tune_gc()
    factory = RequestFactory(SPANS_PER_REQUEST)
    bodies = [factory.next() for _ in range(spans // SPANS_PER_REQUEST)]
    decoder = FastTraceDecoder()
    c0 = time.process_time()
    decoded = [span for body in bodies for span in decoder.decode(body)[0]]
    decode_cpu = time.process_time() - c0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "floor.db")
        conn = store.connect()
        state = ingest.IngestState()
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(decoded), 800):  # what 8 in-flight 100-span requests commit
            ingest.write_batch(conn, decoded[i : i + 800], state)
        wall, cpu_s = time.perf_counter() - t0, time.process_time() - c0
        conn.close()
    c0 = time.process_time()
    for i in range(0, len(decoded), blocks.MAX_RECORDS):
        blocks.encode_spans(decoded[i : i + blocks.MAX_RECORDS])
    encode_cpu = time.process_time() - c0
    out = {
        "decode_spans_per_cpu_s": round(len(decoded) / decode_cpu),
        "insert_spans_per_s": round(len(decoded) / wall),
        "insert_spans_per_cpu_s": round(len(decoded) / cpu_s),
        "encode_only_spans_per_cpu_s": round(len(decoded) / encode_cpu),
    }
    print(json.dumps(out), flush=True)


def floor(args: argparse.Namespace, grpc_null: float) -> dict[str, Any]:
    from bench.sqlite_floor import serial_limit

    cmd = [sys.executable, __file__, "--role", "floor", "--collector-cpu", str(args.collector_cpu)]
    cmd += ["--floor-spans", str(args.floor_spans)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True)
    result: dict[str, Any] = {"phase": "sqlite/floor", **json.loads(out.stdout.splitlines()[-1])}
    result["serial_limit_spans_per_s"] = round(
        serial_limit(grpc_null, result["insert_spans_per_s"])
    )
    return result


class Collector:
    """The collector process, on a fresh SQLite file in ``workdir``, or on ``store`` (a store
    URL: bench/clickhouse.py), whose committed records it reports when asked."""

    def __init__(
        self,
        sink: str,
        cpu: int,
        workdir: Path,
        metrics: bool = False,
        store: str | None = None,
    ) -> None:
        self.db: Path | str = store or workdir / f"bench-{sink}-{time.monotonic_ns()}.db"
        cmd = [sys.executable, __file__, "--role", "collector", "--sink", sink]
        cmd += ["--db", str(self.db), "--collector-cpu", str(cpu)]
        cmd += ["--metrics"] if metrics else []
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            raise SystemExit(f"collector did not start: {line}")
        self.grpc_port, self.http_port = int(line[1]), int(line[2])
        self.metrics_port = int(line[3])

    def rss_mb(self) -> float:
        import psutil

        return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20

    def cpu_s(self) -> float:
        """CPU seconds the collector has used (all threads): contention-independent cost."""
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def committed_rows(self) -> int:
        if isinstance(self.db, str):  # a store URL: the collector says what it committed
            return self.committed()
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute("SELECT coalesce(sum(n), 0) FROM blocks WHERE kind = 1").fetchone()
            return int(row[0])
        finally:
            conn.close()

    def committed(self) -> int:
        """Records the collector's writer has committed (any store)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("COUNT\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "COUNT":
            raise SystemExit(f"collector did not answer: {line}")
        return int(line[1])

    def stop(self, keep: bool = False) -> None:
        """Stop the collector; its SQLite file is removed unless ``keep`` (a store URL is the
        caller's)."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(120)
        if isinstance(self.db, Path) and not keep:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.db}{suffix}").unlink(missing_ok=True)


def measure(
    args: argparse.Namespace, transport: str, sink: str, workdir: Path, metrics: bool = False
) -> dict[str, Any]:
    collector = Collector(sink, args.collector_cpu, workdir, metrics)
    port = collector.grpc_port if transport == "grpc" else collector.http_port
    load = Load(transport, port, args.inflight)
    scraper = _Scraper(collector.metrics_port) if metrics else None
    load.start()
    try:
        time.sleep(args.warmup)
        ok0, rows0, t0 = load.ok, collector.committed_rows() if sink == "store" else 0, time.time()
        cpu0 = collector.cpu_s()
        time.sleep(args.seconds)
        ok1, rows1, t1 = load.ok, collector.committed_rows() if sink == "store" else 0, time.time()
        cpu1 = collector.cpu_s()
        rss = collector.rss_mb()
    finally:
        load.stop()
        if scraper is not None:
            scraper.stop()
        collector.stop()
    accepted = (ok1 - ok0) * SPANS_PER_REQUEST / (t1 - t0)
    result = {
        "phase": f"{transport}/{sink}" + ("+metrics" if metrics else ""),
        "accepted_spans_per_s": round(accepted),
        "refused_requests": load.refused,
        "errors": load.errors,
        "rss_mb": round(rss, 1),
    }
    done = (rows1 - rows0) if sink == "store" else (ok1 - ok0) * SPANS_PER_REQUEST
    if sink == "store":
        result["committed_spans_per_s"] = round(done / (t1 - t0))
    result["collector_cpu_share"] = round((cpu1 - cpu0) / (t1 - t0), 2)
    result["spans_per_cpu_s"] = round(done / max(cpu1 - cpu0, 1e-9))
    if scraper is not None:
        result["scrapes"] = scraper.scrapes
    return result


class _Scraper:
    """Scrapes ``/metrics`` every second while a phase runs (Prometheus's default is 15 s)."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.scrapes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import httpx

        while not self._stop.wait(1.0):
            if httpx.get(self.url, timeout=10).status_code == 200:
                self.scrapes += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)


def overload(args: argparse.Namespace, rate: float, workdir: Path) -> dict[str, Any]:
    collector = Collector("store", args.collector_cpu, workdir)
    load = Load("grpc", collector.grpc_port, max(8, args.inflight * 2), rate=rate)
    samples: list[float] = []
    load.start()
    try:
        time.sleep(args.warmup)
        rows0, t0 = collector.committed_rows(), time.time()
        while time.time() - t0 < args.seconds:
            samples.append(collector.rss_mb())
            time.sleep(0.5)
        rows1, t1 = collector.committed_rows(), time.time()
    finally:
        load.stop()
        collector.stop()
    half = max(1, len(samples) // 2)
    return {
        "phase": "grpc/overload",
        "offered_spans_per_s": round(rate),
        "committed_spans_per_s": round((rows1 - rows0) / (t1 - t0)),
        "ok_requests": load.ok,
        "refused_requests": load.refused,
        "errors": load.errors,
        "rss_mb_max": round(max(samples), 1),
        "rss_mb_first_half_max": round(max(samples[:half]), 1),
        "rss_mb_second_half_max": round(max(samples[half:] or samples), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window per phase")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--inflight", type=int, default=8, help="concurrent requests")
    parser.add_argument("--collector-cpu", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--role", choices=["bench", "collector", "floor"], default="bench")
    parser.add_argument(
        "--floor-spans", type=int, default=200_000, help="spans the sqlite/floor phase inserts"
    )
    parser.add_argument("--sink", choices=["store", "null"], default="store")
    parser.add_argument("--db", default="")
    parser.add_argument("--metrics", action="store_true", help=argparse.SUPPRESS)  # collector
    add_smoke(parser)
    args = smoke_sizes(parser.parse_args(), seconds=1.0, warmup=0.5, floor_spans=2000)
    if args.role == "collector":
        run_collector(args.sink, args.db, args.collector_cpu, args.metrics)
        return
    if args.role == "floor":
        run_floor(args.collector_cpu, args.floor_spans)
        return
    others = os.sched_getaffinity(0) - {args.collector_cpu}
    if others:
        os.sched_setaffinity(0, others)
    results = []
    with tempfile.TemporaryDirectory(prefix="otlp-bench-") as tmp:
        workdir = Path(tmp)
        for transport in ("grpc", "http"):
            for sink in ("store", "null"):
                results.append(measure(args, transport, sink, workdir))
                _show(results[-1], args.json)
        # What `serve --metrics` costs, beside grpc/store: the histogram and a scrape a second.
        results.append(measure(args, "grpc", "store", workdir, metrics=True))
        _show(results[-1], args.json)
        grpc_store = results[0]["committed_spans_per_s"]
        results.append(overload(args, 2 * max(grpc_store, 1000), workdir))
        _show(results[-1], args.json)
    results.append(floor(args, results[1]["accepted_spans_per_s"]))
    _show(results[-1], args.json)
    by = {r["phase"]: r for r in results}
    plain, with_metrics = by["grpc/store"], by["grpc/store+metrics"]
    line = {
        "phase": "grpc/metrics_cost",
        "per_cpu_s_with_to_without": round(
            with_metrics["spans_per_cpu_s"] / max(plain["spans_per_cpu_s"], 1), 2
        ),
    }
    results.append(line)
    _show(line, args.json)
    for transport in ("grpc", "http"):
        null = by[f"{transport}/null"]["accepted_spans_per_s"]
        store = by[f"{transport}/store"]["committed_spans_per_s"]
        ratio = store / null if null else 0.0
        line = {"phase": f"{transport}/ratio", "store_to_null": round(ratio, 2)}
        results.append(line)
        _show(line, args.json)
    if args.json:
        print(json.dumps({"seconds": args.seconds, "results": results}, indent=2))


def _show(result: dict[str, Any], as_json: bool) -> None:
    if not as_json:
        print("  ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    main()
