"""Spans per second written through the batched writer, against a raw ``executemany`` of the same
rows in the same run (the limit SQLite sets). Goal: >= 100,000 spans/s and a ratio >= 0.5.

    python bench/store_write.py [--spans 300000] [--batch 100]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sqlite_floor import raw_insert
from console import rows
from console.model import Span
from console.store import Store


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


def bench_writer(path: Path, spans: list[Span], batch: int) -> float:
    store = Store.open(path)
    t = time.perf_counter()
    with store.writer(max_queued=len(spans) + 1) as w:
        for i in range(0, len(spans), batch):
            w.submit(spans[i : i + batch])
        w.flush()
    elapsed = time.perf_counter() - t
    assert store.counts()["spans"] == len(spans)
    return len(spans) / elapsed


def bench_raw(spans: list[Span]) -> float:
    """The same rows encoded beforehand, inserted with the writer's transaction size, page cache
    and checkpoint policy (``bench/sqlite_floor.py``): only the writer's own work (queueing,
    encoding, bookkeeping) separates the two."""
    services = list(dict.fromkeys(s.service for s in spans))
    resource_ids = {name: i for i, name in enumerate(services, start=1)}  # a fresh table's ids

    def add_resources(conn: sqlite3.Connection) -> None:
        for name in services:
            conn.execute("INSERT INTO resources (json) VALUES (?)", (repr(name),))

    prepared = [rows._span_row(s, resource_ids[s.service]) for s in spans]
    return raw_insert(rows._SPAN_SQL, prepared, prepare=add_resources)["rows_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spans", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=100, help="records per submit (an OTLP request)")
    args = ap.parse_args()
    spans = realistic_spans(args.spans)
    with tempfile.TemporaryDirectory() as tmp:
        raw = bench_raw(spans)
        writer = bench_writer(Path(tmp) / "writer.db", spans, args.batch)
    print(f"spans: {args.spans:,} (15 attributes each), submits of {args.batch}")
    print(f"batched writer : {writer:12,.0f} spans/s")
    print(f"raw executemany: {raw:12,.0f} spans/s  (pre-encoded rows: the limit)")
    print(f"ratio          : {writer / raw:12.2f}")


if __name__ == "__main__":
    main()
