"""The demo pipeline's pieces without a network: DLT headers byte for byte, contracts, the
circuit breaker, and the import boundary (the demo is a stand-in for the user's services)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from demo_pipeline.breaker import CircuitBreaker, CircuitOpen
from demo_pipeline.contracts import CONTRACTS_DIR, ContractViolation, validate
from demo_pipeline.dlt import DltOrigin, spring_dlt_headers
from demo_pipeline.runtime import Topics
from tests.demo_helpers import fix_upload, upload_event
from tests.dlq_headers_fixture import spring_dlt_headers as fixture_headers


def test_dlt_headers_match_spring_byte_for_byte() -> None:
    try:
        try:
            raise ValueError("bad price")
        except ValueError as inner:
            raise ContractViolation(
                "canvasflow.uploads", "price: '12,50' is not a number"
            ) from inner
    except ContractViolation as exc:
        ours = spring_dlt_headers(
            DltOrigin("canvasflow.uploads", 3, 2**40 + 7, 1_764_000_000_123, "CreateTime", "g1"),
            exc,
        )
    expected = fixture_headers(
        topic="canvasflow.uploads",
        partition=3,
        offset=2**40 + 7,
        timestamp_ms=1_764_000_000_123,
        group="g1",
        exception_fqcn="demo_pipeline.contracts.ContractViolation",
        cause_fqcn="ValueError",
        message="canvasflow.uploads: price: '12,50' is not a number",
        stacktrace=dict(ours)["kafka_dlt-exception-stacktrace"].decode(),
    )
    assert ours == expected
    assert b"Traceback" in dict(ours)["kafka_dlt-exception-stacktrace"]


@pytest.mark.parametrize("topic", Topics().main())
def test_every_topic_has_a_versioned_contract(topic: str) -> None:
    schema = json.loads((CONTRACTS_DIR / f"{topic}.schema.json").read_text())
    assert schema["$id"].endswith("/1.schema.json") and schema["version"] == "1"


def test_poisoned_uploads_break_the_contract_and_fixed_ones_pass() -> None:
    good = upload_event("cf-1")
    for bad in ({**good, "price": "12,50"}, {k: v for k, v in good.items() if k != "artist_id"}):
        with pytest.raises(ContractViolation):
            validate("x.canvasflow.uploads", json.dumps(bad).encode())
        assert validate("x.canvasflow.uploads", json.dumps(fix_upload(bad)).encode())
    with pytest.raises(ContractViolation, match="not JSON"):
        validate("canvasflow.uploads", b"{oops")


def test_circuit_breaker_opens_half_opens_and_closes() -> None:
    changes: list[tuple[str, str]] = []
    now = [100.0]
    cb = CircuitBreaker(
        failure_threshold=3,
        reset_after_s=5.0,
        on_change=lambda a, b: changes.append((a, b)),
        clock=lambda: now[0],
    )
    for _ in range(3):
        cb.before_call()
        cb.failure()
    now[0] += 4.9
    with pytest.raises(CircuitOpen):  # still cooling down
        cb.before_call()
    now[0] += 0.1
    cb.before_call()  # one trial call
    assert cb.state == "half_open"
    cb.failure()
    assert cb.state == "open"
    with pytest.raises(CircuitOpen):  # the cool-down starts again from the failed trial
        cb.before_call()
    now[0] += 5.0
    cb.before_call()
    cb.success()
    assert changes == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


def test_demo_pipeline_imports_nothing_of_the_console() -> None:
    code = (
        "import sys, demo_pipeline.run, demo_pipeline.services\n"
        "print([m for m in sys.modules if m == 'console' or m.startswith(('console.', 'tests'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
