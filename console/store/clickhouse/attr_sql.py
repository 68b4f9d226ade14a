"""SQL text for attribute values and literals, shared by the readers (``read_base.py``) and the
views that keep the console's lookups (``lookup_schema.py``): a view's expression and a
reader's must derive a span's correlation id, messaging fields and consumer role alike.

Attribute columns are the exporter's ``Map(LowCardinality(String), String)`` or ``JSON``
(``json``: a key with dots is a nested path there, read back as text).
"""

from __future__ import annotations

from collections.abc import Sequence

from console.store.clickhouse.otel_schema import quote_ident

__all__ = ["CONSUME_OPS", "attribute", "first_of", "is_consumer", "literal"]

#: Operations that make a span a consumer's (as the SQLite summaries judge it).
CONSUME_OPS = ("process", "receive", "deliver")


def literal(text: str) -> str:
    """``text`` as a ClickHouse string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def attribute(column: str, key: str, json: bool = False) -> str:
    """SQL for the value of attribute ``key`` in ``column`` as text, '' when absent: a Map's
    ``column['key']``; a JSON column's path ``key`` (dots nest) as text."""
    if json:
        return f"ifNull(toString({column}.{quote_ident(key)}), '')"
    return f"{column}[{literal(key)}]"


def first_of(maps: Sequence[str], keys: Sequence[str], json: bool = False) -> str:
    """SQL for the first non-empty value of ``keys`` in the attribute columns ``maps`` (each in
    turn, keys in order), "" when none: ``semconv.first`` over the record, then its resource."""
    values = [attribute(m, k, json) for m in maps for k in keys]
    parts = [f"{v} != '', {v}" for v in values]
    return f"multiIf({', '.join(parts)}, '')"


def is_consumer(operation: str) -> str:
    """SQL true for a consumer's span, ``operation`` the SQL of its messaging operation."""
    ops = ", ".join(literal(o) for o in CONSUME_OPS)
    return f"(SpanKind = 'Consumer' OR {operation} IN ({ops}))"
