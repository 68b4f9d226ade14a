"""Store URLs and the clickhouse-connect client behind them.

* ``clickhouse://user:password@host:8123/database``: a ClickHouse server over HTTP;
  ``clickhouses://`` over HTTPS (port 8443 unless named).
* ``chdb:///path`` (optionally ``?database=DB``): the in-process engine through the same
  client API. One process holds a chDB path at a time, and a process holds one path.

The database defaults to ``otel``. Names are always written database-qualified, so the
client's own default database is never relied on (it need not exist yet when we connect).
The engine's errors become one-line ``StoreError``s here; nothing above names
clickhouse-connect's exceptions.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from console.base.errors import InputError, StoreError

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

__all__ = [
    "CHDB_OPTIONS",
    "DEFAULT_DATABASE",
    "EXTRA",
    "Target",
    "connect",
    "engine_error",
    "parse_url",
]

DEFAULT_DATABASE = "otel"
EXTRA = "pip install 'handoff-console[clickhouse]'"
SCHEMES = ("clickhouse", "clickhouses", "chdb")
_DATABASE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Target:
    """Where a ClickHouse store is: a server (``host``...) or a chDB directory (``path``)."""

    scheme: str
    database: str = DEFAULT_DATABASE
    host: str = ""
    port: int = 0
    username: str = "default"
    password: str = ""
    path: str = ""

    @property
    def chdb(self) -> bool:
        return self.scheme == "chdb"

    @property
    def secure(self) -> bool:
        return self.scheme == "clickhouses"

    def display(self) -> str:
        """The URL for messages, without the password."""
        if self.chdb:
            suffix = "" if self.database == DEFAULT_DATABASE else f"?database={self.database}"
            return f"chdb://{self.path}{suffix}"
        return f"{self.scheme}://{self.username}@{self.host}:{self.port}/{self.database}"


def parse_url(url: str) -> Target:
    """A ``Target`` from a store URL; ``InputError`` (one line) for a URL that cannot be one."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise InputError(
            f"{url}: not a ClickHouse store URL (clickhouse://, clickhouses://, chdb://)"
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - {"database"})
    if unknown:
        raise InputError(f"{_safe(url)}: unknown parameter {unknown[0]!r} (known: database)")
    if scheme == "chdb":
        if parts.netloc:
            raise InputError(
                f"{url}: chdb needs an absolute directory, three slashes: chdb:///path/to/dir"
            )
        if not parts.path or parts.path == "/":
            raise InputError(f"{url}: chdb needs a directory: chdb:///path/to/dir")
        database = query.get("database") or DEFAULT_DATABASE
        return Target("chdb", _database(database, url), path=unquote(parts.path))
    if not parts.hostname:
        raise InputError(f"{_safe(url)}: no host (clickhouse://user:password@host:8123/database)")
    try:
        port = parts.port
    except ValueError as exc:
        raise InputError(f"{_safe(url)}: bad port ({exc})") from exc
    path_db = unquote(parts.path.strip("/"))
    if "/" in path_db:
        raise InputError(f"{_safe(url)}: the path names one database (…/database)")
    database = path_db or query.get("database") or DEFAULT_DATABASE
    return Target(
        scheme,
        _database(database, url),
        host=parts.hostname,
        port=port or (8443 if scheme == "clickhouses" else 8123),
        username=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password) if parts.password else "",
    )


def _database(name: str, url: str) -> str:
    if not _DATABASE.match(name):
        raise InputError(f"{_safe(url)}: {name!r} is not a database name (letters, digits, _)")
    return name


def _safe(url: str) -> str:
    """The URL without its password (for messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


#: The in-process engine's own options. chDB starts with no uncompressed-block cache, so every
#: lookup decompressed whole granules again; with one (and the readers' queries asking for it,
#: ``use_uncompressed_cache``), a journey's second read of a granule is a copy. Measured on
#: 100k spans + 100k hops: a hop lookup 13.7 -> 6 ms (``bench/journey_backends.py``).
CHDB_OPTIONS = {"uncompressed_cache_size": str(256 << 20)}


def connect(target: Target) -> Client:
    """A client for ``target`` (its default database left as the server's: names are
    qualified). ``InputError`` without the extra; ``StoreError`` when the engine refuses."""
    try:
        import clickhouse_connect
    except ImportError as exc:
        raise InputError(f"{target.display()}: the ClickHouse store needs {EXTRA}") from exc
    _quiet_client_log()
    try:
        if target.chdb:
            try:
                import chdb  # noqa: F401
            except ImportError as exc:
                raise InputError(f"{target.display()}: the chDB store needs {EXTRA}") from exc
            with _engine_stderr() as failed:
                try:
                    return clickhouse_connect.get_client(
                        dsn=f"chdb://{target.path}", chdb_options=CHDB_OPTIONS
                    )
                except Exception:
                    failed.append(True)
                    raise
        return clickhouse_connect.get_client(
            host=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            secure=target.secure,
            interface="https" if target.secure else "http",
            connect_timeout=10,
            send_receive_timeout=300,
        )
    except InputError:
        raise
    except Exception as exc:
        raise engine_error(target, exc) from exc


@contextlib.contextmanager
def _engine_stderr() -> Iterator[list[bool]]:
    """While chDB starts its engine: what the engine prints on file descriptor 2 (its own
    "Code: 76. DB::Exception: Cannot lock file ..." when another process holds the directory)
    is held back, dropped when the start failed (the ``StoreError`` says it in one line) and
    passed on when it did not. The caller appends to the yielded list when it failed."""
    failed: list[bool] = []
    try:
        saved = os.dup(2)
    except OSError:
        yield failed
        return
    with tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        os.dup2(held.fileno(), 2)
        try:
            yield failed
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if not failed:
                held.seek(0)
                text = held.read()
                if text:
                    sys.stderr.buffer.write(text)
                    sys.stderr.flush()


def _quiet_client_log() -> None:
    """clickhouse-connect logs a failed request at ERROR before it raises; the error reaches the
    user once, as a ``StoreError``. Where the program configured no logging, that log line
    would print through Python's last-resort handler: give its logger a handler that drops it
    (records still propagate to handlers the program set up, e.g. ``tap``'s stderr log)."""
    import logging

    logger = logging.getLogger("clickhouse_connect")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def engine_error(target: Target, exc: BaseException) -> StoreError:
    """The one-line ``StoreError`` for an engine's failure to open or answer."""
    text = " ".join(str(exc).split())
    where = target.display()
    if "Error initializing EmbeddedServer" in text or "Cannot lock file" in text:
        return StoreError(
            f"{where}: open in another process: chdb is one process only "
            "(stop that process, or use a ClickHouse server to share a store)"
        )
    found = re.search(r"already initialized with path '([^']*)'", text)
    if found:
        return StoreError(
            f"{where}: this process already has chdb store {found.group(1)} open: "
            "chdb holds one directory per process"
        )
    if "Failed to establish a new connection" in text or "Connection refused" in text:
        return StoreError(f"{where}: cannot reach ClickHouse: connection refused")
    found = re.search(r"Code: \d+\. DB::Exception: (.*?)(?: \(([A-Z_]+)\))?(?:\. \(|$)", text)
    if found:
        text = found.group(1).rstrip(".")
    return StoreError(f"{where}: {text[:300]}")
