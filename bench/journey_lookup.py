"""Benchmark: journey lookup on a big store.

Builds (or reuses) a store of ``--spans`` spans and ``--hops`` hops written through the real
``Store.writer()``, as the collectors write them, then measures:

* the library call ``journey(reader, correlation_id=...)``: p50 and p99 over ``--lookups`` random
  ids (one reused store reader, as the TUI holds one);
* the CLI's wall time for ``handoff-console trace --correlation-id ID`` (a fresh process);
* the wall time of ``handoff-console journeys --status stalled --since 15m``;
* the store's bytes per span (whole file / spans) and per record (blocks and key segments).

Every journey is CanvasFlow's order path over five traces joined by span links and Kafka
headers: storefront (SERVER ``POST /orders`` + PRODUCER) -> orders.placed -> fulfilment
(CONSUMER + PRODUCER) -> shipments.requested -> shipping (CONSUMER + PRODUCER) ->
invoices.requested -> billing (CONSUMER + PRODUCER) -> notifications.send -> notifier (CONSUMER +
INTERNAL): 10 spans, 4 hops. Consumer spans of odd journeys carry no correlation id (only the link
and the hop join them). 1% are stalled (cut after a send), 1% dead-lettered, 1% failed. Hops beyond
4 per journey are untraced background traffic (``inventory.snapshots``, no correlation id, no
trace). Journeys are spread evenly over the last ``--hours`` hours.

    python bench/journey_lookup.py --spans 10000000 --hops 10000000 --db /tmp/bench.db
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.smoke import add_smoke, smoke_sizes  # noqa: E402
from console.base.errors import Overloaded  # noqa: E402
from console.base.model import DeadLetter, Hop, Record, Span, SpanLink  # noqa: E402
from console.journeys import journey  # noqa: E402
from console.store import Store, Writer  # noqa: E402

MS = 1_000_000
CHAIN = [  # (consumer service, group, topic it reads, topic it sends to)
    ("fulfilment", "fulfilment", "orders.placed", "shipments.requested"),
    ("shipping", "shipping", "shipments.requested", "invoices.requested"),
    ("billing", "billing", "invoices.requested", "notifications.send"),
    ("notifier", "notifier", "notifications.send", None),
]
RES = {
    s: {"service.name": s, "service.version": "1.4.2", "deployment.environment": "prod"}
    for s in ("storefront", "fulfilment", "shipping", "billing", "notifier")
}


class Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.offsets: dict[str, int] = {}
        self.journeys = 0  # how many journeys the store holds once ``fill``/``fresh`` return

    def tid(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def sid(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def offset(self, topic: str) -> int:
        o = self.offsets.get(topic, 0)
        self.offsets[topic] = o + 1
        return o

    def journey(self, n: int, t0: int, fate: str) -> list[Record]:
        """One journey's records; ``fate`` is ok, stalled, dead or failed."""
        cid = f"ord-{n:09d}"
        out: list[Record] = []
        trace = self.tid()
        root = self.sid()
        failed = fate == "failed"
        out.append(
            Span(trace, root, "POST /orders", t0, t0 + 40 * MS, "storefront", kind=2,
                 status_code=2 if failed else 1,
                 status_message="payment declined" if failed else "",
                 attributes={"http.request.method": "POST", "http.route": "/orders",
                             "http.response.status_code": 402 if failed else 201,
                             "app.correlation_id": cid},
                 resource=RES["storefront"], scope="canvasflow.web", correlation_id=cid)
        )  # fmt: skip
        if failed:
            return out
        send_span = self.sid()
        t = t0 + 30 * MS
        out.append(self._producer(trace, send_span, root, t, "storefront", "orders.placed", cid))
        sender = (trace, send_span)
        for i, (service, group, topic, next_topic) in enumerate(CHAIN):
            hop_t = t + 1 * MS
            offset = self.offset(topic)
            out.append(self._hop(topic, offset, hop_t, sender, cid))
            if fate == "stalled" and i == 2:
                return out
            ct = hop_t + self.rng.randint(2, 40) * MS
            ctrace, cspan = self.tid(), self.sid()
            with_cid = n % 2 == 0
            dead = fate == "dead" and i == 1
            out.append(
                Span(ctrace, cspan, f"{topic} process", ct, ct + 20 * MS, service, kind=5,
                     status_code=2 if dead else 1, status_message="UnknownSku" if dead else "",
                     attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                                 "messaging.operation.type": "process",
                                 "messaging.kafka.offset": offset,
                                 "messaging.consumer.group.name": group},
                     resource=RES[service], scope="canvasflow.kafka",
                     links=(SpanLink(*sender),), correlation_id=cid if with_cid else None,
                     messaging_system="kafka", messaging_destination=topic,
                     messaging_partition=0, messaging_offset=offset,
                     messaging_operation="process", messaging_consumer_group=group)
            )  # fmt: skip
            if dead:
                out.append(self._dead(topic, offset, ct + 25 * MS, group, cid, ctrace))
                return out
            t = ct + 10 * MS
            if next_topic is None:
                out.append(
                    Span(ctrace, self.sid(), "send email", t, t + 5 * MS, service, cspan, kind=1,
                         status_code=1, resource=RES[service], scope="canvasflow.mail")
                )  # fmt: skip
                return out
            send_span = self.sid()
            out.append(
                self._producer(
                    ctrace, send_span, cspan, t, service, next_topic, cid if with_cid else None
                )
            )
            sender = (ctrace, send_span)
        return out

    def _producer(
        self, trace: str, sid: str, parent: str, t: int, service: str, topic: str, cid: str | None
    ) -> Span:
        return Span(trace, sid, f"{topic} publish", t, t + 2 * MS, service, parent, kind=4,
                    status_code=1,
                    attributes={"messaging.system": "kafka", "messaging.destination.name": topic,
                                "messaging.operation.type": "send"},
                    resource=RES[service], scope="canvasflow.kafka", correlation_id=cid,
                    messaging_system="kafka", messaging_destination=topic,
                    messaging_operation="send")  # fmt: skip

    def _hop(self, topic: str, offset: int, t: int, sender: tuple[str, str], cid: str) -> Hop:
        tp = f"00-{sender[0]}-{sender[1]}-01".encode()
        return Hop(topic, 0, offset, t // MS, 1, key=cid.encode(), size=420,
                   headers=(("traceparent", tp), ("x-correlation-id", cid.encode())),
                   correlation_id=cid, trace_id=sender[0], span_id=sender[1],
                   payload_sha256=f"{self.rng.getrandbits(256):064x}",
                   seen_ns=t + 2 * MS)  # fmt: skip

    def _dead(
        self, topic: str, offset: int, t: int, group: str, cid: str, trace: str
    ) -> DeadLetter:
        return DeadLetter(f"{topic}-dlt", 0, self.offset(f"{topic}-dlt"), t // MS, key=cid.encode(),
                          payload=b'{"sku":"X-404"}', payload_size=15, convention="spring",
                          original_topic=topic, original_partition=0, original_offset=offset,
                          consumer_group=group,
                          exception_class="com.canvasflow.UnknownSkuException",
                          exception_message="no such sku", correlation_id=cid, trace_id=trace,
                          first_seen_ns=t)  # fmt: skip


