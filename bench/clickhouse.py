"""Benchmark: the ClickHouse store (chDB, in-process) beside SQLite, every figure on both in one
run, with its floor beside it.

    python bench/clickhouse.py [--phases tap,serve,journey] [--messages 300000] [--seconds 15]
                               [--spans 1000000 --hops 1000000 --lookups 500] [--json]
    python bench/clickhouse.py --phases journey --spans 10000000 --hops 10000000 \
                               --stores /tmp/ch-journeys        # build, measure, keep
    python bench/clickhouse.py --phases journey --stores /tmp/ch-journeys --reuse

Phases (``--phases``; the helpers are the other benches' own):

* ``tap``: ``--messages`` messages (``tap_throughput.produce``: ~300 bytes, 3 headers) through
  the tap pinned to one core (``tap_throughput.run_tap``): into a NullSink (the floor), into
  SQLite and into chDB, each until every hop is committed; hops/s and the fraction of the
  floor (goal for chDB: >= 0.7). Then bytes a hop: SQLite's file (checkpointed) and chDB's
  ``handoff_hops`` parts, as inserted and after ``OPTIMIZE ... FINAL``.
* ``serve``: the collector ``serve`` runs (``otlp_ingest.Collector``: the daemon, the gRPC and
  HTTP receivers) in its own process pinned to one core, 8 gRPC senders in this one
  (``otlp_load.Load``) of 100-span requests with 15 attributes, varied span ids, keys and times
  and a fresh correlation id a trace (``spans.RequestFactory``), for ``--seconds``: spans/s
  committed into SQLite and into chDB, and accepted into a NullSink (the decode-only floor); each
  also per CPU-second of the collector. Then bytes a span: chDB's ``otel_traces`` parts (goal
  <= 60) and SQLite's whole file, for the spans that phase stored.
* ``journey``: ``--spans`` spans and ``--hops`` hops of ``journey_lookup``'s journeys, the same
  records streamed into both stores at once (``journey_lookup.fill``), topped up with
  ``--top-up-minutes`` of traffic at today's clock; then ``journey_backends.measure``:
  ``journey()`` p50/p99 over ``--lookups`` random correlation ids on one reused reader each,
  the backends taking turns id by id, their answers compared, and the stalled search
  (``journeys(status="stalled", since 15m)``) as a library call; and, in a fresh process each,
  ``journeys --status stalled --since 15m`` and ``trace``. Goal on chDB at 10M + 10M: p99 <
  100 ms, stalled < 1 s.

chDB is one process: each store is opened here only while this process measures it, and let go
before another process (the collector, the CLI) opens it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402
    clickhouse_write,
    journey_backends,
    journey_lookup,
    otlp_ingest,
    tap_throughput,
)
from bench.otlp_load import SPANS_PER_REQUEST, Load  # noqa: E402
from bench.smoke import add_smoke, smoke_sizes  # noqa: E402
from console.runtime.daemon import tune_gc  # noqa: E402
from console.store import Storage, open_store  # noqa: E402

PHASES = ("tap", "serve", "journey")
BACKENDS = ("sqlite", "chdb")


# --- stores ---------------------------------------------------------------------------------


def location(backend: str, workdir: Path, name: str) -> str:
    """A fresh store's place: a SQLite file's path, or a chDB directory's URL."""
    if backend == "sqlite":
        return str(workdir / f"{name}.db")
    return f"chdb://{workdir / name}"


@contextmanager
def opened(where: str) -> Iterator[Storage]:
    """The store at ``where``, let go afterwards (a chDB engine, for the next process)."""
    store = open_store(where)
    try:
        yield store
    finally:
        store.close()


def row_bytes(store: Storage, table: str) -> dict[str, float]:
    """Bytes on disk a row of a ClickHouse table's active parts, as inserted and after
    ``OPTIMIZE TABLE ... FINAL`` (what background merges settle to), and its rows."""
    from console.store.clickhouse.storage import ClickHouseStorage

    assert isinstance(store, ClickHouseStorage)
    rows, _, inserted = clickhouse_write.span_bytes(store, table)
    store.rows(f"OPTIMIZE TABLE {store.table(table)} FINAL")
    _, _, merged = clickhouse_write.span_bytes(store, table)
    return {"rows": rows, "inserted": inserted, "merged": merged}


def sqlite_bytes(where: str) -> int:
    """The SQLite store's file, its WAL after a checkpoint and free pages."""
    return tap_throughput.bytes_on_disk(Path(where))


