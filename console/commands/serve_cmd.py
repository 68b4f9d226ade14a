"""``handoff-console serve``: the headless daemon (OTLP receivers into the store)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from console.config import DEFAULT_OTLP_GRPC, DEFAULT_OTLP_HTTP, default_db_path
from console.errors import InputError
from console.options import DbOpt

__all__ = ["parse_duration", "parse_size", "register"]

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_UNITS_B = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``24h``, ``7d``, ``2w`` (or plain seconds) as seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not m:
        raise InputError(f"{text!r} is not a duration like 24h, 30m or 7d")
    return float(m.group(1)) * _UNITS_S[m.group(2) or "s"]


def parse_size(text: str) -> int:
    """``2GB``, ``500MB``, ``1GiB`` (or plain bytes) as bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*", text.lower())
    if not m or m.group(2) not in _UNITS_B:
        raise InputError(f"{text!r} is not a size like 2GB or 500MB")
    return int(float(m.group(1)) * _UNITS_B[m.group(2)])


def _listen(option: str, text: str) -> tuple[str, int] | None:
    from collectors.otlp.common import parse_address

    if text.strip().lower() == "off":
        return None
    try:
        return parse_address(text)
    except ValueError as exc:
        raise InputError(f"{option}: {exc} (or 'off')") from None


def serve(
    db: DbOpt = None,
    otlp_grpc: Annotated[
        str, typer.Option("--otlp-grpc", help="OTLP/gRPC listen address HOST:PORT, or 'off'.")
    ] = DEFAULT_OTLP_GRPC,
    otlp_http: Annotated[
        str, typer.Option("--otlp-http", help="OTLP/HTTP listen address HOST:PORT, or 'off'.")
    ] = DEFAULT_OTLP_HTTP,
    auth_token: Annotated[
        str | None,
        typer.Option(
            "--auth-token",
            envvar="HANDOFF_AUTH_TOKEN",
            help="Require 'Authorization: Bearer TOKEN' on both receivers.",
            show_default=False,
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate: serve TLS on both.")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", help="PEM private key for --tls-cert.")
    ] = None,
    retention_age: Annotated[
        str, typer.Option("--retention-age", help="Drop records older than this (24h, 7d).")
    ] = "24h",
    retention_bytes: Annotated[
        str, typer.Option("--retention-bytes", help="Keep the store under this size (2GB).")
    ] = "2GB",
    max_queued: Annotated[
        int,
        typer.Option(
            "--max-queued",
            help="Records waiting for the store before the receivers answer 503/UNAVAILABLE.",
        ),
    ] = 200_000,
    correlation_key: Annotated[
        list[str] | None,
        typer.Option(
            "--correlation-key",
            help="Attribute key holding a correlation id (repeatable; replaces the defaults).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Receive OTLP traces, metrics and logs into the store until Ctrl+C or SIGTERM."""
    grpc_at = _listen("--otlp-grpc", otlp_grpc)
    http_at = _listen("--otlp-http", otlp_http)
    if (tls_cert is None) != (tls_key is None):
        raise InputError("--tls-cert and --tls-key go together")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise InputError(f"no such file: {path}")
    if auth_token is not None and not auth_token.strip():
        raise InputError("--auth-token is empty")
    if max_queued < 1:
        raise InputError("--max-queued must be at least 1")
    _run(
        db or default_db_path(),
        grpc_at,
        http_at,
        auth_token=auth_token,
        tls=(tls_cert, tls_key) if tls_cert and tls_key else None,
        retention_age_s=parse_duration(retention_age),
        retention_bytes=parse_size(retention_bytes),
        correlation_keys=tuple(correlation_key) if correlation_key else None,
        max_queued=max_queued,
    )


def _run(
    db: Path,
    grpc_at: tuple[str, int] | None,
    http_at: tuple[str, int] | None,
    *,
    auth_token: str | None,
    tls: tuple[Path, Path] | None,
    retention_age_s: float,
    retention_bytes: int,
    correlation_keys: tuple[str, ...] | None,
    max_queued: int = 200_000,
) -> None:
    from collectors.otlp.common import ReceiverSettings
    from collectors.otlp.decode import DEFAULT_CORRELATION_KEYS
    from collectors.otlp.grpc_server import GrpcReceiver
    from collectors.otlp.http_server import HttpReceiver
    from console.daemon import Daemon
    from console.store import Store

    store = Store.open(db)
    daemon = Daemon(
        store,
        retention_age_s=retention_age_s,
        retention_bytes=retention_bytes,
        max_queued=max_queued,
        batch_size=min(5000, max_queued),
    )

    def settings(at: tuple[str, int]) -> ReceiverSettings:
        return ReceiverSettings(
            host=at[0],
            port=at[1],
            auth_token=auth_token,
            tls_cert=tls[0] if tls else None,
            tls_key=tls[1] if tls else None,
            correlation_keys=correlation_keys or DEFAULT_CORRELATION_KEYS,
        )

    receivers: list[GrpcReceiver | HttpReceiver] = []
    if grpc_at is not None:
        receivers.append(GrpcReceiver(daemon.sink, settings(grpc_at)))
    if http_at is not None:
        receivers.append(HttpReceiver(daemon.sink, settings(http_at)))
    for receiver in receivers:
        daemon.add(receiver)
    daemon.install_signal_handlers()
    try:
        daemon.start()
    except OSError as exc:
        raise InputError(f"cannot listen: {exc}") from None
    scheme = "TLS" if tls else "plaintext"
    auth = ", bearer token required" if auth_token else ""
    for receiver in receivers:
        kind = "gRPC" if isinstance(receiver, GrpcReceiver) else "HTTP"
        print(f"OTLP/{kind} listening on {receiver.address} ({scheme}{auth})", file=sys.stderr)
    print(f"store: {store.path}", file=sys.stderr, flush=True)
    try:
        daemon.wait()
    finally:
        daemon.stop()
        health = daemon.health()
        writer = health["writer"]
        print(f"stopped: {writer['committed']} records committed", file=sys.stderr)  # type: ignore[index]
        if writer["last_error"]:  # type: ignore[index]
            print(f"last store error: {writer['last_error']}", file=sys.stderr)  # type: ignore[index]
