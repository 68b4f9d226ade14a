"""Notification service, by choreography: it reacts to other services' events on its own, and
no one waits for it."""

from __future__ import annotations

from demo_pipeline.consumer import Delivery, Handler
from demo_pipeline.runtime import Runtime
from demo_pipeline.services.base import Service

__all__ = ["NotificationService"]

WHO = {
    "ImageProcessingFailed": "artist",
    "ArtworkPublished": "followers",
    "OrderShipped": "buyer",
    "OrderFailed": "buyer",
}


class NotificationService(Service):
    name = "canvasflow-notification"
    group_name = "notification"
    link_parent = True

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        self._sent = self.tel.meter.create_counter("canvasflow.notifications.sent")

    def handlers(self) -> dict[str, Handler]:
        t = self.rt.topics
        return {t.artworks: self.notify, t.catalog: self.notify, t.status: self.notify}

    def notify(self, d: Delivery) -> None:
        who = WHO.get(d.payload["event_type"])
        if who is None:
            return
        self.rt.stats.add("notifications_sent")
        self._sent.add(1, {"recipient": who, "event.type": d.payload["event_type"]})
        self.tel.log.info("notified %s", who, extra={"correlation.id": d.correlation_id})
