"""Soak: the CanvasFlow demo for N minutes with the console attached, sampling the console's
memory and the store's size every 10 s.

    python bench/soak.py [--minutes 10] [--rate 5] [--retention-bytes 40MB] [--bootstrap B]

The console is ``serve --topics`` (OTLP collector and the Kafka tap in one process, since the
store takes one writer, with ``--retention-bytes``); the services are the demo's
CanvasFlow pipeline (``python -m demo_pipeline``, what ``demo --headless`` runs) on their own
topic prefix, exporting to that ``serve``. (``demo --headless`` attaches its own in-process
collector and tap without retention, so the soak runs the console as a user would deploy it.) Every
``--interval`` seconds it samples the RSS of the console process (psutil, children included),
the store's file size (main file + WAL), its live bytes (pages minus free pages) and the
records ingested so far (highest row id per table and the writer's count of records written
into blocks, neither of which retention lowers).

Goals: RSS growth under 10% from the end of the first minute to the end; store growth linear in
traffic until retention starts, then held under the bound. Prints the figures, writes
``bench/results/soak.json`` and a plot ``bench/results/soak.png`` (matplotlib, the ``bench``
extra: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from bench.smoke import add_smoke, smoke_sizes  # noqa: E402

TABLES = ("metric_points", "series", "dead_letters")  # rows; spans, hops, logs are in blocks
_LISTEN = re.compile(r"OTLP/gRPC listening on (\S+):(\d+)")


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "console", *args]


class Proc:
    """A child process whose stderr is kept (last lines) on a thread."""

    def __init__(self, name: str, cmd: list[str], stdout: Any = subprocess.DEVNULL) -> None:
        self.name = name
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True
        )
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines = [*self.lines[-200:], line]

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        while time.monotonic() < deadline:
            for line in list(self.lines):
                m = rx.search(line)
                if m:
                    return m
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"{self.name} did not start:\n{''.join(self.lines[-20:])}")

    def rss_mb(self) -> float:
        try:
            p = psutil.Process(self.proc.pid)
            total = p.memory_info().rss
            for c in p.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += c.memory_info().rss
            return total / 2**20
        except psutil.Error:
            return float("nan")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode


def _store_sample(db: Path) -> dict[str, Any]:
    wal = Path(f"{db}-wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    main_bytes = db.stat().st_size
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        ingested = {
            t: conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {t}").fetchone()[0]
            for t in TABLES
        }
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        # Spans, hops and logs live in blocks: those alive, and those ever written (a counter
        # the writer keeps, which retention does not lower).
        rows["blocks"] = conn.execute("SELECT coalesce(sum(n), 0) FROM blocks").fetchone()[0]
        written = conn.execute(
            "SELECT value FROM meta WHERE key = 'block_records_written'"
        ).fetchone()
        ingested["blocks"] = int(written[0]) if written else 0
    finally:
        conn.close()
    return {
        "file_bytes": main_bytes + wal_bytes,
        "main_bytes": main_bytes,
        "wal_bytes": wal_bytes,
        "live_bytes": (pages - free) * page,
        "ingested": sum(ingested.values()),
        "rows": sum(rows.values()),
    }


def _parse_size(text: str) -> int:
    from console.base.config import parse_size

    return parse_size(text)


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="handoff-soak-"))
    db = work / "soak.db"
    prefix = f"soak{uuid.uuid4().hex[:8]}.canvasflow"
    bound = _parse_size(args.retention_bytes)
    serve = Proc(
        "serve",
        _cli("serve", "--db", str(db), "--otlp-grpc", "127.0.0.1:0", "--otlp-http", "off",
             "--topics", f"^{re.escape(prefix)}\\..*", "--bootstrap", args.bootstrap,
             "--from-beginning", "--retention-bytes", args.retention_bytes),
    )  # fmt: skip
    procs = [serve]
    try:
        port = serve.wait_for(_LISTEN).group(2)
        serve.wait_for("^store:")
        demo_out = open(work / "demo.json", "w")  # noqa: SIM115 - closed below
        from demo_pipeline.run import create_topics
        from demo_pipeline.runtime import Topics

        create_topics(args.bootstrap, Topics(prefix))
        demo = Proc(
            "demo",
            [sys.executable, "-m", "demo_pipeline", "--json", "--bootstrap", args.bootstrap,
             "--otlp-endpoint", f"http://127.0.0.1:{port}", "--topic-prefix", prefix,
             "--rate", str(args.rate), "--duration", str(args.minutes * 60)],
            stdout=demo_out,
        )  # fmt: skip
        procs.append(demo)
        samples: list[dict[str, Any]] = []
        t0 = time.monotonic()
        while True:
            s = {
                "t": round(time.monotonic() - t0, 1),
                "serve_rss_mb": round(serve.rss_mb(), 1),
                "demo_rss_mb": round(demo.rss_mb(), 1),
                **_store_sample(db),
            }
            samples.append(s)
            print(json.dumps(s), flush=True)
            if demo.proc.poll() is not None:
                break
            time.sleep(max(0.0, t0 + len(samples) * args.interval - time.monotonic()))
        demo_rc = demo.proc.wait()
        demo_out.close()
        summary = json.loads((work / "demo.json").read_text().strip().splitlines()[-1] or "{}")
    finally:
        for p in reversed(procs):
            p.stop()
    return _figures(samples, bound, args, summary, demo_rc)


def _fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and R² of ys against xs."""
    n = len(xs)
    if n < 3:
        return float("nan"), float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    syy = sum((y - my) ** 2 for y in ys)
    slope = sxy / sxx if sxx else float("nan")
    r2 = (sxy * sxy) / (sxx * syy) if sxx and syy else float("nan")
    return slope, r2


