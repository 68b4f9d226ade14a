"""Journeys: follow one piece of work across services, traces and Kafka handoffs.

Public API (the CLI and the TUI call these):

* ``journey(store_or_reader, correlation_id=..., trace_id=..., message="topic:p:o",
  stall_after_s=30, now_ns=None) -> Journey | None``
* ``journeys_by_key(store_or_reader, key, stall_after_s=30, now_ns=None) -> list[Journey]``: the
  journeys a Kafka message key or a business attribute (``--key-attribute``) value names.
* ``journeys(store, status=None, since_s=None, service=None, limit=50, stall_after_s=30,
  now_ns=None) -> list[JourneySummary]``
* ``Journey``, ``Handoff``, ``JourneySummary`` (frozen dataclasses), ``STATUSES``.

A ``message`` is parsed by ``console.base.coordinates.parse_coordinates`` (one parser for every
room).

How statuses are decided is written in ``console/journeys/derive.py``; the JSON shapes in
``console/journeys/export.py``.
"""

from console.journeys.assemble import journey, journeys_by_key
from console.journeys.listing import (
    StalledOnTopic,
    journeys,
    journeys_on_topic,
    recent_cids_on_topic,
    stalled_by_topic,
)
from console.journeys.types import STATUSES, Handoff, Journey, JourneySummary

__all__ = [
    "STATUSES",
    "Handoff",
    "Journey",
    "JourneySummary",
    "StalledOnTopic",
    "journey",
    "journeys",
    "journeys_by_key",
    "journeys_on_topic",
    "recent_cids_on_topic",
    "stalled_by_topic",
]
