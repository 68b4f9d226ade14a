"""The ClickHouse store: the OpenTelemetry Collector's clickhouse exporter tables and the
console's own ``handoff_*`` tables, on a server (``clickhouse://``) or in-process (``chdb://``).

Imported only when a ClickHouse URL is opened (``console.store.open_store``); its modules import
clickhouse-connect, the optional extra (``pip install 'handoff-console[clickhouse]'``).

* ``connect``: store URLs, the client, the engine's errors as one-line ``StoreError``s.
* ``otel_schema``: the exporter's DDL (v0.165.1 templates); ``layout``: the variant found.
* ``handoff_schema``: the console's tables and their versioned migrations.
* ``rows``: records as rows in each table's insert column order; ``writer``: the batched
  writer; ``storage``: ``ClickHouseStorage``, the ``Storage`` protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.store.clickhouse.storage import ClickHouseStorage

__all__ = ["open_clickhouse"]


def open_clickhouse(
    url: str,
    *,
    create: bool = True,
    upgrade: bool = True,
    cluster: str | None = None,
    ttl_s: float | None = None,
) -> ClickHouseStorage:
    """The ClickHouse store at ``url`` (``console.store.open_store``'s ClickHouse branch)."""
    from console.store.clickhouse.connect import parse_url
    from console.store.clickhouse.storage import ClickHouseStorage

    return ClickHouseStorage.open(
        parse_url(url), create=create, upgrade=upgrade, cluster=cluster, ttl_s=ttl_s
    )