def _submit(writer: Writer, records: Sequence[Record]) -> None:
    while True:
        try:
            writer.submit(records)
            return
        except Overloaded:
            time.sleep(0.05)


def _submit_all(writers: Sequence[Writer], records: Sequence[Record]) -> None:
    for writer in writers:
        _submit(writer, records)


def _flush_all(writers: Sequence[Writer]) -> None:
    for writer in writers:
        writer.flush(timeout=600)
        if writer.last_error:
            raise SystemExit(f"writer error: {writer.last_error}")


FATES = ["ok"] * 97 + ["stalled", "dead", "failed"]


def fill(
    writers: Sequence[Writer], spans: int, hops: int, hours: float, seed: int
) -> tuple[dict[str, int], Gen]:
    """The bench's records, the same ones into every writer (bench/clickhouse.py fills SQLite
    and ClickHouse at once), flushed: the counts, and the generator (its journeys and next
    offsets, for ``top_up``)."""
    gen = Gen(seed)
    now = time.time_ns()
    span_count = hop_count = n = 0
    est = max(1, int(spans / 9.82))  # mean spans per journey with 1% each stalled, dead, failed
    step = int(hours * 3600e9 / est)
    start = now - int(hours * 3600e9)
    batch: list[Record] = []
    t_begin = time.monotonic()
    while span_count < spans:
        recs = gen.journey(n, start + n * step, FATES[gen.rng.randrange(100)])
        n += 1
        for r in recs:
            if isinstance(r, Span):
                span_count += 1
            elif isinstance(r, Hop):
                hop_count += 1
        batch.extend(recs)
        if len(batch) >= 20_000:
            _submit_all(writers, batch)
            batch = []
        if n % 100_000 == 0:
            print(f"  {n:,} journeys, {span_count:,} spans, {hop_count:,} hops, "
                  f"{time.monotonic() - t_begin:.0f}s", flush=True)  # fmt: skip
    bg = 0
    while hop_count < hops:
        t = start + int(bg * (hours * 3600e9) / max(1, hops - hop_count + bg))
        batch.append(Hop("inventory.snapshots", bg % 12, gen.offset("inventory.snapshots"),
                         t // MS, 1, key=f"sku-{bg % 5000}".encode(), size=900,
                         headers=(("content-type", b"application/json"),),
                         seen_ns=t))  # fmt: skip
        hop_count += 1
        bg += 1
        if len(batch) >= 20_000:
            _submit_all(writers, batch)
            batch = []
    if batch:
        _submit_all(writers, batch)
    _flush_all(writers)
    gen.journeys = n
    counts = {"journeys": n, "spans": span_count, "hops": hop_count}
    return {**counts, "build_s": int(time.monotonic() - t_begin)}, gen


