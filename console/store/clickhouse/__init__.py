"""The ClickHouse store: the OpenTelemetry Collector's clickhouse exporter tables and the
console's own ``handoff_*`` tables, on a server (``clickhouse://``) or in-process (``chdb://``).

Its modules import clickhouse-connect, the optional extra
(``pip install 'handoff-console[clickhouse]'``): import them only when a ClickHouse URL is used.

* ``connect``: store URLs, the client, the engine's errors as one-line ``StoreError``s.
* ``otel_schema``: the exporter's DDL (v0.165.1 templates); ``layout``: the variant found.
* ``handoff_schema``: the console's tables and their versioned migrations.
"""
