"""What chDB's INSERT of a tap's hops costs a hop, by INSERT size, with the views on
``handoff_hops`` and without them (the floor beside it), in one run.

A tap hands the ClickHouse writer its hops; the writer sends them as one Arrow table an INSERT
(``hop_arrow.hop_table``, ``Client.insert_arrow``, the writer's settings). This script builds
``--rows`` hops once, then for each INSERT size in ``--sizes`` and each layout inserts them into
a fresh chDB store (ClickHouse in-process, pinned to one core) and prints the process's CPU a
hop for the INSERTs and until the background merges they started are done:

* ``views``: the store as the console makes it (schema version 4 on: every INSERT into
  ``handoff_hops`` also feeds ``handoff_journey_keys`` and ``handoff_sends`` through their
  views);
* ``no views``: the same store with the two views on ``handoff_hops`` dropped (the floor: what
  the hops' own table costs).

An INSERT costs a part in each table it reaches, whatever it holds: the figures say how big a
tap's INSERTs must be (``Storage.bulk_batching``).

    python bench/hop_insert.py [--rows 300000] [--sizes 20000,100000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.smoke import add_smoke, smoke_sizes
from console.base.model import Hop
from console.runtime.daemon import tune_gc
from console.store import open_store
from console.store.clickhouse import hop_arrow
from console.store.clickhouse.storage import ClickHouseStorage
from console.store.clickhouse.writer import INSERT_SETTINGS

_HOP_VIEWS = ("handoff_journey_keys_hops_mv", "handoff_sends_mv")


def hops(n: int, now_ns: int) -> list[Hop]:
    """``n`` hops as the tap makes them from CanvasFlow-like messages: three headers (a
    correlation id, a traceparent, one more), a key, a payload digest, six partitions."""
    out = []
    for i in range(n):
        cid, trace = uuid.uuid4().hex, uuid.uuid4().hex
        span = uuid.uuid4().hex[:16]
        out.append(
            Hop(
                topic="bench.orders",
                partition=i % 6,
                offset=i // 6,
                timestamp_ms=now_ns // 10**6 + i,
                timestamp_type=1,
                key=f"key-{i}".encode(),
                size=300,
                headers=(
                    ("x-correlation-id", cid.encode()),
                    ("traceparent", f"00-{trace}-{span}-01".encode()),
                    ("event-type", b"OrderPlaced"),
                ),
                correlation_id=cid,
                trace_id=trace,
                span_id=span,
                payload_sha256=hashlib.sha256(str(i).encode()).hexdigest(),
                seen_ns=now_ns + i,
            )
        )
    return out


def measure(
    records: list[Hop], size: int, views: bool, workdir: Path, now_ns: int
) -> tuple[float, float]:
    """CPU microseconds a hop: the INSERTs alone, and until their merges are done."""
    store = open_store(f"chdb://{workdir / f'{size}-{views}'}")
    assert isinstance(store, ClickHouseStorage)
    client = store.new_client()
    try:
        if not views:
            for view in _HOP_VIEWS:
                client.command(f"DROP VIEW IF EXISTS {store.table(view)}")
        tables = [
            hop_arrow.hop_table(records[i : i + size], now_ns) for i in range(0, len(records), size)
        ]
        table = store.table("handoff_hops")
        t0 = time.process_time()
        for t in tables:
            client.insert_arrow(table, t, settings=INSERT_SETTINGS)
        t1 = time.process_time()
        while client.query("SELECT count() FROM system.merges").result_rows[0][0]:
            time.sleep(0.05)  # polled: the merges the INSERTs started, until none is left
        t2 = time.process_time()
        stored = client.query(f"SELECT count() FROM {table} FINAL").result_rows[0][0]
        assert stored == len(records), (stored, len(records))
    finally:
        client.close()
        store.close()
    n = len(records)
    return (t1 - t0) / n * 1e6, (t2 - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--sizes", default="20000,100000", help="INSERT sizes, in hops")
    ap.add_argument("--cpu", type=int, default=None, help="core to pin to (default: the last)")
    add_smoke(ap)
    args = smoke_sizes(ap.parse_args(), rows=2_000, sizes="500,1000")
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})  # this thread and the engine's threads it starts
    tune_gc()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, core {cpu}, load {load}")
    now_ns = time.time_ns()
    records = hops(args.rows, now_ns)
    with tempfile.TemporaryDirectory(prefix="hop-insert-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            for views in (False, True):
                insert, settled = measure(records, size, views, Path(tmp), now_ns)
                label = f"{size:>7,} hops an INSERT, {'views' if views else 'no views'}"
                print(
                    f"  {label:<34}: {insert:6.2f} us a hop inserting, "
                    f"{settled:6.2f} with its merges",
                    flush=True,
                )
    print(f"load after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
