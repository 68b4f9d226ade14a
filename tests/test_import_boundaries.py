"""The rooms stay honest: headless parts never load the TUI; the demo never imports the console."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_HEADLESS = (
    "collectors.otlp.decode",
    "collectors.otlp.grpc_server",
    "collectors.otlp.http_server",
    "collectors.kafka.tap",
    "console.store",
    "console.runtime.daemon",
    "console.journeys",
    "console.dlq",
    "console.dlq.replay",
    "console.readers.panels",
    "console.alerts",
    "console.alerts.alertmanager",
    "console.cli.app",
    "console.cli.watch_cmd",
)


def test_collectors_store_and_cli_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in _HEADLESS)
        + "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.strip() == "[]"


def test_collectors_know_nothing_of_sql() -> None:
    for path in (ROOT / "collectors").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names]
                module = getattr(node, "module", None) or ""
                assert "sqlite3" not in names and module != "sqlite3", path
                assert not module.startswith(("console.store.sqlite.rows", "console.store")), path


def test_collectors_load_no_sqlite_even_indirectly() -> None:
    """The receivers and the tap see the store only as a ``Sink``: importing them must not pull in
    sqlite3 through some other module (a direct-import check missed exactly that once)."""
    modules = ("collectors.otlp.grpc_server", "collectors.otlp.http_server", "collectors.kafka.tap")
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print(sorted(m for m in sys.modules"
        + " if m in ('sqlite3', '_sqlite3') or m.startswith('console.store')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout
    assert out.strip() == "[]"


def test_demo_pipeline_talks_to_the_console_only_through_otlp_and_kafka() -> None:
    for path in (ROOT / "demo_pipeline").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(("console", "collectors", "tui")), path
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(("console", "collectors", "tui")), path


_SQL = re.compile(
    r"\s*(SELECT\b.*\bFROM\b|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|PRAGMA\s)",
    re.S,
)


def test_the_tui_runs_no_sql() -> None:
    """Screens and workers call the readers in ``console/``; no statement is written here."""
    offenders = []
    for path in [ROOT / "tui.py", *sorted((ROOT / "tui_app").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("execute", "executemany", "executescript")
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _SQL.match(node.value)
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders


def test_the_collectors_contract_names_every_console_room_but_the_base() -> None:
    """import-linter has no allow-list contract: the collectors' one forbids every room of the
    console but ``console.base`` by name, so a room added later must be named there too; and the
    console keeps no module outside a room (only the package's own ``__init__``/``__main__``)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = (c for c in config["contracts"] if c.get("source_modules") == ["collectors"])
    named = {m for m in contract["forbidden_modules"] if m.startswith("console.")}
    console = ROOT / "console"
    loose = sorted(p.name for p in console.glob("*.py") if not p.stem.startswith("__"))
    assert loose == [], f"modules outside a room: {loose}"
    rooms = {f"console.{p.name}" for p in console.iterdir() if (p / "__init__.py").exists()}
    assert named == rooms - {"console.base"}
    (layers,) = (c for c in config["contracts"] if c.get("type") == "layers")
    layered = {f"console.{r.strip()}" for layer in layers["layers"] for r in layer.split(":")}
    assert layered == rooms, "every room has its place in the layers contract"
