"""Bearer tokens and TLS on both receivers of a running ``serve``."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc as trace_grpc

from tests.otlp_helpers import Serve, count, trace_request, wait_for

PB = {"Content-Type": "application/x-protobuf"}
TOKEN = "s3cret-token"


def _grpc_code(
    stub: trace_grpc.TraceServiceStub, metadata: list[tuple[str, str]]
) -> grpc.StatusCode:
    try:
        stub.Export(trace_request(1, seed=99), metadata=metadata, timeout=10)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


@pytest.mark.parametrize("via_env", [False, True])
def test_token_required_on_both_receivers(tmp_path: Path, via_env: bool) -> None:
    args = () if via_env else ("--auth-token", TOKEN)
    env = {"HANDOFF_AUTH_TOKEN": TOKEN} if via_env else {}
    with Serve(tmp_path / "h.db", *args, env=env) as s:
        body = trace_request(2, seed=5).SerializeToString()
        with httpx.Client(base_url=s.http_url) as c:
            r = c.post("/v1/traces", content=body, headers=PB)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
            bad = {**PB, "Authorization": "Bearer wrong"}
            assert c.post("/v1/traces", content=body, headers=bad).status_code == 401
            good = {**PB, "Authorization": f"Bearer {TOKEN}"}
            assert c.post("/v1/traces", content=body, headers=good).status_code == 200
        with grpc.insecure_channel(s.grpc_target) as channel:
            stub = trace_grpc.TraceServiceStub(channel)
            assert _grpc_code(stub, []) == grpc.StatusCode.UNAUTHENTICATED
            wrong = [("authorization", "Bearer nope")]
            assert _grpc_code(stub, wrong) == grpc.StatusCode.UNAUTHENTICATED
            right = [("authorization", f"Bearer {TOKEN}")]
            assert _grpc_code(stub, right) == grpc.StatusCode.OK
        s.stop()
    assert count(s.db, "spans") == 3  # 2 over HTTP, 1 over gRPC, none unauthenticated
    assert TOKEN not in s.stderr


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_on_both_receivers(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with Serve(tmp_path / "h.db", "--tls-cert", str(cert), "--tls-key", str(key)) as s:
        url = f"https://127.0.0.1:{s.http_port}"
        body = trace_request(2, seed=6).SerializeToString()
        with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=str(cert))) as c:
            assert c.post("/v1/traces", content=body, headers=PB).status_code == 200
        with pytest.raises(httpx.HTTPError):  # plaintext is not answered
            httpx.post(f"http://127.0.0.1:{s.http_port}/v1/traces", content=body, headers=PB)
        creds = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(s.grpc_target, creds) as channel:
            stub = trace_grpc.TraceServiceStub(channel)
            assert _grpc_code(stub, []) == grpc.StatusCode.OK
        with grpc.insecure_channel(s.grpc_target) as channel:
            stub = trace_grpc.TraceServiceStub(channel)
            assert _grpc_code(stub, []) == grpc.StatusCode.UNAVAILABLE
        wait_for(lambda: count(s.db, "spans") == 3)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert, _ = _self_signed(tmp_path)
    s = Serve(tmp_path / "h.db", "--tls-cert", str(cert))
    with pytest.raises(AssertionError, match="--tls-cert and --tls-key go together"):
        s.start()
    s.stop()
