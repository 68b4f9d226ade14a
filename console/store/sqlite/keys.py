"""The key index: hashed ids pointing at blocks, in time segments that stay hot while written.

Each key kind has its own namespace (a leading kind byte in the hash input) and one canonical form:
trace ids and link targets as lowercase hex, correlation ids and message keys as given. A key is a
signed 64-bit integer: a trace id's two 64-bit halves XORed and mixed with its kind, else the
first 8 bytes of a BLAKE2b digest. A hash collision costs a block
decode, never a wrong answer: readers check every record against the value they looked for.

Segments: keys go into ``keys_<segment>`` (``(key, block)``, WITHOUT ROWID). A new segment starts
when the current one holds ``SEGMENT_KEYS`` keys or is ``SEGMENT_AGE_S`` old, so the B-tree being
written is small enough to stay in the page cache however large the store grows. Lookups probe
every segment; retention drops whole segments with their blocks.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable

__all__ = [
    "K_CID",
    "K_LINK",
    "K_MSGKEY",
    "K_TRACE",
    "SEGMENT_AGE_S",
    "SEGMENT_KEYS",
    "blocks_for",
    "key",
    "segment_tables",
]

K_TRACE = 1
K_CID = 2
K_LINK = 3  # a span-link target: the linked trace id, pointing at the block of the linking span
K_MSGKEY = 4  # a Kafka message key (journeys by business key)

SEGMENT_KEYS = 2_000_000
SEGMENT_AGE_S = 3600.0

_blake = hashlib.blake2b
_PREFIX = [bytes([k]) for k in range(8)]


_MIX = [(k * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF for k in range(8)]


def key(kind: int, value: str | bytes) -> int:
    """The 64-bit key of ``value`` in ``kind``'s namespace. Trace ids (random already) fold their
    two halves together, mixed with the kind; anything else is hashed."""
    if kind in (K_TRACE, K_LINK):
        k = -1
        # Both halves: 64-bit ids padded with zeros (Zipkin, old Jaeger) and ids whose high bits
        # are a timestamp (AWS X-Ray) still spread over the whole key space.
        if isinstance(value, bytes) and len(value) == 16:  # raw, as the fast decoder gives it
            k = int.from_bytes(value[:8], "big") ^ int.from_bytes(value[8:], "big") ^ _MIX[kind]
        elif isinstance(value, str) and len(value) == 32:
            try:
                k = int(value[:16], 16) ^ int(value[16:], 16) ^ _MIX[kind]
            except ValueError:
                k = -1
        if k >= 0:
            return k - (1 << 64) if k >= 1 << 63 else k
    raw = value.encode() if isinstance(value, str) else value
    return int.from_bytes(_blake(_PREFIX[kind] + raw, digest_size=8).digest(), "big", signed=True)


def segment_tables(conn: sqlite3.Connection) -> list[str]:
    return [f"keys_{sid}" for (sid,) in conn.execute("SELECT id FROM segments ORDER BY id")]


def blocks_for(
    conn: sqlite3.Connection,
    kind: int,
    values: Iterable[str | bytes],
    tables: list[str] | None,
    *more: tuple[int, Iterable[str | bytes]],
) -> set[int]:
    """Blocks that may hold a record with one of ``values`` as a key of ``kind`` (and of each
    further ``(kind, values)`` pair): one statement probes every segment."""
    wanted = {key(kind, v) for v in values}
    for k, vs in more:
        wanted.update(key(k, v) for v in vs)
    keys = sorted(wanted)
    segments = segment_tables(conn) if tables is None else tables
    if not keys or not segments:
        return set()
    found: set[int] = set()
    # SQLite allows at most 500 terms in a compound SELECT (SQLITE_MAX_COMPOUND_SELECT): probe
    # the segments in groups, each group one statement.
    for g in range(0, len(segments), _MAX_TERMS):
        group = segments[g : g + _MAX_TERMS]
        per = max(1, _MAX_VARIABLES // len(group))
        for i in range(0, len(keys), per):
            chunk = keys[i : i + per]
            marks = ",".join("?" * len(chunk))
            sql = " UNION ALL ".join(f"SELECT block FROM {t} WHERE key IN ({marks})" for t in group)
            cur = conn.cursor()
            cur.row_factory = None  # plain tuples: a reader's sqlite3.Row costs more than the probe
            try:
                found.update(b for (b,) in cur.execute(sql, chunk * len(group)))
            except sqlite3.OperationalError as exc:  # a segment dropped by retention meanwhile
                if "no such table" not in str(exc):
                    raise
                return blocks_for(conn, kind, values, segment_tables(conn), *more)
    return found


_MAX_VARIABLES = 30_000  # below SQLite's default limit of 32,766 host parameters
_MAX_TERMS = 250  # segments per statement: half of SQLite's 500-term compound SELECT limit
