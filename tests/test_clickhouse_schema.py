"""The ClickHouse store's tables are the OpenTelemetry Collector clickhouse exporter's (v0.165.1),
column for column, so a team's Grafana or HyperDX reads what the console writes and the console
reads what their Collector wrote. The reference is the exporter's own templates, rendered as the
exporter renders them (tests/clickhouse_helpers.py), never the console's copy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.base.model import Span
from console.store.clickhouse import handoff_schema, otel_schema, rows
from console.store.clickhouse.layout import TableLayout
from tests.clickhouse_helpers import (
    ChdbStores,
    chdb_stores,
    exporter_insert_columns,
    exporter_table_ddl,
    normalized,
)

TWO_HOURS = 7200


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[ChdbStores]:
    yield from chdb_stores(tmp_path)


def _describe(client: Any, database: str) -> dict[str, dict[str, Any]]:
    """Per table: its columns (every property ClickHouse keeps of one), its indexes, its keys,
    engine and TTL, as the engine reports them."""
    out: dict[str, dict[str, Any]] = {}
    for table, *column in client.query(
        "SELECT table, position, name, type, default_kind, default_expression,"
        " compression_codec, comment FROM system.columns WHERE database = {db:String}"
        " ORDER BY table, position",
        parameters={"db": database},
    ).result_rows:
        out.setdefault(table, {"columns": [], "indexes": []})["columns"].append(tuple(column))
    for table, *index in client.query(
        "SELECT table, name, type_full, expr, granularity FROM system.data_skipping_indices"
        " WHERE database = {db:String} ORDER BY table, name",
        parameters={"db": database},
    ).result_rows:
        out[table]["indexes"].append(tuple(index))
    for table, engine, partition, sorting, primary, create in client.query(
        "SELECT name, engine, partition_key, sorting_key, primary_key, create_table_query"
        " FROM system.tables WHERE database = {db:String}",
        parameters={"db": database},
    ).result_rows:
        entry = out.setdefault(table, {"columns": [], "indexes": []})
        entry["keys"] = (engine, partition, sorting, primary)
        # The TTL and SETTINGS clauses, and a view's query, as the engine keeps them (minus the
        # database's name, which differs between the two sides here).
        entry["tail"] = create.split(") ENGINE", 1)[-1].replace(f"{database}.", "")
    return out


def test_the_tables_the_console_creates_are_the_exporters_column_for_column(
    stores: ChdbStores,
) -> None:
    store = stores.open(ttl_s=TWO_HOURS)
    client = store._client
    client.command("CREATE DATABASE exporter")
    for statement in exporter_table_ddl("exporter", ttl_s=TWO_HOURS).values():
        client.command(statement)
    ours = _describe(client, "otel")
    theirs = _describe(client, "exporter")
    assert set(theirs) == set(otel_schema.TABLES) | {otel_schema.TRACES_ID_TS_MV}
    for table, reference in theirs.items():
        assert ours[table] == reference, table
    # The exporter's default names: the exponential histograms keep the long one.
    assert "otel_metrics_exponential_histogram" in ours
    assert ours["otel_logs"]["tail"].count("toIntervalHour(2)") == 1


@pytest.mark.parametrize("full_text", [True, False], ids=["text indexes", "bloom filters"])
def test_every_statement_is_the_exporters_on_a_cluster_with_a_ttl(full_text: bool) -> None:
    # ON CLUSTER cannot run in chDB (no cluster there): the statements are compared as text,
    # with the engine the exporter is given on a cluster (table_engine: ReplicatedMergeTree).
    version = (26, 9) if full_text else (25, 8)
    ours = dict(otel_schema.render_ddl(otel_schema.OtelDDL("otel", "main", TWO_HOURS, version)))
    theirs = exporter_table_ddl(
        "otel",
        cluster="main",
        engine="ReplicatedMergeTree()",
        ttl_s=TWO_HOURS,
        full_text=full_text,
    )
    assert set(ours) == set(theirs)
    for table, statement in theirs.items():
        assert normalized(ours[table]) == normalized(statement), table
    assert normalized(otel_schema.create_database_sql("otel", "main")) == normalized(
        'CREATE DATABASE IF NOT EXISTS "otel" ON CLUSTER `main`'
    )


_INSERTS = {
    "gauge": "metrics_gauge_insert.sql",
    "sum": "metrics_sum_insert.sql",
    "histogram": "metrics_histogram_insert.sql",
    "exponential_histogram": "metrics_exp_histogram_insert.sql",
    "summary": "metrics_summary_insert.sql",
}


@pytest.mark.parametrize(
    ("template", "ours"),
    [
        ("traces_insert.sql", rows.TRACE_COLUMNS),
        ("logs_insert.sql", rows.log_insert_columns(TableLayout("otel_logs"))),
        *((_INSERTS[kind], rows.metric_insert_columns(kind)) for kind in otel_schema.METRICS),
    ],
)
def test_the_writer_inserts_in_the_exporters_column_order(
    template: str, ours: tuple[str, ...]
) -> None:
    assert list(ours) == exporter_insert_columns(template)


def test_the_handoff_tables_on_a_cluster_are_replicated_and_have_their_ttl() -> None:
    statements = handoff_schema.statements(handoff_schema.HandoffDDL("otel", "main", TWO_HOURS))
    tables = [s for s in statements if s.startswith("CREATE TABLE")]
    assert len(tables) == len(handoff_schema.TABLES) + 1  # and the migrations table
    for statement in tables:
        assert "ON CLUSTER `main`" in statement
        assert "ENGINE = Replicated" in statement
    hops = next(s for s in statements if "`handoff_hops`" in s)
    assert "ENGINE = ReplicatedReplacingMergeTree(SeenAt)" in hops
    assert "TTL toDateTime(SeenAt) + toIntervalHour(2)" in hops
    letters = next(s for s in statements if "`handoff_dead_letters`" in s)
    assert "TTL" not in letters  # a TTL would drop a newer version and bring back "pending"


def test_the_handoff_tables_carry_the_retention_age_as_a_ttl(stores: ChdbStores) -> None:
    store = stores.open(ttl_s=TWO_HOURS)
    queries = _created(store)
    assert "TTL toDateTime(SeenAt) + toIntervalHour(2)" in queries["handoff_hops"]
    assert "TTL toDateTime(Timestamp) + toIntervalHour(2)" in queries["handoff_series"]
    assert "TTL toDateTime(Timestamp) + toIntervalHour(2)" in queries["otel_traces"]
    assert "TTL toDateTime(TimeUnix) + toIntervalHour(2)" in queries["otel_metrics_sum"]
    assert "TTL toDateTime(Timestamp) + toIntervalHour(2)" in queries["handoff_journey_spans"]
    assert "TTL" not in queries["handoff_replays"]  # the ledger and the audit are never dropped
    assert "TTL" not in queries["handoff_audit"]


def test_tables_a_collector_made_are_used_as_they_are(stores: ChdbStores) -> None:
    # A team's Collector made otel_traces first, without a TTL; the console opens the store
    # with --retention-age and leaves that table alone (it creates only what is missing).
    _collector_made_traces(stores)
    opened = stores.open("team", ttl_s=TWO_HOURS)
    queries = _created(opened)
    assert "TTL" not in queries["otel_traces"]
    assert "toIntervalHour(2)" in queries["otel_logs"]  # missing: made by the console
    # The console's copy of the spans is the console's: bounded by --retention-age.
    assert "toIntervalHour(2)" in queries["handoff_journey_spans"]


def test_the_span_copy_drops_spans_when_a_collectors_otel_traces_does(stores: ChdbStores) -> None:
    # A team's Collector keeps spans 5 hours (its ttl); a console without --retention-age
    # copies them (handoff_journey_spans) and must not keep its copy forever: it takes the
    # TTL of the table it copies.
    _collector_made_traces(stores, ttl_s=5 * 3600)
    opened = stores.open("team")
    queries = _created(opened)
    assert "TTL toDateTime(Timestamp) + toIntervalHour(5)" in queries["otel_traces"]
    assert "TTL toDateTime(Timestamp) + toIntervalHour(5)" in queries["handoff_journey_spans"]
    assert "TTL" not in queries["handoff_hops"]  # the console's own: no --retention-age


def _created(store: Any) -> dict[str, str]:
    """Each table's CREATE statement in the store's ``otel`` database, by name."""
    return dict(
        store._client.query(
            "SELECT name, create_table_query FROM system.tables WHERE database = 'otel'"
        ).result_rows
    )


def _collector_made_traces(stores: ChdbStores, ttl_s: int = 0) -> None:
    """``otel_traces`` alone in store "team", as a team's Collector makes it (``ttl_s``: its
    ``ttl``)."""
    collector = _raw_client(stores.url("team"))
    collector.command("CREATE DATABASE otel")
    collector.command(exporter_table_ddl("otel", ttl_s=ttl_s)["otel_traces"])
    collector.close()


def _raw_client(url: str) -> Any:
    import clickhouse_connect

    return clickhouse_connect.get_client(dsn=url)


def test_migrations_are_recorded_and_run_once(
    stores: ChdbStores, capsys: pytest.CaptureFixture[str]
) -> None:
    store = stores.open()
    store.close()
    assert capsys.readouterr().err == ""  # a new store: no rows to fill lookups from
    again = stores.open()
    rows_ = again._client.query(
        "SELECT Version, count() FROM otel.handoff_schema_migrations FINAL GROUP BY Version"
        " ORDER BY Version"
    ).result_rows
    assert rows_ == [(version, 1) for version in sorted(handoff_schema.MIGRATIONS)]
    assert again.schema_version == handoff_schema.SCHEMA_VERSION


def _downgrade(client: Any, version: int) -> None:
    """Make a store's handoff_* tables what a console at ``version`` left: the views and tables
    later versions made are dropped, their migrations forgotten."""
    made: list[str] = []
    for step in range(version + 1, handoff_schema.SCHEMA_VERSION + 1):
        for table, statement in handoff_schema.render_migration(step, handoff_schema.HandoffDDL()):
            if statement.startswith("CREATE") and table not in made:
                made.append(table)
    for table in reversed(made):  # views before their tables
        kind = "VIEW" if table.endswith("_mv") else "TABLE"
        client.command(f"DROP {kind} otel.`{table}`")
    client.command(
        f"ALTER TABLE otel.handoff_schema_migrations DELETE WHERE Version > {version}"
        " SETTINGS mutations_sync = 2"
    )


def test_traces_linking_before_and_after_the_links_lookup_existed_join_the_journey(
    stores: ChdbStores,
) -> None:
    # A store made at version 2 (no handoff_trace_links): a consumer's trace links to the
    # producer's. The next console upgrades it (version 3 fills the lookup from otel_traces),
    # then a second consumer's trace links in through the view.
    from console.journeys import journey
    from tests.journey_fixtures import Flow, hexid, order_placed

    store = stores.open()
    _downgrade(store._client, 2)
    flow = Flow("order-9", 1_700_000_000 * 10**9)
    producer = order_placed(flow)
    before, after = hexid(32), hexid(32)
    flow.span("fulfilment", "orders process", before, 50, 5, with_cid=False, links=(producer,))
    store.write(flow.records)
    store.close()
    store = stores.open()
    assert store.schema_version == handoff_schema.SCHEMA_VERSION
    late = Flow("order-9", flow.t0_ns)
    late.span("shipping", "orders process", after, 90, 5, with_cid=False, links=(producer,))
    store.write(late.records)
    linking = store._client.query(
        "SELECT DISTINCT TraceId FROM otel.handoff_trace_links ORDER BY TraceId"
    ).result_rows
    assert linking == sorted([(before,), (after,)])
    found = journey(store, trace_id=producer.trace_id, now_ns=flow.t0_ns + 10**12)
    assert found is not None
    assert {producer.trace_id, before, after} <= {s.trace_id for s in found.spans}


def test_a_store_from_before_the_journey_keys_gets_them_filled_and_its_journeys_found(
    stores: ChdbStores,
) -> None:
    # A store a console at version 3 wrote: a completed journey, one stalled on its first send
    # (no consumer span names its offset). The next console adds version 4's lookups and
    # fills them from those rows; journey() and the stalled search read through them then,
    # and find what the scans of the exporter's tables found before.
    import time

    from console.journeys import journey, journeys
    from tests.journey_fixtures import ORDERS, Flow, completed_flow, order_placed

    now = time.time_ns()
    store = stores.open()
    _downgrade(store._client, 3)
    done = completed_flow("order-done", now - 300 * 10**9)
    stuck = Flow("order-stuck", now - 200 * 10**9)
    stuck.hop(ORDERS, 31, order_placed(stuck))
    store.write(done.records + stuck.records)
    reader = store.reader()
    assert not reader.keyed  # version 3: the exporter's tables are scanned
    before = {
        c: journey(reader, correlation_id=c, now_ns=now) for c in ("order-done", "order-stuck")
    }
    stalled_before = journeys(reader, status="stalled", since_s=900, now_ns=now)
    reader.close()
    store.close()

    store = stores.open()
    assert store.schema_version == handoff_schema.SCHEMA_VERSION
    keyed = store._client.query(
        "SELECT DISTINCT Id FROM otel.handoff_journey_keys WHERE By = 'correlation' ORDER BY Id"
    ).result_rows
    assert keyed == [("order-done",), ("order-stuck",)]
    sends = store._client.query(
        "SELECT CorrelationId, count() FROM otel.handoff_sends GROUP BY CorrelationId"
        " ORDER BY CorrelationId"
    ).result_rows
    assert [cid for cid, _ in sends] == ["order-done", "order-stuck"]
    reader = store.reader()
    assert reader.keyed and reader.summarised
    for cid, was in before.items():
        now_found = journey(reader, correlation_id=cid, now_ns=now)
        assert was is not None and now_found is not None
        assert now_found.status == was.status
        assert {(s.trace_id, s.span_id) for s in now_found.spans} == {
            (s.trace_id, s.span_id) for s in was.spans
        }
        assert {(h.topic, h.partition, h.offset) for h in now_found.hops} == {
            (h.topic, h.partition, h.offset) for h in was.hops
        }
        assert now_found.trace_ids == was.trace_ids
    stalled = journeys(reader, status="stalled", since_s=900, now_ns=now)
    assert [(s.correlation_id, s.where) for s in stalled] == [("order-stuck", ORDERS)]
    assert stalled == stalled_before
    reader.close()


def test_a_store_from_before_the_span_copy_gets_it_filled_and_its_journeys_read_the_same(
    stores: ChdbStores, capsys: pytest.CaptureFixture[str]
) -> None:
    # A store a console at version 5 wrote: a completed journey, one of its spans stored twice
    # (an exporter's retry). The next console copies the spans by trace id in small granules
    # (version 6) and reads journeys there: every span field, once, as it read them from
    # otel_traces before. Spans stored after the upgrade reach the copy by its view.
    import time

    from console.journeys import journey
    from console.store.identity import span_identity
    from tests.journey_fixtures import Flow, completed_flow, order_placed

    now = time.time_ns()
    store = stores.open()
    _downgrade(store._client, 5)
    done = completed_flow("order-copied", now - 300 * 10**9)
    spans = [r for r in done.records if isinstance(r, Span)]
    store.write(done.records)
    store.write([spans[0]])
    reader = store.reader()
    assert not reader.spans_copied
    was = journey(reader, correlation_id="order-copied", now_ns=now)
    reader.close()
    store.close()

    capsys.readouterr()
    store = stores.open()
    assert store.schema_version == handoff_schema.SCHEMA_VERSION
    said = capsys.readouterr().err  # the upgrade says what it copies, and when it is done
    assert f"version 6: filling `otel`.`handoff_journey_spans` from {len(spans) + 1} rows" in said
    assert "version 6: `otel`.`handoff_journey_spans` filled in " in said
    reader = store.reader()
    assert reader.spans_copied
    copied = store._client.query(
        "SELECT count(), uniqExact(TraceId, SpanId),"
        " (SELECT count() FROM otel.otel_traces) FROM otel.handoff_journey_spans"
    ).result_rows
    (rows_, distinct, stored), = copied  # fmt: skip
    assert stored == len(spans) + 1 and distinct == len(spans) and rows_ >= distinct
    now_found = journey(reader, correlation_id="order-copied", now_ns=now)
    assert was is not None and now_found is not None
    assert len(now_found.spans) == len(spans)
    assert sorted(now_found.spans, key=span_identity) == sorted(was.spans, key=span_identity)
    assert now_found.status == was.status

    late = Flow("order-copied", now - 100 * 10**9)
    late_span = order_placed(late)
    store.write(late.records)
    later = journey(reader, correlation_id="order-copied", now_ns=now)
    assert later is not None
    assert span_identity(late_span) in {span_identity(s) for s in later.spans}
    reader.close()
