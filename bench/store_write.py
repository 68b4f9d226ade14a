"""Spans per second written through the batched writer into blocks, beside the encode-only floor
(the same spans into blocks with no SQLite) in the same run, for each submit size (an OTLP
request's spans), with the bytes per span on disk.

    python bench/store_write.py [--spans 300000] [--batch 1,10,100,512,8192]
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.smoke import add_smoke, smoke_sizes
from console.base.model import Span
from console.store import Store
from console.store.sqlite import blocks


def realistic_spans(n: int, seed: int = 7) -> list[Span]:
    rnd = random.Random(seed)
    services = ["upload", "image-processor", "catalog", "orders", "notifications"]
    resources = {
        s: {"service.name": s, "host.name": "node-1", "telemetry.sdk.language": "python"}
        for s in services
    }
    out = []
    t0 = time.time_ns()
    for i in range(n):
        svc = services[i % len(services)]
        start = t0 + i * 1000
        out.append(
            Span(
                trace_id=f"{rnd.getrandbits(128):032x}",
                span_id=f"{rnd.getrandbits(64):016x}",
                parent_span_id=f"{rnd.getrandbits(64):016x}" if i % 3 else None,
                name="canvasflow.uploads process",
                kind=5,
                start_ns=start,
                end_ns=start + rnd.randint(100_000, 50_000_000),
                service=svc,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": "canvasflow.uploads",
                    "messaging.operation.type": "process",
                    "messaging.kafka.offset": i,
                    "messaging.destination.partition.id": str(i % 6),
                    "messaging.consumer.group.name": "catalog",
                    "correlation.id": f"corr-{i // 10}",
                    "artwork.id": f"art-{i}",
                    "artist.id": f"artist-{i % 97}",
                    "http.response.status_code": 200,
                    "retry.count": 0,
                    "payload.bytes": 312,
                    "region": "eu-west-1",
                    "canary": False,
                    "latency.budget_ms": 250.0,
                },
                resource=resources[svc],
                correlation_id=f"corr-{i // 10}",
                messaging_system="kafka",
                messaging_destination="canvasflow.uploads",
                messaging_partition=i % 6,
                messaging_offset=i,
                messaging_operation="process",
                messaging_consumer_group="catalog",
            )
        )
    return out


def bench_writer(path: Path, spans: list[Span], batch: int) -> dict[str, float]:
    """Spans/s through the batched writer (queue, dedupe, blocks, keys, summaries, commit) and
    the bytes per span on disk after a checkpoint (database + WAL + free pages)."""
    store = Store.open(path)
    cpu = time.process_time()
    t = time.perf_counter()
    with store.writer(max_queued=len(spans) + 1) as w:
        for i in range(0, len(spans), batch):
            w.submit(spans[i : i + batch])
        w.flush()
    elapsed = time.perf_counter() - t
    cpu = time.process_time() - cpu
    assert store.counts()["spans"] == len(spans)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    wal = Path(f"{path}-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return {
        "per_s": len(spans) / elapsed,
        "per_cpu_s": len(spans) / cpu,
        "bytes_per_span": size / len(spans),
    }


def bench_encode_only(spans: list[Span]) -> float:
    """The floor in the same run: the same spans encoded into blocks (msgpack + zstd) with no
    SQLite at all. Only the store's SQLite work (blocks, keys, summaries, commit) and the queue
    separate the writer from it."""
    t = time.perf_counter()
    for i in range(0, len(spans), blocks.MAX_RECORDS):
        blocks.encode_spans(spans[i : i + blocks.MAX_RECORDS])
    return len(spans) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spans", type=int, default=300_000)
    ap.add_argument(
        "--batch",
        default="1,10,100,512,8192",
        help="records per submit (the shape of an OTLP request), comma-separated",
    )
    add_smoke(ap)
    args = smoke_sizes(ap.parse_args(), spans=2000, batch="1,100")
    spans = realistic_spans(args.spans)
    floor = bench_encode_only(spans)
    print(f"spans: {args.spans:,} (15 attributes each); load {os.getloadavg()[0]:.2f}")
    print(f"encode-only floor (blocks, no SQLite): {floor:12,.0f} spans/s")
    print(f"{'submit size':>12} {'spans/s':>12} {'per CPU-s':>12} {'of floor':>9} {'B/span':>8}")
    for batch in (int(b) for b in args.batch.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            r = bench_writer(Path(tmp) / "writer.db", spans, batch)
        print(
            f"{batch:>12,} {r['per_s']:>12,.0f} {r['per_cpu_s']:>12,.0f}"
            f" {r['per_s'] / floor:>9.2f} {r['bytes_per_span']:>8.1f}"
        )


if __name__ == "__main__":
    main()
