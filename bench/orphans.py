"""Orphans: ``kill -9`` of ``handoff-console demo --headless`` leaves nothing of its family behind.

    python bench/orphans.py [--tries 20] [--after 25] [--grace 15]

Each try starts ``demo --headless --duration 60`` (its own private broker, its own TMPDIR and
topic prefix) and kills it with SIGKILL ``--after`` seconds later, once its services run (they
said so on stderr, or, before they said anything, have existed 5 s): their own handler is in
place. Then it watches every process the demo had started (the broker's JVM, the services
``python -m demo_pipeline``): the broker dies with it (PR_SET_PDEATHSIG, SIGKILL), the services
are sent SIGTERM (PR_SET_PDEATHSIG) and must stop on their own, without a broker or a collector
to flush to. A try passes when none of them is alive ``--grace`` seconds after the kill (issue
28). Prints each try's time until the last one ended, and ``N of N`` against the 15 s floor.
Anything left is killed before the next try. Needs Java (the demo's broker) and ~45 s a try.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.smoke import add_smoke, smoke_sizes  # noqa: E402

RUNNING = "services running on"  # what the services say on stderr once every one has started


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _describe(p: psutil.Process) -> str:
    line = _cmdline(p)
    return f"{p.pid} {'demo_pipeline' if 'demo_pipeline' in line else line[:60]}"


def _services_up(demo_pid: int, log: Path) -> bool:
    if RUNNING in log.read_text(errors="replace"):
        return True
    kids = psutil.Process(demo_pid).children(recursive=True)
    services = [p for p in kids if "demo_pipeline" in _cmdline(p)]
    return any(time.time() - p.create_time() >= 5 for p in services)  # older ones say nothing


def _own_broker_env() -> dict[str, str]:
    """The environment without an existing cluster: the demo starts its own broker."""
    return {k: v for k, v in os.environ.items() if k != "HANDOFF_KAFKA_BOOTSTRAP"}


def one_try(
    n: int, after: float, grace: float, work: Path, bootstrap: str | None = None
) -> tuple[bool, float, str]:
    """(passed, seconds from the kill until the last of the family ended, what was left)."""
    tmpdir = work / f"try{n}"
    tmpdir.mkdir()
    log = (tmpdir / "demo.log").open("wb")
    started = time.monotonic()
    demo = subprocess.Popen(
        [sys.executable, "-m", "console", "demo", "--headless", "--duration", "60", "--json",
         "--db", str(tmpdir / "h.db"), "--topic-prefix", f"orphans{uuid.uuid4().hex[:6]}",
         *(["--bootstrap", bootstrap] if bootstrap else [])],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
        env={**_own_broker_env(), "TMPDIR": str(tmpdir)},
    )  # fmt: skip
    family: list[psutil.Process] = []
    try:
        deadline = started + 240
        while time.monotonic() < deadline and demo.poll() is None:
            if _services_up(demo.pid, tmpdir / "demo.log") and time.monotonic() - started >= after:
                break
            time.sleep(0.2)
        else:
            tail = (tmpdir / "demo.log").read_text(errors="replace").strip().splitlines()[-3:]
            return False, 0.0, f"the demo's services never ran ({demo.poll()}): {tail}"
        family = psutil.Process(demo.pid).children(recursive=True)
        demo.kill()
        killed = time.monotonic()
        demo.wait()
        while time.monotonic() - killed < grace and any(_alive(p) for p in family):
            time.sleep(0.1)
        gone_in = time.monotonic() - killed
        left = [p for p in family if _alive(p)]
        return not left, gone_in, ", ".join(_describe(p) for p in left)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for p in family:
            if _alive(p):
                p.kill()
        psutil.wait_procs(family, timeout=30)
        log.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tries", type=int, default=20)
    ap.add_argument("--after", type=float, default=25.0, help="seconds before kill -9")
    ap.add_argument("--grace", type=float, default=15.0, help="seconds allowed after it")
    ap.add_argument(
        "--bootstrap", help="a running broker for the demo (not its family): else its own"
    )
    add_smoke(ap)
    args = smoke_sizes(ap.parse_args(), tries=1, after=1.0)
    work = Path(tempfile.mkdtemp(prefix="handoff-orphans-"))
    passed, times = 0, []
    try:
        for n in range(1, args.tries + 1):
            ok, gone_in, left = one_try(n, args.after, args.grace, work, args.bootstrap)
            passed += ok
            times.append(gone_in)
            verdict = "all gone" if ok else f"LEFT RUNNING: {left}"
            print(f"try {n}: {verdict}, last one ended {gone_in:.1f} s after kill -9", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"no process of the family alive {args.grace:g} s after kill -9 in {passed} of "
        f"{args.tries} tries; slowest {max(times, default=0):.1f} s "
        f"(floor {args.grace:g} s)"
    )
    sys.exit(0 if passed == args.tries else 1)


if __name__ == "__main__":
    main()