def build(db: Path, spans: int, hops: int, hours: float, seed: int) -> dict[str, int]:
    store = Store.open(db)
    with store.writer(batch_size=20_000, max_queued=400_000) as writer:
        counts, gen = fill([writer], spans, hops, hours, seed)
    _save_meta(db, gen.journeys, gen.offsets)
    return counts


def _meta_path(db: Path) -> Path:
    return db.with_name(db.name + ".bench.json")


def _save_meta(db: Path, journeys: int, offsets: dict[str, int]) -> None:
    """How many journeys the store holds and the next offset per topic, beside the store: the
    store keeps no list of ids to ask for (and a benchmark should not scan it for one)."""
    _meta_path(db).write_text(json.dumps({"journeys": journeys, "offsets": offsets}))


def _load_meta(db: Path) -> dict[str, Any]:
    return dict(json.loads(_meta_path(db).read_text()))


def fresh(
    writers: Sequence[Writer],
    first: int,
    offsets: dict[str, int],
    minutes: float,
    hours: float,
    seed: int,
) -> Gen:
    """The last ``minutes`` of traffic at today's clock, at the density of a store of ``first``
    journeys over ``hours``, into every writer (flushed); the generator after them."""
    gen = Gen(seed + first)  # fresh ids: a second top-up must not repeat the first one's
    gen.offsets.update(offsets)
    per_s = first / (hours * 3600)
    count = int(per_s * minutes * 60)
    now = time.time_ns()
    step = int(minutes * 60e9 / max(1, count))
    batch: list[Record] = []
    for i in range(count):
        t0 = now - int(minutes * 60e9) + i * step
        batch.extend(gen.journey(first + i, t0, FATES[gen.rng.randrange(100)]))
        if len(batch) >= 20_000:
            _submit_all(writers, batch)
            batch = []
    if batch:
        _submit_all(writers, batch)
    _flush_all(writers)
    gen.journeys = first + count
    return gen