# --- tap --------------------------------------------------------------------------------------


def tap_phase(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    n = args.messages
    topic = f"bench.ch.{uuid.uuid4().hex[:8]}"
    print(f"tap: producing {n:,} messages to {topic} ({args.partitions} partitions) ...")
    tap_throughput.produce(args.bootstrap, topic, n, args.partitions)
    cpu = args.tap_cpu if args.tap_cpu is not None else max(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})  # the tap's threads, the writers' and chDB's: one core
    tune_gc()
    out: dict[str, Any] = {"messages": n, "cpu": cpu}
    try:
        out["null_hops_per_s"] = tap_throughput.run_tap(args.bootstrap, topic, n, None)
        _line("tap -> NullSink (floor)", out["null_hops_per_s"], "hops/s")
        for backend in BACKENDS:
            where = location(backend, workdir, f"tap-{backend}")
            with opened(where) as store:
                rate = tap_throughput.run_tap(args.bootstrap, topic, n, store)
                out[f"{backend}_hops_per_s"] = rate
                _line(f"tap -> {backend}", rate, "hops/s", rate / out["null_hops_per_s"])
                if backend == "chdb":
                    hops = row_bytes(store, "handoff_hops")
                    out["chdb_bytes_per_hop"] = hops["inserted"]
                    out["chdb_bytes_per_hop_merged"] = hops["merged"]
            if backend == "sqlite":
                out["sqlite_bytes_per_hop"] = sqlite_bytes(where) / n
        others = sorted(before - {cpu})
        if others:
            # As a ClickHouse server runs beside a tap: the engine's threads on a core of their
            # own, the tap's (decoding, the rows built at submit) on its core.
            engine = tap_throughput.EngineCore(cpu, others[0])
            with opened(location("chdb", workdir, "tap-chdb-engine")) as store:
                rate = tap_throughput.run_tap(args.bootstrap, topic, n, store, engine)
            out["chdb_engine_core_hops_per_s"] = rate
            _line(
                f"tap -> chdb, engine on core {others[0]}", rate, "hops/s",
                rate / out["null_hops_per_s"],
            )  # fmt: skip
    finally:
        os.sched_setaffinity(0, before)
    out["chdb_to_null"] = out["chdb_hops_per_s"] / out["null_hops_per_s"]
    out["sqlite_to_null"] = out["sqlite_hops_per_s"] / out["null_hops_per_s"]
    print(
        f"  bytes a hop: sqlite {out['sqlite_bytes_per_hop']:.1f} (file, checkpointed); "
        f"chdb {out['chdb_bytes_per_hop']:.1f} as inserted, "
        f"{out['chdb_bytes_per_hop_merged']:.1f} merged (handoff_hops parts)",
        flush=True,
    )
    goal = out["chdb_to_null"] >= 0.7
    print(
        f"  goal tap -> chdb >= 0.7 of NullSink: {'met' if goal else 'NOT met'} with the engine"
        " on the tap's core",
        flush=True,
    )
    if "chdb_engine_core_hops_per_s" in out:
        out["chdb_engine_core_to_null"] = (
            out["chdb_engine_core_hops_per_s"] / out["null_hops_per_s"]
        )
        met = out["chdb_engine_core_to_null"] >= 0.7
        print(
            f"  goal tap -> chdb >= 0.7 of NullSink: {'met' if met else 'NOT met'} with the engine"
            " on a core of its own (as a server)",
            flush=True,
        )
    return out


# --- serve ------------------------------------------------------------------------------------


def serve_run(
    args: argparse.Namespace, sink: str, workdir: Path, store: str | None
) -> tuple[dict[str, Any], otlp_ingest.Collector]:
    """One closed-loop gRPC window into a collector process (stopped, its store kept)."""
    collector = otlp_ingest.Collector(sink, args.collector_cpu, workdir, store=store)
    load = Load(
        "grpc",
        collector.grpc_port,
        args.inflight,
        factory_kw={"varied": True, "correlations": True},
    )
    load.start()
    try:
        time.sleep(args.warmup)  # the senders reach their pace (not a synchronisation)
        ok0, rows0, cpu0, t0 = load.ok, _done(collector, sink), collector.cpu_s(), time.time()
        time.sleep(args.seconds)  # the measured window
        ok1, rows1, cpu1, t1 = load.ok, _done(collector, sink), collector.cpu_s(), time.time()
    finally:
        load.stop()
        collector.stop(keep=True)
    accepted = (ok1 - ok0) * SPANS_PER_REQUEST
    done = rows1 - rows0 if sink == "store" else accepted
    result = {
        "spans_per_s": done / (t1 - t0),
        "spans_per_cpu_s": done / max(cpu1 - cpu0, 1e-9),
        "collector_cpu_share": (cpu1 - cpu0) / (t1 - t0),
        "refused_requests": load.refused,
        "errors": load.errors,
    }
    return result, collector


