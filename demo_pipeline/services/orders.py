"""The order flow, orchestrated: a storefront places an order for each published artwork; the
orchestrator drives validate payment -> reserve inventory -> schedule print -> ship as
command/reply handoffs with the fulfilment service, then announces OrderShipped."""

from __future__ import annotations

import hashlib

from opentelemetry.trace import SpanKind

from demo_pipeline.consumer import Delivery, Handler, TransientError
from demo_pipeline.messaging import new_event
from demo_pipeline.runtime import Runtime
from demo_pipeline.services.base import Service

__all__ = ["STEPS", "Fulfillment", "OrderOrchestrator", "Storefront"]

STEPS = ("ValidatePayment", "ReserveInventory", "SchedulePrint", "ShipOrder")
REPLIES = {
    "ValidatePayment": "PaymentValidated",
    "ReserveInventory": "InventoryReserved",
    "SchedulePrint": "PrintScheduled",
    "ShipOrder": "OrderDispatched",
}


class Storefront(Service):
    """A collector orders a print of every newly published artwork."""

    name = "canvasflow-storefront"
    group_name = "storefront"
    link_parent = True

    def handlers(self) -> dict[str, Handler]:
        return {self.rt.topics.catalog: self.place_order}

    def place_order(self, d: Delivery) -> None:
        p = d.payload
        order_id = "ord-" + hashlib.sha1(p["artwork_id"].encode()).hexdigest()[:12]
        buyer = f"collector-{int(hashlib.sha1(order_id.encode()).hexdigest(), 16) % 500}"
        event = new_event(
            "OrderPlaced",
            d.correlation_id,
            order_id=order_id,
            artwork_id=p["artwork_id"],
            buyer_id=buyer,
            amount=p["price"],
            currency=p["currency"],
        )
        self.emitter.emit(self.rt.topics.orders, order_id, event)


class OrderOrchestrator(Service):
    """Sends one command per step and moves on when the step's reply arrives."""

    name = "canvasflow-order-orchestrator"
    group_name = "order-orchestrator"

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt)
        self._completed = self.tel.meter.create_counter(
            "canvasflow.orders.completed", unit="{order}"
        )

    def handlers(self) -> dict[str, Handler]:
        return {self.rt.topics.orders: self.on_order, self.rt.topics.replies: self.on_reply}

    def _command(
        self, d: Delivery, step: str, order_id: str, artwork_id: str, amount: float
    ) -> None:
        with self.tel.tracer.start_as_current_span(
            f"order.step {step}",
            kind=SpanKind.INTERNAL,
            attributes={
                "correlation.id": d.correlation_id,
                "order.id": order_id,
                "order.step": step,
            },
        ):
            event = new_event(
                step,
                d.correlation_id,
                order_id=order_id,
                artwork_id=artwork_id,
                amount=amount,
                step=step,
            )
            self.emitter.emit(self.rt.topics.commands, order_id, event)

    def on_order(self, d: Delivery) -> None:
        p = d.payload
        self._command(d, STEPS[0], p["order_id"], p["artwork_id"], p["amount"])

    def on_reply(self, d: Delivery) -> None:
        p = d.payload
        order_id, step = p["order_id"], p["step"]
        artwork_id, amount = p.get("artwork_id", ""), p.get("amount", 0)
        if not p["ok"]:
            event = new_event(
                "OrderFailed",
                d.correlation_id,
                order_id=order_id,
                artwork_id=artwork_id,
                status="failed",
                detail=p.get("detail", ""),
            )
            self.emitter.emit(self.rt.topics.status, order_id, event)
            self.rt.stats.add("orders_failed")
            return
        index = STEPS.index(step)
        if index + 1 < len(STEPS):
            self._command(d, STEPS[index + 1], order_id, artwork_id, amount)
            return
        event = new_event(
            "OrderShipped",
            d.correlation_id,
            order_id=order_id,
            artwork_id=artwork_id,
            status="shipped",
            tracking_number=p.get("detail", ""),
        )
        self.emitter.emit(self.rt.topics.status, order_id, event)
        self.rt.stats.ship(d.correlation_id, order_id)
        self._completed.add(1)
        self.tel.log.info(
            "order shipped", extra={"correlation.id": d.correlation_id, "order.id": order_id}
        )


class Fulfillment(Service):
    """Payments, inventory, the print shop and shipping, answering the orchestrator's commands."""

    name = "canvasflow-fulfillment"
    group_name = "fulfillment"

    def handlers(self) -> dict[str, Handler]:
        return {self.rt.topics.commands: self.on_command}

    def on_command(self, d: Delivery) -> None:
        p = d.payload
        step = p["step"]
        knobs = self.rt.knobs
        if step == "SchedulePrint" and d.replay_id is None:
            rng = knobs.rng("print", d.correlation_id)
            if rng.random() < knobs.flaky_rate / 2 and d.attempt < rng.choice((1, 2, 3)):
                raise TransientError("print shop API timed out")
        detail = ""
        if step == "ShipOrder":
            detail = "TRK" + hashlib.sha1(p["order_id"].encode()).hexdigest()[:10].upper()
        self.rt.stats.add(f"side_effect.{step}")
        reply = new_event(
            REPLIES[step],
            d.correlation_id,
            order_id=p["order_id"],
            step=step,
            ok=True,
            detail=detail,
            artwork_id=p["artwork_id"],
            amount=p.get("amount", 0),
        )
        self.emitter.emit(self.rt.topics.replies, p["order_id"], reply)
