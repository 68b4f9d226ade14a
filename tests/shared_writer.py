"""A tap's writer in a process of its own, for the shared-store tests (``test_store_shared.py``).

``python -m tests.shared_writer write DB GO N SEED``: opens DB's writer as a tap does (shared),
prints ``ready`` and waits for the file GO to exist, then writes hops ``0..N-1`` of topic
``orders`` (two partitions) and a dead letter for every tenth, in batches of 25 in an order
shuffled by SEED, each batch waited on as the tap waits before a commit; prints ``done`` when
all are committed.

``python -m tests.shared_writer hold DB``: opens DB's writer as a tap does, with a one-hour
retention checked every 0.2 s, prints ``ready`` and holds it until killed or stdin closes.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from console.base.model import DeadLetter, Hop, Record
from console.store import Store


def records(n: int) -> list[list[Record]]:
    """Per offset, the records a tap hands over for it: a hop, and every tenth a dead letter."""
    now = time.time_ns()
    out: list[list[Record]] = []
    for i in range(n):
        hop = Hop("orders", i % 2, i // 2, now // 10**6, correlation_id=f"c{i}", seen_ns=now)
        rs: list[Record] = [hop]
        if i % 10 == 0:
            rs.append(DeadLetter("orders-dlt", 0, i, now // 10**6, payload=b"{}"))
        out.append(rs)
    return out


def write(db: Path, go: Path, n: int, seed: int) -> None:
    writer = Store.open(db).writer(shared=True, batch_size=25, flush_ms=5)
    per_offset = records(n)
    random.Random(seed).shuffle(per_offset)
    # A first record of its own: the writer's duplicates window is seeded now, from a store that
    # holds none of the hops yet, so it never learns of the other process's ones.
    writer.submit([Hop(f"warm-up-{seed}", 0, 0, 0, seen_ns=time.time_ns())]).wait(60)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.01)
    for i in range(0, n, 25):
        writer.submit([r for rs in per_offset[i : i + 25] for r in rs]).wait(60)
    writer.close()
    print("done", flush=True)


def hold(db: Path) -> None:
    writer = Store.open(db).writer(shared=True, retention_age_s=3600, retention_every_s=0.2)
    print("ready", flush=True)
    sys.stdin.read()
    writer.close()


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        hold(Path(sys.argv[2]))