def top_up(db: Path, minutes: float, hours: float, seed: int) -> int:
    """Write the last ``minutes`` of traffic at today's clock, at the store's own density, so that
    ``--since 15m`` sees what a live store would (the build may have taken longer than that)."""
    store = Store.open(db, create=False)
    meta = _load_meta(db)
    first = int(meta["journeys"])
    with store.writer(batch_size=20_000, max_queued=400_000) as writer:
        gen = fresh([writer], first, meta["offsets"], minutes, hours, seed)
    _save_meta(db, gen.journeys, gen.offsets)
    return gen.journeys - first


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def measure(db: Path, lookups: int, seed: int) -> dict[str, object]:
    store = Store.open(db, create=False)
    reader = store.reader()  # one reused reader, as the TUI holds one
    total_j = int(_load_meta(db)["journeys"])
    rng = random.Random(seed + 1)
    ids = [f"ord-{rng.randrange(total_j):09d}" for _ in range(lookups)]
    now = time.time_ns()
    for cid in ids[:20]:  # warm the page cache a little, as a running console would be
        journey(reader, correlation_id=cid, now_ns=now)
    times: list[float] = []
    cpu: list[float] = []
    statuses: dict[str, int] = {}
    span_counts: list[int] = []
    for cid in ids:
        t, c = time.perf_counter(), time.process_time()
        j = journey(reader, correlation_id=cid, now_ns=now)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        assert j is not None, cid
        statuses[j.status] = statuses.get(j.status, 0) + 1
        span_counts.append(len(j.spans))
    env = {**os.environ, "COLUMNS": "160"}
    cli = []
    for cid in ids[:5]:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "console", "trace", "--correlation-id", cid,
                            "--db", str(db)],
                           capture_output=True, text=True, cwd=ROOT, env=env)  # fmt: skip
        cli.append((time.perf_counter() - t) * 1000)
        assert r.returncode == 0, r.stderr
    stalled_runs, stalled_out = [], ""
    for _ in range(3):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "console", "journeys", "--status", "stalled",
                            "--since", "15m", "--db", str(db), "--json"],
                           capture_output=True, text=True, cwd=ROOT, env=env)  # fmt: skip
        stalled_runs.append((time.perf_counter() - t) * 1000)
        assert r.returncode == 0, r.stderr
        stalled_out = r.stdout
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import console.cli.app"], cwd=ROOT, check=True)
    startup_ms = (time.perf_counter() - t) * 1000
    counts = store.counts()
    spans = counts["spans"]
    file_bytes = db.stat().st_size + (
        db.with_name(db.name + "-wal").stat().st_size
        if db.with_name(db.name + "-wal").exists()
        else 0
    )
    span_bytes = None
    with (
        contextlib.suppress(sqlite3.Error),  # dbstat may not be compiled in
        contextlib.closing(store.connect(readonly=True)) as conn,
    ):
        span_bytes = conn.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name IN ('blocks', 'blocks_kind')"
            " OR name LIKE 'keys_%'"
        ).fetchone()[0]
    return {
        "journey_p50_ms": round(statistics.median(times), 2),
        "journey_p99_ms": round(pct(times, 99), 2),
        "journey_max_ms": round(max(times), 2),
        "journey_cpu_p50_ms": round(statistics.median(cpu), 2),
        "journey_cpu_p99_ms": round(pct(cpu, 99), 2),
        "lookups": lookups,
        "statuses": statuses,
        "spans_per_journey_median": statistics.median(span_counts),
        "cli_trace_ms_median": round(statistics.median(cli)),
        "cli_trace_ms_max": round(max(cli)),
        "python_import_console_cli_ms": round(startup_ms),
        "journeys_stalled_15m_ms_median": round(statistics.median(stalled_runs)),
        "journeys_stalled_15m_found": len(json.loads(stalled_out)),
        "spans": spans,
        "hops": counts["hops"],
        "file_bytes": file_bytes,
        "file_bytes_per_span": round(file_bytes / spans, 1),
        "blocks_and_keys_bytes_per_record": round(span_bytes / (spans + counts["hops"]), 1)
        if span_bytes
        else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--spans", type=int, default=10_000_000)
    ap.add_argument("--hops", type=int, default=10_000_000)
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--lookups", type=int, default=1000)
    ap.add_argument("--db", type=Path, default=Path("/tmp/journey_bench.db"))
    ap.add_argument("--reuse", action="store_true", help="Measure an existing store, do not build.")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--build-only", action="store_true", help="Build the store, measure nothing.")
    ap.add_argument(
        "--top-up-minutes",
        type=float,
        default=20.0,
        help="Before measuring, write this many minutes of fresh traffic at today's clock.",
    )
    add_smoke(ap)
    args = ap.parse_args()
    if args.smoke:  # a store of its own, never the big one a full run left in /tmp
        smoke_db = Path(tempfile.mkdtemp(prefix="journey-smoke-")) / "smoke.db"
        smoke_sizes(args, spans=3000, hops=3000, hours=1.0, lookups=20, top_up_minutes=1.0)
        smoke_sizes(args, db=smoke_db, reuse=False)
    if not args.reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(str(args.db) + suffix).unlink(missing_ok=True)
        print(f"building {args.spans:,} spans and {args.hops:,} hops in {args.db} ...", flush=True)
        print(build(args.db, args.spans, args.hops, args.hours, args.seed), flush=True)
    if args.build_only:
        return
    if args.top_up_minutes > 0:
        t = time.monotonic()
        n = top_up(args.db, args.top_up_minutes, args.hours, args.seed)
        print(
            f"topped up {n:,} journeys ({args.top_up_minutes:g} min) in {time.monotonic() - t:.0f}s"
        )
    for key, value in measure(args.db, args.lookups, args.seed).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
