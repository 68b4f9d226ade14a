"""What both OTLP receivers share: settings, counters, the bearer-token check, address parsing."""

from __future__ import annotations

import hmac
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from collectors.otlp.decode import DEFAULT_CORRELATION_KEYS
from console.base.errors import Overloaded

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ReceiverSettings",
    "ReceiverStats",
    "parse_address",
    "refuse_if_full",
    "token_matches",
]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class ReceiverSettings:
    """How a receiver listens and what it accepts."""

    host: str = "127.0.0.1"
    port: int = 0
    auth_token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    correlation_keys: Sequence[str] = field(default=DEFAULT_CORRELATION_KEYS)
    key_attributes: Sequence[str] = ()  # span attributes indexed as business keys


class ReceiverStats:
    """Counters a receiver keeps for the daemon's health; safe across threads.

    Besides the totals, each request is counted once, at its answer, under its signal
    (``spans``, ``metrics``, ``logs``): ``received`` records decoded from it, ``committed`` those
    the store committed (the request was answered OK), ``refused`` those decoded but answered
    503/UNAVAILABLE (the store refused or failed them), ``rejected`` those refused inside an
    accepted request (``partial_success``); and each refused request under its answer's code
    (``"400"``, ``"503"``, ``"INVALID_ARGUMENT"``, ``"UNAVAILABLE"``, ...). One lock per request,
    as before: ``serve --metrics`` reads these at scrape time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.received = 0
        self.rejected = 0
        self.failed_requests = 0
        self.last_error: str | None = None
        # signal -> [received, committed, refused, rejected] records
        self._records: dict[str, list[int]] = {}
        self._refusals: dict[tuple[str, str], int] = {}  # (signal, code) -> requests

    def accepted(self, records: int, rejected: int, signal: str = "spans") -> None:
        with self._lock:
            self.requests += 1
            self.received += records
            self.rejected += rejected
            counts = self._records.get(signal)
            if counts is None:
                counts = self._records[signal] = [0, 0, 0, 0]
            counts[0] += records
            counts[1] += records
            counts[3] += rejected

    def failed(
        self, message: str, signal: str = "spans", code: str = "error", records: int = 0
    ) -> None:
        """A refused request answered ``code``; ``records`` it held when already decoded."""
        with self._lock:
            self.requests += 1
            self.failed_requests += 1
            self.last_error = message
            key = (signal, code)
            self._refusals[key] = self._refusals.get(key, 0) + 1
            if records:
                counts = self._records.get(signal)
                if counts is None:
                    counts = self._records[signal] = [0, 0, 0, 0]
                counts[0] += records
                counts[2] += records

    def snapshot(self) -> dict[str, object]:
        """Totals, plus ``records_by_signal`` (``{signal: {received, committed, refused,
        rejected}}``) and ``refused_requests`` (``{signal: {code: requests}}``)."""
        with self._lock:
            signals = {
                signal: dict(zip(_RECORD_KEYS, counts, strict=True))
                for signal, counts in self._records.items()
            }
            refused: dict[str, dict[str, int]] = {}
            for (signal, code), n in self._refusals.items():
                refused.setdefault(signal, {})[code] = n
            return {
                "requests": self.requests,
                "received": self.received,
                "rejected": self.rejected,
                "failed_requests": self.failed_requests,
                "last_error": self.last_error,
                "records_by_signal": signals,
                "refused_requests": refused,
            }


_RECORD_KEYS = ("received", "committed", "refused", "rejected")


def refuse_if_full(sink: object) -> None:
    """Raise ``Overloaded`` before decoding when the sink says its queue is already full.

    Decoding a request only to have ``submit`` refuse it spends the CPU the writer needs to
    catch up; sinks without ``queued``/``max_queued`` (a NullSink) are never full.
    """
    queued = getattr(sink, "queued", None)
    limit = getattr(sink, "max_queued", None)
    if queued is not None and limit is not None and queued >= limit:
        raise Overloaded(f"store queue full ({queued} records waiting)", retry_after_s=1.0)


def token_matches(expected: str | None, authorization: str | None) -> bool:
    """True when no token is required or ``authorization`` is ``Bearer <expected>``."""
    if expected is None:
        return True
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) as ``(host, port)``; ValueError when it is not one."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)