def _done(collector: otlp_ingest.Collector, sink: str) -> int:
    return collector.committed() if sink == "store" else 0


def serve_phase(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    others = os.sched_getaffinity(0) - {args.collector_cpu}
    before = os.sched_getaffinity(0)
    if others:
        os.sched_setaffinity(0, others)  # the senders off the collector's core
    out: dict[str, Any] = {"seconds": args.seconds, "inflight": args.inflight}
    try:
        null, _ = serve_run(args, "null", workdir, None)
        out["null"] = null
        _line("serve -> NullSink (decode-only floor)", null["spans_per_s"], "spans/s")
        _cpu_line(null)
        for backend in BACKENDS:
            where = location(backend, workdir, f"serve-{backend}")
            result, _ = serve_run(args, "store", workdir, where)
            out[backend] = result
            ratio = result["spans_per_s"] / null["spans_per_s"]
            _line(f"serve -> {backend} (committed)", result["spans_per_s"], "spans/s", ratio)
            _cpu_line(result, result["spans_per_cpu_s"] / null["spans_per_cpu_s"])
            with opened(where) as store:
                spans = store.counts()["spans"]
                if backend == "chdb":
                    traces = row_bytes(store, "otel_traces")
                    result["bytes_per_span"] = traces["inserted"]
                    result["bytes_per_span_merged"] = traces["merged"]
            if backend == "sqlite":
                result["bytes_per_span"] = sqlite_bytes(where) / spans
            result["spans_stored"] = spans
    finally:
        os.sched_setaffinity(0, before)
    chdb, sqlite = out["chdb"], out["sqlite"]
    print(
        f"  bytes a span: chdb otel_traces {chdb['bytes_per_span']:.1f} as inserted, "
        f"{chdb['bytes_per_span_merged']:.1f} merged ({chdb['spans_stored']:,} spans); "
        f"sqlite {sqlite['bytes_per_span']:.1f} (whole file, {sqlite['spans_stored']:,} spans)",
        flush=True,
    )
    goal = chdb["bytes_per_span_merged"] <= 60
    print(f"  goal <= 60 bytes a span in otel_traces: {'met' if goal else 'NOT met'}", flush=True)
    return out


# --- journey ----------------------------------------------------------------------------------


class Scans:
    """A chDB store whose readers ignore ``handoff_schema``'s version 4 lookups
    (``handoff_journey_keys``, ``handoff_sends``, ``handoff_consumed``): they read the
    exporter's tables and ``handoff_hops`` as the console did before them (``--scans``)."""

    def __init__(self, store: Storage) -> None:
        self.store = store

    def reader(self) -> Any:
        from console.store.clickhouse.reader import ClickHouseReader
        from console.store.clickhouse.storage import ClickHouseStorage

        class ScansReader(ClickHouseReader):
            @property
            def keyed(self) -> bool:
                return False

            @property
            def summarised(self) -> bool:
                return False

        assert isinstance(self.store, ClickHouseStorage)
        return ScansReader(self.store)


class Uncopied(Scans):
    """A chDB store whose readers ignore version 6's copy (``handoff_journey_spans``): spans
    from ``otel_traces`` by the version 4 lookups, as the console read them before the copy
    (``--uncopied``)."""

    def reader(self) -> Any:
        from console.store.clickhouse.reader import ClickHouseReader
        from console.store.clickhouse.storage import ClickHouseStorage

        class UncopiedReader(ClickHouseReader):
            @property
            def spans_copied(self) -> bool:
                return False

        assert isinstance(self.store, ClickHouseStorage)
        return UncopiedReader(self.store)


def journey_phase(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    base = args.stores or workdir
    base.mkdir(parents=True, exist_ok=True)
    meta = base / "journeys.json"
    wheres = {b: location(b, base, f"journeys-{b}") for b in BACKENDS}
    if not args.reuse and meta.exists():
        raise SystemExit(f"{base} holds the stores of a run: --reuse them, or remove them first")
    stores = {b: open_store(w) for b, w in wheres.items()}
    out: dict[str, Any] = {}
    try:
        # Streamed into both writers at once: 10M + 10M records never sit in memory together.
        writers = [s.writer(batch_size=20_000, max_queued=400_000) for s in stores.values()]
        try:
            if args.reuse:
                done = json.loads(meta.read_text())
                print(f"journey: the stores in {base}: {done['build']}", flush=True)
            else:
                print(f"journey: building {args.spans:,} spans and {args.hops:,} hops in both ...")
                built, gen = journey_lookup.fill(
                    writers, args.spans, args.hops, args.hours, args.seed
                )
                print(f"  {built}", flush=True)
                done = {"build": built, "journeys": gen.journeys, "offsets": gen.offsets}
            t = time.monotonic()
            gen = journey_lookup.fresh(
                writers, done["journeys"], done["offsets"], args.top_up_minutes, args.hours,
                args.seed,
            )  # fmt: skip
            print(f"  topped up to {gen.journeys:,} journeys in {time.monotonic() - t:.0f}s")
            meta.write_text(json.dumps({**done, "journeys": gen.journeys, "offsets": gen.offsets}))
        finally:
            for writer in writers:
                writer.close()
        out["build"] = done["build"]
        # The same ids on both, the backends taking turns id by id; their answers compared.
        # With --scans, a third reader on the chDB store between them: one that ignores
        # handoff_schema's version 4 lookups, so it reads as the console did before them.
        # With --uncopied, one that ignores version 6's copy (reads as before it).
        measuring: dict[str, Any] = {"sqlite": stores["sqlite"]}
        before = {"chdb_scans": ("scans, as before version 4", args.scans, Scans)}
        before["chdb_uncopied"] = ("without the copy, as before version 6", args.uncopied,
                                   Uncopied)  # fmt: skip
        for name, (_what, wanted, kind) in before.items():
            if wanted:
                measuring[name] = kind(stores["chdb"])
        measuring["chdb"] = stores["chdb"]
        measured = journey_backends.measure(measuring, gen.journeys, args.lookups, args.seed)
        out.update(measured)
        for name, (what, wanted, _kind) in before.items():
            if not wanted:
                continue
            print(
                f"  chdb {what}: journey() p50 {measured[f'{name}_journey_p50_ms']:.1f} ms,"
                f" p99 {measured[f'{name}_journey_p99_ms']:.1f} ms; stalled search "
                f"{measured[f'{name}_stalled_15m_ms']:.0f} ms "
                f"({measured[f'{name}_stalled_15m_found']} found); same answer as sqlite: "
                f"{measured[f'{name}_same_answer']}",
                flush=True,
            )
        for backend, store in stores.items():
            out[f"{backend}_size_bytes"] = store.size_bytes()
            print(
                f"  {backend}: journey() p50 {measured[f'{backend}_journey_p50_ms']:.1f} ms, "
                f"p99 {measured[f'{backend}_journey_p99_ms']:.1f} ms; stalled search "
                f"{measured[f'{backend}_stalled_15m_ms']:.0f} ms "
                f"({measured[f'{backend}_stalled_15m_found']} found); "
                f"store {out[f'{backend}_size_bytes'] / 2**20:,.0f} MiB",
                flush=True,
            )
        print(f"  same answer on both: {measured['same_answer']}", flush=True)
    finally:
        for store in stores.values():
            store.close()  # the CLI below opens them in processes of its own
    rng = random.Random(args.seed + 2)
    ids = [f"ord-{rng.randrange(gen.journeys):09d}" for _ in range(3)]
    for backend, where in wheres.items():
        store_args = ["--db", where] if backend == "sqlite" else ["--store", where]
        cli = cli_times(store_args, ids)
        out.update({f"{backend}_{k}": v for k, v in cli.items()})
        print(
            f"  {backend}: CLI (a fresh process) journeys --status stalled --since 15m "
            f"{cli['cli_stalled_ms']:.0f} ms, trace {cli['cli_trace_ms']:.0f} ms (medians)",
            flush=True,
        )
    goal = out["chdb_journey_p99_ms"] < 100 and out["chdb_stalled_15m_ms"] < 1000
    print(
        f"  goal on chdb (at 10M + 10M): journey() p99 < 100 ms, stalled < 1 s: "
        f"{'met' if goal else 'NOT met'} at {out['build']['spans']:,} + "
        f"{out['build']['hops']:,}",
        flush=True,
    )
    return out


def cli_times(store_args: list[str], ids: list[str]) -> dict[str, float]:
    """Median wall ms of ``journeys --status stalled --since 15m`` and of ``trace``, each in a
    fresh process, as an operator runs them."""
    env = {**os.environ, "COLUMNS": "160"}

    def timed(*cmd: str) -> float:
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "console", *cmd, *store_args],
                           capture_output=True, text=True, cwd=ROOT, env=env)  # fmt: skip
        elapsed = (time.perf_counter() - t) * 1000
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)}: {r.stderr.strip()}")
        return elapsed

    stalled = [timed("journeys", "--status", "stalled", "--since", "15m", "--json")]
    stalled += [timed("journeys", "--status", "stalled", "--since", "15m", "--json")]
    stalled += [timed("journeys", "--status", "stalled", "--since", "15m", "--json")]
    trace = [timed("trace", "--correlation-id", cid) for cid in ids]
    return {"cli_stalled_ms": statistics.median(stalled), "cli_trace_ms": statistics.median(trace)}


