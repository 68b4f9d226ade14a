"""The waterfall's rows and bars, rendered to plain text."""

from __future__ import annotations

from console.base.model import DeadLetter, Span
from tui_app.waterfall import JourneyView, bar, build_rows

MS = 1_000_000


def test_rows_grouped_by_service_with_gap_and_dead_letter() -> None:
    send = Span("a" * 32, "1" * 16, "send orders", 0, 10 * MS, "api", kind=4)
    take = Span("a" * 32, "2" * 16, "process orders", 60 * MS, 90 * MS, "worker", "1" * 16, kind=5)
    dead = DeadLetter("orders-dlt", 0, 3, 95, original_topic="orders")
    view = JourneyView("c-1", "dead_lettered", "orders-dlt", (send, take), (), (dead,))
    rows = build_rows(view)
    assert [(r.kind, r.label) for r in rows] == [
        ("service", "api"),
        ("span", "send orders"),
        ("service", "worker"),
        ("span", "process orders"),
        ("dead_letter", "DLQ orders-dlt:0:3"),
    ]
    consumer = rows[3]
    assert consumer.gap_ns == 50 * MS  # from the producer's end to the consumer's start
    t0, t1 = 0, 100 * MS
    assert bar(rows[1], t0, t1, 21).plain == "███" + " " * 18
    assert bar(consumer, t0, t1, 21).plain == "  " + "┄" * 10 + "███████" + "  "
    assert bar(rows[4], t0, t1, 21).plain.strip() == "✖"
