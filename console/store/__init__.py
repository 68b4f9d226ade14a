"""The store package: what the product asks of storage (``api``), and the engine behind it.

``api`` names the operations (Protocols: ``Storage``, ``StoreReader`` and their parts) and the
opaque values they pass (``Cursor``; a snapshot is ``StoreReader.reading()``). ``sqlite/`` is
today's one backend: a file in WAL mode shared by the daemon, the TUI and the CLI, with all of
the console's SQL. ``open_store`` picks the backend for a ``--db`` value; readers, the CLI and
the TUI hold what it returns, never a connection.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from console.base.errors import InputError, StoreError
from console.base.sink import NullSink, Sink, Ticket
from console.store.api import Cursor, Storage, StoreCounts, StoreReader, Writer, reading
from console.store.deadletters_api import DeadLetters
from console.store.sqlite.db import Store, StoreWriter, apply_retention

__all__ = [
    "STORE_FAILURES",
    "Cursor",
    "DeadLetters",
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


def open_store(
    where: str | os.PathLike[str], *, create: bool = True, upgrade: bool = True
) -> Storage:
    """The store at ``where``: a file path, or ``sqlite:///path`` (the SQLite backend, the
    embedded default and today's only one). ``create`` and ``upgrade`` as ``Store.open``."""
    text = os.fspath(where)
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme != "sqlite":
            raise InputError(
                f"{text}: no store backend for {scheme}:// (one of: a path, sqlite://)"
            )
        text = rest
    return Store.open(Path(text), create=create, upgrade=upgrade)
