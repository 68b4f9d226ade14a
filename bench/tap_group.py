"""Benchmark: the tap into SQLite and into chDB against tap -> NullSink, and one tap against two
taps in one consumer group (issue 26, "Many taps, one consumer group").

Produces N messages (default 300,000) of ~300 bytes with 3 headers over several partitions, as
``tap_throughput.py`` does, then measures, each phase in a fresh consumer group from the oldest
message and a fresh store:

* in this process, pinned to one core (``KafkaTap`` as ``tap_throughput.py`` runs it): the tap
  into a ``NullSink`` (decoding only), into SQLite and into chDB; each rate is messages from the
  first one received until the writer has committed the last one;
* as a user runs them (``handoff-console tap`` processes, each pinned to a core of its own): one
  tap, then two taps in one group, into SQLite (two taps: one file) and into chDB (two taps:
  a store each, chDB being one process); each rate is messages from the first status line that
  shows a hop (``--status-every 0.2``) until the group's committed offsets cover all N
  (``--commit-every 0.2``: a commit follows the store's by at most that), so a rate is slower
  than the in-process one by up to 0.4 s over the run.

Goals (issue 26): tap into chDB >= 0.7 of tap -> NullSink; two taps in one group >= 1.7x one tap,
on two cores. Needs the ClickHouse extra (``pip install -e '.[clickhouse]'``).

    HANDOFF_KAFKA_BOOTSTRAP=127.0.0.1:9092 python bench/tap_group.py --messages 300000
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, TopicPartition

from bench.smoke import add_smoke, smoke_sizes
from bench.tap_throughput import produce
from collectors.kafka.tap import KafkaTap
from console.runtime.daemon import tune_gc
from console.store import NullSink, open_store

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Rate:
    """Hops per second of wall time, and per CPU-second of the tap processes (the steadier
    figure on a machine others share)."""

    wall: float
    per_cpu_s: float


def in_process(bootstrap: str, topic: str, n: int, where: str | None) -> Rate:
    """Hops/s through one ``KafkaTap`` in this process: into the store at ``where`` (until its
    writer committed every hop), or into a NullSink."""
    store = open_store(where) if where else None
    writer = store.writer(batch_size=20_000, flush_ms=500, max_queued=400_000) if store else None
    tap = KafkaTap(
        writer or NullSink(),
        bootstrap=bootstrap,
        topics=topic,
        group_id=f"bench-group-{uuid.uuid4().hex[:8]}",
        from_beginning=True,
    )
    tap.start()
    t_first = cpu_first = 0.0
    try:
        while True:
            seen = tap.health()["hops_seen"]
            if seen and not t_first:
                t_first, cpu_first = time.perf_counter(), time.process_time()
            if seen >= n:
                break
            time.sleep(0.01)
        if writer is not None:
            writer.flush(600)
        elapsed = time.perf_counter() - t_first
        cpu = time.process_time() - cpu_first
    finally:
        tap.stop()
        if writer is not None:
            writer.close()
    if store is not None:
        stored = store.counts()["hops"]
        store.close()
        assert stored == n, f"{stored} hops stored, expected {n}"
    return Rate(n / max(elapsed, 1e-6), n / max(cpu, 1e-6))


class _Committed:
    """The group's committed offsets on the topic, summed (one consumer that never joins)."""

    def __init__(self, bootstrap: str, group: str, topic: str, partitions: int) -> None:
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]

    def __call__(self) -> int:
        return sum(max(tp.offset, 0) for tp in self.c.committed(self.tps, timeout=10))

    def close(self) -> None:
        self.c.close()


