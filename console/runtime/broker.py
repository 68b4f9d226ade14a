"""The Kafka harness: a real single-node Apache Kafka in KRaft mode, from the official jars.

The jars (``org.apache.kafka:kafka_2.13`` at the chosen version, its runtime dependencies and a
logging binding) are fetched once per version from Maven Central with ``mvn
dependency:copy-dependencies`` into ``<cache>/<version>/libs``. The version is ``KAFKA_VERSION``
(the default, a 4.x release) unless ``--kafka-version`` / ``HANDOFF_KAFKA_VERSION`` names another;
``console.runtime.kafka_release`` holds what differs between 3.9 and 4.x. The broker runs as a
combined broker+controller with the machine's Java, its data, logs and pid file under a state
directory, listening on 127.0.0.1 only. The state directory records which release formatted its
data, and a broker of another release refuses to start on it (4.x cannot be downgraded, and its
quorum is configured differently).

Why ~400 lines in one room: one broker's lifecycle (fetch the jars, write the config, format,
start, wait until it answers, stop its process group) and the process probes only ``up`` and
``down`` use (signals, zombies, the port, a metadata request); split, each half would reach into
the other's state.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.base.config import jar_cache_dir
from console.base.errors import BrokerError
from console.runtime.broker_owner import bound_command, claim, die_with, owner_alive
from console.runtime.kafka_release import (
    DEFAULT_KAFKA_VERSION,
    KafkaRelease,
    default_kafka_version,
    release,
)
from console.runtime.stop_signals import Stopped

__all__ = ["KAFKA_VERSION", "Broker", "default_kafka_version", "ensure_jars"]

KAFKA_VERSION = DEFAULT_KAFKA_VERSION  # the default; kept under its old name for importers

_NO_CLUSTER_HINT = (
    "or point every command at an existing cluster with --bootstrap (env HANDOFF_KAFKA_BOOTSTRAP)"
)


def _require(tool: str, what: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BrokerError(
            f"{tool} not found: install {what} to run the Kafka harness, {_NO_CLUSTER_HINT}"
        )
    return path


def ensure_jars(
    cache_dir: Path | None = None, *, quiet: bool = False, version: str | None = None
) -> Path:
    """The directory holding one Kafka release's jars, fetching them from Maven Central once.

    Each version has its own directory (``<cache>/<version>/libs``); a directory fetched for a
    different dependency list (an older harness's POM) is fetched again.
    """
    rel = release(version or default_kafka_version())
    pom = rel.pom()
    base = (cache_dir or jar_cache_dir()) / rel.version
    libs = base / "libs"
    marker = base / "complete"
    pom_file = base / "pom.xml"
    if marker.exists() and pom_file.exists() and pom_file.read_text() == pom:
        return libs
    mvn = _require("mvn", "Maven (apt-get install maven)")
    base.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    pom_file.write_text(pom)
    tmp = base / "libs.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [mvn, "-q", "-B", "dependency:copy-dependencies", f"-DoutputDirectory={tmp}"]
    if not quiet:
        print(f"fetching Apache Kafka {rel.version} jars from Maven Central ...", file=sys.stderr)
    proc = subprocess.run(cmd, cwd=base, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise BrokerError(
            f"mvn could not fetch the Kafka {rel.version} jars (exit {proc.returncode}):\n{tail}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    marker.write_text(rel.version)
    return libs


@dataclass(frozen=True)
class BrokerStatus:
    running: bool
    bootstrap: str
    pid: int | None
    state_dir: str
    version: str = KAFKA_VERSION

    def as_dict(self) -> dict[str, object]:
        return {
            "running": self.running,
            "bootstrap": self.bootstrap,
            "pid": self.pid,
            "state_dir": self.state_dir,
            "version": self.version,
        }


class Broker:
    """One harness broker, identified by its state directory."""

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 9092,
        controller_port: int | None = None,
        host: str = "127.0.0.1",
        cache_dir: Path | None = None,
        version: str | None = None,
        bound: bool = False,
    ) -> None:
        """``bound``: the broker belongs to this process (``console.runtime.broker_owner``): its JVM
        dies with the thread that starts it, and a later start cleans up after a killed owner."""
        self.release: KafkaRelease = release(version or default_kafka_version())
        self.state_dir = Path(state_dir)
        self.host = host
        self.port = port
        self.controller_port = controller_port or port + 1
        self.cache_dir = cache_dir
        self.bound = bound

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @staticmethod
    def configured_port(state_dir: Path) -> int | None:
        """The listener port of the broker last configured in ``state_dir`` (its
        ``server.properties``), or None: ``status`` and ``down`` without ``--port`` ask the
        broker that directory holds, not one on the default port."""
        try:
            text = (Path(state_dir) / "server.properties").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("listeners="):
                for listener in line.partition("=")[2].split(","):
                    if listener.startswith("PLAINTEXT://"):
                        port = listener.rpartition(":")[2]
                        return int(port) if port.isdigit() else None
        return None

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "broker.log"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"

    @property
    def version(self) -> str:
        """The Kafka release this harness runs (``--kafka-version``, ``HANDOFF_KAFKA_VERSION``)."""
        return self.release.version

    @property
    def _version_file(self) -> Path:
        return self.state_dir / "kafka.version"

    def data_version(self) -> str | None:
        """The release that formatted the data under the state directory, None when unformatted.

        Data from before the harness recorded it was written by 3.9.1, the only release it ran.
        """
        if not (self.data_dir / "meta.properties").exists():
            return None
        try:
            return self._version_file.read_text().strip() or "3.9.1"
        except OSError:
            return "3.9.1"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        if _is_zombie(pid):
            return None
        return pid

    def status(self) -> BrokerStatus:
        pid = self._pid()
        running = pid is not None and _answers_metadata(self.bootstrap, timeout=3.0)
        version = self.data_version() or self.version
        return BrokerStatus(running, self.bootstrap, pid, str(self.state_dir), version)

    def _write_config(self) -> Path:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        props = self.state_dir / "server.properties"
        rel = self.release
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    *rel.quorum_config(self.host, self.controller_port),
                    f"listeners=PLAINTEXT://{self.host}:{self.port},"
                    f"CONTROLLER://{self.host}:{self.controller_port}",
                    "advertised.listeners="
                    + rel.advertised_listeners(self.host, self.port, self.controller_port),
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data_dir}",
                    "num.partitions=1",
                    "auto.create.topics.enable=true",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=4",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "log.retention.hours=24",
                    *rel.extra_config(),
                    "",
                ]
            )
        )
        (self.state_dir / rel.log_config_name).write_text(rel.log_config)
        return props

    def _java(self, libs: Path, *args: str) -> list[str]:
        java = _require("java", "a Java 17 runtime (apt-get install openjdk-17-jre-headless)")
        logging = self.release.log_jvm_flag(str(self.state_dir / self.release.log_config_name))
        return [java, "-Xms256m", "-Xmx1g", logging, "-cp", f"{libs}/*", *args]

    def up(
        self, timeout: float = 90.0, stopping: Callable[[], bool] = lambda: False
    ) -> BrokerStatus:
        """Start the broker (idempotent) and return once it answers a metadata request.

        ``Stopped`` once ``stopping()`` is true while it waits for the broker to answer (the
        broker is left running: ``down`` stops it)."""
        if owner_alive(self.state_dir) is False:  # its owner is gone: a stale broker
            self.down()
        current = self.status()
        data_version = self.data_version()
        if data_version is not None and data_version != self.version:
            what = "runs from" if current.running else "formatted"
            raise BrokerError(
                f"a Kafka {data_version} broker {what} {self.state_dir}; start it with "
                f"--kafka-version {data_version}, or stop it and pick another --state-dir "
                f"(or remove that directory) for Kafka {self.version}"
            )
        if current.running:
            return current
        if current.pid is not None:
            raise BrokerError(
                f"a broker process (pid {current.pid}) holds {self.state_dir} but does not answer; "
                "run 'handoff-console broker down' first"
            )
        _require("java", "a Java 17 runtime (apt-get install openjdk-17-jre-headless)")
        if _port_open(self.host, self.port):
            raise BrokerError(
                f"{self.bootstrap} is already taken by another process; pick --port, "
                f"{_NO_CLUSTER_HINT}"
            )
        libs = ensure_jars(self.cache_dir, version=self.version)
        props = self._write_config()
        if not (self.data_dir / "meta.properties").exists():
            cluster_id = _cluster_id()
            fmt = subprocess.run(
                self._java(libs, *self.release.format_args(cluster_id, str(props))),
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                raise BrokerError(f"formatting Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")
            self._version_file.write_text(self.version)
        if self.bound:
            claim(self.state_dir)
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child process
        try:
            cmd = self._java(libs, "kafka.Kafka", str(props))
            wrapped = bound_command(cmd) if self.bound else None
            proc = subprocess.Popen(
                wrapped or cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=die_with(os.getpid()) if self.bound and wrapped is None else None,
            )
        finally:
            log.close()
        self.pid_file.write_text(str(proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(
                    f"the Kafka broker exited with code {proc.returncode}:\n{self.log_tail()}"
                )
            if stopping():
                raise Stopped(f"stopped while the Kafka broker on {self.bootstrap} was starting")
            if _answers_metadata(self.bootstrap, timeout=2.0):
                return self.status()
            time.sleep(0.5)
        raise BrokerError(
            f"the Kafka broker did not answer on {self.bootstrap} within {timeout:.0f}s:\n"
            f"{self.log_tail()}"
        )

    def down(self, timeout: float = 30.0) -> bool:
        """Stop the broker this harness started. Returns False when none was running."""
        pid = self._pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.2)
        else:
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no broker log)"
        return "\n".join(text.splitlines()[-lines:])


def _cluster_id() -> str:
    """A random Kafka cluster id (a UUID, URL-safe base64) that does not start with ``-``:
    kafka-storage would read one that does as an option (1 run in 64 failed to format)."""
    import base64

    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not _is_zombie(pid)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _answers_metadata(bootstrap: str, timeout: float) -> bool:
    host, _, port = bootstrap.rpartition(":")
    if not _port_open(host, int(port)):
        return False
    from confluent_kafka.admin import AdminClient

    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "log_level": 0,
        "logger": _quiet_logger(),
    }
    admin = AdminClient(conf)
    try:
        md = admin.list_topics(timeout=timeout)
    except Exception:
        return False
    return bool(md.brokers)


def _quiet_logger() -> object:
    import logging

    logger = logging.getLogger("handoff.kafka.harness")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger
