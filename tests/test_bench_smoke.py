"""Every benchmark still runs: each ``bench/*.py`` script with ``--smoke`` (bench/smoke.py).

Seconds and tiny sizes, no figure judged: what is checked is that the script starts, runs every
phase it measures and exits 0. The ones that need a broker run in the kafka tier. ``peers.py``
builds Jaeger with Go and runs kcat only outside ``--smoke``: those peers are left to its full runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

NO_BROKER = (
    "alerts_eval",
    "big_journey",
    "clickhouse_write",
    "dedupe_probe",
    "hop_insert",
    "journey_backends",
    "journey_lookup",
    "otlp_ingest",
    "store_write",
    "tui_refresh",
)
# peers.py --smoke runs handoff-console's side of each part (no Jaeger build, no kcat).
WITH_BROKER = (
    "clickhouse",
    "orphans",
    "otlp_kafka",
    "peers",
    "replay",
    "soak",
    "tap_group",
    "tap_throughput",
)
# Roles bench/peers.py runs as its own subprocesses, never alone: smoked through peers.py.
NOT_SMOKED = {"peer_kafka", "peer_otlp"}


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), "--smoke", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=240,
    )


def test_every_bench_script_is_smoked_here() -> None:
    scripts = {p.stem for p in BENCH.glob("*.py") if 'if __name__ == "__main__":' in p.read_text()}
    covered = {*NO_BROKER, *WITH_BROKER, *NOT_SMOKED}
    assert scripts == covered, "a bench script without a --smoke run in this test"
    for script in scripts - NOT_SMOKED:
        assert "add_smoke(" in (BENCH / f"{script}.py").read_text(), script


@pytest.mark.parametrize("script", NO_BROKER)
def test_bench_smoke(script: str) -> None:
    out = _run(script)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert out.stdout.strip(), "a benchmark prints its figures"


@pytest.mark.parametrize("script", WITH_BROKER)
def test_bench_smoke_on_kafka(script: str, kafka_bootstrap: str) -> None:
    out = _run(script, "--bootstrap", kafka_bootstrap)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    assert out.stdout.strip(), "a benchmark prints its figures"
