"""Benchmark: ``journey()`` and the stalled search on both store backends, the same records.

Writes ``--spans`` spans and ``--hops`` hops (``journey_lookup.py``'s CanvasFlow order path:
10 spans and 4 hops a journey over five linked traces, 1% each stalled, dead-lettered and
failed, background hops beyond) through each backend's own ``Storage.writer()`` into a SQLite
file and a chDB store (ClickHouse in this process, the exporter's tables and ``handoff_*``),
then measures, in one run, on one reused reader each (as the TUI holds one):

* ``journey(reader, correlation_id=...)``: p50 and p99 over ``--lookups`` random ids, the same
  ids on both, the backends taking turns id by id (so load on a shared machine falls on both);
* the stalled search: ``journeys(status="stalled", since 15m)`` (the journeys reach today's
  clock), and the list of the 50 newest journeys (``journeys(since 15m, limit 50)``);
* bytes on disk a record.

    python bench/journey_backends.py --spans 100000 --hops 100000

The 10M + 10M run of the issue's goals is ``bench/clickhouse.py``'s (not here yet).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.journey_lookup import Gen, pct  # noqa: E402
from bench.smoke import add_smoke, smoke_sizes  # noqa: E402
from console.base.errors import Overloaded  # noqa: E402
from console.base.model import Hop, Record, Span  # noqa: E402
from console.journeys import journey, journeys  # noqa: E402
from console.store import Storage, Writer, open_store  # noqa: E402

MS = 1_000_000
FATES = ["ok"] * 97 + ["stalled", "dead", "failed"]


def _submit(writer: Writer, records: Sequence[Record]) -> None:
    while True:
        try:
            writer.submit(records)
            return
        except Overloaded:
            time.sleep(0.05)


def _records(spans: int, hops: int, hours: float, seed: int) -> list[Record]:
    """Every record: journeys spread over the last ``hours`` up to now (so ``--since 15m`` sees
    what a live store would), then the background hops."""
    gen = Gen(seed)
    now = time.time_ns()
    est = max(1, int(spans / 9.82))
    span_ns = int(hours * 3600e9)
    step = int(span_ns / est)
    start = now - span_ns
    out: list[Record] = []
    n = span_count = hop_count = 0
    while span_count < spans:
        recs = gen.journey(n, start + n * step, FATES[gen.rng.randrange(100)])
        n += 1
        span_count += sum(isinstance(r, Span) for r in recs)
        hop_count += sum(isinstance(r, Hop) for r in recs)
        out.extend(recs)
    bg = 0
    while hop_count < hops:
        t = start + int(bg * (hours * 3600e9) / max(1, hops - hop_count + bg))
        out.append(
            Hop("inventory.snapshots", bg % 12, gen.offset("inventory.snapshots"), t // MS, 1,
                key=f"sku-{bg % 5000}".encode(), size=900,
                headers=(("content-type", b"application/json"),), seen_ns=t)
        )  # fmt: skip
        hop_count += 1
        bg += 1
    return out


def build(store: Storage, records: Sequence[Record]) -> float:
    """Write through the store's own writer; seconds it took, flushed."""
    t = time.monotonic()
    writer = store.writer(batch_size=20_000, max_queued=400_000)
    try:
        for i in range(0, len(records), 20_000):
            _submit(writer, records[i : i + 20_000])
        writer.flush(timeout=1800)
        if writer.last_error:
            raise SystemExit(f"writer error: {writer.last_error}")
    finally:
        writer.close()
    return time.monotonic() - t


def _disk(where: Path) -> int:
    if where.is_file():
        return sum(p.stat().st_size for p in where.parent.glob(where.name + "*"))
    return sum(p.stat().st_size for p in where.rglob("*") if p.is_file())


