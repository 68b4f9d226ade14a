"""The servers ``bench/peers.py`` runs side by side: ``handoff-console serve`` and Jaeger v2.

Each is a real process started through its own command line and pinned with ``taskset -c CPU``;
the benchmark reads what each stored only through its public face (``Store.counts()`` for
handoff-console, Jaeger's own Prometheus metrics for Jaeger), so nothing here depends on either
one's storage layout. Also: fetching and building the peers (Jaeger from the Go module proxy with
``go``, kcat from the system's packages with ``apt-get``), cached between runs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

__all__ = [
    "JAEGER_VERSION",
    "Jaeger",
    "Serve",
    "build_jaeger",
    "disk_bytes",
    "find_kcat",
    "free_port",
]

ROOT = Path(__file__).resolve().parent.parent
CONFIG = Path(__file__).resolve().parent / "peer_config"
JAEGER_VERSION = "v1.75.0"
JAEGER_MODULE = "github.com/jaegertracing/jaeger/cmd/jaeger"


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "handoff-console" / "peers"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def disk_bytes(path: Path) -> int:
    """Bytes allocated on disk under ``path`` (blocks, not apparent sizes: Badger preallocates)."""
    paths = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_blocks * 512 for p in paths)


def _tail(text: str, lines: int = 15) -> str:
    """The last lines of a tool's error output, addresses left out (they end up in a README)."""
    text = re.sub(r"[a-z]+://[^\s/]+", "<registry>", text)
    return " / ".join(ln.strip() for ln in text.strip().splitlines()[-lines:])


