"""Every Textual message of the app, as small dataclasses.

Workers compute in threads and post these; widgets and screens only render what they carry.
The high-rate ones (overview and tail refreshes) are ``no_dispatch``-free but carry whole
snapshots, so a late one simply replaces what an earlier one showed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.message import Message

from console.readers.panels import Health, ServicePanel, TopicPanel
from console.readers.tail import TailBatch

__all__ = [
    "AlertsLoaded",
    "AuditLoaded",
    "DeadLetterDetail",
    "DeadLettersLoaded",
    "DrillDown",
    "EditValidated",
    "JourneyLoaded",
    "JourneysLoaded",
    "LoadFailed",
    "MetricSeriesLoaded",
    "MetricsLoaded",
    "OverviewData",
    "ReplayDone",
    "ReplayProgress",
    "TailData",
]


@dataclass
class OverviewData(Message):
    services: list[ServicePanel]
    topics: list[TopicPanel]
    health: Health
    took_ms: float
    extent: Any = None  # console.readers.panels.StoreExtent when the window shows nothing


@dataclass
class AlertsLoaded(Message):
    """The alert rules evaluated (``tui_app.source.AlertsView``): the header's count, the
    notifications and the alerts screen all come from it."""

    view: Any  # tui_app.source.AlertsView


@dataclass
class TailData(Message):
    batch: TailBatch


@dataclass
class MetricsLoaded(Message):
    view: Any  # tui_app.source.MetricsView


@dataclass
class MetricSeriesLoaded(Message):
    series: Any | None  # console.readers.metrics.MetricSeries
    service: str
    name: str


@dataclass
class DrillDown(Message):
    """The user picked a service or a topic on the overview: show its journeys."""

    kind: str  # "service", "topic", or "all" (no service or topic)
    value: str
    status: str | None = None  # and only journeys with this status (an alert's "stalled")


@dataclass
class JourneysLoaded(Message):
    rows: list[Any]  # console.journeys.JourneySummary
    query: str
    held: str = ""  # when none are in the window: what the store does hold


@dataclass
class JourneyLoaded(Message):
    journey: Any | None  # console.journeys.Journey
    query: str
    error: str = ""


@dataclass
class JourneyRefreshed(Message):
    """The open journey read again (a replay, a late span): the waterfall redraws if it grew."""

    journey: Any  # console.journeys.Journey


@dataclass
class DeadLettersLoaded(Message):
    rows: list[Any]  # console.base.model.DeadLetter
    held: str = ""  # when none are in the window: what the store does hold


@dataclass
class DeadLetterDetail(Message):
    coordinates: str
    text: Text  # rendered detail (headers, payload, verdict)
    payload: str  # the payload as editable text
    verdict_ok: bool | None
    history: list[str]


@dataclass
class EditValidated(Message):
    text: str
    errors: list[tuple[int | None, str]]  # (line, message)


@dataclass
class ReplayProgress(Message):
    done: int
    total: int


@dataclass
class ReplayTargetChecked(Message):
    """The target cluster was asked before the confirmation: ``text`` is the question naming
    the cluster and topics when ``ok``, else why the replay cannot go there."""

    coordinates: list[str]
    ok: bool
    text: str


@dataclass
class ReplayDone(Message):
    coordinates: list[str]
    ok: bool
    summary: str


@dataclass
class LoadFailed(Message):
    """A worker failed: the one place errors are reported (a notification)."""

    what: str
    error: str


@dataclass
class AuditLoaded(Message):
    entries: list[Any]  # console.base.model.AuditEntry
