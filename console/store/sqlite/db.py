"""The store: one SQLite file in WAL mode shared by the daemon, the TUI and the CLI.

* ``Store.open(path)`` checks the file is ours (``PRAGMA application_id``), migrates it forward
  (``PRAGMA user_version``) and refuses a foreign or newer file with a clear error.
* ``Store.writer()`` starts the one batched writer (``writer.py``: group commit,
  failures raised to waiters and never counted, retention).
* ``Store.reader()`` gives a reader (``reader.py``); other processes see every committed batch.
* ``Store.dead_letters()`` gives the dead letters' reads and writes (``deadletters.py``).
* ``apply_retention`` drops old rows by age and by size.

Spans, hops and log records are written into blocks by ``ingest.py`` and read back
through ``read.py``; the rows that stay rows (dead letters, ledger, audit, metric
points, series) convert in ``rows.py``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from console.base.errors import (
    NeedsUpgradeError,
    NotAStoreError,
    StoreError,
)
from console.base.model import Record
from console.base.sink import NullSink, Sink, Ticket
from console.store.api import AlertChanges, AlertRow
from console.store.sqlite import alerts, ingest, schema, upgrade
from console.store.sqlite.deadletters import SqliteDeadLetters
from console.store.sqlite.reader import SqliteReader
from console.store.sqlite.retention import apply_retention
from console.store.sqlite.writer import StoreWriter

__all__ = ["NullSink", "Sink", "Store", "StoreWriter", "Ticket", "apply_retention"]


class Store:
    """A handoff-console database file."""

    bulk_batching = (20_000, 500)  # a transaction's size bounds the WAL and the pause it makes

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, create: bool = True, upgrade: bool = True
    ) -> Store:
        """Open (creating as needed) the store at ``path``.

        ``upgrade`` is for the writer (serve, tap, tui, demo): an older store is upgraded, its
        version-1 rows moved into blocks with a progress bar. Readers pass ``upgrade=False`` and
        get a one-line ``NeedsUpgradeError`` on an older store instead."""
        store = cls(Path(path))
        store._prepare(create, upgrade)
        return store

    def _prepare(self, create: bool, allow_upgrade: bool = True) -> None:
        path = self.path
        exists = path.exists() and path.stat().st_size > 0
        if not exists:
            if not create:
                raise StoreError(f"no handoff-console database at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only from the first byte: the store holds payloads of dead letters.
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        conn = self._raw_connect()
        try:
            schema.migrate(conn, path, upgrade=allow_upgrade)
            if schema.has_v1_data(conn):
                if not allow_upgrade:
                    raise NeedsUpgradeError(
                        f"{path} holds version-1 rows not yet moved into blocks; start "
                        f"`handoff-console serve --db {path}` (or tap, tui, demo) once to finish "
                        "the upgrade, then run this again"
                    )
                upgrade.move_v1(conn, path)
        except sqlite3.OperationalError as exc:  # locked, I/O, full: the file may be fine
            raise StoreError(f"cannot open {path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise NotAStoreError(
                f"{path} is not a handoff-console database ({exc}); pass another --db"
            ) from exc
        finally:
            conn.close()

    def _raw_connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def connect(self, *, readonly: bool = False) -> sqlite3.Connection:
        """A new connection (one per thread). Rows come back as ``sqlite3.Row``."""
        conn = self._raw_connect()
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous = NORMAL")
        if readonly:
            conn.execute("PRAGMA query_only = 1")
        return conn

    def reader(self) -> SqliteReader:
        """A reader's session (``console/store/api.py``'s ``StoreReader``) on a read-only
        connection; close it when done."""
        return SqliteReader(self.connect(readonly=True))

    def writer(
        self,
        *,
        batch_size: int = 20_000,
        flush_ms: int = 200,
        max_queued: int = 200_000,
        retention_age_s: float | None = None,
        retention_bytes: int | None = None,
        busy_timeout_ms: int | None = None,
        retention_every_s: float = 30.0,
        shared: bool = False,
    ) -> StoreWriter:
        """Start the batched writer thread for this store.

        ``busy_timeout_ms``: how long a commit waits for a write lock another process holds
        before it fails (default: the store's 30 s). Retention (by age and by size) runs at start
        and every ``retention_every_s``, with or without records to write. ``shared``: other
        shared writers (taps) may write the file beside this one (``guard.py``).
        """
        return StoreWriter(
            self.path,
            self.connect,
            batch_size=batch_size,
            flush_ms=flush_ms,
            max_queued=max_queued,
            retention_age_s=retention_age_s,
            retention_bytes=retention_bytes,
            retention_every_s=retention_every_s,
            busy_timeout_ms=busy_timeout_ms,
            shared=shared,
        )

    def size_bytes(self) -> int:
        """Bytes of the store's files on disk: the database and its WAL."""
        total = 0
        for name in (self.path, self.path.with_name(self.path.name + "-wal")):
            with contextlib.suppress(OSError):  # no WAL yet: what is there is counted
                total += os.stat(name).st_size
        return total

    def write(self, records: Sequence[Record], *, now_ns: int | None = None) -> None:
        """Write records synchronously in one transaction (tools, tests, small batches);
        ``now_ns`` is their arrival time (default: the clock), which retention goes by."""
        conn = self.connect()
        try:
            ingest.write_batch(conn, records, now_ns=now_ns)
        finally:
            conn.close()

    def dead_letters(self) -> SqliteDeadLetters:
        """The dead letters, their fixes, ledger and audit (``console/store/deadletters_api.py``'s
        ``DeadLetters``) on a connection of their own; close it when done."""
        return SqliteDeadLetters(self.connect(), self.connect)

    def change_alerts(self, decide: Callable[[list[AlertRow]], AlertChanges]) -> AlertChanges:
        """One alert evaluation's states and events in one write transaction
        (``console/store/api.py``'s ``Storage.change_alerts``)."""
        conn = self.connect()
        try:
            return alerts.change_alerts(conn, decide)
        finally:
            conn.close()

    def close(self) -> None:
        """Nothing to let go: every operation opens and closes its own connection."""

    def counts(self) -> schema.StoreCounts:
        """What ``stats`` prints: rows per record type, services, topics."""
        conn = self.connect(readonly=True)
        try:
            return schema.counts(conn)
        finally:
            conn.close()
