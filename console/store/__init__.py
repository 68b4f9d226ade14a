"""The store package: what the product asks of storage (``api``), and the engine behind it.

``api`` names the operations (Protocols: ``Storage``, ``StoreReader`` and their parts) and the
opaque values they pass (``Cursor``; a snapshot is ``StoreReader.reading()``). ``sqlite/`` is
the embedded default: a file in WAL mode shared by the daemon, the TUI and the CLI.
``clickhouse/`` keeps the same records in ClickHouse (a server, or chDB in-process), in the
OpenTelemetry Collector's clickhouse exporter layout beside the console's own ``handoff_*``
tables; it is an optional extra, imported only when a ClickHouse URL is opened. ``open_store``
picks the backend for a ``--db`` path or a ``--store`` URL; readers, the CLI and the TUI hold
what it returns, never a connection.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from console.base.errors import InputError, StoreError
from console.base.sink import NullSink, Sink, Ticket
from console.store.api import Cursor, Storage, StoreCounts, StoreReader, Writer, reading
from console.store.sqlite.db import Store, StoreWriter, apply_retention

__all__ = [
    "CLICKHOUSE_SCHEMES",
    "STORE_FAILURES",
    "Cursor",
    "NullSink",
    "Sink",
    "Storage",
    "Store",
    "StoreCounts",
    "StoreReader",
    "StoreWriter",
    "Ticket",
    "Writer",
    "apply_retention",
    "open_store",
    "reading",
]

# What a store's reads and writes raise when its engine fails (a lock held past the busy timeout,
# a disk that fails, a table an older store lacks): callers that carry on past one failed round
# (``watch``, the metrics endpoint) catch these and never name the engine's own exceptions.
STORE_FAILURES: tuple[type[Exception], ...] = (StoreError, sqlite3.Error)


CLICKHOUSE_SCHEMES = ("clickhouse", "clickhouses", "chdb")


def open_store(
    where: str | os.PathLike[str],
    *,
    create: bool = True,
    upgrade: bool = True,
    cluster: str | None = None,
    ttl_s: float | None = None,
) -> Storage:
    """The store at ``where``:

    * a file path, or ``sqlite:///path``: SQLite, the embedded default;
    * ``clickhouse://user:password@host:8123/database`` (``clickhouses://`` over TLS): a
      ClickHouse server; ``chdb:///path`` (``?database=DB``): ClickHouse in this process.
      The database defaults to ``otel``. ``cluster`` (``ON CLUSTER``, Replicated engines) and
      ``ttl_s`` (the tables' TTL) shape the tables this call creates.

    ``create`` and ``upgrade`` as ``Store.open``: readers pass False and are refused a store
    that is missing or older. Without the ClickHouse extra installed, a ClickHouse URL is an
    ``InputError`` naming what to install."""
    text = os.fspath(where)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        scheme = scheme.lower()
        if scheme in CLICKHOUSE_SCHEMES:
            # Imported here, never at start-up: the SQLite path pays nothing for the extra.
            from console.store.clickhouse import open_clickhouse

            return open_clickhouse(
                text, create=create, upgrade=upgrade, cluster=cluster, ttl_s=ttl_s
            )
        if scheme != "sqlite":
            raise InputError(
                f"{text}: no store backend for {scheme}:// (one of: a path, sqlite://, "
                "clickhouse://, clickhouses://, chdb://)"
            )
        text = rest
    if cluster:
        raise InputError(f"{text}: a ClickHouse cluster needs a ClickHouse store (--store URL)")
    return Store.open(Path(text), create=create, upgrade=upgrade)
