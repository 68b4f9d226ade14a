"""JSON documents as the DLQ room shows and checks them: the one pretty form (``pretty_json``),
the line each value starts on in it (``pretty_json_lines``), JSON paths (``json_path``) and a
``Violation`` (one way a payload breaks its contract or schema, with its path and line).

Contracts (``contracts.py``), schema checks (``violations.py``) and the codecs (``codecs.py``)
all use these; they sit here, below all three, so none of those imports another for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Violation", "json_path", "pretty_json", "pretty_json_lines"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One way a payload breaks its contract."""

    path: str  # JSON path of the offending value, ``$`` for the whole document
    message: str
    line: int | None = None  # 1-based line in ``pretty_json(payload)``
    validator: str = ""  # the JSON Schema keyword that failed (``type``, ``required``...)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "message": self.message,
            "line": self.line,
            "validator": self.validator,
        }

    def __str__(self) -> str:
        where = f"line {self.line}, " if self.line is not None else ""
        return f"{where}{self.path}: {self.message}"


def json_path(parts: Iterable[str | int]) -> str:
    """``$.items[0].sku`` from ``("items", 0, "sku")``."""
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p.isidentifier():
            out += f".{p}"
        else:
            out += "[" + json.dumps(p, ensure_ascii=False) + "]"
    return out


def pretty_json(value: Any) -> str:
    """The one pretty form: 2-space indent, keys in document order, non-ASCII kept."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def pretty_json_lines(value: Any) -> dict[tuple[str | int, ...], int]:
    """The 1-based line of every value's start in ``pretty_json(value)``, keyed by its path."""
    lines: dict[tuple[str | int, ...], int] = {}
    line = 1

    def walk(v: Any, path: tuple[str | int, ...]) -> None:
        nonlocal line
        lines[path] = line
        if isinstance(v, dict) and v:
            for k, item in v.items():
                line += 1
                walk(item, (*path, k))
            line += 1  # the closing brace
        elif isinstance(v, list) and v:
            for i, item in enumerate(v):
                line += 1
                walk(item, (*path, i))
            line += 1

    walk(value, ())
    return lines
