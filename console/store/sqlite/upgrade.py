"""Upgrading a version-1 store: its span, hop and log rows move into blocks.

Only the writer runs this (``Store.open(upgrade=True)``), before it takes traffic. It checks the
free disk space first, then moves rows in chunks of ``CHUNK`` by ``id``: each chunk is read,
written as blocks and deleted from its version-1 table in one transaction that takes the write
lock before it reads, so an interrupted upgrade resumes where it stopped, and two writers
upgrading one file at once take turns: neither holds a record twice or loses one. The version-1
tables are dropped at the end. A progress bar on stderr shows the rows moved.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.base.errors import StoreError
from console.base.model import LogRecord, Record
from console.store.sqlite import ingest, rows, schema
from console.store.sqlite.tx import transaction

__all__ = ["CHUNK", "move_v1"]

CHUNK = 20_000

Progress = Callable[[int, int], None]


def _default_progress(total: int) -> tuple[Progress, Callable[[], None]]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "upgrading the store to blocks",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(file=sys.stderr),
        transient=False,
    )
    task = bar.add_task("upgrade", total=total)
    bar.start()
    return (lambda done, _total: bar.update(task, completed=done)), bar.stop


def _exists(conn: sqlite3.Connection, table: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    return bool(row[0])


def _count(conn: sqlite3.Connection, table: str) -> int:
    return (
        int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        if _exists(conn, table)
        else 0
    )


def move_v1(conn: sqlite3.Connection, path: Path, progress: Progress | None = None) -> int:
    """Move every version-1 span, hop and log row into blocks; returns how many moved."""
    conn.row_factory = sqlite3.Row
    total = sum(_count(conn, t) for t in ("spans", "hops", "log_records"))
    if total:
        need = int(schema.used_bytes(conn) * 0.5) + 64 * 1024 * 1024
        free = shutil.disk_usage(path.parent).free
        if free < need:
            raise StoreError(
                f"upgrading {path} needs about {need // 2**20} MiB free beside it, "
                f"{free // 2**20} MiB are; free some space and start again"
            )
    stop: Callable[[], None] = lambda: None  # noqa: E731
    if progress is None and total:
        progress, stop = _default_progress(total)
    done = 0
    state = ingest.IngestState()
    try:
        for table, convert in (("spans", _spans), ("hops", _hops), ("log_records", _logs)):
            while True:
                moved = _move_chunk(conn, state, table, convert)
                if not moved:
                    break
                done += moved
                if progress is not None:
                    progress(done, total)
        with transaction(conn):
            for table in schema.V1_DATA_TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        stop()
    conn.row_factory = None
    return done


def _move_chunk(
    conn: sqlite3.Connection,
    state: ingest.IngestState,
    table: str,
    convert: Callable[[sqlite3.Connection, list[sqlite3.Row]], list[Record]],
) -> int:
    """Move the next ``CHUNK`` rows of ``table``: read, written as blocks and deleted in one
    transaction that holds the write lock from before the read. A second writer upgrading the
    same file waits for it and then reads the rows still there, so no row is moved twice, and
    it finds the table gone (0) once the first has finished. Returns the rows moved."""
    with transaction(conn) as tx:
        if not _exists(conn, table):
            tx.rollback()
            return 0
        chunk = conn.execute(f"SELECT * FROM {table} ORDER BY id LIMIT ?", (CHUNK,)).fetchall()
        if not chunk:
            tx.rollback()
            return 0
        last_id = chunk[-1]["id"]
        ingest.write_batch(  # inside this transaction, which it commits
            conn,
            convert(conn, chunk),
            state,
            also=lambda c: c.execute(f"DELETE FROM {table} WHERE id <= ?", (last_id,)),
            dedupe=False,
        )
    return len(chunk)


def _spans(conn: sqlite3.Connection, chunk: list[sqlite3.Row]) -> list[Record]:
    resources = rows.load_resources(conn, (r["resource_id"] for r in chunk))
    return [rows.span_from_row(r, resources.get(r["resource_id"])) for r in chunk]


def _hops(_conn: sqlite3.Connection, chunk: list[sqlite3.Row]) -> list[Record]:
    return [rows.hop_from_row(r) for r in chunk]


def _logs(_conn: sqlite3.Connection, chunk: list[sqlite3.Row]) -> list[Record]:
    out: list[Any] = [rows.log_from_row(r) for r in chunk]
    return [r for r in out if isinstance(r, LogRecord)]