# --- output -----------------------------------------------------------------------------------


def _line(what: str, value: float, unit: str, of_floor: float | None = None) -> None:
    ratio = "" if of_floor is None else f"  ({of_floor:.2f} of the floor)"
    print(f"  {what:<38}: {value:>10,.0f} {unit}{ratio}", flush=True)


def _cpu_line(result: dict[str, Any], of_floor: float | None = None) -> None:
    ratio = "" if of_floor is None else f"  ({of_floor:.2f} of the floor's)"
    print(
        f"  {'':<38}  {result['spans_per_cpu_s']:>10,.0f} per CPU-second of the collector "
        f"(it had {result['collector_cpu_share']:.2f} of its core){ratio}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--phases", default=",".join(PHASES), help="Some of: " + ", ".join(PHASES))
    default_bootstrap = os.environ.get("HANDOFF_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    ap.add_argument("--bootstrap", default=default_bootstrap)
    ap.add_argument("--messages", type=int, default=300_000, help="tap: messages")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--tap-cpu", type=int, default=None, help="tap: its core (default: last)")
    ap.add_argument("--seconds", type=float, default=15.0, help="serve: measured window")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--inflight", type=int, default=8, help="serve: concurrent requests")
    ap.add_argument("--collector-cpu", type=int, default=0, help="serve: the collector's core")
    ap.add_argument("--spans", type=int, default=1_000_000, help="journey: spans stored")
    ap.add_argument("--hops", type=int, default=1_000_000, help="journey: hops stored")
    ap.add_argument("--hours", type=float, default=24.0, help="journey: the stores' time span")
    ap.add_argument("--lookups", type=int, default=500, help="journey: journey() calls")
    ap.add_argument("--top-up-minutes", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", type=Path, default=None, help="Where the stores go (a temp dir)")
    ap.add_argument(
        "--stores",
        type=Path,
        default=None,
        help="journey: keep its two stores in this directory (default: the temp dir)",
    )
    ap.add_argument(
        "--reuse", action="store_true", help="journey: measure the stores --stores kept"
    )
    ap.add_argument(
        "--scans",
        action="store_true",
        help="journey: also measure chDB readers that ignore the version 4 lookups (before/after)",
    )
    ap.add_argument(
        "--uncopied",
        action="store_true",
        help="journey: also measure chDB readers that ignore version 6's copy (before/after)",
    )
    ap.add_argument("--json", action="store_true", help="Also print every figure as JSON.")
    add_smoke(ap)
    args = smoke_sizes(
        ap.parse_args(), messages=2000, partitions=2, seconds=1.0, warmup=0.5,
        spans=3000, hops=3000, hours=1.0, lookups=20, top_up_minutes=1.0, workdir=None,
        stores=None, reuse=False,
    )  # fmt: skip
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(phases) - set(PHASES)
    if unknown:
        ap.error(f"unknown phase {sorted(unknown)[0]!r} (one of {', '.join(PHASES)})")
    load = os.getloadavg()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
        flush=True,
    )
    run: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
        "tap": tap_phase,
        "serve": serve_phase,
        "journey": journey_phase,
    }
    results: dict[str, Any] = {"load_before": load}
    with tempfile.TemporaryDirectory(prefix="ch-bench-", dir=args.workdir) as tmp:
        for phase in phases:
            results[phase] = run[phase](args, Path(tmp))
    results["load_after"] = os.getloadavg()
    print(f"load after {results['load_after'][0]:.1f}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
