"""The security pass: loopback listeners unless told, bearer token and TLS on both receivers
(with the official SDK exporters), an owner-only store, no payload or header value in logs at
INFO, and every replay, fix and discard audited with the OS user."""

from __future__ import annotations

import collections
import json
import os
import pwd
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from confluent_kafka import Producer

from console.store import Store
from tests import stored
from tests.conftest import ROOT, create_topic, run_cli
from tests.dlq_headers_fixture import spring_dlt_headers
from tests.dlq_helpers import write_contract
from tests.e2e.support import Tap, wait_until
from tests.otlp_helpers import Serve, count, trace_request
from tests.test_otlp_security import _self_signed

pytestmark = pytest.mark.e2e

TOKEN = "e2e-" + uuid.uuid4().hex


def _listening(pid: int) -> set[str]:
    """The addresses a process listens on (IPv4-mapped IPv6 written as IPv4, ``::`` as all)."""
    out = set()
    for c in psutil.Process(pid).net_connections(kind="inet"):
        if c.status == psutil.CONN_LISTEN:
            ip = c.laddr.ip.removeprefix("::ffff:")
            out.add("0.0.0.0" if ip == "::" else ip)
    return out


def test_listeners_bind_loopback_unless_told(tmp_path: Path) -> None:
    helped = run_cli("serve", "--help")
    assert "127.0.0.1:4317" in helped.stdout and "127.0.0.1:4318" in helped.stdout
    # No host given: loopback.
    with Serve(tmp_path / "a.db", "--otlp-grpc", ":0", "--otlp-http", ":0") as s:
        assert s.proc is not None
        assert _listening(s.proc.pid) == {"127.0.0.1"}
    # Told otherwise: exactly what was asked.
    with Serve(tmp_path / "b.db", "--otlp-grpc", "0.0.0.0:0", "--otlp-http", "0.0.0.0:0") as s:
        assert s.proc is not None
        assert _listening(s.proc.pid) == {"0.0.0.0"}


def test_tap_listens_nowhere(kafka_bootstrap: str, topic: str, tmp_path: Path) -> None:
    create_topic(kafka_bootstrap, topic)
    with Tap(tmp_path / "h.db", kafka_bootstrap, topic) as tap:
        assert tap.proc is not None
        assert _listening(tap.proc.pid) == set()


