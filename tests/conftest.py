"""Shared fixtures: the real Kafka broker, a fresh store, the CLI in a subprocess.

The broker: ``HANDOFF_KAFKA_BOOTSTRAP`` (set by ``scripts/test`` after ``broker up``) names it;
without it the session starts its own harness broker on a free port. Tests never fake it: if no
broker can be had, they fail with the harness's error.

A test that needs a broker says so by its fixtures: ``kafka_bootstrap`` (the session's broker) or
``kafka_harness`` (brokers of its own, or a command that starts one). Either, directly or through
another fixture, marks it ``kafka``; ``./scripts/test -m "not kafka"`` runs the rest without Java.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from console.runtime.broker import Broker, _answers_metadata
from console.store import Storage, open_store

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair() -> int:
    """A port p such that p and p+1 are both free (broker and controller)."""
    for _ in range(50):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
            except OSError:
                continue
        return p
    raise RuntimeError("no free port pair")


# ``--hypothesis-profile=ci`` (``.ci/run``): the store's state machine (``test_store_machine.py``)
# runs this budget instead of the fast tier's (30 examples of 30 steps); other property tests keep
# their own ``@settings``.
settings.register_profile("ci", max_examples=100, stateful_step_count=50, deadline=None)


_NEEDS_KAFKA = frozenset({"kafka_bootstrap", "kafka_harness"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``kafka`` every test whose fixtures (their whole closure) include a broker's."""
    for item in items:
        if _NEEDS_KAFKA.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.kafka)


class KafkaHarness:
    """Brokers a test starts itself from the harness (Java), and the environment for a command
    that starts its own (``broker up``, ``demo`` without ``--bootstrap``)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._brokers: list[Broker] = []

    @property
    def env(self) -> dict[str, str]:
        """The environment without the session's broker, so a command starts one of its own."""
        return {k: v for k, v in os.environ.items() if k != "HANDOFF_KAFKA_BOOTSTRAP"}

    def broker(self, state_dir: Path | None = None, **kwargs: object) -> Broker:
        """A harness broker (not started) on a free port pair; stopped at the session's end at
        the latest."""
        state = state_dir or self._root / f"broker-{len(self._brokers)}"
        port = kwargs.pop("port", None) or free_port_pair()
        broker = Broker(state, port=port, bound=True, **kwargs)  # type: ignore[arg-type]  # Broker's
        self._brokers.append(broker)
        return broker

    def stop_all(self) -> None:
        for broker in self._brokers:
            with contextlib.suppress(Exception):
                broker.down()


@pytest.fixture(scope="session")
def kafka_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaHarness]:
    harness = KafkaHarness(tmp_path_factory.mktemp("harness"))
    try:
        yield harness
    finally:
        harness.stop_all()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = os.environ.get("HANDOFF_KAFKA_BOOTSTRAP")
    if env:
        assert _answers_metadata(env, timeout=10), f"HANDOFF_KAFKA_BOOTSTRAP={env} does not answer"
        yield env
        return
    broker = Broker(tmp_path_factory.mktemp("kafka"), port=free_port_pair(), bound=True)
    broker.up()
    try:
        yield broker.bootstrap
    finally:
        broker.down()


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses (the broker auto-creates it on first use)."""
    return f"test.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "handoff.db"


# --- the store's backends -------------------------------------------------------------------
#
# A test module that sets ``BACKENDS = ("sqlite", "chdb")``, or a test marked
# ``@pytest.mark.backends("sqlite", "chdb")``, runs once per backend if it takes ``store`` (or
# ``store_url``, ``store_args``, ``backend``): the SQLite file at ``db_path``, and ClickHouse in
# this process (chDB) in a directory of the test's own. Other tests get SQLite only (the SQLite
# engine's own tests: upgrade, guard, window, ...). ``chdb-json`` is chDB where a Collector with
# ``json: true`` made the exporter's tables first (JSON attribute columns: the store reads and
# writes them as it finds them), for the readers' tests that name it.
#
# chDB is one process: a subprocess (``run_cli``, a ``Serve``) cannot open a directory this
# process holds. ``run_cli`` lets go of every chDB store the fixtures opened before it starts
# one (a store reopens its engine by itself on its next write or reader).

BACKENDS_DEFAULT = ("sqlite",)
_chdb_open: list[Storage] = []


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        marked = metafunc.definition.get_closest_marker("backends")
        backends = marked.args if marked else getattr(metafunc.module, "BACKENDS", BACKENDS_DEFAULT)
        metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The store's backend for this test: ``sqlite``, ``chdb`` or ``chdb-json`` (see
    ``BACKENDS``)."""
    return str(request.param)


@pytest.fixture
def store_url(backend: str, db_path: Path, tmp_path: Path) -> str:
    """Where the test's store is: the SQLite file's path, or a ``chdb:///`` URL."""
    if backend == "sqlite":
        return str(db_path)
    url = f"chdb://{tmp_path / 'chdb'}"
    if backend == "chdb-json":
        _collector_made_json_tables(url)
    return url


def _collector_made_json_tables(url: str) -> None:
    """The exporter's tables as a Collector with ``json: true`` makes them (v0.165.1 templates),
    before the console first opens the store."""
    import clickhouse_connect

    from tests.clickhouse_helpers import exporter_table_ddl

    client = clickhouse_connect.get_client(dsn=url)
    try:
        client.command("CREATE DATABASE IF NOT EXISTS otel")
        for statement in exporter_table_ddl("otel", json_tables=True).values():
            client.command(statement)
    finally:
        client.close()


@pytest.fixture
def store_args(store_url: str, backend: str) -> list[str]:
    """The store as a command's options: ``--db PATH`` or ``--store URL``."""
    return ["--db", store_url] if backend == "sqlite" else ["--store", store_url]


@pytest.fixture
def store(store_url: str, backend: str) -> Iterator[Storage]:
    """A fresh store on the test's backend (closed after the test)."""
    opened = open_store(store_url)
    if backend != "sqlite":
        _chdb_open.append(opened)
    try:
        yield opened
    finally:
        opened.close()
        if opened in _chdb_open:
            _chdb_open.remove(opened)


def release_chdb() -> None:
    """Let go of this process's chDB engine (every store the fixtures opened), so another
    process can open its directory."""
    for opened in _chdb_open:
        opened.close()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``handoff-console ARGS`` as a user would, in a subprocess."""
    release_chdb()
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
        input=input,
    )


def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    for f in futures.values():
        f.result(timeout=30)
