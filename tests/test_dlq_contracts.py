"""Contracts: a directory of JSON Schemas, a real HTTP Schema Registry, and clear errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from console.base.model import DeadLetter
from console.dlq.contracts import (
    ContractError,
    DirectoryContracts,
    RegistryContracts,
    check,
    open_contracts,
)
from console.dlq.jsondoc import pretty_json
from console.store import Store
from tests.conftest import create_topic, free_port, run_cli
from tests.dlq_helpers import CONTRACT, dead_letters_on_broker, write_contract

DRAFT7 = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["sku"],
    "properties": {"items": {"type": "array", "items": {"type": "integer"}}},
}


def test_violations_carry_json_paths_and_pretty_lines(tmp_path: Path) -> None:
    write_contract(tmp_path, "orders", CONTRACT)
    write_contract(tmp_path, "catalog", DRAFT7)
    source = DirectoryContracts(tmp_path)
    payload = b'{"order_id": 5, "quantity": 0}'
    verdict = check(source, "orders", payload)
    assert verdict.valid is False
    lines = pretty_json(json.loads(payload)).splitlines()
    got = {(v.path, v.validator) for v in verdict.violations}
    assert got == {("$.order_id", "type"), ("$.quantity", "minimum")}
    for v in verdict.violations:
        assert v.line is not None and lines[v.line - 1].lstrip().startswith(f'"{v.path[2:]}"')

    # Draft 7, from its $schema; an array item's path and line.
    verdict = check(source, "catalog", b'{"items": [1, "x", 3]}')
    paths = {(v.path, v.line) for v in verdict.violations}
    assert paths == {("$", 1), ("$.items[1]", 4)}

    assert check(source, "orders", b'{"order_id": "a", "quantity": 2}').valid is True
    unchecked = check(source, "payments", b"{}")
    assert unchecked.valid is None and "no contract for payments" in unchecked.note
    not_json = check(source, "orders", b"{nope")
    assert not_json.valid is False and "not JSON" in not_json.violations[0].message


def test_broken_contracts_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="does not exist"):
        DirectoryContracts(tmp_path / "missing")
    (tmp_path / "orders.schema.json").write_text('{"type": "object",\n  "properties": }')
    with pytest.raises(ContractError, match=r"orders.schema.json is not JSON \(line 2"):
        DirectoryContracts(tmp_path).schema_for("orders")
    (tmp_path / "catalog.schema.json").write_text('{"type": "no-such-type"}')
    with pytest.raises(ContractError, match="not a valid JSON Schema"):
        DirectoryContracts(tmp_path).schema_for("catalog")


class _Registry:
    """A real HTTP server speaking the Schema Registry's ``GET .../versions/latest``."""

    def __init__(self, subjects: dict[str, tuple[str, dict[str, object]]]) -> None:
        self.subjects = subjects
        self.requests: list[str] = []

        async def latest(request: Request) -> JSONResponse:
            subject = request.path_params["subject"]
            self.requests.append(subject)
            if subject not in self.subjects:
                return JSONResponse(
                    {"error_code": 40401, "message": f"Subject '{subject}' not found."}, 404
                )
            kind, schema = self.subjects[subject]
            body: dict[str, object] = {
                "subject": subject,
                "version": 3,
                "id": 17,
                "schema": json.dumps(schema),
            }
            if kind != "AVRO":
                body["schemaType"] = kind
            return JSONResponse(body, media_type="application/vnd.schemaregistry.v1+json")

        app = Starlette(routes=[Route("/subjects/{subject}/versions/latest", latest)])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Registry:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "registry did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def registry() -> Iterator[_Registry]:
    with _Registry(
        {
            "orders-value": ("JSON", CONTRACT),
            "legacy-value": ("AVRO", {"type": "record", "name": "x", "fields": []}),
        }
    ) as r:
        yield r


def test_schema_registry_check(registry: _Registry) -> None:
    source = open_contracts(schema_registry=registry.url)
    bad = check(source, "orders", b'{"order_id": "o-1", "quantity": "two"}')
    assert bad.valid is False
    assert [v.path for v in bad.violations] == ["$.quantity"]
    assert bad.source == f"{registry.url} subject orders-value"
    assert check(source, "orders", b'{"order_id": "o-1", "quantity": 2}').valid is True
    assert registry.requests == ["orders-value"]  # fetched once, then cached
    assert check(source, "payments", b"{}").valid is None  # 404: no contract
    # An Avro subject is no JSON contract: its payloads are checked by decoding and encoding.
    legacy = check(source, "legacy", b"{}")
    assert legacy.valid is None
    assert "legacy-value holds a AVRO schema" in legacy.note


def test_fix_against_schema_registry(
    registry: _Registry, kafka_bootstrap: str, topic: str, store: Store, db_path: Path
) -> None:
    registry.subjects[f"{topic}-value"] = ("JSON", CONTRACT)
    create_topic(kafka_bootstrap, f"{topic}-dlt")
    [d] = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=f"{topic}-dlt",
        original_topic=topic,
        payloads=[b'{"order_id":"o-9","quantity":"two"}'],
    )
    args = ["dlq", "fix", d.coordinates, "--schema-registry", registry.url, "--db", str(db_path)]
    bad = run_cli(*args, "--set", "quantity=-1")
    assert bad.returncode == 2, bad.stderr
    assert "$.quantity" in bad.stderr and "minimum" in bad.stderr
    good = run_cli(*args, "--set", "quantity=4")
    assert good.returncode == 0, good.stderr
    assert "contract: valid" in good.stdout and "stored fix v1" in good.stdout


def test_unreachable_registry_is_a_clear_error(tmp_path: Path, db_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ContractError, match=f"schema registry at {url} is unreachable"):
        RegistryContracts(url, timeout=2).schema_for("orders")
    Store.open(db_path).write(
        [
            DeadLetter(
                "orders-dlt", 0, 7, 1_700_000_000_000, payload=b'{"a":1}', original_topic="orders"
            )
        ]
    )
    r = run_cli(
        "dlq",
        "fix",
        "orders-dlt:0:7",
        "--schema-registry",
        url,
        "--set",
        "a=2",
        "--db",
        str(db_path),
    )
    assert r.returncode == 1
    assert r.stderr.strip().startswith(f"error: schema registry at {url} is unreachable")
    assert "Traceback" not in r.stderr
    r = run_cli("dlq", "show", "orders-dlt:0:8", "--schema-registry", url, "--db", str(db_path))
    assert r.returncode == 2 and "no dead letter at orders-dlt:0:8" in r.stderr


def test_missing_default_contracts_are_named(tmp_path: Path) -> None:
    from console.runtime.contracts_default import default_contracts_dir

    default = default_contracts_dir()
    if default.is_dir():  # the demo has shipped its contracts: the default opens them
        assert isinstance(open_contracts(default_dir=default), DirectoryContracts)
        return
    with pytest.raises(ContractError, match=r"contracts directory .* is missing"):
        open_contracts(default_dir=default)
    assert "pass --contracts DIR" in open_contracts(default_dir=default, strict=False).describe(
        "orders"
    )
