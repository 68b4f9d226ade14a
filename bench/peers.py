"""handoff-console beside what users would run instead (Jaeger v2, kcat), in the same run.

    python bench/peers.py [--quick] [--write-readme] [--only ingest,lookups,kafka]
                          [--bootstrap HOST:PORT | --broker-port 19292]

1. Builds the peers, cached under ~/.cache/handoff-console/peers: Jaeger v2 (v1.75.0) with ``go``
   from the Go module proxy (a scratch module, ``go get -tool`` then ``go build``: ``go install``
   refuses its replace directives); kcat from the system's packages (``apt-get install kcat``).
   A peer that cannot be built is reported with its error; the rest still runs.
2. OTLP ingest (``bench/peer_otlp.py``): the same gRPC load (``bench/otlp_load.Load``) into
   ``handoff-console serve``, Jaeger v2 with Badger and Jaeger v2 with memory storage, one after
   another, each pinned with ``taskset -c 0`` while this process (the load) runs on core 1.
3. Lookups: the same spans (a fresh correlation id per trace) loaded into each server, then a
   trace by id and the traces carrying a correlation id: ``console.journeys.journey()`` and
   ``handoff-console trace`` processes against Jaeger's query API (``/api/traces/{id}``,
   ``/api/traces?service=...&tags=...``) over one HTTP client and as ``curl`` processes.
4. Kafka (``bench/peer_kafka.py``): the tap into the store against ``kcat -C`` and the bare
   confluent-kafka loop; bulk replay against ``kcat -P``.

``--write-readme`` replaces the peers section of bench/README.md with the tables; every run also
writes its figures to bench/results/peers.json (``--render`` re-renders the section from it).
handoff-console is driven only through its CLI processes and library calls (``serve``,
``trace``, ``journey()``, ``Store.counts()``), so the script outlives changes to the storage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import peer_kafka, peer_otlp  # noqa: E402
from bench.peer_readme import write_readme  # noqa: E402
from bench.peer_servers import JAEGER_VERSION, Jaeger, Serve, build_jaeger, find_kcat  # noqa: E402
from bench.smoke import add_smoke, smoke_sizes  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "peers.json"


def load() -> float:
    return round(os.getloadavg()[0], 2)


def say(text: str) -> None:
    print(text, flush=True)


def build(skip_jaeger: bool, skip_kcat: bool = False) -> dict[str, Any]:
    peers: dict[str, Any] = {}
    say("building peers (cached after the first run) ...")
    jaeger = "skipped (--no-jaeger)" if skip_jaeger else build_jaeger()
    peers["jaeger"] = {"path": str(jaeger)} if isinstance(jaeger, Path) else {"error": jaeger}
    kcat = "skipped (--smoke)" if skip_kcat else find_kcat()
    if isinstance(kcat, Path):
        version = subprocess.run([str(kcat), "-V"], capture_output=True, text=True).stdout
        line = next((ln for ln in version.splitlines() if ln.startswith("Version")), "")
        peers["kcat"] = {"path": str(kcat), "version": line.strip()}
    else:
        peers["kcat"] = {"error": kcat}
    for name, info in peers.items():
        say(f"  {name}: {info.get('path') or 'NOT AVAILABLE: ' + info['error']}")
    return peers


def _servers(peers: dict[str, Any]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = [("serve", lambda w: Serve(w))]
    if "path" in peers["jaeger"]:
        binary = Path(peers["jaeger"]["path"])
        out.append(("jaeger-badger", lambda w: Jaeger(binary, "badger", w)))
        out.append(("jaeger-memory", lambda w: Jaeger(binary, "memory", w)))
    return out


def run_ingest(args: argparse.Namespace, peers: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for key, start in _servers(peers):
        with tempfile.TemporaryDirectory(prefix=f"peers-{key}-", dir=args.workdir) as tmp:
            la = load()
            try:
                server = start(Path(tmp))
            except RuntimeError as exc:
                results[key] = {"error": str(exc)}
                continue
            try:
                r = peer_otlp.ingest(server, args.seconds, args.warmup, args.inflight)
            finally:
                server.stop()
            results[key] = {**r, "load_before": la, "load_after": load()}
            say(f"  ingest {key}: {results[key]}")
    return results


def run_lookups(args: argparse.Namespace, peers: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {"spans": args.lookup_spans}
    for key, start in _servers(peers):
        with tempfile.TemporaryDirectory(prefix=f"peers-lookup-{key}-", dir=args.workdir) as tmp:
            la = load()
            try:
                server = start(Path(tmp))
            except RuntimeError as exc:
                results[key] = {"error": str(exc)}
                continue
            try:
                ids, fill_s = peer_otlp.fill(server, args.lookup_spans, args.inflight, args.lookups)
                say(f"  {key}: {args.lookup_spans:,} spans stored in {fill_s:.0f} s")
                if isinstance(server, Serve):
                    server.stop()  # the store is read by journey() and `trace` processes
                    r = peer_otlp.console_lookups(server.db, ids, args.processes, cpu=0)
                else:
                    r = peer_otlp.jaeger_lookups(server, ids, args.processes)
            finally:
                server.stop()
            results[key] = {"fill_s": round(fill_s), **r, "load_before": la, "load_after": load()}
            say(f"  lookups {key}: {results[key]}")
    return results


def run_kafka(args: argparse.Namespace, peers: dict[str, Any]) -> dict[str, Any]:
    kcat = Path(peers["kcat"]["path"]) if "path" in peers["kcat"] else None
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        state = Path(tempfile.mkdtemp(prefix="peers-broker-", dir=args.workdir))
        broker = [str(Path(sys.executable).parent / "handoff-console"), "broker"]
        where = ["--port", str(args.broker_port), "--state-dir", str(state)]
        every_core = ",".join(str(c) for c in range(os.cpu_count() or 1))
        up = subprocess.run(  # not pinned with this process: the broker serves both sides
            ["taskset", "-c", every_core, *broker, "up", *where, "--timeout", "180"],
            capture_output=True,
            text=True,
            check=False,
        )
        if up.returncode:
            raise RuntimeError(f"broker up failed: {(up.stderr or up.stdout).strip()[-1000:]}")
        bootstrap = f"127.0.0.1:{args.broker_port}"
    try:
        la = load()
        consume = peer_kafka.consume(bootstrap, kcat, args.messages, args.partitions, cpu=0)
        consume.update(load_before=la, load_after=load())
        say(f"  consume: {consume}")
        la = load()
        produce = peer_kafka.produce_side(bootstrap, kcat, args.replay_n, cpu=0)
        produce.update(n=args.replay_n, load_before=la, load_after=load())
        say(f"  produce: {produce}")
    finally:
        if broker is not None:
            subprocess.run([*broker, "down", *where], check=False, stdout=subprocess.DEVNULL)
            shutil.rmtree(state, ignore_errors=True)
    return {"consume": consume, "produce": produce}


PARTS = {"ingest": run_ingest, "lookups": run_lookups, "kafka": run_kafka}
SIZES = ("seconds", "warmup", "inflight", "lookup_spans", "lookups", "processes", "messages")


def _sizes(args: argparse.Namespace) -> dict[str, Any]:
    return {k: getattr(args, k) for k in (*SIZES, "partitions", "replay_n")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes (see --help defaults)")
    ap.add_argument("--only", default="ingest,lookups,kafka")
    ap.add_argument("--seconds", type=float, default=None, help="ingest window (30; quick 10)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--inflight", type=int, default=8)
    ap.add_argument("--lookup-spans", type=int, default=None, help="1,000,000; quick 100,000")
    ap.add_argument("--lookups", type=int, default=200, help="ids looked up per kind")
    ap.add_argument("--processes", type=int, default=10, help="CLI / curl runs per kind")
    ap.add_argument("--messages", type=int, default=None, help="tap messages (1M; quick 200k)")
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--replay-n", type=int, default=None, help="replayed (10,000; quick 5,000)")
    ap.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    ap.add_argument("--broker-port", type=int, default=19292)
    ap.add_argument("--workdir", default=None, help="where the stores go (default: $TMPDIR)")
    ap.add_argument("--no-jaeger", action="store_true", help="skip building and running Jaeger")
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument(
        "--render", action="store_true", help="only rewrite the README section from peers.json"
    )
    add_smoke(ap)
    args = ap.parse_args()
    if args.render:
        write_readme(json.loads(RESULTS.read_text()))
        return
    results = RESULTS
    if args.smoke:  # handoff-console's side of each part only, its figures in a temp dir
        smoke_sizes(args, quick=True, no_jaeger=True, seconds=1.0, warmup=0.5, lookup_spans=2000)
        smoke_sizes(args, lookups=5, processes=1, messages=2000, partitions=2, replay_n=100)
        smoke_sizes(args, write_readme=False)
        results = Path(tempfile.mkdtemp(prefix="peers-smoke-")) / "peers.json"
    q = args.quick
    args.seconds = args.seconds or (10.0 if q else 30.0)
    args.lookup_spans = args.lookup_spans or (100_000 if q else 1_000_000)
    args.messages = args.messages or (200_000 if q else 1_000_000)
    args.replay_n = args.replay_n or (5_000 if q else 10_000)
    run: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "argv": sys.argv[1:],
        "quick": q,
        "sizes": _sizes(args),
        "jaeger_version": JAEGER_VERSION,
        "cpus": os.cpu_count(),
        "load_start": load(),
    }
    run["peers"] = build(args.no_jaeger, skip_kcat=args.smoke)
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {1})  # as `taskset -c 1`: the servers get core 0
    parts = args.only.split(",")
    if set(parts) != set(PARTS) and results.exists():
        # a partial run keeps the other parts of the last run, each with when it ran
        run = {**json.loads(results.read_text()), "peers": run["peers"], "load_end": load()}
    for part in parts:
        say(f"{part} (load average {load()}) ...")
        try:
            run[part] = PARTS[part](args, run["peers"])
            run[part]["ran"] = {
                "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "argv": sys.argv[1:],
                "sizes": _sizes(args),
            }
        except Exception as exc:
            if args.smoke:
                raise
            traceback.print_exc()
            run[part] = {"error": f"{type(exc).__name__}: {exc}"}
    run["load_end"] = load()
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(run, indent=1) + "\n")
    say(f"figures in {results}")
    if args.write_readme:
        write_readme(run)
        say("wrote bench/README.md")


if __name__ == "__main__":
    main()
