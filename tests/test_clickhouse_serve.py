"""``serve --store chdb://...``: the OTLP receivers write into the exporter's tables, answer 200
only for what the store took, and the store is there for the next process once serve stops."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from console.store import open_store
from tests.conftest import ROOT, run_cli
from tests.otlp_helpers import trace_request

_HTTP = re.compile(r"OTLP/HTTP listening on 127\.0\.0\.1:(\d+)")


def test_serve_writes_otlp_into_a_chdb_store(tmp_path: Path) -> None:
    url = f"chdb://{tmp_path / 'store'}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "console",
            "serve",
            "--store",
            url,
            "--otlp-grpc",
            "off",
            "--otlp-http",
            "127.0.0.1:0",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert proc.stderr is not None
    try:
        port = None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if found := _HTTP.search(line):
                port = int(found.group(1))
            if line.startswith("store:"):
                break
        assert port is not None, "".join(lines)
        assert lines[-1].strip() == f"store: {url}"
        request = trace_request(3, service="checkout", seed=7)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/v1/traces",
            content=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
            timeout=30,
        )
        assert answer.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.stderr.read()
        assert proc.wait(60) == 0, rest
    assert "stopped: 3 records committed" in rest
    store = open_store(url, create=False, upgrade=False)
    try:
        assert store.counts()["per_service"] == {"checkout": {"spans": 3}}
    finally:
        store.close()
    done = run_cli("stats", "--store", url, "--json")
    assert done.returncode == 0 and '"spans": 3' in done.stdout
