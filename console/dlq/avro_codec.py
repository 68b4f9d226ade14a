"""Avro payloads through the registry: decoded with fastavro to the Avro JSON encoding (unions
tagged ``{"string": "x"}``, bytes and decimals as code-point strings, so every value round-trips
exactly) and encoded back, with every field that does not fit named first (``violations.py``).
"""

from __future__ import annotations

import io
import json
from typing import Any

from console.dlq.jsondoc import Violation
from console.dlq.registry import Registry, SchemaInfo
from console.dlq.violations import avro_violations

__all__ = ["decode", "encode", "parsed_schema"]


def parsed_schema(registry: Registry, schema: Any, info: SchemaInfo) -> Any:
    """``schema`` parsed by fastavro with its references, once per registry."""
    key = ("avro", info.guid or info.id or schema.schema_str)
    if key not in registry.parsed:
        from fastavro import parse_schema

        named: dict[str, Any] = {}
        for _ref, reg in registry.references(schema, seen=set()):
            parse_schema(json.loads(reg.schema.schema_str), named_schemas=named)
        registry.parsed[key] = parse_schema(json.loads(schema.schema_str), named_schemas=named)
    return registry.parsed[key]


def decode(registry: Registry, schema: Any, body: bytes, info: SchemaInfo) -> Any:
    from fastavro import json_writer, schemaless_reader

    parsed = parsed_schema(registry, schema, info)
    record = schemaless_reader(io.BytesIO(body), parsed, None)
    out = io.StringIO()
    json_writer(out, parsed, [record])
    return json.loads(out.getvalue())


def encode(
    registry: Registry, schema: Any, info: SchemaInfo, document: Any
) -> tuple[bytes | None, list[Violation]]:
    """The Avro body of ``document``, or None and what does not fit."""
    from fastavro import json_reader, schemaless_writer

    parsed = parsed_schema(registry, schema, info)
    problems = avro_violations(parsed, document)
    if problems:
        return None, problems
    try:
        record = next(iter(json_reader(io.StringIO(json.dumps(document)), parsed)))
        out = io.BytesIO()
        schemaless_writer(out, parsed, record)
        return out.getvalue(), []
    except Exception as exc:
        return None, [Violation("$", f"{type(exc).__name__}: {exc}", 1, "avro")]
