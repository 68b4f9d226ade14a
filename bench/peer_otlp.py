"""OTLP ingest and trace lookups: ``handoff-console`` beside Jaeger v2, measured in one run.

Used by ``bench/peers.py``. The load is ``bench/otlp_load.Load`` (the same generator as the
ingest benchmark: 100-span requests with 15 attributes, ``--inflight`` concurrent), run in this
process on one core while the server under test is pinned to the other.

Also a child role, run pinned beside the store: ``--role journeys --db DB --ids FILE`` times
``console.journeys.journey()`` by trace id and by correlation id over one store reader and
prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.otlp_load import SPANS_PER_REQUEST, Load  # noqa: E402
from bench.peer_servers import Jaeger, Serve  # noqa: E402

Server = Serve | Jaeger


def settle(server: Server, timeout: float = 60) -> int:
    """Wait until the stored count stops rising (writer queue drained); return it."""
    last, deadline = -1, time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = server.stored()
        if now == last:
            return now
        last = now
        time.sleep(1.0)
    return last


def ingest(server: Server, seconds: float, warmup: float, inflight: int) -> dict[str, Any]:
    """Closed-loop gRPC load for ``warmup + seconds``; rates over the window, disk at the end."""
    factory_kw = {"start_ns": time.time_ns(), "correlations": True, "varied": True}
    load = Load("grpc", server.grpc_port, inflight, factory_kw=factory_kw)
    load.start()
    try:
        time.sleep(warmup)
        ok0, st0, cpu0, t0 = load.ok, server.stored(), server.cpu_s(), time.monotonic()
        while time.monotonic() - t0 < seconds:
            server.rss_mb()
            time.sleep(0.5)
        ok1, st1, cpu1, t1 = load.ok, server.stored(), server.cpu_s(), time.monotonic()
        server.rss_mb()
    finally:
        load.stop()
    total = settle(server)
    server.stop()
    if isinstance(server, Serve):
        total = server.stored()  # after a clean stop: everything the writer committed
    wall, cpu = t1 - t0, max(cpu1 - cpu0, 1e-9)
    ok = (ok1 - ok0) * SPANS_PER_REQUEST
    disk = server.disk()
    return {
        "server": server.name,
        "ok_spans_per_s": round(ok / wall),
        "stored_spans_per_s": round((st1 - st0) / wall),
        "cpu_share": round(cpu / wall, 2),
        "ok_spans_per_cpu_s": round(ok / cpu),
        "stored_spans_per_cpu_s": round((st1 - st0) / cpu),
        "rss_max_mb": round(server.rss_max_mb),
        "refused_requests": load.refused,
        "errors": load.errors,
        "stored_total": total,
        "disk_bytes": disk,
        "bytes_per_span": round(disk / total) if total and disk else None,
    }


def fill(
    server: Server, spans: int, inflight: int, keep: int
) -> tuple[list[tuple[str, str]], float]:
    """Send ``spans`` spans with a fresh correlation id per trace; wait until all are stored.

    Returns about ``keep`` (trace id, correlation id) pairs from across the data and the seconds
    it took until the last span was stored.
    """
    requests = spans // SPANS_PER_REQUEST
    factory_kw = {"start_ns": time.time_ns(), "correlations": True, "varied": True}
    every = max(1, requests // keep)
    load = Load(
        "grpc",
        server.grpc_port,
        inflight,
        requests=requests,
        factory_kw=factory_kw,
        keep_ids_every=every,
    )
    t0 = time.monotonic()
    load.start()
    while load.running():
        load.wait(5)
    if load.errors:
        raise RuntimeError(f"{server.name}: {load.errors} requests failed while filling")
    deadline = time.monotonic() + 600
    while server.stored() < requests * SPANS_PER_REQUEST and time.monotonic() < deadline:
        time.sleep(1.0)
    return load.ids, time.monotonic() - t0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(pct(ms, 99), 2),
        "n": len(ms),
    }


def jaeger_lookups(j: Jaeger, ids: list[tuple[str, str]], runs: int) -> dict[str, Any]:
    """Jaeger's query API over HTTP: one reused client (as a UI holds one), and fresh curls."""
    now_us = time.time_ns() // 1000
    window = {"start": str(now_us - 6 * 3600 * 10**6), "end": str(now_us + 3600 * 10**6)}

    def by_id(tid: str) -> str:
        return f"/api/traces/{tid}"

    def by_tag(corr: str) -> str:
        tags = json.dumps({"correlation.id": corr}, separators=(",", ":"))
        q = httpx_params({"service": "orders", "tags": tags, "limit": "20", **window})
        return f"/api/traces?{q}"

    out: dict[str, Any] = {}
    for what, url, key in (("trace id", by_id, 0), ("correlation id (tag)", by_tag, 1)):
        times, found = [], 0
        for pair in ids:
            t = time.perf_counter()
            r = j.query.get(url(pair[key]))
            times.append((time.perf_counter() - t) * 1000)
            data = r.json().get("data") or [] if r.status_code == 200 else []
            found += sum(len(tr["spans"]) for tr in data) == SPANS_PER_REQUEST // 10
        out[f"api {what}"] = {**_summary(times), "found": found}
        base = f"http://127.0.0.1:{j.query_port}"
        cmd = ["curl", "-sf", "-o", "/dev/null"]
        out[f"process {what}"] = _processes([[*cmd, base + url(p[key])] for p in ids[:runs]])
    return out


