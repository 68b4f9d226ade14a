"""A real Prometheus Alertmanager for the alert tests: ``github.com/prometheus/alertmanager``
v0.35.0 built with ``go build`` from the Go module proxy once and cached under
``~/.cache/handoff-console/peers`` (beside the Jaeger peer of ``otlp_peers.py``).

The module ships without its built web UI, which ``ui/web.go`` embeds (``//go:embed app/dist``
and ``fs.Sub`` of ``app/dist/elm`` and ``app/dist/mantine``). The build copies the module and puts
one placeholder page in each of those folders; the API (``/api/v2``) is whole. The first build
takes minutes on two cores; a build that fails raises ``RuntimeError`` with go's own error, so a
test that needs Alertmanager fails, it is never skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.otlp_peers import cache_dir

__all__ = ["ALERTMANAGER_VERSION", "Alertmanager", "alertmanager_binary"]

ALERTMANAGER_VERSION = "v0.35.0"
ALERTMANAGER_MODULE = "github.com/prometheus/alertmanager"

# One receiver that sends nowhere: the tests read alerts back through the API.
_CONFIG = """\
route:
  receiver: nowhere
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: nowhere
"""


def _go() -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise RuntimeError("no `go` toolchain on PATH: Alertmanager cannot be built")
    return go


def _run(step: list[str], cwd: Path) -> str:
    done = subprocess.run(step, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(step)}` failed:\n{tail}")
    return done.stdout


def _writable(tree: Path) -> None:
    """The module cache is read-only; the copy must take the placeholder pages."""
    for root, dirs, files in os.walk(tree):
        for name in [*dirs, *files]:
            p = Path(root) / name
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    tree.chmod(tree.stat().st_mode | stat.S_IWUSR)


def alertmanager_binary() -> Path:
    where = cache_dir() / f"alertmanager-{ALERTMANAGER_VERSION}"
    binary = where / "bin" / "alertmanager"
    if binary.is_file():
        return binary
    go = _go()
    where.mkdir(parents=True, exist_ok=True)
    pinned = f"{ALERTMANAGER_MODULE}@{ALERTMANAGER_VERSION}"
    listing = _run([go, "mod", "download", "-json", pinned], where)
    module_dir = Path(json.loads(listing)["Dir"])
    src = where / "src"
    if src.exists():
        _writable(src)
        shutil.rmtree(src)
    shutil.copytree(module_dir, src)
    _writable(src)
    for ui in ("elm", "mantine"):
        page = src / "ui" / "app" / "dist" / ui / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<!doctype html><title>Alertmanager (built without its UI)</title>\n")
    binary.parent.mkdir(parents=True, exist_ok=True)
    _run([go, "build", "-o", f"{binary}.tmp", "./cmd/alertmanager"], src)
    os.replace(f"{binary}.tmp", binary)
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Alertmanager:
    """Alertmanager on a free loopback port with its own data directory (a context manager)."""

    def __init__(self, workdir: Path) -> None:
        self.binary = alertmanager_binary()
        self.port = _free_port()
        self.cluster_port = _free_port()
        self.workdir = workdir
        self.log = workdir / "alertmanager.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Alertmanager:
        config = self.workdir / "alertmanager.yml"
        config.write_text(_CONFIG)
        cmd = [
            str(self.binary),
            f"--config.file={config}",
            f"--storage.path={self.workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Alertmanager did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def _ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def alerts(self, **params: str) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts`` (active, silenced and inhibited by default)."""
        got = httpx.get(f"{self.url}/api/v2/alerts", params=params, timeout=5)
        got.raise_for_status()
        alerts: list[dict[str, Any]] = got.json()
        return alerts

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
