"""One way to hold a write transaction: ``with transaction(conn):`` begins it (``BEGIN IMMEDIATE``:
the write lock from the first statement), commits when the block ends and rolls back when it
raises. A failed ``COMMIT`` has rolled back already (SQLite does): its error is kept, never
replaced by a second one from a ``ROLLBACK`` with no transaction. ``tx.rollback()`` ends the
transaction early without committing (a dry run, or nothing left to do).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

__all__ = ["Transaction", "rollback_quietly", "transaction"]


class Transaction:
    """The open transaction of one ``with transaction(conn)`` block."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rollback(self) -> None:
        """Undo what the block wrote; the block's end then commits nothing."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection, *, adopt: bool = False) -> Iterator[Transaction]:
    """A write transaction around the block. ``adopt``: a transaction the caller already opened
    is taken over (committed or rolled back here) instead of refused."""
    if not (adopt and conn.in_transaction):
        conn.execute("BEGIN IMMEDIATE")
    tx = Transaction(conn)
    try:
        yield tx
        if conn.in_transaction:
            conn.execute("COMMIT")
    except BaseException:
        tx.rollback()  # a failed COMMIT has rolled back already: keep its error
        raise


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """After a failure: end any transaction left open, keeping the first error (the caller's)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
