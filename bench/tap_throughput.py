"""Benchmark: hops per second the Kafka tap records in the store, against a bare consume loop.

Produces N messages (default 1,000,000) of ~300 bytes with 3 headers (a correlation id, a W3C
traceparent, a content type) over several partitions, then, pinned to one core, measures:

* ``bare``: a bare confluent-kafka ``consume(num_messages=...)`` loop over the same messages,
  touching each value (the limit);
* ``tap -> NullSink``: the tap decoding into a sink that drops (the decode-only limit);
* ``tap -> store``: the tap with its real ``StoreWriter``, until every hop is committed to SQLite;
* ``store write path``: the hops the tap stored, read back and written ready-made into a fresh
  store by the store's own ``write_batch`` (blocks, keys, summaries, commit); with the bare loop's
  rate this gives the best a one-core tap could do even if decoding cost nothing
  (``serial_limit``).

Each rate is messages from the first one received until the last one done, so group joins do not
count. Goal: tap -> store >= 100,000 hops/s and >= 0.5 of the bare loop.

    HANDOFF_KAFKA_BOOTSTRAP=127.0.0.1:9092 python bench/tap_throughput.py --messages 200000
    python bench/tap_throughput.py --write-readme     # also records the figures in bench/README.md
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from bench.smoke import add_smoke, smoke_sizes
from bench.sqlite_floor import serial_limit
from collectors.kafka.tap import KafkaTap
from console.runtime.daemon import tune_gc
from console.store import NullSink, Storage, Store
from console.store.sqlite import ingest, read
from console.store.sqlite.blocks import KIND_HOP

README = Path(__file__).resolve().parent / "README.md"
SECTION = "## Kafka tap throughput (`bench/tap_throughput.py`)"


def produce(bootstrap: str, topic: str, n: int, partitions: int) -> float:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fut = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    fut[topic].result(30)
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    body = b'{"order_id":"%08d","sku":"CANVAS-40x60","qty":1,"price":59.9,"note":"' + b"x" * 200
    t0 = time.perf_counter()
    for i in range(n):
        rnd = os.urandom(24).hex()
        headers: list[tuple[str, str | bytes | None]] = [
            ("x-correlation-id", f"order-{i:08d}".encode()),
            ("traceparent", f"00-{rnd[:32]}-{rnd[32:]}-01".encode()),
            ("content-type", b"application/json"),
        ]
        value = body % i + b'"}'
        while True:
            try:
                p.produce(topic, key=b"%d" % i, value=value, headers=headers)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10_000 == 0:
            p.poll(0)
    p.flush(120)
    return n / (time.perf_counter() - t0)


def bare_loop(bootstrap: str, topic: str, n: int) -> float:
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-bare-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    c.subscribe([topic])
    seen = nbytes = 0
    t_first = 0.0
    while seen < n:
        for m in c.consume(num_messages=10_000, timeout=1.0):
            if m.error() is None:
                if not seen:
                    t_first = time.perf_counter()
                seen += 1
                nbytes += len(m.value() or b"")
    elapsed = time.perf_counter() - t_first
    c.close()
    return n / elapsed


def stored_hops(db: Path) -> list[Any]:
    """The hops the tap committed, as records."""
    with Store.open(db).connect() as conn:
        return read.all_records(conn, KIND_HOP)


def bytes_on_disk(db: Path) -> int:
    """The database, its WAL and free pages after a checkpoint: what the store costs on disk."""
    import sqlite3

    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    wal = Path(f"{db}-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def write_rate(hops: list[Any]) -> float:
    """The store's own write path for the same hops (blocks, keys, summaries, commit), straight
    into a fresh store with no queue and no Kafka: what storing costs beside consuming."""
    with tempfile.TemporaryDirectory(prefix="tapfloor") as tmp:
        conn = Store.open(Path(tmp) / "floor.db").connect()
        state = ingest.IngestState()
        t = time.perf_counter()
        for i in range(0, len(hops), 20_000):
            ingest.write_batch(conn, hops[i : i + 20_000], state)
        elapsed = time.perf_counter() - t
        conn.close()
    return len(hops) / elapsed


class EngineCore:
    """Keeps an in-process store's own threads on a core of their own while the tap's stay on
    the tap's core, as a ClickHouse server runs beside a tap on cores of its own: the writer
    thread (``clickhouse-writer``, which runs chDB's INSERTs) and every thread the engine starts
    go to ``engine_cpu``; the tap's Python threads and librdkafka's (``rdk:*``) to ``tap_cpu``.
    ``pin`` is called while the tap runs (the engine starts threads as it goes)."""

    def __init__(self, tap_cpu: int, engine_cpu: int) -> None:
        self.tap_cpu = tap_cpu
        self.engine_cpu = engine_cpu

    def pin(self) -> None:
        import threading

        ours = {t.native_id for t in threading.enumerate() if t.name != "clickhouse-writer"}
        for task in os.listdir("/proc/self/task"):
            tid = int(task)
            try:
                comm = Path(f"/proc/self/task/{task}/comm").read_text().strip()
                tap = tid in ours or comm.startswith("rdk:")
                os.sched_setaffinity(tid, {self.tap_cpu if tap else self.engine_cpu})
            except OSError:
                continue  # the thread ended meanwhile


def run_tap(
    bootstrap: str,
    topic: str,
    n: int,
    store: Storage | None,
    engine: EngineCore | None = None,
) -> float:
    """Hops/s through the tap; into ``store``'s writer (SQLite or ClickHouse: ``open_store``)
    until every hop is committed, or into a NullSink without one (bench/clickhouse.py too).
    With ``engine``, the store's threads run on a core of their own (``EngineCore``)."""
    writer = None
    if store is not None:  # batched as `handoff-console tap` batches for that store
        batch_size, flush_ms = store.bulk_batching
        writer = store.writer(batch_size=batch_size, flush_ms=flush_ms, max_queued=400_000)
    sink = writer or NullSink()
    tap = KafkaTap(
        sink,
        bootstrap=bootstrap,
        topics=topic,
        group_id=f"bench-tap-{uuid.uuid4().hex[:8]}",
        from_beginning=True,
    )
    tap.start()
    t_first = 0.0
    polls = 0
    try:
        while True:
            if engine is not None and polls % 20 == 0:
                engine.pin()
            polls += 1
            seen = tap.health()["hops_seen"]
            if seen and not t_first:
                t_first = time.perf_counter()
            if seen >= n:
                break
            time.sleep(0.01)
        if writer is not None:
            writer.flush(600)
        elapsed = time.perf_counter() - t_first
    finally:
        tap.stop()
        if writer is not None:
            writer.close()
    if store is not None:
        stored = store.counts()["hops"]
        assert stored == n, f"{stored} hops stored, expected {n}"
    return n / elapsed


def write_readme(text: str) -> None:
    old = README.read_text() if README.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: text.rstrip() + "\n", old)
    else:
        new = old.rstrip() + "\n\n" + text.rstrip() + "\n"
    README.write_text(new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=6)
    default_bootstrap = os.environ.get("HANDOFF_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    ap.add_argument("--bootstrap", default=default_bootstrap)
    ap.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last)")
    ap.add_argument("--write-readme", action="store_true", help="record figures in README.md")
    add_smoke(ap)
    args = smoke_sizes(ap.parse_args(), messages=2000, partitions=2, write_readme=False)
    n = args.messages
    topic = f"bench.tap.{uuid.uuid4().hex[:8]}"
    print(f"producing {n:,} messages to {topic} ({args.partitions} partitions) ...", flush=True)
    produced = produce(args.bootstrap, topic, n, args.partitions)
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # threads started from here on inherit the one core
    tune_gc()  # as serve's Daemon.start does
    print(f"pinned to core {cpu}", flush=True)
    bare = bare_loop(args.bootstrap, topic, n)
    print(f"bare consume loop : {bare:>10,.0f} msg/s", flush=True)
    null = run_tap(args.bootstrap, topic, n, None)
    print(f"tap -> NullSink   : {null:>10,.0f} hops/s", flush=True)
    with tempfile.TemporaryDirectory(prefix="tapbench") as tmp:
        stored = run_tap(args.bootstrap, topic, n, Store.open(Path(tmp) / "bench.db"))
        hop_records = stored_hops(Path(tmp) / "bench.db")
        per_hop = bytes_on_disk(Path(tmp) / "bench.db") / n
    ratio = stored / bare
    print(f"tap -> store      : {stored:>10,.0f} hops/s  ({ratio:.2f} of bare)", flush=True)
    print(f"disk              : {per_hop:>10,.1f} bytes/hop (db + WAL + free, checkpointed)")
    every = write_rate(hop_records)
    del hop_records
    limit = serial_limit(bare, every)
    print(
        f"store write path  : {every:>10,.0f} hops/s (write_batch, records ready-made)", flush=True
    )
    print(f"serial limit      : {limit:>10,.0f} hops/s  (consume + store, decode free)", flush=True)
    ok = stored >= 100_000 and ratio >= 0.5
    print("goal (>= 100,000 hops/s and >= 0.5 of bare):", "met" if ok else "NOT met")
    if args.write_readme:
        load = os.getloadavg()[0]
        write_readme(
            f"{SECTION}\n\n"
            f"Run `{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}`: {n:,} messages of ~300 "
            f"bytes with 3 headers, {args.partitions} partitions, one core pinned, Python "
            f"{platform.python_version()}, load average {load:.1f} on {os.cpu_count()} cores "
            f"(shared machine), producer {produced:,.0f} msg/s.\n\n"
            "| path | rate | vs bare |\n|---|---:|---:|\n"
            f"| bare confluent-kafka consume loop | {bare:,.0f} msg/s | 1.00 |\n"
            f"| tap -> NullSink (decode only) | {null:,.0f} hops/s | {null / bare:.2f} |\n"
            f"| tap -> StoreWriter (SQLite, committed) | {stored:,.0f} hops/s | {ratio:.2f} |\n"
            f"| disk per hop (payloads not kept) | {per_hop:,.1f} bytes | |\n"
            f"| store write path for the same hops, ready-made | {every:,.0f} hops/s | |\n"
            f"| serial limit: consume + store, decoding free | {limit:,.0f} hops/s | "
            f"{limit / bare:.2f} |\n\n"
            f"Goal >= 100,000 hops/s and >= 0.5 of bare: **{'met' if ok else 'not met'}**.\n"
        )
        print(f"wrote {README}")


if __name__ == "__main__":
    main()
