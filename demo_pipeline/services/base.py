"""A consuming service: its telemetry, its producer and its consumer loop."""

from __future__ import annotations

from demo_pipeline.consumer import ConsumerService, Handler
from demo_pipeline.messaging import Emitter
from demo_pipeline.runtime import Runtime
from demo_pipeline.telemetry import Telemetry

__all__ = ["Service"]


class Service:
    """Subclasses name themselves and map topics to handlers."""

    name = "service"
    group_name = "service"
    link_parent = False  # start a new trace linked to the producer instead of a child span

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.tel = Telemetry(self.name, rt.endpoint)
        self.emitter = Emitter(self.tel, rt.bootstrap, rt.stats)
        self.loop: ConsumerService | None = None

    def handlers(self) -> dict[str, Handler]:
        return {}

    def start(self) -> None:
        self.loop = ConsumerService(
            telemetry=self.tel,
            emitter=self.emitter,
            bootstrap=self.rt.bootstrap,
            group=self.rt.group(self.group_name),
            handlers=self.handlers(),
            stats=self.rt.stats,
            stop=self.rt.stop,
            link_parent=self.link_parent,
            backoff=self.rt.knobs.backoff,
        )
        self.loop.start()

    def join(self, timeout: float = 15.0) -> None:
        if self.loop is not None:
            self.loop.join(timeout)

    def close(self, timeout: float = 10.0) -> int:
        """Flush the producer (at most ``timeout`` seconds); the records it could not deliver."""
        return self.emitter.close(timeout)
