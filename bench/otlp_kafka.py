"""OTLP over Kafka: spans/s committed from a pre-filled topic on one core, beside gRPC.

    python bench/otlp_kafka.py [--messages 2000] [--seconds 20] [--warmup 3] [--inflight 8]
                               [--bootstrap HOST:PORT] [--collector-cpu 0] [--json]

1. kafka/store: a fresh topic is filled with ``--messages`` ExportTraceServiceRequests of 100
   spans each (``bench/spans.py``, the gRPC phase's requests; ``otlp_proto``, one request per
   message as the Collector's kafka exporter writes them). Then ``handoff-console serve
   --otlp-kafka-topics traces=TOPIC`` (receivers off) runs pinned with ``taskset`` to
   ``--collector-cpu``, in a new consumer group that starts at the oldest message. The window
   runs from the first commit the store shows to the last span: spans committed per second, and
   per CPU-second serve used (the figure one uncontended core would give).
2. grpc/store: in the same run, ``bench/otlp_ingest.py``'s closed-loop gRPC phase (the collector
   pinned to the same core, this process sending from the others).

The broker (``--bootstrap``, else ``HANDOFF_KAFKA_BOOTSTRAP``) is not pinned: on a two-core machine
it shares the load generator's core in the gRPC phase and serve's in the Kafka one.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import otlp_ingest  # noqa: E402
from bench.smoke import add_smoke, smoke_sizes  # noqa: E402
from bench.spans import RequestFactory  # noqa: E402

SPANS_PER_REQUEST = otlp_ingest.SPANS_PER_REQUEST


def fill(bootstrap: str, topic: str, messages: int) -> float:
    """Create ``topic`` (one partition) and produce the requests; seconds it took."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(timeout=30)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "message.max.bytes": 10_000_000}
    )
    factory = RequestFactory(SPANS_PER_REQUEST)
    t0 = time.perf_counter()
    for _ in range(messages):
        while True:
            try:
                producer.produce(topic, factory.next())
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120):
        raise SystemExit("the pre-fill was not acknowledged by the broker")
    return time.perf_counter() - t0


def committed_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            row = conn.execute("SELECT coalesce(sum(n), 0) FROM blocks WHERE kind = 1").fetchone()
            return int(row[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def kafka_phase(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import psutil

    topic = f"bench.otlp.{uuid.uuid4().hex[:10]}"
    fill_s = fill(args.bootstrap, topic, args.messages)
    total = args.messages * SPANS_PER_REQUEST
    db = workdir / "kafka.db"
    exe = Path(sys.executable).parent / "handoff-console"
    cmd = ["taskset", "-c", str(args.collector_cpu), str(exe), "serve", "--db", str(db)]
    cmd += ["--otlp-grpc", "off", "--otlp-http", "off", "--bootstrap", args.bootstrap]
    cmd += ["--otlp-kafka-topics", f"traces={topic}", "--otlp-kafka-group", f"bench-{topic}"]
    cmd += ["--retention-age", "3650d", "--retention-bytes", "1000GB"]
    log = (workdir / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=ROOT)
    ps = psutil.Process(proc.pid)
    try:
        deadline = time.monotonic() + 60
        while (rows0 := committed_rows(db)) == 0:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"serve stored nothing: {(workdir / 'serve.log').read_text()}")
            time.sleep(0.05)
        t0, cpu0 = time.perf_counter(), sum(ps.cpu_times()[:2])
        rss = 0.0
        while (rows1 := committed_rows(db)) < total:
            if time.perf_counter() - t0 > 600:
                raise SystemExit(f"only {rows1} of {total} spans committed in 600 s")
            rss = max(rss, ps.memory_info().rss / 2**20)
            time.sleep(0.05)
        t1, cpu1 = time.perf_counter(), sum(ps.cpu_times()[:2])
    finally:
        proc.terminate()
        proc.wait(120)
        log.close()
    done = rows1 - rows0
    return {
        "phase": "kafka/store",
        "spans": total,
        "prefill_s": round(fill_s, 1),
        "committed_spans_per_s": round(done / (t1 - t0)),
        "collector_cpu_share": round((cpu1 - cpu0) / (t1 - t0), 2),
        "spans_per_cpu_s": round(done / max(cpu1 - cpu0, 1e-9)),
        "rss_mb_max": round(rss, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="requests of 100 spans")
    parser.add_argument("--seconds", type=float, default=20.0, help="the gRPC phase's window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--inflight", type=int, default=8)
    parser.add_argument("--collector-cpu", type=int, default=0)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("HANDOFF_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    parser.add_argument("--json", action="store_true")
    add_smoke(parser)
    args = smoke_sizes(parser.parse_args(), messages=50, seconds=1.0, warmup=0.5)
    others = sorted(os.sched_getaffinity(0) - {args.collector_cpu})
    if others:
        os.sched_setaffinity(0, others)  # this process (fill, load) stays off serve's core
    run: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_start": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory(prefix="bench-otlp-kafka-") as tmp:
        run["kafka"] = kafka_phase(args, Path(tmp))
        run["grpc"] = otlp_ingest.measure(args, "grpc", "store", Path(tmp))
    run["load_end"] = round(os.getloadavg()[0], 2)
    if args.json:
        print(json.dumps(run, indent=1))
        return
    for key in ("kafka", "grpc"):
        print(key, json.dumps(run[key]))
    print(f"load average {run['load_start']} -> {run['load_end']}")


if __name__ == "__main__":
    main()