def httpx_params(params: dict[str, str]) -> str:
    import httpx

    return str(httpx.QueryParams(params))


def _processes(cmds: list[list[str]], cpu: int | None = None) -> dict[str, Any]:
    times, failed = [], 0
    for cmd in cmds:
        full = ["taskset", "-c", str(cpu), *cmd] if cpu is not None else cmd
        t = time.perf_counter()
        done = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        times.append((time.perf_counter() - t) * 1000)
        failed += done.returncode != 0
    return {**_summary(times), "failed": failed}


def console_lookups(db: Path, ids: list[tuple[str, str]], runs: int, cpu: int) -> dict[str, Any]:
    """``journey()`` in a child pinned to ``cpu``, and ``handoff-console trace`` processes."""
    ids_file = db.parent / "lookup-ids.json"
    ids_file.write_text(json.dumps(ids))
    child = ["taskset", "-c", str(cpu), sys.executable, __file__, "--role", "journeys"]
    done = subprocess.run(
        [*child, "--db", str(db), "--ids", str(ids_file)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    out: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    exe = str(Path(sys.executable).parent / "handoff-console")
    for what, flag, key in (
        ("trace id", "--trace-id", 0),
        ("correlation id", "--correlation-id", 1),
    ):
        cmds = [[exe, "trace", flag, p[key], "--db", str(db), "--json"] for p in ids[:runs]]
        out[f"process {what}"] = _processes(cmds, cpu)
    return out


def run_journeys(db: Path, ids_file: Path) -> None:
    from console.journeys import journey
    from console.store import Store

    ids = [tuple(p) for p in json.loads(ids_file.read_text())]
    reader = Store.open(db, create=False).reader()
    out: dict[str, Any] = {}
    for what, key, kw in (("trace id", 0, "trace_id"), ("correlation id", 1, "correlation_id")):
        times, found = [], 0
        for pair in ids:
            t = time.perf_counter()
            j = journey(reader, **{kw: pair[key]})
            times.append((time.perf_counter() - t) * 1000)
            found += j is not None and len(j.spans) >= SPANS_PER_REQUEST // 10
        out[f"library {what}"] = {**_summary(times), "found": found}
    reader.close()
    print(json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=["journeys"], required=True)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--ids", type=Path, required=True)
    args = ap.parse_args()
    run_journeys(args.db, args.ids)


if __name__ == "__main__":
    main()
