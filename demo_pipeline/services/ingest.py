"""Upload service (emits UploadReceived) and image processor (ArtworkProcessed or
ImageProcessingFailed)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from demo_pipeline.consumer import Delivery, Handler, TransientError
from demo_pipeline.messaging import Emitter, new_event
from demo_pipeline.runtime import Runtime
from demo_pipeline.services.base import Service
from demo_pipeline.telemetry import Telemetry, duration_histogram

__all__ = ["ImageProcessor", "UploadService"]

TITLES = ("Harbour at Dusk", "Blue Study", "Quiet Orchard", "Neon Rain", "Salt Flats", "Fox Moon")


class UploadService:
    """Artists upload artworks at ``--rate`` per second; some uploads break the contract."""

    name = "canvasflow-upload"

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.tel = Telemetry(self.name, rt.endpoint)
        self.emitter = Emitter(self.tel, rt.bootstrap, rt.stats)
        self.rng = rt.knobs.rng("uploads")
        m = self.tel.meter
        self._uploads = m.create_counter("canvasflow.uploads", unit="{upload}")
        self._rate = m.create_gauge("canvasflow.uploads.target_rate", unit="{upload}/s")
        self._send = duration_histogram(m, "messaging.client.operation.duration")
        self._thread = threading.Thread(target=self._run, name="svc-upload", daemon=True)
        self.halt = threading.Event()  # stop uploading (the others drain what is in flight)

    def upload_payload(self) -> dict[str, Any]:
        """One upload; with probability ``poison_rate``, a fixable contract violation."""
        rng = self.rng
        cid = "cf-" + uuid.UUID(int=rng.getrandbits(128), version=4).hex[:16]
        payload = new_event(
            "UploadReceived",
            cid,
            upload_id="up-" + cid[3:],
            artist_id=f"artist-{rng.randint(1, 40)}",
            title=rng.choice(TITLES),
            price=round(rng.uniform(20, 400), 2),
            currency="EUR",
            image_url=f"s3://canvasflow-uploads/{cid}.tiff",
            size_bytes=rng.randint(200_000, 40_000_000),
        )
        if rng.random() < self.rt.knobs.poison_rate:
            if rng.random() < 0.5:
                payload["price"] = f"{payload['price']:.2f}".replace(".", ",")
            else:
                del payload["artist_id"]
            self.rt.stats.add("poison_sent")
        return payload

    def upload_once(self) -> str:
        payload = self.upload_payload()
        cid = str(payload["correlation_id"])
        started = time.perf_counter()
        with self.tel.tracer.start_as_current_span(
            "upload artwork", kind=SpanKind.INTERNAL, attributes={"correlation.id": cid}
        ):
            self.tel.log.info("upload received", extra={"correlation.id": cid})
            self.emitter.emit(self.rt.topics.uploads, payload["upload_id"], payload)
        self._send.record(
            time.perf_counter() - started,
            {
                "messaging.system": "kafka",
                "messaging.operation.name": "send",
                "messaging.destination.name": self.rt.topics.uploads,
            },
        )
        self.rt.stats.add("uploads")
        self._uploads.add(1)
        self._rate.set(self.rt.knobs.rate)
        return cid

    def _run(self) -> None:
        interval = 1.0 / self.rt.knobs.rate if self.rt.knobs.rate > 0 else None
        next_at = time.monotonic()
        while interval is not None and not (self.rt.stop.is_set() or self.halt.is_set()):
            self.upload_once()
            next_at += interval
            self.halt.wait(max(0.0, next_at - time.monotonic()))

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float = 15.0) -> None:
        self._thread.join(timeout)

    def close(self, timeout: float = 10.0) -> int:
        return self.emitter.close(timeout)


class ImageProcessor(Service):
    """Makes renditions of each upload; flaky storage makes some attempts fail transiently."""

    name = "canvasflow-image-processor"
    group_name = "image-processor"

    def handlers(self) -> dict[str, Handler]:
        return {self.rt.topics.uploads: self.process}

    def process(self, d: Delivery) -> None:
        knobs, p = self.rt.knobs, d.payload
        rng = knobs.rng("image", d.correlation_id)
        failures_needed = 0
        if rng.random() < knobs.flaky_rate:
            failures_needed = rng.choice((1, 2, 3, 4, 5, len(knobs.backoff) + 1))
        if d.replay_id is None and d.attempt < failures_needed:
            raise TransientError(f"object storage timed out reading {p['image_url']}")
        if knobs.slow_ms:
            time.sleep(knobs.slow_ms / 1000)
        artwork_id = "art-" + p["upload_id"].removeprefix("up-")
        common = {
            "artwork_id": artwork_id,
            "upload_id": p["upload_id"],
            "artist_id": p["artist_id"],
        }
        if rng.random() < 0.02:
            # The artwork will not be published: the journey failed here, and its span says so.
            d.span.set_status(Status(StatusCode.ERROR, "unsupported colour profile"))
            self.rt.stats.add("images_failed")
            event = new_event(
                "ImageProcessingFailed",
                d.correlation_id,
                **common,
                failure_reason="unsupported colour profile",
            )
        else:
            event = new_event(
                "ArtworkProcessed",
                d.correlation_id,
                **common,
                title=p["title"],
                price=p["price"],
                currency=p["currency"],
                renditions=[f"{artwork_id}-{w}.webp" for w in (320, 1280, 2560)],
            )
        self.emitter.emit(self.rt.topics.artworks, artwork_id, event)
