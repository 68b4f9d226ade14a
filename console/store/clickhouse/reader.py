"""The ClickHouse store's ``StoreReader`` (``console/store/api.py``): the same answers as the
SQLite store's reader for the same records, read from the OpenTelemetry Collector's clickhouse
exporter tables (``otel_traces``, ``otel_traces_trace_id_ts``, ``otel_logs``,
``otel_metrics_*``) and the console's own (``handoff_*``).

Its parts: ``read_journeys`` (``JourneyLookup``'s lookups), ``read_ahead`` (what a
``reading()`` block keeps, and ``prefetch``), ``read_candidates`` (the journey list's and the
stalled search's candidates), ``read_signals`` (``PanelReads``, ``SignalReads``, the alert rules'
series, counts), the alerts' state below, ``read_records`` (rows to records) and ``read_base``.

Where the answers differ from SQLite's, because of what the exporter's layout keeps:

* Attribute values are text (``Map(LowCardinality(String), String)``: the exporter writes
  ``31`` as ``"31"``, ``true`` as ``"true"``); a span's derived fields are the same (they are
  derived from the text by ``console/base/semconv.py``).
  The exporter's ``json: true`` tables (JSON attribute columns) read back alike: nested paths
  as dotted keys, values as that text (``read_records.attributes``, ``read_base``); their
  lookups by value scan (they index keys, not values): measured at 200k spans on chDB, a
  correlation id 56 ms (Map: 16 ms), a business key 0.5 s (Map: 18 ms).
* Metric points' times are whole seconds (``TimeUnix DateTime``).
* A business key (``trace --key``) is any span attribute's value but the transport's
  ``messaging.*`` ones (``read_journeys``): the writer's ``--key-attribute`` names are not in
  the exporter's tables.
* Cursors are times, not arrival (``read_signals``).

``reading()``: ClickHouse has no snapshot that spans statements. Each statement sees the parts
committed when it starts, and one INSERT is atomic within its table, so a batch of hops or of
spans is seen whole or not at all; but a batch's spans and its hops are two INSERTs into two
tables, and a journey read between them shows one without the other until its next read. What
a block does guarantee: a lookup by trace or correlation id answers for the whole block what it
answered first (``read_ahead.py``), so the rounds of one journey, and the journeys of one list,
never see an id's records change under them; the next block reads afresh.
"""

from __future__ import annotations

from console.store.api import AlertRow, Cursor
from console.store.clickhouse import alerts
from console.store.clickhouse import handoff_schema as hs
from console.store.clickhouse.read_ahead import ReadAhead
from console.store.clickhouse.read_candidates import CandidateReads
from console.store.clickhouse.read_signals import SignalReadsCh

__all__ = ["ClickHouseReader"]


class ClickHouseReader(ReadAhead, CandidateReads, SignalReadsCh):
    """A ``StoreReader`` on one clickhouse-connect client (one thread at a time)."""

    def __enter__(self) -> ClickHouseReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- the alerts' state (``alerts.py``: ``handoff_alerts``, on the session's client) ------

    def alert_states(self) -> list[AlertRow]:
        return alerts.alert_states(self.session) if self.has(hs.ALERTS) else []

    def alert_events(self, since_ns: int, limit: int = 200) -> list[AlertRow]:
        return alerts.alert_events(self.session, since_ns, limit) if self.has(hs.ALERTS) else []

    def alert_events_after(self, after: Cursor) -> list[AlertRow]:
        return alerts.alert_events_after(self.session, after) if self.has(hs.ALERTS) else []

    def last_alert_event(self) -> Cursor:
        return alerts.last_alert_event(self.session) if self.has(hs.ALERTS) else Cursor(0)
