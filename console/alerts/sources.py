"""``open_sources``: what an evaluation reads and writes, opened on one store.

The rules read through the store's reader and write through ``Storage.change_alerts``; the DLQ
depth they watch still comes from ``console.dlq.depth_summary`` on a connection of its own
(seams-dlq: the dead-letter room moves behind the store's interface on its own branch; then the
connection goes and any ``Storage`` will do).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from console import dlq
from console.alerts.observe import Sources
from console.store import Store

__all__ = ["open_sources"]


@contextlib.contextmanager
def open_sources(store: Store) -> Iterator[Sources]:
    """A reader and the DLQ room's connection on ``store``, both closed when the block ends."""
    reader = store.reader()
    dlq_conn = store.connect()  # seams-dlq

    def dlq_depth(flt: dlq.DlqFilter | None) -> list[dlq.DepthRow]:
        return dlq.depth_summary(dlq_conn, flt)

    try:
        yield Sources(store, reader, dlq_depth)
    finally:
        reader.close()
        dlq_conn.close()
