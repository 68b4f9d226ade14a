"""Where an edited payload does not fit its schema, as violations that name the field.

The codecs do the encoding (fastavro, protobuf's ``json_format``); they report a problem without a
JSON path, or not at all (fastavro ignores a field the schema does not have). These turn that into
``Violation`` lines an operator can act on: ``avro_violations`` walks the Avro JSON encoding
against the schema, ``proto_violation`` reads the field out of ``json_format``'s message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from console.dlq.jsondoc import Violation, json_path

__all__ = ["avro_violations", "proto_violation"]


def avro_violations(schema: Any, document: Any) -> list[Violation]:
    """Every way ``document`` (Avro JSON encoding) does not fit the parsed ``schema``."""
    out: list[Violation] = []
    _avro_json_check(schema, document, (), _avro_names(schema), out)
    return out


def proto_violation(message: str) -> Violation:
    """json_format's message, with the field it names as a JSON path where it says one."""
    message = " ".join(message.split())
    m = re.search(r'has no field named "([^"]+)"', message)
    if m:
        return Violation(
            f"$.{m.group(1)}", f"a field the schema does not have ({message})", None, "protobuf"
        )
    m = re.search(r"Failed to parse (\w+) field", message)
    if m:
        return Violation(f"$.{m.group(1)}", message, None, "protobuf")
    return Violation("$", message, None, "protobuf")


_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


def _avro_names(schema: Any) -> dict[str, Any]:
    names: dict[str, Any] = {}

    def walk(s: Any) -> None:
        if isinstance(s, list):
            for x in s:
                walk(x)
        elif isinstance(s, dict):
            t = s.get("type")
            if t in ("record", "error", "enum", "fixed") and "name" in s:
                names[s["name"]] = s
            for f in s.get("fields", ()):
                walk(f["type"])
            for k in ("items", "values"):
                if k in s:
                    walk(s[k])
            if isinstance(t, dict | list):
                walk(t)

    walk(schema)
    return names


def _branch_name(s: Any) -> str:
    if isinstance(s, str):
        return s
    if isinstance(s, dict):
        t = s.get("type")
        if t in ("record", "error", "enum", "fixed"):
            return str(s["name"])
        return t if isinstance(t, str) else _branch_name(t)
    return "union"


def _avro_json_check(
    schema: Any,
    value: Any,
    path: tuple[str | int, ...],
    names: dict[str, Any],
    out: list[Violation],
) -> None:
    """Every way ``value`` (Avro JSON encoding) does not fit ``schema``, with its JSON path.

    fastavro's reader does the decoding; this only finds what it would ignore (a field the schema
    does not have) or report without a path.
    """
    where = json_path(path)
    if isinstance(schema, list):
        branches = {_branch_name(s): s for s in schema}
        if value is None:
            if "null" not in branches:
                out.append(Violation(where, f"null is not allowed (one of {sorted(branches)})"))
            return
        if not (isinstance(value, dict) and len(value) == 1):
            out.append(
                Violation(
                    where,
                    'a union value is written as {"TYPE": value} in Avro JSON, TYPE one of '
                    + ", ".join(b for b in branches if b != "null"),
                    validator="union",
                )
            )
            return
        tag, inner = next(iter(value.items()))
        if tag not in branches:
            out.append(
                Violation(where, f"{tag!r} is not a type of this union ({sorted(branches)})")
            )
            return
        _avro_json_check(branches[tag], inner, (*path, tag), names, out)
        return
    if isinstance(schema, str):
        if schema in names:
            _avro_json_check(names[schema], value, path, names, out)
        else:
            _avro_primitive(schema, value, where, out)
        return
    t = schema.get("type")
    if isinstance(t, dict | list):
        _avro_json_check(t, value, path, names, out)
    elif t in ("record", "error"):
        if not isinstance(value, dict):
            out.append(Violation(where, f"expected a {schema['name']} record (a JSON object)"))
            return
        fields = {f["name"]: f for f in schema["fields"]}
        for key in value:
            if key not in fields:
                out.append(
                    Violation(
                        json_path((*path, key)),
                        f"{schema['name']} has no field {key!r} (fields: {', '.join(fields)})",
                        validator="unknown-field",
                    )
                )
        for name, f in fields.items():
            if name in value:
                _avro_json_check(f["type"], value[name], (*path, name), names, out)
            elif "default" not in f:
                out.append(
                    Violation(
                        json_path((*path, name)), "required field is missing", None, "required"
                    )
                )
    elif t == "enum":
        if value not in schema["symbols"]:
            out.append(Violation(where, f"{value!r} is not one of {schema['symbols']}"))
    elif t == "array":
        if not isinstance(value, list):
            out.append(Violation(where, "expected an array"))
            return
        for i, item in enumerate(value):
            _avro_json_check(schema["items"], item, (*path, i), names, out)
    elif t == "map":
        if not isinstance(value, dict):
            out.append(Violation(where, "expected a map (a JSON object)"))
            return
        for k, item in value.items():
            _avro_json_check(schema["values"], item, (*path, k), names, out)
    elif t == "fixed":
        if not (isinstance(value, str) and len(value) == schema["size"]):
            out.append(Violation(where, f"expected {schema['size']} bytes as a string"))
    else:
        _avro_primitive(str(t), value, where, out)


def _avro_primitive(t: str, value: Any, where: str, out: list[Violation]) -> None:
    ok: bool
    if t == "null":
        ok = value is None
    elif t == "boolean":
        ok = isinstance(value, bool)
    elif t in _INT_RANGE:
        lo, hi = _INT_RANGE[t]
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    elif t in ("float", "double"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif t == "string":
        ok = isinstance(value, str)
    elif t == "bytes":
        ok = isinstance(value, str) and all(ord(c) < 256 for c in value)
    else:
        ok = True
    if not ok:
        out.append(Violation(where, f"{json.dumps(value)} is not {_article(t)} {t}", None, t))


def _article(t: str) -> str:
    return "an" if t[0] in "aeiou" else "a"