def build_jaeger() -> Path | str:
    """The Jaeger v2 binary (built once, then cached), or the reason it could not be built.

    ``go install`` refuses the module for its replace directives, so it is added as a tool of a
    scratch module and built there (about 4 minutes on two cores the first time).
    """
    where = cache_dir() / f"jaeger-{JAEGER_VERSION}"
    binary = where / "bin" / "jaeger"
    if binary.is_file():
        return binary
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        return "no `go` toolchain on PATH"
    mod = where / "mod"
    mod.mkdir(parents=True, exist_ok=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    steps = []
    if not (mod / "go.mod").exists():
        steps.append([go, "mod", "init", "peers.local/jaeger"])
    steps.append([go, "get", "-tool", f"{JAEGER_MODULE}@{JAEGER_VERSION}"])
    steps.append([go, "build", "-o", str(binary) + ".tmp", JAEGER_MODULE])
    for step in steps:
        print(f"  $ {' '.join(step[1:3])} ...", file=sys.stderr, flush=True)
        done = subprocess.run(step, cwd=mod, capture_output=True, text=True, check=False)
        if done.returncode:
            return f"'go {' '.join(step[1:])}' failed: {_tail(done.stderr)}"
    os.replace(str(binary) + ".tmp", binary)
    return binary


def find_kcat() -> Path | str:
    """kcat from the system's packages (installed with apt-get when missing), or why not."""
    found = shutil.which("kcat")
    if found:
        return Path(found)
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "kcat is not installed and apt-get is not usable here (not root or not Debian)"
    install = ["apt-get", "install", "-y", "-q", "kcat"]
    last = ""
    for step in (install, ["apt-get", "update", "-q"], install):
        done = subprocess.run(step, capture_output=True, text=True, check=False)
        last = done.stderr or done.stdout
        found = shutil.which("kcat")
        if found:
            return Path(found)
    return f"apt-get install kcat failed: {_tail(last)}"


class _Server:
    """A pinned server process: its CPU seconds, RSS (sampled, max kept) and a clean stop."""

    name = "server"
    proc: subprocess.Popen[bytes]
    log: Path

    def _spawn(self, cmd: list[str], cpu: int, env: dict[str, str] | None = None) -> None:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["taskset", "-c", str(cpu), *cmd], stdout=log, stderr=log, env=env, cwd=ROOT
            )
        self.rss_max_mb = 0.0

    def cpu_s(self) -> float:
        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def rss_mb(self) -> float:
        rss = float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20
        self.rss_max_mb = max(self.rss_max_mb, rss)
        return rss

    def _wait_ready(self, ready: Callable[[], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {_tail(self.log.read_text())}")
            if ready():
                return
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not ready in {timeout:.0f} s: {_tail(self.log.read_text())}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Serve(_Server):
    """``handoff-console serve --db DB`` with OTLP/gRPC on a free loopback port."""

    name = "handoff-console serve"

    def __init__(self, workdir: Path, cpu: int = 0) -> None:
        self.db = workdir / "serve.db"
        self.log = workdir / "serve.log"
        self.grpc_port = free_port()
        exe = Path(sys.executable).parent / "handoff-console"
        cmd = [str(exe), "serve", "--db", str(self.db), "--otlp-http", "off"]
        cmd += ["--otlp-grpc", f"127.0.0.1:{self.grpc_port}"]
        cmd += ["--retention-age", "3650d", "--retention-bytes", "1000GB"]
        self._spawn(cmd, cpu)
        self._wait_ready(lambda: "store:" in self.log.read_text())

    def stored(self) -> int:
        """Spans committed, from the store's public ``counts()``."""
        from console.store import Store

        return Store.open(self.db, create=False).counts()["spans"]

    def disk(self) -> int:
        return sum(disk_bytes(p) for p in self.db.parent.glob(self.db.name + "*"))


_SENT = re.compile(r"^otelcol_exporter_sent_spans(?:_total)?\{[^}]*\} ([0-9.e+]+)$", re.M)
_ACCEPTED = re.compile(r"^otelcol_receiver_accepted_spans(?:_total)?\{[^}]*\} ([0-9.e+]+)$", re.M)


class Jaeger(_Server):
    """Jaeger v2 with ``bench/peer_config/jaeger-{storage}.yaml``, all ports on loopback."""

    def __init__(
        self, binary: Path, storage: str, workdir: Path, cpu: int = 0, max_traces: int = 10**7
    ) -> None:
        self.name = f"Jaeger v2 ({storage})"
        self.storage = storage
        self.data = workdir / f"jaeger-{storage}"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log = workdir / f"jaeger-{storage}.log"
        self.grpc_port, self.query_port, self.metrics_port = free_port(), free_port(), free_port()
        env = {
            **os.environ,
            "JAEGER_OTLP_GRPC": f"127.0.0.1:{self.grpc_port}",
            "JAEGER_QUERY_HTTP": f"127.0.0.1:{self.query_port}",
            "JAEGER_QUERY_GRPC": f"127.0.0.1:{free_port()}",
            "JAEGER_METRICS_PORT": str(self.metrics_port),
            "JAEGER_DATA": str(self.data),
            "JAEGER_MAX_TRACES": str(max_traces),
            # Jaeger's OTel SDK otherwise exports its own traces to 127.0.0.1:4317, which is
            # nobody here: retries and error lines on the server's core, not part of the run
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_SDK_DISABLED": "true",
        }
        config = CONFIG / f"jaeger-{storage}.yaml"
        self._spawn([str(binary), "--config", str(config)], cpu, env)
        self.query = httpx.Client(base_url=f"http://127.0.0.1:{self.query_port}", timeout=60)
        self._wait_ready(self._ready)

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.grpc_port), timeout=0.5):
                pass
            return self.query.get("/api/services").status_code == 200
        except (OSError, httpx.HTTPError):
            return False

    def _metric(self, pattern: re.Pattern[str]) -> int:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=30).text
        return int(sum(float(v) for v in pattern.findall(text)))

    def stored(self) -> int:
        """Spans the storage exporter handed to the store without error (Jaeger's own count)."""
        return self._metric(_SENT)

    def accepted(self) -> int:
        return self._metric(_ACCEPTED)

    def disk(self) -> int:
        return disk_bytes(self.data)

    def stop(self) -> None:
        self.query.close()
        super().stop()
