"""Opening a ClickHouse store: URLs, what is said when one cannot be opened, the optional extra,
and chDB's one process at a time, as a user meets them on the command line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.base.errors import InputError, SchemaTooNewError, StoreError
from console.store import open_store
from console.store.clickhouse.connect import parse_url
from tests.clickhouse_helpers import ChdbStores, chdb_stores
from tests.conftest import ROOT, run_cli

EXTRA = "pip install 'handoff-console[clickhouse]'"


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[ChdbStores]:
    yield from chdb_stores(tmp_path)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("chdb://relative/dir", "three slashes: chdb:///path/to/dir"),
        ("chdb://", "chdb needs a directory"),
        ("clickhouse:///otel", "no host"),
        ("clickhouse://host:port/otel", "bad port"),
        ("clickhouse://host:8123/otel/more", "the path names one database"),
        ("clickhouse://host:8123/ot-el", "'ot-el' is not a database name"),
        ("chdb:///tmp/x?database=a;b", "'a;b' is not a database name"),
        ("clickhouse://u:hunter2@host:8123/otel?compress=1", "unknown parameter 'compress'"),
    ],
)
def test_a_bad_url_is_one_line_that_says_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(InputError) as exc:
        open_store(url)
    text = str(exc.value)
    assert says in text
    assert "\n" not in text
    assert "hunter2" not in text


def test_urls_name_the_server_the_database_and_tls() -> None:
    plain = parse_url("clickhouse://reader:s%40cret@ch.example:9000/telemetry")
    assert (plain.host, plain.port, plain.database) == ("ch.example", 9000, "telemetry")
    assert (plain.username, plain.password, plain.secure) == ("reader", "s@cret", False)
    tls = parse_url("clickhouses://ch.example")
    assert (tls.port, tls.database, tls.secure) == (8443, "otel", True)
    assert parse_url("clickhouse://ch.example").port == 8123
    local = parse_url("chdb:///var/lib/handoff?database=team")
    assert (local.path, local.database, local.chdb) == ("/var/lib/handoff", "team", True)
    assert "s@cret" not in plain.display()


def test_an_unreachable_server_is_one_line(tmp_path: Path) -> None:
    done = run_cli("stats", "--store", "clickhouse://u:hunter2@127.0.0.1:1/otel")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: clickhouse://u@127.0.0.1:1/otel: cannot reach ClickHouse: connection refused"
    )


_WITHOUT_EXTRA = """
import sys
sys.modules["clickhouse_connect"] = None  # as if the extra were not installed
sys.modules["chdb"] = None
sys.argv = ["handoff-console", *sys.argv[1:]]
from console.cli.app import main
main()
"""


@pytest.mark.parametrize("url", ["clickhouse://127.0.0.1:8123/otel", "chdb://{tmp}/store"])
def test_without_the_extra_a_clickhouse_url_says_what_to_install(url: str, tmp_path: Path) -> None:
    url = url.format(tmp=tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_EXTRA, "stats", "--store", url],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert EXTRA in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing made


@pytest.mark.parametrize("command", ["trace", "serve", "tap"])
def test_the_store_option_names_the_extra_in_its_help(command: str) -> None:
    # The extra's brackets once read as rich markup and vanished from the help text.
    done = run_cli(command, "--help", env={"COLUMNS": "300"})
    assert done.returncode == 0, done.stderr
    assert "'handoff-console[clickhouse]'" in done.stdout


def test_the_sqlite_store_never_imports_the_clickhouse_client(tmp_path: Path) -> None:
    # The CLI's start-up time: a --db (or default) store must not pay for the extra.
    probe = textwrap.dedent(
        f"""
        import sys
        from console.store import open_store
        store = open_store({str(tmp_path / "s.db")!r})
        store.counts()
        store.close()
        import console.cli.app, console.cli.options
        loaded = sorted(m for m in sys.modules if m.startswith(("clickhouse_connect", "chdb")))
        print(loaded)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_chdb_store_held_by_another_process_is_one_line(stores: ChdbStores) -> None:
    url = stores.url()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom console.store import open_store\nheld = open_store(sys.argv[1])\n"
            "print('open', flush=True)\nsys.stdin.read()",
            url,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        done = run_cli("stats", "--store", url)
        assert done.returncode == 1
        assert done.stderr.strip() == (
            f"error: {url}: open in another process: chdb is one process only "
            "(stop that process, or use a ClickHouse server to share a store)"
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=60)
    # Let go: the store opens again, as it was.
    assert run_cli("stats", "--store", url, "--json").returncode == 0


def test_readers_never_create_a_store(stores: ChdbStores) -> None:
    url = stores.url("empty")
    done = run_cli("stats", "--store", url)
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: {url}: no database 'otel' there"
    with pytest.raises(StoreError, match="no database 'otel' there"):
        stores.open("empty", create=False)


def test_a_store_a_newer_console_wrote_is_refused(stores: ChdbStores) -> None:
    store = stores.open()
    store._client.command(
        "INSERT INTO otel.handoff_schema_migrations VALUES (99, 'from the future', now64(3))"
    )
    store.close()
    with pytest.raises(SchemaTooNewError, match="at version 99, written by a newer"):
        stores.open()


def test_db_and_store_together_are_refused(tmp_path: Path) -> None:
    done = run_cli(
        "journeys", "--db", str(tmp_path / "s.db"), "--store", "clickhouse://u:pw@h:8123/otel"
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"error: --db {tmp_path / 's.db'} and --store ")
    assert "both name a store: give one" in done.stderr
    assert ":pw@" not in done.stderr


def test_store_from_the_environment(stores: ChdbStores) -> None:
    url = stores.url()
    stores.open().close()  # made by a writer
    done = run_cli("stats", "--json", env={"HANDOFF_STORE": url})
    assert done.returncode == 0, done.stderr
    assert '"spans": 0' in done.stdout


def test_the_tui_on_a_store_no_writer_made_says_how_to_make_one(stores: ChdbStores) -> None:
    """The TUI reads a ClickHouse store (its dead letters too); one nothing wrote yet it cannot
    upgrade, and says in one line what does."""
    done = run_cli("tui", "--store", stores.url(), "--attach")
    assert done.returncode == 1
    assert "start `handoff-console serve --store" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
