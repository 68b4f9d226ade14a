"""The harness starts a real Apache Kafka that real clients talk to, and stops it.

It runs the default 4.x release unless ``--kafka-version`` / ``HANDOFF_KAFKA_VERSION`` names
another; 3.9.1 is checked here too (log4j 1 vs log4j2, static vs dynamic quorum, its own jars).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from console.runtime.kafka_release import DEFAULT_KAFKA_VERSION, default_kafka_version
from tests.conftest import free_port_pair, run_cli

OLD_LINE = "3.9.1"


def _assert_broker_log_clean(state: Path) -> None:
    """The broker logged through the configuration the harness wrote: the startup line in the
    harness's pattern, and no complaint about logging or about a setting it does not know."""
    log = (state / "broker.log").read_text(errors="replace")
    assert re.search(
        r"^\[[^\]]+\] INFO .*Kafka Server started \(kafka\.server\.KafkaRaftServer\)$", log, re.M
    ), log
    for noise in ("SLF4J:", "log4j:WARN", "StatusLogger", "not used", "Unknown", "ERROR"):
        assert noise not in log, f"{noise!r} in the broker log:\n{log}"


@pytest.mark.usefixtures("kafka_harness")  # `broker up` runs Java
def test_up_round_trip_status_down(tmp_path: Path) -> None:
    port = free_port_pair()
    state = str(tmp_path / "broker")
    args = ["--port", str(port), "--state-dir", state]

    up = run_cli("broker", "up", *args, timeout=180)
    assert up.returncode == 0, up.stderr
    try:
        st = run_cli("broker", "status", "--json", *args)
        status = json.loads(st.stdout)
        assert st.returncode == 0
        assert status["running"] is True
        assert status["bootstrap"] == f"127.0.0.1:{port}"
        assert status["version"] == default_kafka_version()
        # Without --port, status asks the broker its state directory holds.
        by_dir = run_cli("broker", "status", "--json", "--state-dir", state)
        assert by_dir.returncode == 0, by_dir.stdout
        assert json.loads(by_dir.stdout)["bootstrap"] == f"127.0.0.1:{port}"
        assert f"Kafka {default_kafka_version()} running on 127.0.0.1:{port}" in up.stdout
        _assert_broker_log_clean(Path(state))

        bootstrap = status["bootstrap"]
        topic = f"harness.{uuid.uuid4().hex[:8]}"
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        headers: list[tuple[str, str | bytes | None]] = [
            ("x-correlation-id", b"up-42"),
            ("bin", b"\xff\x00"),
        ]
        delivered = []
        producer.produce(
            topic,
            key=b"k",
            value=b'{"hello": 1}',
            headers=headers,
            on_delivery=lambda err, msg: delivered.append(err),
        )
        assert producer.flush(30) == 0
        assert delivered == [None]

        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "harness-test",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.subscribe([topic])
        msg = None
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error():
                break
        consumer.close()
        assert msg is not None and msg.error() is None
        assert msg.value() == b'{"hello": 1}'
        assert msg.key() == b"k"
        assert msg.headers() == headers

        again = run_cli("broker", "up", *args)  # idempotent: already running
        assert again.returncode == 0, again.stderr
    finally:
        down = run_cli("broker", "down", *args)
    assert down.returncode == 0
    assert "stopped" in down.stdout
    st = run_cli("broker", "status", "--json", *args)
    assert st.returncode == 1
    assert json.loads(st.stdout)["running"] is False


def test_missing_java_names_what_to_install(tmp_path: Path) -> None:
    port = free_port_pair()
    result = run_cli(
        "broker",
        "up",
        "--port",
        str(port),
        "--state-dir",
        str(tmp_path / "b"),
        env={"PATH": "/nonexistent"},
    )
    assert result.returncode == 1
    line = result.stderr.strip()
    assert line.count("\n") == 0
    assert "java not found" in line
    assert "--bootstrap" in line and "HANDOFF_KAFKA_BOOTSTRAP" in line


def _jar_names(cache: Path, version: str) -> set[str]:
    return {p.name for p in (cache / "handoff-console" / "kafka" / version / "libs").iterdir()}


