"""One service's OpenTelemetry: its own Resource, TracerProvider, MeterProvider and LoggerProvider,
each exporting OTLP over gRPC to the endpoint given (or ``OTEL_EXPORTER_OTLP_ENDPOINT``).

Providers are never set globally: several services share this process, each keeps its own.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable

from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.metrics import Histogram, Meter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from demo_pipeline.stopping import run_bounded

__all__ = [
    "DURATION_BOUNDARIES_S",
    "PROPAGATOR",
    "Telemetry",
    "duration_histogram",
    "otlp_endpoint",
    "shutdown_all",
]

PROPAGATOR = TraceContextTextMapPropagator()
# The semantic conventions' recommended buckets for a duration in seconds. The SDK's default
# bounds (0, 5, 10, 25, ... 10000) are made for milliseconds: seconds recorded into them all fall
# in the first bucket, and every percentile is a guess inside (0, 5 s].
DURATION_BOUNDARIES_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)


def duration_histogram(meter: Meter, name: str, description: str = "") -> Histogram:
    """A duration histogram in seconds with the conventions' buckets (the SDK's advisory
    boundaries: a View the user configures still wins)."""
    return meter.create_histogram(
        name,
        unit="s",
        description=description,
        explicit_bucket_boundaries_advisory=DURATION_BOUNDARIES_S,
    )


DEFAULT_ENDPOINT = "http://127.0.0.1:4317"


def otlp_endpoint(explicit: str | None = None) -> str:
    """The gRPC endpoint: explicit, else ``OTEL_EXPORTER_OTLP_ENDPOINT``, else 127.0.0.1:4317."""
    value = explicit or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT
    return value if "://" in value else f"http://{value}"


class OtelLogHandler(LoggingHandler):
    """Python logging into the OTel logs SDK through the logging bridge (the ``LoggingHandler`` of
    ``opentelemetry-instrumentation-logging``; the SDK's own is deprecated): the message as body,
    the level as severity, ``extra`` keys (``correlation.id``, ...) as attributes, and the active
    span's trace and span ids."""

    def __init__(self, provider: LoggerProvider, name: str) -> None:
        super().__init__(level=logging.DEBUG, logger_provider=provider)


class Telemetry:
    """Tracer, meter and logger of one service (``service.name``)."""

    def __init__(self, service_name: str, endpoint: str, *, metric_interval_ms: int = 2000) -> None:
        self.service_name = service_name
        insecure = endpoint.startswith("http://")
        resource = Resource.create(
            {
                "service.name": service_name,
                "service.namespace": "canvasflow",
                "service.version": "1.0.0",
                "deployment.environment.name": "demo",
            }
        )
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=endpoint, insecure=insecure, timeout=5),
                schedule_delay_millis=500,
            )
        )
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=endpoint, insecure=insecure, timeout=5),
            export_interval_millis=metric_interval_ms,
        )
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(
                OTLPLogExporter(endpoint=endpoint, insecure=insecure, timeout=5),
                schedule_delay_millis=500,
            )
        )
        self.tracer = self.tracer_provider.get_tracer("demo_pipeline", "1.0.0")
        self.meter = self.meter_provider.get_meter("demo_pipeline", "1.0.0")
        self.log = logging.getLogger(f"canvasflow.{service_name}")
        self.log.setLevel(logging.DEBUG)
        self.log.propagate = False
        self._handler = OtelLogHandler(self.logger_provider, service_name)
        self.log.addHandler(self._handler)

    def providers(self) -> list[TracerProvider | LoggerProvider | MeterProvider]:
        return [self.tracer_provider, self.logger_provider, self.meter_provider]

    def shutdown(self) -> None:
        """Flush and stop every exporter (spans, logs, metrics)."""
        self.log.removeHandler(self._handler)
        for provider in self.providers():
            _shutdown(provider)


def _shutdown(provider: TracerProvider | LoggerProvider | MeterProvider) -> None:
    # shutdown exports what is buffered; a collector that is gone must not stop us
    with contextlib.suppress(Exception):
        if isinstance(provider, MeterProvider):
            provider.shutdown(timeout_millis=5000)
        else:
            provider.shutdown()


def shutdown_all(telemetries: list[Telemetry], deadline: float) -> None:
    """Shut several services' telemetry down at once (each provider may wait on its exporter,
    whose own timeout is 5 s a request); ``RuntimeError`` naming those that had not finished by
    ``deadline`` (``time.monotonic()``): they are left behind."""
    for t in telemetries:
        t.log.removeHandler(t._handler)
    steps: dict[str, Callable[[], object]] = {
        f"{t.service_name} {type(p).__name__}": functools.partial(_shutdown, p)
        for t in telemetries
        for p in t.providers()
    }
    unfinished = run_bounded(steps, deadline)
    if unfinished:
        raise RuntimeError(f"not shut down in time: {', '.join(unfinished)}")
