"""``open_sources``: what an evaluation reads and writes, opened on one store.

The rules read through the store's reader and write through ``Storage.change_alerts``; the DLQ
depth they watch comes from ``console.dlq.depth_summary`` through the store's ``DeadLetters``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from console import dlq
from console.alerts.observe import Sources
from console.store import Storage

__all__ = ["open_sources"]


@contextlib.contextmanager
def open_sources(store: Storage) -> Iterator[Sources]:
    """A reader and the store's dead letters on ``store``, both closed when the block ends."""
    reader = store.reader()
    letters = store.dead_letters()

    def dlq_depth(flt: dlq.DlqFilter | None) -> list[dlq.DepthRow]:
        return dlq.depth_summary(letters, flt)

    try:
        yield Sources(store, reader, dlq_depth)
    finally:
        reader.close()
        letters.close()
