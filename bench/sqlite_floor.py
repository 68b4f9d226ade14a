"""What SQLite alone allows: ready-made rows into a fresh store, no decoding, no queue.

The ingest benchmarks compare their committed rate with this figure measured in the same run.
Rows go in with the writer's own settings (64 MiB page cache, no auto-checkpoint, 20,000-row
transactions, a passive checkpoint every 5 s), so the only work left out is the collector's:
receiving, decoding and encoding. ``secondary_indexes=False`` measures the same insert with every
index of the table dropped (what the indexes cost).

A pipeline that must both decode and insert on one core cannot beat
``1 / (1 / decode_rate + 1 / insert_rate)``: ``serial_limit`` computes it.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from console.store import Store

__all__ = ["raw_insert", "serial_limit"]

TRANSACTION_ROWS = 20_000


def raw_insert(
    sql: str,
    rows: Sequence[tuple[Any, ...]],
    *,
    secondary_indexes: bool = True,
    prepare: Callable[[sqlite3.Connection], None] | None = None,
) -> dict[str, float]:
    """Insert ``rows`` with ``sql`` into a fresh store; ``{"rows_per_s", "rows_per_cpu_s"}``.

    ``prepare(conn)`` runs first, untimed (rows that reference other rows insert those)."""
    table = _table(sql)
    with tempfile.TemporaryDirectory(prefix="sqlite-floor-") as tmp:
        store = Store.open(Path(tmp) / "floor.db")
        conn = store.connect()
        if prepare is not None:
            prepare(conn)
        if not secondary_indexes:
            names = conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (table,),
            ).fetchall()
            for (name,) in names:
                conn.execute(f"DROP INDEX {name}")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        t0, c0 = time.perf_counter(), time.process_time()
        last_checkpoint = t0
        for i in range(0, len(rows), TRANSACTION_ROWS):
            conn.execute("BEGIN")
            conn.executemany(sql, rows[i : i + TRANSACTION_ROWS])
            conn.execute("COMMIT")
            if time.perf_counter() - last_checkpoint > 5:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                last_checkpoint = time.perf_counter()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        stored = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        conn.close()
    if stored != len(rows):
        raise AssertionError(f"{stored} rows stored, expected {len(rows)}")
    return {"rows_per_s": len(rows) / wall, "rows_per_cpu_s": len(rows) / max(cpu, 1e-9)}


def serial_limit(*rates: float) -> float:
    """The best rate of a pipeline whose stages share one core, given each stage's own rate."""
    return 1.0 / sum(1.0 / r for r in rates)


def _table(sql: str) -> str:
    return sql.split(" INTO ", 1)[1].split()[0]
