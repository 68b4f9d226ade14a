"""kill -9 ``serve`` while the official SDK exporters send over gRPC and HTTP, start it again on
the same ports and file: the store opens intact, what was committed stays, and the exporters'
retries bring in what they emit after the restart."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from console.store import Store
from tests import stored
from tests.conftest import ROOT
from tests.e2e.support import integrity, wait_until
from tests.otlp_helpers import Serve

pytestmark = pytest.mark.e2e

RATE = 150  # spans per second per exporter
DOWN_S = 3.0  # how long the console stays dead


def _load(transport: str, endpoint: str, service: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable, "-m", "tests.e2e.sdk_load", "--transport", transport,
            "--endpoint", endpoint, "--service", service, "--rate", str(RATE),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _seqs(db: Path, service: str, since_ns: int = 0) -> set[int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return {
            int(sp.attributes["load.seq"])
            for sp in stored.spans(conn)
            if sp.service == service
            and sp.attributes.get("load.emitted_ns") is not None
            and sp.attributes["load.emitted_ns"] >= since_ns
        }
    finally:
        conn.close()


def _emitted(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err[-2000:]
    return int(json.loads(out.strip().splitlines()[-1])["emitted"])


def test_kill_9_serve_under_sdk_load_then_restart(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    first = Serve(db).start()
    grpc_port, http_port = first.grpc_port, first.http_port
    loads = {
        "crash-grpc": _load("grpc", f"127.0.0.1:{grpc_port}", "crash-grpc"),
        "crash-http": _load("http", f"http://127.0.0.1:{http_port}", "crash-http"),
    }
    second: Serve | None = None
    try:
        # Both exporters are delivering, and the writer has committed several batches.
        wait_until(
            lambda: all(len(_seqs(db, s)) > 300 for s in loads), 60, "spans from both exporters"
        )
        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
        assert first.proc.returncode == -signal.SIGKILL
        committed = {s: _seqs(db, s) for s in loads}
        assert integrity(db) == "ok"

        time.sleep(DOWN_S)  # the exporters keep emitting; their requests fail and are retried
        second = Serve(
            db, "--otlp-grpc", f"127.0.0.1:{grpc_port}", "--otlp-http", f"127.0.0.1:{http_port}"
        ).start()
        restarted_ns = time.time_ns()
        Store.open(db)  # a second opener (the CLI) sees a handoff-console store, migrated

        # Spans emitted after the restart arrive through the same, unchanged exporters.
        wait_until(
            lambda: all(len(_seqs(db, s, restarted_ns)) > 300 for s in loads),
            60,
            "spans emitted after the restart",
        )
        emitted = {s: _emitted(p) for s, p in loads.items()}
        second.stop()
        assert second.proc is not None and second.proc.returncode == 0, second.stderr
    finally:
        for p in loads.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for s in (first, second):
            if s is not None and s.proc is not None and s.proc.poll() is None:
                s.stop()

    assert integrity(db) == "ok"
    for service, n in emitted.items():
        after = _seqs(db, service)
        assert committed[service] <= after, f"{service}: committed spans lost by the crash"
        # Everything emitted after the restart came in (the last ones flushed at shutdown).
        late = _seqs(db, service, restarted_ns)
        first_late = min(late)
        missing = set(range(first_late, n)) - after
        assert not missing, f"{service}: {len(missing)} spans emitted after the restart missing"
        # No span stored twice (one span per (trace, span) holds across the crash).
        spans = [sp for sp in stored.spans(db) if sp.service == service]
        seqs = {
            sp.attributes["load.seq"] for sp in spans if sp.attributes.get("load.seq") is not None
        }
        dups = len(spans) - len(seqs)
        assert dups == 0
        # What the exporters emitted while the console was down arrives too when their retries
        # (30 s budget, exponential backoff) outlast the restart; on a loaded machine the
        # restart can take longer than the last retry, so that is reported, not asserted.
        print(
            f"{service}: emitted {n}, committed before kill {len(committed[service])}, "
            f"stored after restart {len(after)}, emitted while down and not stored "
            f"{len(set(range(first_late)) - after)}"
        )
