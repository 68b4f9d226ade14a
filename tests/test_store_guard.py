"""One writing process per store (issue 24, "What to build" 4): a second writer is refused in one
line naming the first (pid, command) and ``--attach``; the guard dies with its process."""

from __future__ import annotations

import signal
from pathlib import Path

from console.store import Store
from tests.conftest import run_cli
from tests.otlp_helpers import Serve

_ADDRS = ("--otlp-grpc", "127.0.0.1:0", "--otlp-http", "127.0.0.1:0")


def test_a_second_writer_is_refused_naming_the_first(tmp_path: Path) -> None:
    """On aabd1af a ``serve`` and a ``tui`` without ``--attach`` both wrote the file, each with
    its own retention and duplicates window."""
    db = tmp_path / "h.db"
    with Serve(db) as first:
        assert first.proc is not None
        for second in (["serve", *_ADDRS], ["tui", *_ADDRS]):
            result = run_cli(*second, "--db", str(db), timeout=30)
            assert result.returncode == 1, result.stderr
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1, lines
            assert f"pid {first.proc.pid} (handoff-console serve --db {db}" in lines[0]
            assert "--attach" in lines[0]
        # readers are not writers: they go on working beside it
        assert run_cli("stats", "--db", str(db), "--json").returncode == 0


def test_the_guard_dies_with_its_process_even_under_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    first = Serve(db).start()
    first.stop(signal.SIGKILL)
    with Serve(db) as second:  # starts: no stale guard is left behind
        assert second.proc is not None and second.proc.poll() is None
    with Store.open(db).writer() as w:  # and once it stopped, this process may write
        assert not w.failing
