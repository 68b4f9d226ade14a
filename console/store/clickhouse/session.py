"""``Session``: what every part of the ClickHouse store shares about one opened store.

Where it is (``target``), which database, the layout of the exporter's tables found there
(``layout``), the version of the ``handoff_*`` tables (``schema_version``), quoted table names
(``table``), one client for small queries (``rows``, one at a time) and new clients for those
that need their own (``new_client``: the writer's thread, a reader's session). The storage
(``storage.py``) is a ``Session``; the writer, the counts, the alerts and the reader take one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from console.store.clickhouse.connect import Target, connect, engine_error
from console.store.clickhouse.layout import Layout
from console.store.clickhouse.otel_schema import quote_ident

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = ["Session"]


class Session:
    """One opened ClickHouse store (see the module docstring)."""

    def __init__(self, target: Target, client: Client, found: Layout, version: int) -> None:
        self.target = target
        self.database = target.database
        self.layout = found
        self.schema_version = version
        self._client = client
        self._lock = threading.Lock()  # clickhouse-connect's clients are not shared by threads

    def new_client(self) -> Client:
        """Another client on the same store, for a thread or a session of its own."""
        return connect(self.target)

    def close(self) -> None:
        """Close this session's own client (a chDB engine is let go when every client is)."""
        with self._lock:
            self._client.close()

    def table(self, name: str) -> str:
        """A table's database-qualified, quoted name."""
        return f"{quote_ident(self.database)}.{quote_ident(name)}"

    def rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[Sequence[Any]]:
        """A small query's rows, on the session's client; the engine's errors as ``StoreError``."""
        with self._lock:
            try:
                return list(self._client.query(sql, parameters=parameters).result_rows)
            except Exception as exc:
                raise engine_error(self.target, exc) from exc
