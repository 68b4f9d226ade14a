"""The real OpenTelemetry Collector as the producer: Jaeger v2 (its build of the Collector, with
the ``kafka`` exporter) and telemetrygen, both built with ``go`` from the Go module proxy once and
cached under ``~/.cache/handoff-console/peers`` (where ``bench/peers.py`` keeps the same Jaeger).

``jaeger_binary()`` and ``telemetrygen_binary()`` build on first use (Jaeger about 4 minutes on
two cores, telemetrygen about 1) and raise ``RuntimeError`` with go's own error when they cannot:
a test that needs them fails, it is never skipped. ``KafkaCollector`` runs Jaeger with an OTLP/gRPC
receiver on a free loopback port, ``batch``, and the ``kafka`` exporter at the harness broker.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["KafkaCollector", "jaeger_binary", "telemetrygen", "telemetrygen_binary"]

JAEGER_VERSION = "v1.75.0"
JAEGER_MODULE = "github.com/jaegertracing/jaeger/cmd/jaeger"
# Jaeger v1.75.0 is built on the Collector (contrib) v0.139.0, but the proxy does not serve
# telemetrygen v0.139.0 (403 "not available"); any release speaks the same OTLP.
TELEMETRYGEN_VERSION = "v0.161.0"
TELEMETRYGEN_MODULE = "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen"

_CONFIG = """\
service:
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [kafka]}
    metrics: {receivers: [otlp], processors: [batch], exporters: [kafka]}
    logs: {receivers: [otlp], processors: [batch], exporters: [kafka]}
  telemetry:
    metrics: {level: none}
    logs: {level: warn}
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:${env:OTLP_PORT}"}
processors:
  batch: {}
exporters:
  kafka:
    brokers: ["${env:KAFKA_BROKERS}"]
    traces: {topic: "${env:TOPIC_SPANS}", encoding: "${env:ENCODING}"}
    metrics: {topic: "${env:TOPIC_METRICS}", encoding: "${env:ENCODING}"}
    logs: {topic: "${env:TOPIC_LOGS}", encoding: "${env:ENCODING}"}
"""


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "handoff-console" / "peers"


def _go() -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise RuntimeError("no `go` toolchain on PATH: the Collector peers cannot be built")
    return go


def _run(step: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        step, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    if done.returncode:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"`{' '.join(step)}` failed:\n{tail}")


def jaeger_binary() -> Path:
    """Jaeger v2: ``go install`` refuses its replace directives, so it is a tool of a scratch
    module, built there."""
    where = cache_dir() / f"jaeger-{JAEGER_VERSION}"
    binary = where / "bin" / "jaeger"
    if binary.is_file():
        return binary
    go, mod = _go(), where / "mod"
    mod.mkdir(parents=True, exist_ok=True)
    binary.parent.mkdir(parents=True, exist_ok=True)
    if not (mod / "go.mod").exists():
        _run([go, "mod", "init", "peers.local/jaeger"], mod)
    _run([go, "get", "-tool", f"{JAEGER_MODULE}@{JAEGER_VERSION}"], mod)
    _run([go, "build", "-o", f"{binary}.tmp", JAEGER_MODULE], mod)
    os.replace(f"{binary}.tmp", binary)
    return binary


def telemetrygen_binary() -> Path:
    where = cache_dir() / f"telemetrygen-{TELEMETRYGEN_VERSION}" / "bin"
    binary = where / "telemetrygen"
    if binary.is_file():
        return binary
    where.mkdir(parents=True, exist_ok=True)
    _run(
        [_go(), "install", f"{TELEMETRYGEN_MODULE}@{TELEMETRYGEN_VERSION}"],
        where,
        {"GOBIN": str(where)},
    )
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class KafkaCollector:
    """Jaeger v2 as an OTLP/gRPC -> batch -> kafka exporter pipeline (a context manager)."""

    def __init__(
        self, workdir: Path, bootstrap: str, topics: dict[str, str], encoding: str = "otlp_proto"
    ) -> None:
        self.binary = jaeger_binary()
        self.port = _free_port()
        self.config = workdir / "collector.yaml"
        self.config.write_text(_CONFIG)
        self.log = workdir / "collector.log"
        self.env = {
            **os.environ,
            "OTLP_PORT": str(self.port),
            "KAFKA_BROKERS": bootstrap,
            "TOPIC_SPANS": topics["traces"],
            "TOPIC_METRICS": topics["metrics"],
            "TOPIC_LOGS": topics["logs"],
            "ENCODING": encoding,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> KafkaCollector:
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), "--config", str(self.config)],
                stdout=log,
                stderr=log,
                env=self.env,
            )
        deadline = time.monotonic() + 60
        while not _listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Collector did not start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        """SIGTERM: the Collector flushes its batch processor and exporter queue first."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def telemetrygen(signal_name: str, endpoint: str, *args: str, timeout: float = 180) -> None:
    """Run ``telemetrygen SIGNAL`` against ``endpoint`` (OTLP/gRPC, plaintext) to the end."""
    cmd = [str(telemetrygen_binary()), signal_name, "--otlp-endpoint", endpoint, "--otlp-insecure"]
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"telemetrygen {signal_name} failed:\n{done.stderr[-2000:]}")