def measure(stores: dict[str, Storage], total: int, lookups: int, seed: int) -> dict[str, Any]:
    readers = {name: s.reader() for name, s in stores.items()}
    rng = random.Random(seed + 1)
    ids = [f"ord-{rng.randrange(total):09d}" for _ in range(lookups)]
    now = time.time_ns()
    times: dict[str, list[float]] = {name: [] for name in stores}
    found: dict[str, list[tuple[str, int, int]]] = {name: [] for name in stores}
    try:
        for cid in ids[:20]:  # warm caches a little, as a running console's would be
            for r in readers.values():
                journey(r, correlation_id=cid, now_ns=now)
        for cid in ids:
            for name, r in readers.items():
                t = time.perf_counter()
                j = journey(r, correlation_id=cid, now_ns=now)
                times[name].append((time.perf_counter() - t) * 1000)
                assert j is not None, (name, cid)
                found[name].append((j.status, len(j.spans), len(j.hops)))
        stalled: dict[str, tuple[float, int]] = {}
        listed: dict[str, tuple[float, int]] = {}
        for name, r in readers.items():
            for into, status in ((stalled, "stalled"), (listed, None)):
                runs = []
                for _ in range(3):
                    t = time.perf_counter()
                    got = journeys(r, status=status, since_s=900, limit=50)
                    runs.append((time.perf_counter() - t) * 1000)
                into[name] = (statistics.median(runs), len(got))
    finally:
        for r in readers.values():
            r.close()
    names = list(stores)
    same = sum(a == b for a, b in zip(found[names[0]], found[names[-1]], strict=True))
    out: dict[str, Any] = {"lookups": lookups, "same_answer": f"{same}/{lookups}"}
    for name in names[1:-1]:  # a third store beside them: its answers against the first's
        same = sum(a == b for a, b in zip(found[names[0]], found[name], strict=True))
        out[f"{name}_same_answer"] = f"{same}/{lookups}"
    for name in names:
        out[f"{name}_journey_p50_ms"] = round(statistics.median(times[name]), 2)
        out[f"{name}_journey_p99_ms"] = round(pct(times[name], 99), 2)
        out[f"{name}_stalled_15m_ms"] = round(stalled[name][0], 1)
        out[f"{name}_stalled_15m_found"] = stalled[name][1]
        out[f"{name}_list_50_ms"] = round(listed[name][0], 1)
        out[f"{name}_list_50_found"] = listed[name][1]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--hops", type=int, default=100_000)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--dir", type=Path, default=None, help="Where the stores go (default: tmp).")
    add_smoke(ap)
    args = ap.parse_args()
    smoke_sizes(args, spans=2000, hops=2000, hours=1.0, lookups=10)
    base = args.dir or Path(tempfile.mkdtemp(prefix="journey-backends-"))
    base.mkdir(parents=True, exist_ok=True)
    where = {"sqlite": base / "store.db", "chdb": base / "chdb"}
    for path in where.values():
        if path.is_dir():
            shutil.rmtree(path)
        for p in path.parent.glob(path.name + "*"):
            if p.is_file():
                p.unlink()
    records = _records(args.spans, args.hops, args.hours, args.seed)
    total = sum(1 for r in records if isinstance(r, Span) and r.name == "POST /orders")
    print(f"{len(records):,} records, {total:,} journeys; load {os.getloadavg()[0]:.1f}")
    stores = {
        "sqlite": open_store(where["sqlite"]),
        "chdb": open_store(f"chdb://{where['chdb']}"),
    }
    try:
        for name, store in stores.items():
            took = build(store, records)
            print(f"{name}: wrote {len(records):,} records in {took:.1f}s "
                  f"({len(records) / took:,.0f}/s)", flush=True)  # fmt: skip
        for key, value in measure(stores, total, args.lookups, args.seed).items():
            print(f"{key}: {value}")
        for name, path in where.items():
            print(f"{name}_bytes_per_record: {_disk(path) / len(records):.1f}")
        print(f"load after: {os.getloadavg()[0]:.1f}")
    finally:
        for store in stores.values():
            store.close()
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