def _figures(
    samples: list[dict[str, Any]], bound: int, args: argparse.Namespace, demo: dict[str, Any],
    demo_rc: int,
) -> dict[str, Any]:  # fmt: skip
    after_1m = [s for s in samples if s["t"] >= 60] or samples
    first, last = after_1m[0], samples[-1]
    # Saved runs from before the single-writer guard had a separate tap process.
    procs = [k for k in ("serve_rss_mb", "tap_rss_mb") if k in first]
    console = [sum(s[k] for k in procs) for s in samples]
    growth = {k: (last[k] - first[k]) / first[k] * 100 if first[k] else float("nan") for k in procs}
    total_growth = (console[-1] - console[samples.index(first)]) / console[samples.index(first)]
    # Before retention first trims: the prefix over which live bytes only grew.
    pre = samples[:1]
    for s in samples[1:]:
        if s["live_bytes"] < pre[-1]["live_bytes"]:
            break
        pre.append(s)
    slope, r2 = _fit([s["ingested"] for s in pre], [s["live_bytes"] for s in pre])
    duration = samples[-1]["t"]
    return {
        "minutes": args.minutes,
        "duration_s": duration,
        "rate_uploads_per_s": args.rate,
        "retention_bytes": bound,
        "records_ingested": last["ingested"],
        "records_per_s": round(last["ingested"] / duration, 1) if duration else 0,
        "rss_mb_at_1m": {k.split("_")[0]: first[k] for k in procs},
        "rss_mb_at_end": {k.split("_")[0]: last[k] for k in procs},
        "rss_mb_peak": {k.split("_")[0]: max(s[k] for s in samples) for k in procs},
        "rss_growth_pct_after_1m": {k.split("_")[0]: round(v, 1) for k, v in growth.items()},
        "console_rss_growth_pct_after_1m": round(total_growth * 100, 1),
        "store_bytes_per_record": round(slope, 1),
        "store_linear_r2_before_retention": round(r2, 4),
        "store_live_bytes_peak": max(s["live_bytes"] for s in samples),
        "store_file_bytes_peak": max(s["file_bytes"] for s in samples),
        "store_main_file_bytes_peak": max(s["main_bytes"] for s in samples),
        "store_wal_bytes_peak": max(s["wal_bytes"] for s in samples),
        "store_live_bytes_end": last["live_bytes"],
        "retention_held": max(s["live_bytes"] for s in samples) <= bound,
        "store_live_peak_over_bound_pct": round(
            (max(s["live_bytes"] for s in samples) - bound) / bound * 100, 2
        ),
        "rss_goal_met": total_growth < 0.10,
        "demo_exit": demo_rc,
        "demo_summary": demo,
        "samples": samples,
    }


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["samples"]
    t = [x["t"] / 60 for x in s]
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for key in ("serve_rss_mb", "tap_rss_mb"):
        if key in s[0]:
            a.plot(t, [x[key] for x in s], label=f"{key.split('_')[0]} RSS")
    a.axvline(1, color="grey", lw=0.5, ls=":")
    a.set_ylabel("MiB")
    a.set_ylim(bottom=0)
    a.legend(loc="lower right")
    a.set_title(
        f"soak: demo at {result['rate_uploads_per_s']} uploads/s, "
        f"{result['records_per_s']:,.0f} records/s into the store"
    )
    mb = 1e6
    b.plot(t, [x["live_bytes"] / mb for x in s], label="store live bytes")
    b.plot(t, [x["main_bytes"] / mb for x in s], label="main file", ls="--")
    b.plot(t, [x["wal_bytes"] / mb for x in s], label="WAL file", ls=":")
    b.axhline(result["retention_bytes"] / mb, color="red", lw=0.8, label="--retention-bytes")
    b.set_ylabel("MB")
    b.set_xlabel("minutes")
    c = b.twinx()
    c.plot(t, [x["ingested"] / 1000 for x in s], color="grey", lw=0.8, label="records ingested")
    c.set_ylabel("k records ingested")
    b.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5.0, help="demo uploads per second")
    parser.add_argument("--retention-bytes", default="40MB")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("HANDOFF_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "soak")
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="Recompute figures and plot from saved samples.",
    )
    add_smoke(parser)
    args = parser.parse_args()
    if args.smoke:  # its results beside it in a temp dir, never over bench/results/
        out = Path(tempfile.mkdtemp(prefix="soak-smoke-")) / "soak"
        smoke_sizes(args, minutes=0.5, rate=2.0, interval=3.0, out=out)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        args.minutes, args.rate = saved["minutes"], saved["rate_uploads_per_s"]
        args.retention_bytes = str(saved["retention_bytes"])
        bound = saved["retention_bytes"]
        result = _figures(saved["samples"], bound, args, saved["demo_summary"], saved["demo_exit"])
    else:
        result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(result, indent=1))
    try:
        plot(result, Path(f"{args.out}.png"))
    except ImportError:
        print("matplotlib missing: pip install -e '.[bench]' for the plot", file=sys.stderr)
    figures = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
