"""``ClickHouseStorage``: the ``Storage`` protocol (``console/store/api.py``) on ClickHouse.

Opening a store connects (``connect.py``), makes the database and the exporter's tables where
they are missing (``otel_schema.py``; tables a team's Collector made are used as they are),
brings the ``handoff_*`` tables to this console's version (``handoff_schema.py``) and reads
the layout it found (``layout.py``). ``writer()`` starts the batched writer (``writer.py``).

SQLite-only things have no counterpart here: no writer lock file (many taps write one
ClickHouse store at once; duplicates are the engine's idiom), no WAL, no retention passes (the
tables carry a TTL from ``--retention-age`` when the console creates them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from console.base.errors import StoreError
from console.base.model import Record
from console.store.api import AlertChanges, AlertRow, DeadLetters, StoreCounts, StoreReader
from console.store.clickhouse import handoff_schema, layout, otel_schema
from console.store.clickhouse.connect import Target, connect, engine_error
from console.store.clickhouse.session import Session

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from console.store.clickhouse.writer import ClickHouseWriter

__all__ = ["ClickHouseStorage"]


class ClickHouseStorage(Session):
    """One ClickHouse database holding the exporter's tables and the console's."""

    # An INSERT costs a part in handoff_hops and one in each view's table, whatever its size:
    # 100k hops an INSERT cost chDB 5 us a hop, 20k ones 11 us (bench/README.md).
    bulk_batching = (100_000, 1_000)

    @classmethod
    def open(
        cls,
        target: Target,
        *,
        create: bool = True,
        upgrade: bool = True,
        cluster: str | None = None,
        ttl_s: float | None = None,
    ) -> ClickHouseStorage:
        """Open (creating what is missing, unless ``create`` is False) the store at ``target``;
        ``cluster`` and ``ttl_s`` shape the tables this call creates, never existing ones."""
        client = connect(target)
        try:
            version = _prepare(client, target, create, upgrade, cluster, ttl_s)
            found = layout.detect(client, target.database)
        except StoreError:
            client.close()
            raise
        except Exception as exc:
            client.close()
            raise engine_error(target, exc) from exc
        return cls(target, client, found, version)

    def __enter__(self) -> ClickHouseStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- Storage ----------------------------------------------------------------------------

    def writer(
        self,
        *,
        batch_size: int = 20_000,
        flush_ms: int = 200,
        max_queued: int = 200_000,
        retention_age_s: float | None = None,
        retention_bytes: int | None = None,
        shared: bool = False,
    ) -> ClickHouseWriter:
        """The batched writer (its own client, its own thread). Retention is the tables' TTL:
        ``retention_age_s`` and ``retention_bytes`` are accepted for the protocol and unused
        (the age shapes the TTL when the store is opened; there is no bound by size). So is
        ``shared``: every writer may share a ClickHouse store (no writer keeps state the others
        need; duplicates are ``ReplacingMergeTree``'s)."""
        from console.store.clickhouse.writer import ClickHouseWriter

        return ClickHouseWriter(
            self, batch_size=batch_size, flush_ms=flush_ms, max_queued=max_queued
        )

    def reader(self) -> StoreReader:
        """A reader's session (``reader.py``) on a client of its own; close it when done."""
        from console.store.clickhouse.reader import ClickHouseReader

        return ClickHouseReader(self)

    def dead_letters(self) -> DeadLetters:
        """The dead letters, fixes, replay ledger and audit (``deadletters.py``) on a client of
        their own; close it when done."""
        from console.store.clickhouse.deadletters import ClickHouseDeadLetters

        return ClickHouseDeadLetters(self)

    def write(self, records: Sequence[Record], *, now_ns: int | None = None) -> None:
        """Write records synchronously (tools, tests): every INSERT has returned when this
        does. ``now_ns`` is their arrival time (``SeenAt``), default the clock."""
        from console.store.clickhouse.writer import insert_records

        client = self.new_client()
        try:
            insert_records(client, self, records, now_ns if now_ns is not None else time.time_ns())
        except StoreError:
            raise
        except Exception as exc:
            raise engine_error(self.target, exc) from exc
        finally:
            client.close()

    def size_bytes(self) -> int:
        """Bytes on disk of the store's tables' active parts (``system.parts``)."""
        tables = [*otel_schema.TABLES, *handoff_schema.TABLES]
        rows = self.rows(
            "SELECT sum(bytes_on_disk) FROM system.parts"
            " WHERE active AND database = {db:String} AND table IN {tables:Array(String)}",
            {"db": self.database, "tables": tables},
        )
        return int(rows[0][0] or 0)

    def counts(self) -> StoreCounts:
        """What ``stats`` prints: rows per record type (a duplicate not yet merged away is not
        counted twice: hops and dead letters count distinct keys), services, topics."""
        from console.store.clickhouse.counts import counts

        return counts(self)

    def change_alerts(self, decide: Callable[[list[AlertRow]], AlertChanges]) -> AlertChanges:
        """One alert evaluation, written as one INSERT (``alerts.py``)."""
        from console.store.clickhouse.alerts import change_alerts

        return change_alerts(self, decide)


def _prepare(
    client: Client,
    target: Target,
    create: bool,
    upgrade: bool,
    cluster: str | None,
    ttl_s: float | None,
) -> int:
    """Make what is missing (when ``create``) and return the handoff schema's version."""
    exists = client.query(
        "SELECT count() FROM system.databases WHERE name = {db:String}",
        parameters={"db": target.database},
    ).result_rows[0][0]
    if not exists and not create:
        raise StoreError(f"{target.display()}: no database {target.database!r} there")
    if create:
        major, minor = _version(client.server_version)
        otel_schema.create_tables(
            client,
            otel_schema.OtelDDL(target.database, cluster, ttl_s, (major, minor)),
        )
    options = handoff_schema.HandoffDDL(target.database, cluster, ttl_s)
    return handoff_schema.migrate(
        client, options, create=create, upgrade=upgrade, where=target.display()
    )


def _version(text: str | None) -> tuple[int, int]:
    parts = (text or "0.0").split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return (0, 0)
