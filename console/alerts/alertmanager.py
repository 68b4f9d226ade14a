"""Alerts out to Prometheus Alertmanager through its API v2 (``POST /api/v2/alerts``), as
Prometheus sends them.

Each alert carries its labels (``alertname``, ``severity``, the rule's labels and the thing's:
``dlq_topic``, ``topic``, ``group``, ``service``), annotations (``summary``, ``command``, the
rule's own), ``startsAt`` (when it fired) and ``generatorURL`` naming the console command that
shows the thing (``handoff-console:dlq%20list%20--topic%20...``). A firing alert's ``endsAt`` lies
``4 x max(resend, interval)`` ahead and it is re-posted every ``resend_s`` (Prometheus's
``--rules.alert.resend-delay``, one minute), so Alertmanager does not resolve it early; a
resolved one is posted with ``endsAt`` at its resolution, and re-posted for ``RESOLVED_KEEP_S``
so an Alertmanager that missed it still learns it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from console.alerts.engine import Alert
from console.base.errors import HandoffError

__all__ = ["RESOLVED_KEEP_S", "AlertmanagerClient", "AlertmanagerError", "generator_url"]

NS = 1_000_000_000
RESOLVED_KEEP_S = 15 * 60.0


class AlertmanagerError(HandoffError):
    """Alertmanager did not take the alerts (unreachable, or it answered an error)."""


def generator_url(command: str) -> str:
    """The console command that shows the alert's thing, as a URI Alertmanager accepts."""
    shown = command.split("  (")[0].removeprefix("handoff-console ")
    return "handoff-console:" + quote(shown, safe="-._~/=")


def _rfc3339(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).isoformat(timespec="milliseconds")


class AlertmanagerClient:
    """Posts alerts to one Alertmanager; ``transport`` lets tests hand httpx another one."""

    def __init__(
        self,
        url: str,
        *,
        resend_s: float = 60.0,
        interval_s: float = 15.0,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.resend_s = resend_s
        self.valid_for_ns = int(4 * max(resend_s, interval_s) * NS)
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._last_post_ns: int | None = None

    def close(self) -> None:
        self._client.close()

    def payload(self, alert: Alert, now_ns: int) -> dict[str, Any]:
        """One element of the ``POST /api/v2/alerts`` body."""
        if alert.state == "resolved" and alert.resolved_ns is not None:
            ends = alert.resolved_ns
        else:
            ends = now_ns + self.valid_for_ns
        return {
            "labels": alert.labels,
            "annotations": alert.annotations,
            "startsAt": _rfc3339(alert.fired_ns or alert.active_since_ns),
            "endsAt": _rfc3339(ends),
            "generatorURL": generator_url(alert.command),
        }

    def due(self, now_ns: int, changed: bool) -> bool:
        """Whether to post now: on a change, on the first round, and every ``resend_s``."""
        last = self._last_post_ns
        return changed or last is None or now_ns - last >= self.resend_s * NS

    def post(self, alerts: list[Alert], now_ns: int) -> int:
        """Post the firing alerts and those resolved in the last ``RESOLVED_KEEP_S``; returns how
        many Alertmanager took. ``AlertmanagerError`` when it did not take them."""
        keep_ns = now_ns - int(RESOLVED_KEEP_S * NS)
        body = [
            self.payload(a, now_ns)
            for a in alerts
            if a.state == "firing"
            or (
                a.state == "resolved" and a.fired_ns is not None and (a.resolved_ns or 0) >= keep_ns
            )
        ]
        if body:
            try:
                got = self._client.post(f"{self.url}/api/v2/alerts", json=body)
            except httpx.HTTPError as exc:
                raise AlertmanagerError(f"alertmanager {self.url}: {exc}") from None
            if got.status_code >= 300:
                raise AlertmanagerError(
                    f"alertmanager {self.url} answered {got.status_code}: {got.text[:200]}"
                )
        self._last_post_ns = now_ns
        return len(body)


def _worth_sending(a: Alert, keep_ns: int) -> bool:
    if a.state == "firing":
        return True
    return a.state == "resolved" and a.fired_ns is not None and (a.resolved_ns or 0) >= keep_ns
