"""The event contracts: one versioned JSON Schema per topic, ``contracts/<topic>.schema.json``.

Topics are named ``<prefix>.<name>``; the contract is looked up by ``canvasflow.<name>`` so a run
with another ``--topic-prefix`` (the tests use one) validates against the same files.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

__all__ = ["CONTRACTS_DIR", "SCHEMA_VERSION", "ContractViolation", "contract_for", "validate"]

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
SCHEMA_VERSION = "1"


class ContractViolation(Exception):
    """The payload does not match its topic's contract (never retried: it goes to the DLQ)."""

    def __init__(self, topic: str, message: str, cause: Exception | None = None) -> None:
        super().__init__(f"{topic}: {message}")
        self.cause = cause


def _canonical(topic: str) -> str:
    return "canvasflow." + topic.rsplit(".", 1)[-1]


@cache
def _validator(canonical_topic: str) -> Draft202012Validator:
    path = CONTRACTS_DIR / f"{canonical_topic}.schema.json"
    schema = json.loads(path.read_text())
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def contract_for(topic: str) -> dict[str, Any]:
    """The JSON Schema of a (possibly prefixed) topic."""
    return dict(_validator(_canonical(topic)).schema)


def validate(topic: str, value: bytes | None) -> dict[str, Any]:
    """Decode and validate a record value; raise ContractViolation when it breaks the contract."""
    if value is None:
        raise ContractViolation(topic, "empty record value")
    try:
        payload = json.loads(value)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ContractViolation(topic, f"not JSON: {exc}", exc) from exc
    if not isinstance(payload, dict):
        raise ContractViolation(topic, "payload is not a JSON object")
    try:
        _validator(_canonical(topic)).validate(payload)
    except ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ContractViolation(topic, f"{where}: {exc.message}", exc) from exc
    return payload
