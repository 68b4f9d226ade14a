"""What every service of one run shares: knobs, topic names, counters, the stop signal."""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass, field

from demo_pipeline.consumer import DEFAULT_BACKOFF, retry_topic
from demo_pipeline.dlt import dlt_topic
from demo_pipeline.messaging import Stats

__all__ = ["Knobs", "Runtime", "Topics"]


@dataclass(frozen=True)
class Knobs:
    """Fault knobs: uploads per second and how often, and how, things go wrong."""

    rate: float = 2.0
    poison_rate: float = 0.1
    flaky_rate: float = 0.1
    slow_ms: int = 0
    license_outage: bool = False
    seed: int | None = None
    backoff: tuple[float, ...] = DEFAULT_BACKOFF

    def rng(self, *parts: str) -> random.Random:
        """A generator fixed by the seed and ``parts`` (an event's identity): repeatable."""
        base = "none" if self.seed is None else str(self.seed)
        digest = hashlib.sha256(":".join((base, *parts)).encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix (``canvasflow`` unless a test asks for its own)."""

    prefix: str = "canvasflow"

    def _t(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    @property
    def uploads(self) -> str:
        return self._t("uploads")

    @property
    def artworks(self) -> str:
        return self._t("artworks")

    @property
    def catalog(self) -> str:
        return self._t("catalog")

    @property
    def orders(self) -> str:
        return self._t("orders")

    @property
    def commands(self) -> str:
        return self._t("order-commands")

    @property
    def replies(self) -> str:
        return self._t("order-replies")

    @property
    def status(self) -> str:
        return self._t("order-status")

    def main(self) -> list[str]:
        return [
            self.uploads,
            self.artworks,
            self.catalog,
            self.orders,
            self.commands,
            self.replies,
            self.status,
        ]

    def all(self) -> list[str]:
        """Every topic the run uses: the main ones, their retry topics and their DLTs."""
        main = self.main()
        return main + [retry_topic(t) for t in main] + [dlt_topic(t) for t in main]


@dataclass
class Runtime:
    bootstrap: str
    endpoint: str
    knobs: Knobs = field(default_factory=Knobs)
    topics: Topics = field(default_factory=Topics)
    stats: Stats = field(default_factory=Stats)
    stop: threading.Event = field(default_factory=threading.Event)

    def group(self, service: str) -> str:
        return f"{self.topics.prefix}.{service}"
