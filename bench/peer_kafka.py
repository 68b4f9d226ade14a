"""Kafka: the tap and bulk replay beside kcat, the C client users reach for, in one run.

Used by ``bench/peers.py`` against a real broker (``handoff-console broker up``). Every consumer
and producer under test runs in its own process pinned with ``taskset -c CPU``:

* consume: ``tap -> store`` (the real ``KafkaTap`` into a real store, until every hop is
  committed), the bare confluent-kafka loop, and ``kcat -C -e -o beginning`` writing the same
  topic to /dev/null. The tap and the bare loop are timed from their first message (their group
  join does not count, as in ``bench/tap_throughput.py``); kcat from its start to its exit
  (it assigns partitions without a group, so it has no join to leave out);
* produce: bulk replay of dead letters (``bench/replay.py``: select, plan, ledger, produce,
  acks) against ``kcat -P`` producing the same payloads and keys (kcat cannot give each line
  its own headers, so it sends fewer bytes), idempotent with ``acks=all`` as the replayer is.

Child roles: ``--role tap|bare|replay`` print one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _child(cpu: int, role: str, bootstrap: str, *extra: str) -> dict[str, Any]:
    cmd = ["taskset", "-c", str(cpu), sys.executable, __file__, "--role", role]
    cmd += ["--bootstrap", bootstrap, *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode:
        raise RuntimeError(f"{role} failed: {done.stderr.strip()[-2000:]}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def consume(bootstrap: str, kcat: Path | None, n: int, partitions: int, cpu: int) -> dict[str, Any]:
    from bench.tap_throughput import produce

    topic = f"bench.peers.{uuid.uuid4().hex[:8]}"
    produced = produce(bootstrap, topic, n, partitions)
    out: dict[str, Any] = {"messages": n, "partitions": partitions, "producer_msg_per_s": produced}
    args = ("--topic", topic, "--n", str(n))
    out["tap_store"] = _child(cpu, "tap", bootstrap, *args)["rate"]
    out["bare"] = _child(cpu, "bare", bootstrap, *args)["rate"]
    if kcat is not None:
        read = [str(kcat), "-C", "-b", bootstrap, "-o", "beginning", "-e", "-q"]
        out["kcat"] = n / _timed(["taskset", "-c", str(cpu), *read, "-t", topic])
        lines = subprocess.run([*read, "-t", topic, "-f", "x\n"], capture_output=True, check=True)
        read_back = lines.stdout.count(b"\n")
        if read_back != n:
            raise RuntimeError(f"kcat read {read_back} of {n} messages")
    return out


def _timed(cmd: list[str], stdin: Path | None = None) -> float:
    with open(stdin or "/dev/null", "rb") as f:
        t = time.perf_counter()
        subprocess.run(cmd, stdin=f, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        return time.perf_counter() - t


def produce_side(bootstrap: str, kcat: Path | None, n: int, cpu: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="peers-replay-") as tmp:
        lines = Path(tmp) / "messages.tsv"
        out = _child(cpu, "replay", bootstrap, "--n", str(n), "--lines", str(lines))
        if kcat is not None:
            from bench.replay import create_topics

            topic = f"bench.peers.kcat.{uuid.uuid4().hex[:8]}"
            create_topics(bootstrap, topic)
            cmd = ["taskset", "-c", str(cpu), str(kcat), "-P", "-b", bootstrap, "-t", topic]
            cmd += ["-K", "\t", "-X", "enable.idempotence=true", "-X", "acks=all"]
            cmd += ["-X", "linger.ms=5", "-q"]
            out["kcat"] = n / _timed(cmd, stdin=lines)
    return out


# --- child roles --------------------------------------------------------------------------------


def role_tap(bootstrap: str, topic: str, n: int) -> dict[str, Any]:
    from bench.tap_throughput import run_tap
    from console.runtime.daemon import tune_gc
    from console.store import Store

    tune_gc()
    with tempfile.TemporaryDirectory(prefix="peers-tap-") as tmp:
        return {"rate": run_tap(bootstrap, topic, n, Store.open(Path(tmp) / "tap.db"))}


def role_bare(bootstrap: str, topic: str, n: int) -> dict[str, Any]:
    from bench.tap_throughput import bare_loop

    return {"rate": bare_loop(bootstrap, topic, n)}


def role_replay(bootstrap: str, n: int, lines: Path) -> dict[str, Any]:
    from bench.replay import bench_replay, letters

    with lines.open("wb") as f:
        for letter in letters(n, "orders-dlt", "orders"):
            f.write((letter.key or b"") + b"\t" + (letter.payload or b"") + b"\n")
    with tempfile.TemporaryDirectory(prefix="peers-replay-") as tmp:
        r = bench_replay(bootstrap, n, Path(tmp), 0)
    return {
        "replay": r["ledger_rate"],
        "replay_send": r["send_rate"],
        "bare": r["bare_rate"],
        "bare_plain": r["bare_plain_rate"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", choices=["tap", "bare", "replay"], required=True)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", default="")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--lines", type=Path, default=None)
    args = ap.parse_args()
    if args.role == "tap":
        out = role_tap(args.bootstrap, args.topic, args.n)
    elif args.role == "bare":
        out = role_bare(args.bootstrap, args.topic, args.n)
    else:
        out = role_replay(args.bootstrap, args.n, args.lines)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
