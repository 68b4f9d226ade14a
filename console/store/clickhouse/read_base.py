"""What every part of the ClickHouse reader shares: the client, the tables' qualified names,
which tables exist, the statements' parameters, and the SQL for what a span's attributes say.

A store may lack tables: a team's Collector makes only the exporter's (no ``handoff_*``, until a
console writer runs once), a Collector without a metrics pipeline makes no ``otel_metrics_*``.
A read of a missing table finds nothing, as a SQLite store's empty tables would; which tables
exist is read again (at most every few seconds) while one is missing, so a long-lived reader
(the TUI's) sees the tables a writer makes after it started.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from console.base.errors import StoreError
from console.base.semconv import DEFAULT_CORRELATION_KEYS, GROUP_KEYS, OFFSET_KEYS, OPERATION_KEYS
from console.store.clickhouse import handoff_schema as hs
from console.store.clickhouse import otel_schema as otel
from console.store.clickhouse.read_records import BYTES, literal

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from console.store.clickhouse.session import Session

__all__ = ["CONSUME_OPS", "ReaderBase", "first_of", "ids", "ns"]

#: Operations that make a span a consumer's (as the SQLite summaries judge it).
CONSUME_OPS = ("process", "receive", "deliver")
_RECHECK_S = 5.0
#: Every read asks for the engine's uncompressed-block cache (a server's, sized in its config;
#: chDB's, ``connect.CHDB_OPTIONS``): a journey's lookups read the same few granules again.
_SETTINGS = {"use_uncompressed_cache": 1}


def first_of(maps: Sequence[str], keys: Sequence[str]) -> str:
    """SQL for the first non-empty value of ``keys`` in the map columns ``maps`` (each map in
    turn, keys in order), "" when none: ``semconv.first`` over the record, then its resource."""
    parts = [f"{m}[{literal(k)}] != '', {m}[{literal(k)}]" for m in maps for k in keys]
    return f"multiIf({', '.join(parts)}, '')"


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
        self._columns: dict[str, set[str]] = {}
        # Kept between statements: the last traces' time window, topics' consumer groups.
        self._window: tuple[tuple[str, ...], tuple[int, int]] | None = None
        self._groups: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._checked = 0.0
        self._load_tables()
        # SQL for a span's and a log record's correlation id, a span's messaging fields.
        self.span_cid = first_of(("SpanAttributes", "ResourceAttributes"), self.correlation_keys)
        self.log_cid = first_of(("LogAttributes", "ResourceAttributes"), self.correlation_keys)
        self.span_dest = "SpanAttributes['messaging.destination.name']"
        self.span_group = first_of(("SpanAttributes",), GROUP_KEYS)
        self.span_op = first_of(("SpanAttributes",), OPERATION_KEYS)
        self.span_offset = f"toInt64OrNull({first_of(('SpanAttributes',), OFFSET_KEYS)})"
        self.span_partition = "toInt32OrZero(SpanAttributes['messaging.destination.partition.id'])"
        ops = ", ".join(literal(o) for o in CONSUME_OPS)
        self.is_consumer = f"(SpanKind = 'Consumer' OR {self.span_op} IN ({ops}))"

    # --- tables -------------------------------------------------------------------------------

    def _load_tables(self) -> None:
        rows = self.query(
            "SELECT table, name FROM system.columns WHERE database = {db:String}",
            db=self.database,
        )
        columns: dict[str, set[str]] = {}
        for table, column in rows:
            columns.setdefault(table, set()).add(column)
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
