"""The store package: one SQLite file in WAL mode shared by the daemon, the TUI and the CLI.

``db`` opens and migrates the file (``schema``, ``upgrade``); ``writer`` is the one batched writer
(retention runs in it: ``retention``); ``ingest`` is its write path into blocks, keys and summaries;
``read`` and ``rows`` read it back.
"""

from console.base.sink import NullSink, Sink, Ticket
from console.store.sqlite.db import Store, StoreWriter, apply_retention

__all__ = ["NullSink", "Sink", "Store", "StoreWriter", "Ticket", "apply_retention"]
