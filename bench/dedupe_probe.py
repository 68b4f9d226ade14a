"""What the writer's store probe for resent spans costs, beside the write it guards.

Fills a real store with ``--batches`` batches of ``--batch`` fresh spans (each batch one second
later than the last, as live traffic), with key segments of ``--segment-keys`` keys so that many
segments pile up, then, for one more batch of fresh spans, measures in the same run:

* ``probe``: ``dedupe.drop_stored_spans`` as the writer runs it (each key segment probed only for
  the spans in its time range);
* ``probe, every segment``: the same trace keys probed in every segment (the peer: what a probe
  without the time ranges costs);
* ``write_batch``: the batch written (probe included), blocks, keys, summaries and commit.

    python bench/dedupe_probe.py [--batches 60] [--batch 5000] [--segment-keys 20000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.smoke import add_smoke, smoke_sizes
from console.base.model import Span
from console.store import Store
from console.store.sqlite import blocks, dedupe, ingest, keys


def _spans(rnd: random.Random, n: int, t0: int) -> list[Span]:
    return [
        Span(
            trace_id=f"{rnd.getrandbits(128):032x}",
            span_id=f"{rnd.getrandbits(64):016x}",
            name="op",
            start_ns=t0 + i,
            end_ns=t0 + i + 10_000,
            service="bench",
            correlation_id=f"c-{rnd.getrandbits(40)}",
        )
        for i in range(n)
    ]


def _ms(fn: object, repeat: int = 5) -> float:
    t = time.perf_counter()
    for _ in range(repeat):
        fn()  # type: ignore[operator]  # a thunk
    return (time.perf_counter() - t) / repeat * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--segment-keys", type=int, default=20_000)
    add_smoke(ap)
    args = smoke_sizes(ap.parse_args(), batches=3, batch=200, segment_keys=300)
    keys.SEGMENT_KEYS = args.segment_keys
    rnd = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="dedupe-bench-") as tmp:
        conn = Store.open(Path(tmp) / "b.db").connect()
        state = ingest.IngestState()
        t0 = time.time_ns()
        for k in range(args.batches):
            ingest.write_batch(conn, _spans(rnd, args.batch, t0 + k * 10**9), state)
        segments = conn.execute("SELECT count(*) FROM segments").fetchone()[0]
        batch = _spans(rnd, args.batch, t0 + args.batches * 10**9)
        rows = [blocks.span_row(s) for s in batch]
        window = ingest.IngestState().spans  # empty: every span is a candidate
        tids = {r[0] for r in rows}
        probe = _ms(lambda: dedupe.drop_stored_spans(conn, rows, window))
        every = _ms(lambda: keys.blocks_for(conn, keys.K_TRACE, tids, None))
        t = time.perf_counter()
        ingest.write_batch(conn, batch, state)
        write = (time.perf_counter() - t) * 1000
        conn.close()
    n = args.batch
    print(f"segments: {segments}; batch: {n:,} fresh spans; load {_load()}")
    for label, ms in (
        ("probe (segments in time range)", probe),
        ("probe, every segment (peer)", every),
        ("write_batch (probe included)", write),
    ):
        print(f"{label:<32} {ms:8.1f} ms a batch  {ms * 1e3 / n:6.2f} us a span")


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
