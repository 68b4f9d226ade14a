"""OTLP over Kafka: consume the topics the OpenTelemetry Collector's ``kafka`` exporter writes.

``OtlpKafkaConsumer(sink, bootstrap=..., topics="otlp_spans,otlp_metrics,otlp_logs")`` reads
those topics in its own consumer group (``handoff-console-otlp`` by default), decodes each
message with the OTLP receivers' decoders (``kafka_messages.py``) and hands the records to the
same sink. It *is* the Kafka tap's consume loop (``KafkaTap``, subclassed): auto-commit off,
offsets committed only after the store committed every record below them, a pause while the
sink is ``Overloaded``, a seek back to the last committed offsets after a failed commit. A console
stopped for an hour therefore resumes from its group's offsets: nothing is lost, and what is read
twice (the last second before a crash) the store's span dedupe absorbs.

A group with no committed offsets starts at the oldest message (``from_beginning``), unlike the
tap: these topics exist to hold telemetry until a backend reads it.

Every ``metrics_interval_s`` it stores ``otlp_kafka.lag`` (subject: its group; value: messages on
its partitions not yet handed over, from librdkafka's statistics), which the overview's health
line shows, plus the tap's per-topic rates and lag series for the OTLP topics.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from collectors.kafka.metrics import KafkaMetrics
from collectors.kafka.tap import KafkaTap
from collectors.otlp.decode import DEFAULT_CORRELATION_KEYS
from collectors.otlp.kafka_messages import DEFAULT_OTLP_TOPICS, OtlpMessageDecoder, topic_signals
from console.base.errors import InputError
from console.base.model import SeriesPoint

if TYPE_CHECKING:
    from console.base.sink import Sink

__all__ = ["DEFAULT_OTLP_GROUP", "LAG_SERIES", "OtlpKafkaConsumer"]

DEFAULT_OTLP_GROUP = "handoff-console-otlp"
LAG_SERIES = "otlp_kafka.lag"


class OtlpKafkaConsumer(KafkaTap):
    """Consume OTLP export requests from Kafka into a sink (see the module docstring)."""

    name = "otlp-kafka"
    label = "otlp-kafka"

    def __init__(
        self,
        sink: Sink,
        *,
        bootstrap: str,
        topics: str = DEFAULT_OTLP_TOPICS,
        group_id: str = DEFAULT_OTLP_GROUP,
        from_beginning: bool = True,
        correlation_keys: Sequence[str] | None = None,
        key_attributes: Sequence[str] = (),
        extra_config: Mapping[str, Any] | None = None,
        batch_size: int = 100,
        commit_interval_s: float = 1.0,
        metrics_interval_s: float = 5.0,
    ) -> None:
        try:
            signals = topic_signals(topics)
        except ValueError as exc:
            raise InputError(f"--otlp-kafka-topics: {exc}") from None
        config = {"client.id": "handoff-console-otlp", **dict(extra_config or {})}
        super().__init__(
            sink,
            bootstrap=bootstrap,
            topics=sorted(signals),
            group_id=group_id,
            from_beginning=from_beginning,
            extra_config=config,
            batch_size=batch_size,
            commit_interval_s=commit_interval_s,
            metrics_interval_s=metrics_interval_s,
            lag_include_own_group=True,
        )
        self.signals = signals
        self.decoder = OtlpMessageDecoder(  # type: ignore[assignment]  # the tap's decoder, duck-typed
            signals, correlation_keys or DEFAULT_CORRELATION_KEYS, key_attributes
        )

    def health(self) -> dict[str, object]:
        """The tap's keys (``hops_*`` count records here) plus ``records_seen``,
        ``records_committed`` (spans, metric points and log records the store committed),
        ``messages``, ``bad_messages``, ``last_bad_message`` (coordinates and why),
        ``rejected_records`` (invalid ids inside good messages), ``seen`` per kind, ``signals``
        (topic to signal)."""
        h = super().health()
        d: OtlpMessageDecoder = self.decoder  # type: ignore[assignment]  # set in __init__
        h.update(
            records_seen=h["hops_seen"],
            records_committed=h["hops_committed"],
            messages=d.messages,
            bad_messages=d.bad_messages,
            last_bad_message=d.last_bad,
            rejected_records=d.rejected,
            seen=dict(d.seen),
            signals=dict(self.signals),
        )
        return h

    def _metric_points(self, metrics: KafkaMetrics) -> list[SeriesPoint]:
        """The tap's series for the OTLP topics, plus ``otlp_kafka.lag`` for the health line."""
        points = super()._metric_points(metrics)
        with self._lock:
            lag = self._lag
        if lag is not None:
            points.append(SeriesPoint(LAG_SERIES, self.group_id, time.time_ns(), lag))
        return points
