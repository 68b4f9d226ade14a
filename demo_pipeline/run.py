"""Run CanvasFlow: create the topics, start every service, stop cleanly, print a summary.

python -m demo_pipeline --bootstrap 127.0.0.1:9092 --otlp-endpoint 127.0.0.1:4317
    --rate 2 --poison-rate 0.1 --flaky-rate 0.1 --duration 30 --json
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import wait
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from demo_pipeline.license import LicenseService
from demo_pipeline.runtime import Knobs, Runtime, Topics
from demo_pipeline.services import (
    CatalogService,
    Fulfillment,
    ImageProcessor,
    NotificationService,
    OrderOrchestrator,
    Storefront,
    UploadService,
)
from demo_pipeline.stopping import StopSignals, parent_gone, run_bounded
from demo_pipeline.telemetry import Telemetry, otlp_endpoint, shutdown_all

__all__ = [
    "CLOSE_S",
    "DRAIN_S",
    "QUIET_S",
    "Pipeline",
    "Stopped",
    "create_topics",
    "main",
    "parse_args",
]

DRAIN_S = 20.0  # at most this long, after the last upload, for the journeys in flight to end
QUIET_S = 1.5  # nothing sent or processed for this long, and no retry waiting: drained
CLOSE_S = 6.0  # at most this long for consumers, producers and exporters to close, all at once


class Stopped(Exception):
    """A stop was asked for before the services started."""


def create_topics(
    bootstrap: str,
    topics: Topics,
    partitions: int = 2,
    timeout: float = 30,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Create every topic of the run (main ones with ``partitions``); existing ones are kept.

    Raises ``Stopped`` as soon as ``stopping()`` is true (checked every 0.2 s), ``RuntimeError``
    when a topic cannot be created or the broker does not answer within ``timeout`` seconds."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    main = set(topics.main())
    wanted = [
        NewTopic(t, num_partitions=partitions if t in main else 1, replication_factor=1)
        for t in topics.all()
    ]
    deadline = time.monotonic() + timeout
    for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        while not future.done():
            if stopping():
                raise Stopped(f"stopped while creating the topics on {bootstrap}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot create topic {name}: no answer from {bootstrap} "
                                   f"within {timeout:g} s")  # fmt: skip
            wait([future], timeout=0.2)
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise RuntimeError(f"cannot create topic {name}: {exc.args[0].str()}") from exc


class Pipeline:
    """All CanvasFlow services of one run, in threads of this process."""

    def __init__(
        self,
        bootstrap: str,
        endpoint: str | None = None,
        knobs: Knobs | None = None,
        topic_prefix: str = "canvasflow",
    ) -> None:
        self.rt = Runtime(
            bootstrap, otlp_endpoint(endpoint), knobs or Knobs(), Topics(topic_prefix)
        )
        self.started_at = 0.0
        self.stopped_at = 0.0
        self._license_tel: Telemetry | None = None
        self.license: LicenseService | None = None
        self.services: list[Any] = []
        self._stopped = threading.Event()

    @property
    def stats(self) -> Any:
        return self.rt.stats

    def start(self, create: bool = True, stopping: Callable[[], bool] = lambda: False) -> None:
        """Create the topics (unless ``create`` is false; ``Stopped`` if ``stopping()`` turns
        true meanwhile) and start every service."""
        if create:
            create_topics(self.rt.bootstrap, self.rt.topics, stopping=stopping)
        rt = self.rt
        self._license_tel = Telemetry("canvasflow-license", rt.endpoint)
        self.license = LicenseService(self._license_tel, outage=rt.knobs.license_outage)
        self.license.start()
        self.services = [
            NotificationService(rt),
            Fulfillment(rt),
            OrderOrchestrator(rt),
            Storefront(rt),
            CatalogService(rt, self.license.base_url),
            ImageProcessor(rt),
            UploadService(rt),
        ]
        self.started_at = time.monotonic()
        for service in self.services:
            service.start()

    def upload_service(self) -> UploadService:
        return next(s for s in self.services if isinstance(s, UploadService))

    def stop(
        self,
        drain_s: float = DRAIN_S,
        close_s: float = CLOSE_S,
        hurry: Callable[[], bool] = lambda: False,
    ) -> list[str]:
        """Stop uploading, let the journeys in flight end (at most ``drain_s``, less once
        ``hurry()`` is true), then stop consuming, flush producers and exporters and close
        everything, all at once and within ``close_s`` seconds. Idempotent.

        Returns what the stop gave up on (a service's consumer or producer, an exporter) because
        it did not finish in time or failed, with records left undelivered counted in the summary's
        ``undelivered_at_stop``. With the broker or the collector gone, the clients' own timeouts
        end each step and the stop still takes at most ``drain_s + close_s``.

        Draining makes the summary and the console agree: an order counted as shipped has had
        its last event consumed, so the console sees its journey completed."""
        if self._stopped.is_set():
            return []
        self._stopped.set()
        uploads = next((s for s in self.services if isinstance(s, UploadService)), None)
        if uploads is not None:
            uploads.halt.set()
            uploads.join(max(1.0, min(drain_s, 5.0)))
            self._drain(drain_s, hurry)
        self.rt.stop.set()
        self.stopped_at = time.monotonic()
        deadline = time.monotonic() + close_s
        steps: dict[str, Callable[[], object]] = {
            s.name: functools.partial(self._close_service, s, deadline) for s in self.services
        }
        if self.license is not None:
            steps["license"] = self.license.stop
        tels = [s.tel for s in self.services]
        if self._license_tel is not None:
            tels.append(self._license_tel)
        steps["exporters"] = functools.partial(shutdown_all, tels, deadline)
        return run_bounded(steps, deadline)

    def _close_service(self, service: Any, deadline: float) -> None:
        service.join(max(0.0, deadline - time.monotonic() - 0.5))  # its consumer closes
        undelivered = service.close(max(0.0, deadline - time.monotonic() - 0.5))
        if undelivered:
            self.rt.stats.add("undelivered_at_stop", undelivered)
            raise RuntimeError(f"{undelivered} records undelivered")

    def _drain(self, drain_s: float, hurry: Callable[[], bool]) -> None:
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and not hurry():
            busy = any(getattr(getattr(s, "loop", None), "retrying", False) for s in self.services)
            if not busy and time.monotonic() - self.rt.stats.last_activity >= QUIET_S:
                return
            self.rt.stop.wait(0.1)

    def summary(self) -> dict[str, Any]:
        s = self.rt.stats
        counts = dict(s.counts)
        end = self.stopped_at or time.monotonic()
        return {
            "duration_s": round(end - self.started_at, 1) if self.started_at else 0.0,
            "topic_prefix": self.rt.topics.prefix,
            "uploads": counts.get("uploads", 0),
            "events_produced": counts.get("events_produced", 0),
            "orders_completed": len(s.shipped),
            "journeys_completed": len(s.shipped),
            "dead_letters": dict(s.dead_letters),
            "dead_letters_total": sum(s.dead_letters.values()),
            "journeys_failed": counts.get("images_failed", 0),
            "records_forwarded": counts.get("records_forwarded", 0),
            "retries": counts.get("retries", 0),
            "duplicates_skipped": counts.get("duplicates_skipped", 0),
            "license_fallbacks": counts.get("license_fallbacks", 0),
            "circuit_opened": counts.get("circuit_opened", 0),
            "notifications_sent": counts.get("notifications_sent", 0),
            "poison_sent": counts.get("poison_sent", 0),
            "undelivered_at_stop": counts.get("undelivered_at_stop", 0),
        }


def add_knob_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=2.0, help="uploads per second")
    parser.add_argument(
        "--poison-rate",
        type=float,
        default=0.1,
        help="share of uploads with a fixable contract violation",
    )
    parser.add_argument(
        "--flaky-rate",
        type=float,
        default=0.1,
        help="share of events whose processing fails transiently",
    )
    parser.add_argument("--slow-ms", type=int, default=0, help="extra processing time per image")
    parser.add_argument(
        "--license-outage",
        action="store_true",
        help="the license service answers 503 (the catalog's circuit opens)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for repeatable runs")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo_pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument(
        "--otlp-endpoint",
        default=None,
        help="OTLP gRPC endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT or 127.0.0.1:4317)",
    )
    parser.add_argument("--topic-prefix", default="canvasflow")
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds (default: until Ctrl+C)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--no-create-topics",
        action="store_true",
        help="the topics exist already (handoff-console demo creates them): do not create them",
    )
    add_knob_args(parser)
    return parser.parse_args(argv)


def knobs_from(args: argparse.Namespace) -> Knobs:
    return Knobs(
        rate=args.rate,
        poison_rate=args.poison_rate,
        flaky_rate=args.flaky_rate,
        slow_ms=args.slow_ms,
        license_outage=args.license_outage,
        seed=args.seed,
    )


def run_until_stopped(pipeline: Pipeline, duration: float | None, create: bool = True) -> int:
    """Run until ``duration`` passes or SIGINT/SIGTERM arrives, then stop the pipeline.

    Returns the exit code: 0 after a clean stop, 1 when the stop gave up on something (said on
    stderr), 128 + the signal's number when a signal came before the services started. A second
    signal skips the drain; a parent ``demo`` that is gone skips it too."""
    with StopSignals() as signals:
        gave_up: list[str] = []
        try:
            pipeline.start(create=create, stopping=lambda: signals.requested)
            print(
                f"canvasflow: {len(pipeline.services) + 1} services running on "
                f"{pipeline.rt.bootstrap}, exporting to {pipeline.rt.endpoint} (Ctrl+C stops)",
                file=sys.stderr,
                flush=True,
            )
            signals.wait(duration)
        except Stopped as exc:
            print(f"canvasflow: {exc}", file=sys.stderr)
            return 128 + (signals.signum or 0)
        finally:
            drain_s = 0.0 if parent_gone() else DRAIN_S
            gave_up = pipeline.stop(drain_s, hurry=lambda: signals.count > 1 or parent_gone())
    if gave_up:
        undelivered = pipeline.stats.counts.get("undelivered_at_stop", 0)
        print(
            f"canvasflow: the stop gave up on {', '.join(gave_up)} within {CLOSE_S:g} s "
            f"({undelivered} records undelivered)",
            file=sys.stderr,
        )
        return 1
    return 0


def format_summary(summary: dict[str, Any]) -> str:
    lines = [
        f"uploads {summary['uploads']}, events produced {summary['events_produced']}, "
        f"journeys completed {summary['journeys_completed']}",
        f"retries {summary['retries']}, duplicates skipped {summary['duplicates_skipped']}, "
        f"license fallbacks {summary['license_fallbacks']}",
    ]
    dead = summary["dead_letters"]
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(dead.items())) or "none"
    lines.append(f"dead letters: {reasons}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pipeline = Pipeline(args.bootstrap, args.otlp_endpoint, knobs_from(args), args.topic_prefix)
    code = run_until_stopped(pipeline, args.duration, create=not args.no_create_topics)
    if pipeline.started_at:
        summary = pipeline.summary()
        print(json.dumps(summary) if args.json else format_summary(summary))
    return code


if __name__ == "__main__":
    sys.exit(main())
