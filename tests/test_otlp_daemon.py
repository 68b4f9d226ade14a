"""The daemon's component seam: how the Kafka tap (or anything with start/stop/health) joins."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from collectors.otlp.common import ReceiverSettings
from collectors.otlp.grpc_server import GrpcReceiver
from console.base.model import Span
from console.runtime.daemon import Component, Daemon
from console.store import Sink, Store


class Ticker:
    """A component like the tap: a thread that submits records until stopped."""

    name = "ticker"

    def __init__(self, sink: Sink, log: list[str]) -> None:
        self.sink, self.log, self.sent = sink, log, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self._stop.is_set() or self.sent < 50:
            n = self.sent
            self.sink.submit([Span(f"{1:032x}", f"{n + 1:016x}", "tick", n, n + 1, "ticker")])
            self.sent += 1
            if self.sent >= 50:
                self._stop.wait(0.01)

    def start(self) -> None:
        self.log.append("start ticker")
        self._thread.start()

    def stop(self) -> None:
        self.log.append("stop ticker")
        self._stop.set()
        self._thread.join()

    def health(self) -> dict[str, object]:
        return {"received": self.sent, "last_error": None}


def test_components_start_in_order_stop_in_reverse_and_everything_commits(tmp_path: Path) -> None:
    log: list[str] = []
    daemon = Daemon(Store.open(tmp_path / "h.db"))
    grpc_rx = daemon.add(GrpcReceiver(daemon.sink, ReceiverSettings(port=0)))
    ticker = daemon.add(Ticker(daemon.sink, log))
    assert isinstance(ticker, Component)
    daemon.start()
    assert log == ["start ticker"]
    health = daemon.health()
    components: dict[str, Any] = health["components"]  # type: ignore[assignment]  # JSON-shaped
    assert set(components) == {"otlp-grpc", "ticker"}
    assert components["otlp-grpc"]["listening"] == grpc_rx.address
    daemon.request_stop()
    assert daemon.wait(1)
    daemon.stop()
    assert log == ["start ticker", "stop ticker"]
    assert daemon.health()["writer"]["committed"] == ticker.sent >= 50  # type: ignore[index]  # JSON-shaped
    assert Store.open(tmp_path / "h.db").counts()["per_service"] == {
        "ticker": {"spans": ticker.sent}
    }


def test_a_component_that_fails_to_start_stops_the_others(tmp_path: Path) -> None:
    class Broken:
        name = "broken"

        def start(self) -> None:
            raise OSError("port taken")

        def stop(self) -> None: ...

        def health(self) -> dict[str, object]:
            return {}

    daemon = Daemon(Store.open(tmp_path / "h.db"))
    grpc_rx = daemon.add(GrpcReceiver(daemon.sink, ReceiverSettings(port=0)))
    daemon.add(Broken())
    try:
        daemon.start()
    except OSError as exc:
        assert "port taken" in str(exc)
    else:
        raise AssertionError("start should fail")
    assert grpc_rx.health()["listening"] is None