@pytest.mark.usefixtures("kafka_harness")  # `broker up` runs Java
def test_kafka_version_runs_that_release_from_its_own_jar_cache(tmp_path: Path) -> None:
    """``--kafka-version 3.9.1`` and ``HANDOFF_KAFKA_VERSION`` (the default 4.x here) each run
    their own release, with jars fetched once into a directory per version; a state directory
    formatted by one release is refused by the other, with the way out in the message."""
    cache = tmp_path / "cache"
    env = {"XDG_CACHE_HOME": str(cache), "HANDOFF_KAFKA_VERSION": ""}
    old_state, new_state = tmp_path / "old", tmp_path / "new"
    port = free_port_pair()
    old = ["--port", str(port), "--state-dir", str(old_state)]

    up = run_cli("broker", "up", *old, "--kafka-version", OLD_LINE, env=env, timeout=300)
    assert up.returncode == 0, up.stderr
    try:
        assert f"Kafka {OLD_LINE} running" in up.stdout
        assert f"fetching Apache Kafka {OLD_LINE} jars" in up.stderr
        st = run_cli("broker", "status", "--json", *old, env=env)
        assert st.returncode == 0
        assert json.loads(st.stdout)["version"] == OLD_LINE
        _assert_broker_log_clean(old_state)
    finally:
        assert run_cli("broker", "down", *old, env=env).returncode == 0
    jars = _jar_names(cache, OLD_LINE)
    assert f"kafka_2.13-{OLD_LINE}.jar" in jars
    assert "slf4j-reload4j-1.7.36.jar" in jars  # 3.9 logs through log4j 1 (reload4j)
    assert not any(j.startswith("log4j-core") for j in jars)

    # The default release, named through the environment, on the 3.9.1 state directory: refused.
    new_env = {**env, "HANDOFF_KAFKA_VERSION": DEFAULT_KAFKA_VERSION}
    clash = run_cli("broker", "up", *old, env=new_env)
    assert clash.returncode == 1
    line = clash.stderr.strip()
    assert line.count("\n") == 0, line
    assert f"Kafka {OLD_LINE} broker formatted {old_state}" in line
    assert f"--kafka-version {OLD_LINE}" in line and "--state-dir" in line
    # ... and status still says which release the data belongs to.
    assert (
        json.loads(run_cli("broker", "status", "--json", *old, env=new_env).stdout)["version"]
        == OLD_LINE
    )

    new = ["--port", str(port), "--state-dir", str(new_state)]
    up = run_cli("broker", "up", *new, env=new_env, timeout=300)
    assert up.returncode == 0, up.stderr
    try:
        assert f"Kafka {DEFAULT_KAFKA_VERSION} running" in up.stdout
        st = run_cli("broker", "status", "--json", *new, env=new_env)
        assert json.loads(st.stdout)["version"] == DEFAULT_KAFKA_VERSION
        _assert_broker_log_clean(new_state)
        # 4.x: a dynamic quorum, which the storage format had to be told about (--standalone).
        assert (
            "controller.quorum.bootstrap.servers=" in (new_state / "server.properties").read_text()
        )
    finally:
        assert run_cli("broker", "down", *new, env=new_env).returncode == 0
    jars = _jar_names(cache, DEFAULT_KAFKA_VERSION)
    assert f"kafka_2.13-{DEFAULT_KAFKA_VERSION}.jar" in jars
    assert any(j.startswith("log4j-core-2.") for j in jars)  # 4.x logs through log4j2
    assert "slf4j-reload4j-1.7.36.jar" not in jars
    assert f"kafka_2.13-{OLD_LINE}.jar" in _jar_names(cache, OLD_LINE)  # left as it was

    # A second start of the same release fetches nothing.
    again = run_cli("broker", "up", *old, "--kafka-version", OLD_LINE, env=env, timeout=300)
    try:
        assert again.returncode == 0, again.stderr
        assert "fetching" not in again.stderr
    finally:
        run_cli("broker", "down", *old, env=env)


def test_unsupported_kafka_version_is_refused_in_one_line(tmp_path: Path) -> None:
    cases = {
        "3.8.1": f"Kafka 3.8.1 is not supported; the harness runs 3.9.x or 4.x "
        f"(default {DEFAULT_KAFKA_VERSION})",
        "4.x": "'4.x' is not a release number like 4.1.1",
    }
    for version, says in cases.items():
        args = ["--port", str(free_port_pair()), "--state-dir", str(tmp_path)]
        result = run_cli("broker", "up", *args, "--kafka-version", version)
        assert result.returncode == 2, result.stderr
        line = result.stderr.strip()
        assert line.count("\n") == 0, line
        assert "--kafka-version" in line and says in line, line
        assert not (tmp_path / "data").exists()
