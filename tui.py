"""handoff-console's terminal UI: ``make_app(...)`` builds it (the ``tui`` command and the tests).

    from tui import make_app
    app = make_app("handoff.db")                 # reads the store, in-process runtime optional
    app.run()

The Textual screens, widgets, messages and styles live in the ``tui_app`` package beside this file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.alerts import Rule
from console.runtime.contracts_default import default_contracts_dir
from console.store import Storage
from tui_app.app import HandoffApp
from tui_app.source import DataSource, Runtime

__all__ = ["HandoffApp", "Runtime", "make_app"]


def make_app(
    db_path: str | os.PathLike[str] | Storage,
    *,
    attach: bool = False,
    runtime: Runtime | None = None,
    now: int | Callable[[], int] | None = None,
    refresh_s: float = 1.0,
    bootstrap: str | None = None,
    contracts_dir: str | os.PathLike[str] | None = None,
    kafka: dict[str, Any] | None = None,
    schema_registry: str | None = None,
    schema_registry_config: str | os.PathLike[str] | None = None,
    since_s: float | str | None = 900.0,
    rules: list[Rule] | None = None,
) -> HandoffApp:
    """Build the app over the store at ``db_path`` (a SQLite file, or a store URL), or over a
    store already open (``console.store.open_store``: the demo shares its own with the TUI),
    left open for its owner.

    ``attach``: only read a store a running ``serve`` writes (the health line says so).
    ``runtime``: an in-process collector and tap (``status()``, ``stop()``) whose status the
    health line shows; the caller starts and stops it.
    ``now``: a fixed time in ns (or a clock) so tests and snapshots are deterministic.
    ``bootstrap``: Kafka for DLQ replay (``kafka``: the whole librdkafka configuration, SASL/SSL
    included, when the command line gave one); ``contracts_dir``: JSON Schemas for DLQ validation;
    ``schema_registry`` (and its client ``schema_registry_config``): decodes wire-format payloads.
    ``since_s``: the time window every screen starts with (``w`` cycles it; None or "all": all).
    ``rules``: the alert rules the app evaluates (``console.alerts.load_rules``; default rules
    when None).
    """
    clock = (lambda: now) if isinstance(now, int) else now
    where: Path | str | Storage
    if isinstance(db_path, str) and "://" in db_path:
        where = db_path  # a store URL
    elif isinstance(db_path, str | os.PathLike):
        where = Path(db_path)
    else:
        where = db_path  # an open store, shared
    source = DataSource(
        where,
        clock=clock,
        runtime=runtime,
        bootstrap=bootstrap,
        contracts_dir=Path(contracts_dir) if contracts_dir else None,
        default_contracts_dir=default_contracts_dir(),
        kafka=kafka,
        schema_registry=schema_registry,
        schema_registry_config=Path(schema_registry_config) if schema_registry_config else None,
        rules=rules,
    )
    source.set_window(None if since_s in (None, "all") else float(since_s))
    return HandoffApp(source, attach=attach, refresh_s=refresh_s)
