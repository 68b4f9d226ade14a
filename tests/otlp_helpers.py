"""A real ``handoff-console serve`` in a subprocess, on ports the OS picks, for the OTLP tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from console.store import Store

ROOT = Path(__file__).resolve().parent.parent
_LISTEN = re.compile(r"OTLP/(gRPC|HTTP) listening on (\S+):(\d+)")


class Serve:
    """``with Serve(db, ...) as s:`` starts ``serve`` and reads the ports it prints."""

    def __init__(self, db: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.args = args
        self.env = env or {}
        self.grpc_port: int | None = None
        self.http_port: int | None = None
        self.stderr = ""
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Serve:
        cmd = [sys.executable, "-m", "console", "serve", "--db", str(self.db)]
        if not any(a.startswith("--otlp-grpc") for a in self.args):
            cmd += ["--otlp-grpc", "127.0.0.1:0"]
        if not any(a.startswith("--otlp-http") for a in self.args):
            cmd += ["--otlp-http", "127.0.0.1:0"]
        env = {k: v for k, v in os.environ.items() if k != "HANDOFF_AUTH_TOKEN"}
        self.proc = subprocess.Popen(
            [*cmd, *self.args],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env={**env, **self.env},
        )
        deadline = time.monotonic() + 30
        assert self.proc.stderr is not None
        lines = []
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError("serve exited early: " + "".join(lines))
            lines.append(line)
            m = _LISTEN.search(line)
            if m and m.group(1) == "gRPC":
                self.grpc_port = int(m.group(3))
            elif m:
                self.http_port = int(m.group(3))
            if line.startswith("store:"):
                return self
        raise AssertionError("serve did not start: " + "".join(lines))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the daemon and wait; returns its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        return self.proc.returncode

    def __enter__(self) -> Serve:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.stop()

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


def rows(db: Path, sql: str, *params: Any) -> list[Any]:
    conn = Store.open(db).connect(readonly=True)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()
