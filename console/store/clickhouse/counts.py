"""``stats``' counts on a ClickHouse store.

Telemetry counts are the exporter tables' row counts (``count()`` is read from part metadata:
cheap at any size); a span a sender or a retried batch wrote twice counts twice until a reader
folds it, as it does in the Collector's own tables. Hops and dead letters are counted after
``FINAL``: one per ``(cluster, topic, partition, offset)``, duplicates not yet merged included.
"""

from __future__ import annotations

from console.store.api import StoreCounts
from console.store.clickhouse import handoff_schema, otel_schema
from console.store.clickhouse.session import Session

__all__ = ["counts"]

_ORDER = ("spans", "metric_points", "log_records")


def counts(storage: Session) -> StoreCounts:
    found = storage.layout
    per_service: dict[str, dict[str, int]] = {}
    totals = {"spans": 0, "metric_points": 0, "log_records": 0}
    sources = [("spans", otel_schema.TRACES), ("log_records", otel_schema.LOGS)]
    sources += [("metric_points", table) for table in otel_schema.METRICS.values()]
    for kind, table in sources:
        if not found.table(table).exists:
            continue
        for service, n in storage.rows(
            f"SELECT ServiceName, count() FROM {storage.table(table)} GROUP BY ServiceName"
        ):
            n = int(n)
            totals[kind] += n
            entry = per_service.setdefault(str(service), {})
            entry[kind] = entry.get(kind, 0) + n
    topics: dict[str, dict[str, int]] = {}
    hops = dead = 0
    if storage.schema_version:
        for topic, n in storage.rows(
            f"SELECT Topic, count() FROM {storage.table(handoff_schema.HOPS)} FINAL GROUP BY Topic"
        ):
            topics.setdefault(str(topic), {})["hops"] = int(n)
            hops += int(n)
        for topic, n in storage.rows(
            f"SELECT DlqTopic, count() FROM {storage.table(handoff_schema.DEAD_LETTERS)} FINAL"
            " GROUP BY DlqTopic"
        ):
            topics.setdefault(str(topic), {})["dead_letters"] = int(n)
            dead += int(n)
    services = sorted(per_service)
    return {
        "spans": totals["spans"],
        "metric_points": totals["metric_points"],
        "log_records": totals["log_records"],
        "hops": hops,
        "dead_letters": dead,
        "services": services,
        "per_service": {
            name: dict(sorted(per_service[name].items(), key=lambda kv: _ORDER.index(kv[0])))
            for name in services
        },
        "topics": dict(sorted(topics.items())),
    }
