"""The harness starts a real Apache Kafka that real clients talk to, and stops it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer

from tests.conftest import free_port_pair, run_cli


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

        bootstrap = status["bootstrap"]
        topic = f"harness.{uuid.uuid4().hex[:8]}"
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        headers = [("x-correlation-id", b"up-42"), ("bin", b"\xff\x00")]
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