def cli_taps(
    bootstrap: str, topic: str, n: int, partitions: int, stores: list[list[str]], tmp: Path
) -> Rate:
    """Hops/s of ``len(stores)`` ``handoff-console tap`` processes in one group, tap i pinned
    to core i and writing to ``stores[i]`` (``--db PATH`` or ``--store URL``)."""
    group = f"bench-group-{uuid.uuid4().hex[:8]}"
    cores = sorted(os.sched_getaffinity(0))
    lock = threading.Lock()
    # When a status line first showed hops, how many, and the taps' CPU seconds then.
    first: list[tuple[float, int, float]] = []
    procs: list[subprocess.Popen[str]] = []
    started = time.perf_counter()
    for i, store in enumerate(stores):
        proc = subprocess.Popen(
            [sys.executable, "-m", "console", "tap", *store, "--bootstrap", bootstrap,
             "--topics", topic, "--group", group, "--from-beginning", "--json",
             "--status-every", "0.2", "--commit-every", "0.2"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=(tmp / f"tap-{i}.err").open("w"),
            text=True, preexec_fn=_pin(cores[i % len(cores)]),
        )  # fmt: skip
        procs.append(proc)

        def read(proc: subprocess.Popen[str] = proc) -> None:
            for line in proc.stdout or ():
                event: dict[str, Any] = json.loads(line)
                seen = event.get("hops_seen") or 0
                with lock:
                    if seen and not first:
                        first.append((time.perf_counter(), seen, _cpu_s(procs)))

        threading.Thread(target=read, daemon=True).start()
    committed = _Committed(bootstrap, group, topic, partitions)
    try:
        while committed() < n:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a tap exited: {(tmp / 'tap-0.err').read_text()[-2000:]}")
            time.sleep(0.05)
        done, cpu_done = time.perf_counter(), _cpu_s(procs)
    finally:
        committed.close()
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(120)
    with lock:
        # The hops the first line already counted went before its time: not in the rate (the
        # other tap's, up to one status interval of them, are: the rate errs high by that).
        t0, seen0, cpu0 = first[0] if first and first[0][0] < done else (started, 0, 0.0)
    return Rate((n - seen0) / max(done - t0, 1e-6), (n - seen0) / max(cpu_done - cpu0, 1e-6))


def _cpu_s(procs: list[subprocess.Popen[str]]) -> float:
    """CPU seconds (user and system, every thread) the processes used so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in procs:
        try:
            fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")  # --smoke: a phase may be over before it is timed


def _pin(core: int) -> Any:
    """A ``preexec_fn`` that pins the child process to ``core``."""
    return lambda: os.sched_setaffinity(0, {core})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--partitions", type=int, default=6)
    default_bootstrap = os.environ.get("HANDOFF_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    ap.add_argument("--bootstrap", default=default_bootstrap)
    add_smoke(ap)
    args = smoke_sizes(ap.parse_args(), messages=2000, partitions=2)
    n = args.messages
    topic = f"bench.group.{uuid.uuid4().hex[:8]}"
    print(f"producing {n:,} messages to {topic} ({args.partitions} partitions) ...", flush=True)
    produce(args.bootstrap, topic, n, args.partitions)
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores", flush=True)
    rows: dict[str, Rate] = {}

    def show(name: str) -> None:
        r = rows[name]
        print(f"{name:<30}: {r.wall:>9,.0f} hops/s {r.per_cpu_s:>9,.0f} per CPU-s", flush=True)

    with tempfile.TemporaryDirectory(prefix="tapgroup") as tmp_dir:
        tmp = Path(tmp_dir)
        parent = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {max(parent)})  # the in-process phases: one core
        tune_gc()
        inproc = {
            "in-process -> NullSink": None,
            "in-process -> SQLite": str(tmp / "inproc.db"),
            "in-process -> chDB": f"chdb://{tmp}/inproc",
        }
        for name, where in inproc.items():
            rows[name] = in_process(args.bootstrap, topic, n, where)
            show(name)
        os.sched_setaffinity(0, parent)
        chdb = f"chdb://{tmp}"
        one_db, two_db = ["--db", str(tmp / "one.db")], ["--db", str(tmp / "two.db")]
        runs = {
            "1 tap  -> SQLite": [one_db],
            "2 taps -> one SQLite file": [two_db, two_db],
            "2 taps -> a SQLite file each": [["--db", str(tmp / f"{x}.db")] for x in "ab"],
            "1 tap  -> chDB": [["--store", f"{chdb}/one"]],
            "2 taps -> a chDB store each": [["--store", f"{chdb}/{x}"] for x in "ab"],
        }
        for name, stores in runs.items():
            rows[name] = cli_taps(args.bootstrap, topic, n, args.partitions, stores, tmp)
            show(name)
    null = rows["in-process -> NullSink"]
    print()
    for backend in ("SQLite", "chDB"):
        inp = rows[f"in-process -> {backend}"]
        print(f"{backend} / NullSink, in-process: {_ratio(inp.wall, null.wall):.2f} "
              f"(per CPU-s {_ratio(inp.per_cpu_s, null.per_cpu_s):.2f})")  # fmt: skip
    for two, one in (
        ("2 taps -> one SQLite file", "1 tap  -> SQLite"),
        ("2 taps -> a SQLite file each", "1 tap  -> SQLite"),
        ("2 taps -> a chDB store each", "1 tap  -> chDB"),
    ):
        print(f"{two} / one tap: {_ratio(rows[two].wall, rows[one].wall):.2f}x")


if __name__ == "__main__":
    main()
