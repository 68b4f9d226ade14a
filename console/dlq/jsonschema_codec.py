"""JSON Schema payloads through the registry: the body is JSON, checked with ``jsonschema``
(``contracts.validate``, the same check as a contract), and encoded compact."""

from __future__ import annotations

import json
from typing import Any

from console.dlq.contracts import validate
from console.dlq.jsondoc import Violation
from console.dlq.registry import RegistryError, SchemaInfo

__all__ = ["decode", "encode", "violations"]


def decode(body: bytes) -> Any:
    return json.loads(body.decode("utf-8"))


def violations(schema: Any, info: SchemaInfo, document: Any) -> list[Violation]:
    """What ``schema`` (a registered JSON Schema) says is wrong with ``document``."""
    try:
        return validate(json.loads(schema.schema_str), document)
    except (TypeError, json.JSONDecodeError) as exc:
        raise RegistryError(f"{info.describe()} is not JSON: {exc}") from None


def encode(schema: Any, info: SchemaInfo, document: Any) -> tuple[bytes | None, list[Violation]]:
    """The compact JSON body of ``document``, or None and its violations."""
    problems = violations(schema, info, document)
    if problems:
        return None, problems
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(), []
