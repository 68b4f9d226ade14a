"""Which variant of the exporter's tables a store holds, read from ``system.columns``.

A team's Collector may have made the tables with an older or newer exporter, or with
``json: true``; the console writes (``rows.py``) and reads in whatever it finds:

* logs: the older table has ``TimestampTime DateTime DEFAULT toDateTime(Timestamp)`` (and
  partitions and sorts by it: readers filter on it to prune), the newer one does not; the newer
  one has ``EventName``, older ones do not (the exporter inserts it only where it exists:
  ``exporter_logs.go`` ``detectSchemaFeatures``).
* attributes: ``Map(LowCardinality(String), String)`` (the default) or ``JSON`` (``json: true``,
  ``traces_json_table.sql``/``logs_json_table.sql``), the JSON tables with or without the
  ``*AttributesKeys`` arrays.
* a table that is missing: nothing of that kind is written (and readers find nothing there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from console.store.clickhouse import otel_schema

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = ["Layout", "TableLayout", "detect", "from_columns"]


@dataclass(frozen=True, slots=True)
class TableLayout:
    """One table as found: its columns (name -> type), in order."""

    name: str
    columns: dict[str, str] = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return bool(self.columns)

    def has(self, column: str) -> bool:
        return column in self.columns

    def is_json(self, column: str) -> bool:
        """True when ``column`` is of the JSON type (``JSON``, ``JSON(...)``, ``Object(...)``)."""
        kind = self.columns.get(column, "")
        return kind.startswith("JSON") or kind.startswith("Object(")


@dataclass(frozen=True, slots=True)
class Layout:
    """The exporter's tables in one database, as found."""

    database: str
    tables: dict[str, TableLayout]

    def table(self, name: str) -> TableLayout:
        return self.tables.get(name) or TableLayout(name)

    @property
    def traces(self) -> TableLayout:
        return self.table(otel_schema.TRACES)

    @property
    def logs(self) -> TableLayout:
        return self.table(otel_schema.LOGS)

    @property
    def traces_json(self) -> bool:
        return self.traces.is_json("SpanAttributes")

    @property
    def logs_json(self) -> bool:
        return self.logs.is_json("LogAttributes")

    @property
    def logs_timestamp_time(self) -> bool:
        """The older logs table, with its ``TimestampTime`` column (filter on it to prune)."""
        return self.logs.has("TimestampTime")

    def metrics(self, kind: str) -> TableLayout:
        return self.table(otel_schema.METRICS[kind])


def from_columns(database: str, rows: Iterable[Sequence[Any]]) -> Layout:
    """A layout from ``(table, column, type)`` rows in column order."""
    tables: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        tables.setdefault(str(table), {})[str(column)] = str(kind)
    return Layout(database, {name: TableLayout(name, cols) for name, cols in tables.items()})


def detect(client: Client, database: str) -> Layout:
    """Read the exporter's tables' columns in ``database`` from ``system.columns``."""
    result = client.query(
        "SELECT table, name, type FROM system.columns"
        " WHERE database = {db:String} AND table IN {tables:Array(String)}"
        " ORDER BY table, position",
        parameters={"db": database, "tables": list(otel_schema.TABLES)},
    )
    return from_columns(database, result.result_rows)