def _sdk_env() -> dict[str, str]:
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the exporter's own
    ``certificate_file`` (psf/requests#3829): a user of TLS must not set them, nor may we."""
    drop = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    return {k: v for k, v in os.environ.items() if k not in drop}


def _sdk(transport: str, endpoint: str, service: str, *extra: str) -> int:
    r = subprocess.run(
        [sys.executable, "-m", "tests.e2e.sdk_load", "--transport", transport, "--endpoint",
         endpoint, "--service", service, "--count", "40", "--rate", "400", "--timeout", "4",
         *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=_sdk_env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    return int(json.loads(r.stdout.strip().splitlines()[-1])["emitted"])


def test_token_and_tls_enforced_on_both_receivers_with_sdk_exporters(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    db = tmp_path / "h.db"
    args = ("--auth-token", TOKEN, "--tls-cert", str(cert), "--tls-key", str(key))
    with Serve(db, *args) as s:
        grpc_at, https = f"127.0.0.1:{s.grpc_port}", f"https://127.0.0.1:{s.http_port}"
        for transport, at in (("grpc", grpc_at), ("http", https)):
            ok = f"{transport}-ok"
            assert _sdk(transport, at, ok, "--token", TOKEN, "--ca", str(cert)) == 40
            _sdk(transport, at, f"{transport}-no-token", "--ca", str(cert))
            _sdk(transport, at, f"{transport}-wrong-token", "--token", "nope", "--ca", str(cert))
        # Plaintext to the TLS ports is not answered.
        _sdk("grpc", grpc_at, "grpc-plain", "--token", TOKEN)
        _sdk("http", f"http://127.0.0.1:{s.http_port}", "http-plain", "--token", TOKEN)
        s.stop()
    services = dict(collections.Counter(sp.service for sp in stored.spans(db)))
    assert services == {"grpc-ok": 40, "http-ok": 40}, services
    assert TOKEN not in s.stderr


def test_store_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    db = tmp_path / "new" / "h.db"
    cmd = [sys.executable, "-m", "console", "serve", "--db", str(db), "--otlp-grpc", "off",
           "--otlp-http", "127.0.0.1:0"]  # fmt: skip
    proc = subprocess.Popen(
        ["sh", "-c", 'umask 000; exec "$@"', "sh", *cmd],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = ""
        while not line.startswith("store:"):
            line = proc.stderr.readline()
            assert line, "serve exited"
            if "listening on" in line:
                port = int(line.rsplit(":", 1)[1].split()[0])
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/traces",
            content=trace_request(3, seed=9).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert r.status_code == 200
        wait_until(lambda: count(db, "spans") == 3, 20, "spans committed")
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == 0o600, f"{path.name} is {oct(mode)}"
    finally:
        proc.terminate()
        proc.wait(30)


def _produce(bootstrap: str, topic: str, value: bytes, headers: list[Any]) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, value=value, key=b"k", headers=headers)
    assert p.flush(30) == 0


def test_no_payload_or_header_in_info_logs_and_every_operation_audited(
    kafka_bootstrap: str, topic: str, tmp_path: Path
) -> None:
    """serve, tap and the dlq commands at INFO; then the audit log names the real OS user."""
    marker = f"PAYLOAD-{uuid.uuid4().hex}"
    hmarker = f"HEADER-{uuid.uuid4().hex}"
    info = {"HANDOFF_LOG_LEVEL": "INFO", "HANDOFF_KAFKA_BOOTSTRAP": kafka_bootstrap}
    db = tmp_path / "h.db"
    dlt = f"{topic}-dlt"
    create_topic(kafka_bootstrap, topic)
    create_topic(kafka_bootstrap, dlt)
    logs: dict[str, str] = {}

    # serve: spans and logs carrying the markers, and a malformed body carrying them.
    with Serve(db, env=info) as s:
        req = trace_request(2, seed=31)
        for span in req.resource_spans[0].scope_spans[0].spans:
            span.attributes[0].value.string_value = marker
        pb = {"Content-Type": "application/x-protobuf"}
        assert httpx.post(f"{s.http_url}/v1/traces", content=req.SerializeToString(), headers=pb)
        bad = httpx.post(f"{s.http_url}/v1/traces", content=marker.encode() + b"\xff", headers=pb)
        assert bad.status_code == 400
        s.stop()
        logs["serve"] = s.stderr

    # tap: messages whose payload and header values are the markers, on a topic and its DLT.
    headers = [("x-secret", hmarker.encode()), ("x-correlation-id", b"corr-sec-1")]
    _produce(kafka_bootstrap, topic, marker.encode(), headers)
    poison = json.dumps({"order_id": marker, "quantity": "two"}).encode()
    dlt_headers = headers + spring_dlt_headers(
        topic=topic, partition=0, offset=0, timestamp_ms=1, group="g", message="bad quantity"
    )
    for _ in range(3):
        _produce(kafka_bootstrap, dlt, poison, dlt_headers)
    with Tap(db, kafka_bootstrap, f"{topic},{dlt}", "--from-beginning", env=info) as tap:
        wait_until(lambda: count(db, "dead_letters") == 3 and count(db, "hops") == 4, 60, "tap")
        tap.stop()
        logs["tap"] = tap.output

    # dlq: fix, replay, discard, as a user whose $USER claims to be someone else.
    contracts = write_contract(tmp_path / "contracts", topic)
    create_topic(kafka_bootstrap, f"{topic}.elsewhere")  # a replay never creates its target
    env = {**info, "USER": "mallory", "LOGNAME": "mallory"}
    c0, c1, c2 = (f"{dlt}:0:{i}" for i in range(3))
    steps = {
        "fix": ["dlq", "fix", c0, "--set", "quantity=2", "--contracts", str(contracts)],
        "replay": ["dlq", "replay", c0, "--yes"],
        "replay-to": ["dlq", "replay", c1, "--to", f"{topic}.elsewhere", "--yes"],
        "discard": ["dlq", "discard", c2, "--reason", "test", "--yes"],
    }
    for name, args in steps.items():
        r = run_cli(*args, "--db", str(db), env=env)
        assert r.returncode == 0, (name, r.stderr)
        logs[f"dlq {name}"] = r.stderr

    for who, text in logs.items():
        assert marker not in text, f"{who} logged a payload at INFO:\n{text}"
        assert hmarker not in text, f"{who} logged a header value at INFO:\n{text}"

    audit = json.loads(run_cli("dlq", "audit", "--json", "--db", str(db)).stdout)
    me = pwd.getpwuid(os.getuid()).pw_name
    done = sorted((e["action"], e["target"]) for e in audit)
    assert done == [("discard", c2), ("fix", c0), ("replay", c0), ("replay", c1)], audit
    assert {e["os_user"] for e in audit} == {me}
    assert Store.open(db).counts()  # the store is still a sound handoff-console store
