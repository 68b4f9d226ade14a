"""The one JSON text encoder for stored attribute maps, shared by the store's rows and the OTLP
fast path (which joins cached fragments and must produce the same text the rows would)."""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["dumps", "pretty"]

_fallback = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
_pretty_fallback = json.JSONEncoder(indent=2, ensure_ascii=False, default=str).encode


def dumps(value: Any) -> str:
    """Compact JSON text: orjson, with the standard library for what orjson refuses (integers
    beyond 64 bits, non-string keys). Non-finite floats become null, as JSON has no such value."""
    try:
        return orjson.dumps(value, default=str).decode()
    except (orjson.JSONEncodeError, TypeError):
        return _fallback(value)


def pretty(value: Any) -> str:
    """JSON text indented by two spaces, for a command's ``--json``: orjson (the standard
    library's indenting encoder is pure Python: 24 of 43 s of ``trace --json`` at 100k spans),
    the standard library for what orjson refuses."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_INDENT_2).decode()
    except (orjson.JSONEncodeError, TypeError):
        return _pretty_fallback(value)
