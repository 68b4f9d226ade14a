"""The OpenTelemetry Collector's clickhouse exporter, as the tests' reference for the ClickHouse
store: its SQL templates (``internal/sqltemplates``, v0.165.1) from the Go module cache, fetched
with ``go mod download`` when they are not there, and rendered the way the exporter renders them
(``exporter_traces.go``, ``exporter_logs.go``, ``internal/metrics/metrics_model.go``: Go's
``fmt.Sprintf`` with ``%q``/``%s``, and ``text/template`` for the logs tables).

Nothing here comes from the console's own code: the tests compare what the console makes with
what this renders. ``ChdbStores`` hands out chDB stores in tmp directories and closes them (a
process holds one chDB directory at a time, so each test lets go of its own).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "EXPORTER_MODULE",
    "EXPORTER_VERSION",
    "exporter_insert_columns",
    "exporter_table_ddl",
    "exporter_templates",
    "normalized",
]

EXPORTER_MODULE = (
    "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/clickhouseexporter"
)
EXPORTER_VERSION = "v0.165.1"


def _go() -> str:
    go = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(go).exists():
        raise RuntimeError("no `go` toolchain on PATH: the exporter's templates cannot be fetched")
    return go


@functools.cache
def exporter_templates() -> Path:
    """The exporter's ``internal/sqltemplates`` directory: in the module cache, or downloaded
    there with ``go mod download`` (raises ``RuntimeError`` with go's error when it cannot: a
    test that needs it fails, it is never skipped)."""
    go = _go()
    cache = subprocess.run(
        [go, "env", "GOMODCACHE"], capture_output=True, text=True, check=True
    ).stdout.strip()
    where = Path(cache) / f"{EXPORTER_MODULE}@{EXPORTER_VERSION}" / "internal" / "sqltemplates"
    if not where.is_dir():
        done = subprocess.run(
            [go, "mod", "download", "-json", f"{EXPORTER_MODULE}@{EXPORTER_VERSION}"],
            capture_output=True,
            text=True,
            cwd=os.path.expanduser("~"),
        )
        if done.returncode:
            raise RuntimeError(f"go mod download failed: {done.stdout[-800:]}{done.stderr[-800:]}")
        where = Path(json.loads(done.stdout)["Dir"]) / "internal" / "sqltemplates"
    return where


def _template(name: str) -> str:
    return (exporter_templates() / name).read_text()


def _ttl(ttl_s: int, field: str) -> str:
    """internal/clickhouse.go GenerateTTLExpr, for the whole hours the tests use."""
    if not ttl_s:
        return ""
    assert ttl_s % 3600 == 0 and ttl_s % 86400, "the tests give whole hours, not days"
    return f"TTL {field} + toIntervalHour({ttl_s // 3600})"


def _go_template(text: str, data: dict[str, Any]) -> str:
    """The few ``text/template`` actions the logs templates use: ``{{ident .X}}``, ``{{.X}}``
    and ``{{- if .X}} ... {{- else}} ... {{- end}}`` (``{{-`` trims the space before it)."""

    def ident(name: str) -> str:
        return "`" + name.replace("`", "\\`") + "`"

    def branch(match: re.Match[str]) -> str:
        return match.group(2) if data[match.group(1)] else match.group(3)

    text = re.sub(
        r"\s*\{\{- if \.(\w+)\}\}(.*?)\s*\{\{- else\}\}(.*?)\s*\{\{- end\}\}",
        branch,
        text,
        flags=re.S,
    )
    text = re.sub(r"\{\{ident \.(\w+)\}\}", lambda m: ident(data[m.group(1)]), text)
    return re.sub(r"\{\{\.(\w+)\}\}", lambda m: str(data[m.group(1)]), text)


def _sprintf(template: str, *args: str) -> str:
    """Go's ``fmt.Sprintf`` for the verbs the templates use: ``%s`` and ``%q`` (a quoted
    string), one argument each, in order."""
    values = iter(args)

    def verb(match: re.Match[str]) -> str:
        value = next(values)
        return json.dumps(value) if match.group(1) == "q" else value

    out = re.sub(r"%([sq])", verb, template)
    assert next(values, None) is None, "more arguments than verbs"
    return out


METRIC_TABLES = {
    "gauge": ("metrics_gauge_table.sql", "otel_metrics_gauge"),
    "sum": ("metrics_sum_table.sql", "otel_metrics_sum"),
    "histogram": ("metrics_histogram_table.sql", "otel_metrics_histogram"),
    "exponential_histogram": (
        "metrics_exp_histogram_table.sql",
        "otel_metrics_exponential_histogram",
    ),
    "summary": ("metrics_summary_table.sql", "otel_metrics_summary"),
}


def exporter_table_ddl(
    database: str = "otel",
    *,
    cluster: str | None = None,
    engine: str = "MergeTree()",
    ttl_s: int = 0,
    full_text: bool = True,
    json_tables: bool = False,
) -> dict[str, str]:
    """Every table's CREATE statement (and the view's) as the exporter renders it with these
    settings, by table name (config.go: ``ON CLUSTER `name```, ``Engine(params)``)."""
    on = f"ON CLUSTER `{cluster}`" if cluster else ""
    ts = "toDateTime(Timestamp)"
    traces = "traces_json_table.sql" if json_tables else "traces_table.sql"
    out = {
        "otel_traces": _sprintf(
            _template(traces), database, "otel_traces", on, engine, _ttl(ttl_s, ts)
        ),
        "otel_traces_trace_id_ts": _sprintf(
            _template("traces_id_ts_lookup_table.sql"),
            database,
            "otel_traces",
            on,
            engine,
            _ttl(ttl_s, "toDateTime(Start)"),
        ),
        "otel_traces_trace_id_ts_mv": _sprintf(
            _template("traces_id_ts_lookup_mv.sql"),
            *(database, "otel_traces", on, database, "otel_traces", database, "otel_traces"),
        ),
    }
    logs = "logs_json_table.sql" if json_tables else "logs_table.sql"
    out["otel_logs"] = _go_template(
        _template(logs),
        {
            "Database": database,
            "TableName": "otel_logs",
            "ClusterString": on,
            "Engine": engine,
            "TTL": _ttl(ttl_s, ts),
            "HasFullTextSearch": full_text,
        },
    )
    for file, table in METRIC_TABLES.values():
        out[table] = _sprintf(
            _template(file), database, table, on, engine, _ttl(ttl_s, "toDateTime(TimeUnix)")
        )
    return out


def exporter_insert_columns(name: str) -> list[str]:
    """The column list of one of the exporter's INSERT templates (``traces_insert.sql``...),
    without the feature columns it appends (``{{.FeatureColumnNames}}``, the JSON ``%s``)."""
    text = _template(name)
    head = re.sub(r"\{\{.*?\}\}|%s", "", text[text.index("(") + 1 : text.index(")")])
    return [c.strip() for c in head.split(",") if c.strip()]


def normalized(statement: str) -> str:
    """A statement with its whitespace collapsed and identifiers quoted one way (Go's ``%q``
    quotes them in double quotes, the templates' ``ident`` and the console in backticks)."""
    text = statement.replace('"', "`")
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"\s*([(),])\s*", r"\1", text)


class ChdbStores:
    """chDB stores in tmp directories for one test, every one closed at its end."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._open: list[Any] = []

    def url(self, name: str = "store", database: str | None = None) -> str:
        suffix = f"?database={database}" if database else ""
        return f"chdb://{self.base / name}{suffix}"

    def open(self, name: str = "store", **kwargs: Any) -> Any:
        from console.store import open_store

        store = open_store(self.url(name, kwargs.pop("database", None)), **kwargs)
        self._open.append(store)
        return store

    def keep(self, thing: Any) -> Any:
        """Close ``thing`` (a writer, a client) with the stores, before them."""
        self._open.insert(0, thing)
        return thing

    def close(self) -> None:
        for thing in self._open:
            thing.close()
        self._open.clear()


def chdb_stores(base: Path) -> Iterator[ChdbStores]:
    stores = ChdbStores(base)
    try:
        yield stores
    finally:
        stores.close()
