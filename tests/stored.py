"""What the store holds, read back through its API (``console.store.sqlite.read``), for assertions.

Spans, hops and log records live in compressed blocks; these return them as the records of
``console.base.model``, duplicates dropped as every reader of the store drops them (a span is one
per (trace id, span id), a hop one per (topic, partition, offset)), so ``len(spans(db))`` counts
what a v1 ``SELECT count(*) FROM spans`` counted.

``db`` is a store file (opened as a reader: ``Store.open(db, upgrade=False)``), a ``Store`` or an
open connection (left open).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from console.base.model import Hop, LogRecord, Span
from console.store import Store
from console.store.identity import hop_fields_identity, span_fields_identity
from console.store.sqlite import read
from console.store.sqlite.blocks import KIND_HOP, KIND_LOG, KIND_SPAN, BlockReader

__all__ = ["connect", "count", "hops", "logs", "span_rows", "spans"]

Db = Path | str | Store | sqlite3.Connection


@contextlib.contextmanager
def connect(db: Db) -> Iterator[sqlite3.Connection]:
    """A read-only connection to ``db`` (an open connection is passed through, not closed)."""
    if isinstance(db, sqlite3.Connection):
        yield db
        return
    store = db if isinstance(db, Store) else Store.open(db, upgrade=False)
    conn = store.connect(readonly=True)
    try:
        yield conn
    finally:
        conn.close()


def _all(db: Db, kind: int) -> list[Any]:
    with connect(db) as conn:
        return read.all_records(conn, kind)


def spans(db: Db) -> list[Span]:
    """Every span stored, one per (trace id, span id)."""
    return _all(db, KIND_SPAN)


def span_rows(db: Db, trace_id: str) -> int:
    """How many span records the blocks hold for ``trace_id``, duplicates included (every reader
    drops them; a test of the write path counts them)."""
    with connect(db) as conn:
        blocks = conn.execute("SELECT data FROM blocks WHERE kind = ?", (KIND_SPAN,))
        return sum(
            sp.trace_id == trace_id
            for (data,) in blocks
            for sp in BlockReader(KIND_SPAN, data).records()
        )


def hops(db: Db, topic: str | None = None) -> list[Hop]:
    """Every hop stored (on ``topic`` when given), one per Kafka coordinate, in block order."""
    got: list[Hop] = _all(db, KIND_HOP)
    return got if topic is None else [h for h in got if h.topic == topic]


def logs(db: Db) -> list[LogRecord]:
    """Every log record stored."""
    return _all(db, KIND_LOG)


_KINDS = {"spans": KIND_SPAN, "hops": KIND_HOP, "log_records": KIND_LOG}


def count(db: Db, what: str) -> int:
    """How many distinct spans, hops or log records are stored (``what`` names the v1 table),
    as ``len(spans(db))`` etc. would say, without building every record: a span is one per
    (trace id, span id), a hop one per (cluster, topic, partition, offset), as readers drop
    duplicates."""
    kind = _KINDS[what]
    if kind == KIND_LOG:
        return len(_all(db, kind))
    seen: set[tuple[Any, ...]] = set()
    with connect(db) as conn:
        for (data,) in conn.execute("SELECT data FROM blocks WHERE kind = ?", (kind,)):
            block = BlockReader(kind, data)
            for i in range(len(block)):
                f = block.fields(i)
                seen.add(
                    span_fields_identity(block.tids[i], f)
                    if kind == KIND_SPAN
                    else hop_fields_identity(f)
                )
    return len(seen)
