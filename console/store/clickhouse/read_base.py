"""What every part of the ClickHouse reader shares: the client, the tables' qualified names,
which tables exist, the statements' parameters, and the SQL for what a span's attributes say.

A store may lack tables: a team's Collector makes only the exporter's (no ``handoff_*``, until a
console writer runs once), a Collector without a metrics pipeline makes no ``otel_metrics_*``.
A read of a missing table finds nothing, as a SQLite store's empty tables would; which tables
exist is read again (at most every few seconds) while one is missing, so a long-lived reader
(the TUI's) sees the tables a writer makes after it started.

The attribute columns are ``Map(LowCardinality(String), String)`` (the exporter's default) or
``JSON`` (its ``json: true`` tables): the SQL that reads an attribute, a record's correlation id
and messaging fields, and the lookups by value are the methods and properties below, which
speak the layout found (``layout.py``), so the reads built on them give the same answers on
both. On JSON:

* an attribute is a path of the JSON value, and a key with dots is a nested path (the exporter
  writes ``correlation.id`` as ``{"correlation": {"id": ...}}``; ``correlation.id`` reads it
  back); its value is read as text (``toString``): a number or a boolean as the Map layout's
  string holds it (``rows.as_string``: ``31``, ``12.5``, ``true``), a list as ClickHouse
  prints one (a Map holds JSON text): no attribute the console resolves is a list;
* "any value is one of these" (``cid_in``) reads the attributes the console resolves
  (``semconv.DEFAULT_CORRELATION_KEYS``, or the reader's ``correlation_keys``), on the record,
  then its resource: the JSON tables index no values, and a lookup by correlation id keeps only
  the records whose derived correlation id is wanted, so these paths find every one the Map
  layout's ``hasAny(mapValues(...))`` keeps;
* "some value is this" (``holds_value``, a business key) is ``has(JSONAllValues(col), v)``:
  every path's value as text, as ``attribute`` reads one. It reads the whole column of every
  row: the JSON tables' bloom filters are on the keys, none on the values (the Map tables'
  ``idx_*_attr_value`` serve the Map layout's ``has(mapValues(col), v)``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from console.base.errors import StoreError
from console.base.semconv import DEFAULT_CORRELATION_KEYS, GROUP_KEYS, OFFSET_KEYS, OPERATION_KEYS
from console.store.clickhouse import handoff_schema as hs
from console.store.clickhouse import otel_schema as otel
from console.store.clickhouse import read_records as rr
from console.store.clickhouse.attr_sql import attribute, first_of, is_consumer, literal
from console.store.clickhouse.layout import TableLayout
from console.store.clickhouse.read_records import BYTES

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from console.store.clickhouse.session import Session

__all__ = ["ReaderBase", "ids", "ns"]

_RECHECK_S = 5.0
#: Every read asks for the engine's uncompressed-block cache (a server's, sized in its config;
#: chDB's, ``connect.CHDB_OPTIONS``): a journey's lookups read the same few granules again.
_SETTINGS = {"use_uncompressed_cache": 1}


def ns(value: int) -> str:
    """SQL for a ``DateTime64(9)`` at ``value`` ns since the epoch (a literal: no parameter
    type to get wrong, and the optimizer sees a constant it can prune partitions with)."""
    return f"fromUnixTimestamp64Nano(toInt64({int(value)}))"


class ReaderBase:
    """The store's session (``session.py``), this reader's own client (or one given, left
    open), the tables; ``query`` runs one statement on the reader's client."""

    def __init__(
        self,
        session: Session,
        *,
        correlation_keys: Sequence[str] = DEFAULT_CORRELATION_KEYS,
        client: Client | None = None,
    ) -> None:
        self.session = session
        self._owns = client is None
        self.client = session.new_client() if client is None else client
        self.database = database = session.database
        self.correlation_keys = tuple(correlation_keys)
        db = otel.quote_ident(database)
        self.traces = f"{db}.{otel.quote_ident(otel.TRACES)}"
        self.trace_ts = f"{db}.{otel.quote_ident(otel.TRACES_ID_TS)}"
        self.logs_table = f"{db}.{otel.quote_ident(otel.LOGS)}"
        self.metric_tables = {k: f"{db}.{otel.quote_ident(t)}" for k, t in otel.METRICS.items()}
        self.hops_table = f"{db}.{otel.quote_ident(hs.HOPS)}"
        self.dead_table = f"{db}.{otel.quote_ident(hs.DEAD_LETTERS)}"
        self.series_table = f"{db}.{otel.quote_ident(hs.SERIES)}"
        self.alerts_table = f"{db}.{otel.quote_ident(hs.ALERTS)}"
        self.replays_table = f"{db}.{otel.quote_ident(hs.REPLAYS)}"
        self.links_table = f"{db}.{otel.quote_ident(hs.LINKS)}"
        self.keys_table = f"{db}.{otel.quote_ident(hs.KEYS)}"
        self.sends_table = f"{db}.{otel.quote_ident(hs.SENDS)}"
        self.consumed_table = f"{db}.{otel.quote_ident(hs.CONSUMED)}"
        self.groups_table = f"{db}.{otel.quote_ident(hs.GROUPS)}"
        self.copied_spans_table = f"{db}.{otel.quote_ident(hs.COPIED_SPANS)}"
        self._columns: dict[str, dict[str, str]] = {}
        # Kept between statements: the last traces' time window, topics' consumer groups.
        self._window: tuple[tuple[str, ...], tuple[int, int]] | None = None
        self._groups: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._checked = 0.0
        self._load_tables()

    # --- the attribute columns' layout (module docstring) -------------------------------------

    def is_json(self, table: str, column: str) -> bool:
        """Whether ``table``'s ``column`` (bare names) is of the JSON type."""
        return TableLayout(table, self._columns.get(table, {})).is_json(column)

    @property
    def traces_json(self) -> bool:
        return self.is_json(otel.TRACES, "SpanAttributes")

    @property
    def logs_json(self) -> bool:
        return self.is_json(otel.LOGS, "LogAttributes")

    @property
    def span_columns(self) -> str:
        """What a span's SELECT names (``read_records.span``)."""
        return rr.span_columns(self.traces_json)

    @property
    def log_columns(self) -> str:
        """What a log record's SELECT names (``read_records.log_record``)."""
        return rr.log_columns(self.logs_json)

    def span_attribute(self, key: str, column: str = "SpanAttributes") -> str:
        """SQL for a span's attribute ``key`` (of ``column``: its own, or its resource's)."""
        return attribute(column, key, self.traces_json)

    # SQL for a span's and a log record's correlation id, a span's messaging fields.

    @property
    def span_cid(self) -> str:
        return first_of(
            ("SpanAttributes", "ResourceAttributes"), self.correlation_keys, self.traces_json
        )

    @property
    def log_cid(self) -> str:
        return first_of(
            ("LogAttributes", "ResourceAttributes"), self.correlation_keys, self.logs_json
        )

    @property
    def span_dest(self) -> str:
        return self.span_attribute("messaging.destination.name")

    @property
    def span_group(self) -> str:
        return first_of(("SpanAttributes",), GROUP_KEYS, self.traces_json)

    @property
    def span_op(self) -> str:
        return first_of(("SpanAttributes",), OPERATION_KEYS, self.traces_json)

    @property
    def span_offset(self) -> str:
        return f"toInt64OrNull({first_of(('SpanAttributes',), OFFSET_KEYS, self.traces_json)})"

    @property
    def span_partition(self) -> str:
        return f"toInt32OrZero({self.span_attribute('messaging.destination.partition.id')})"

    @property
    def is_consumer(self) -> str:
        return is_consumer(self.span_op)

    def cid_in(self, table: str, columns: Sequence[str], param: str = "c") -> str:
        """SQL true when a record of ``table`` (``otel.TRACES``, ``otel.LOGS``) may have one of
        the correlation ids ``{param:Array(String)}`` in its attribute ``columns``: any value
        (Map), the correlation attributes' (JSON; module docstring). The caller keeps the
        records whose derived correlation id is wanted."""
        wanted = f"{{{param}:Array(String)}}"
        if self.is_json(table, columns[0]):
            return " OR ".join(
                f"{attribute(c, k, True)} IN {wanted}"
                for c in columns
                for k in self.correlation_keys
            )
        return " OR ".join(f"hasAny(mapValues({c}), {wanted})" for c in columns)

    def holds_value(self, table: str, column: str, value: str) -> str:
        """SQL true when a record of ``table`` may hold ``value`` in its attribute ``column``:
        as one of its values (Map), one of its paths' values as text (JSON; module docstring).
        The caller keeps the records with an attribute equal to it."""
        if self.is_json(table, column):
            return f"has(JSONAllValues({column}), {literal(value)})"
        return f"has(mapValues({column}), {literal(value)})"

    # --- tables -------------------------------------------------------------------------------

    def _load_tables(self) -> None:
        rows = self.query(
            "SELECT table, name, type FROM system.columns WHERE database = {db:String}",
            db=self.database,
        )
        columns: dict[str, dict[str, str]] = {}
        for table, column, kind in rows:
            columns.setdefault(table, {})[column] = kind
        self._columns = columns
        self._checked = time.monotonic()

    @property
    def summarised(self) -> bool:
        """Whether version 4's summaries and their views exist (``lookup_schema.py``): the
        sends, the consumed coordinates, the topics' consumer groups. Then the stalled
        search reads them instead of every hop and consumer span."""
        tables = (hs.SENDS, hs.SENDS_MV, hs.CONSUMED, hs.CONSUMED_MV, hs.GROUPS, hs.GROUPS_MV)
        return all(self.has(t) for t in tables)

    def has(self, table: str, column: str | None = None) -> bool:
        """Whether ``table`` (a bare name: ``otel_schema``/``handoff_schema``'s) exists, and
        has ``column`` when one is named."""
        found = self._columns.get(table)
        if found is None and time.monotonic() - self._checked > _RECHECK_S:
            self._load_tables()
            found = self._columns.get(table)
        return found is not None and (column is None or column in found)

    # --- statements ---------------------------------------------------------------------------

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """The rows of one statement (``{name:Type}`` placeholders bound from ``params``);
        the engine's failure is a one-line ``StoreError``."""
        try:
            result = self.client.query(
                sql, parameters=params or None, column_formats=BYTES, settings=_SETTINGS
            )
        except Exception as exc:  # the driver's and the engine's own exception types
            text = " ".join(str(exc).split())
            raise StoreError(f"ClickHouse store {self.database}: {text[:300]}") from exc
        return [tuple(r) for r in result.result_rows]

    def close(self) -> None:
        if self._owns:
            self.client.close()


def ids(values: Iterable[str]) -> list[str]:
    """Trace or span ids as the exporter writes them (lowercase hex), sorted, unique."""
    return sorted({v.lower() for v in values if v})
