"""The DLQ library's pure parts: coordinates, --since, --set paths, replay headers and ids."""

from __future__ import annotations

from typing import Any

import pytest

from console.base.coordinates import parse_coordinates
from console.base.errors import InputError
from console.base.model import DeadLetter
from console.dlq import parse_since
from console.dlq.fix import apply_assignments, parse_assignment
from console.dlq.replay import replay_headers, replay_id
from console.dlq.show import payload_view
from tests.dlq_headers_fixture import connect_dlq_headers, spring_dlt_headers


def test_coordinates_and_since() -> None:
    assert parse_coordinates("orders.v1-dlt:3:42") == ("orders.v1-dlt", 3, 42)
    for bad in ("orders-dlt:3", "orders-dlt:x:1", ":1:2"):
        with pytest.raises(InputError):
            parse_coordinates(bad)
    now = 1_700_000_000_000
    assert parse_since("15m", now) == now - 900_000
    assert parse_since("2h", now) == now - 7_200_000
    assert parse_since("2026-11-25T18:00:00+00:00") == 1_795_629_600_000
    with pytest.raises(InputError, match="--since expects"):
        parse_since("yesterday-ish", now)


def test_set_paths_read_json_values_else_strings() -> None:
    doc: dict[str, Any] = {"order": {"items": [{"sku": "a", "qty": 1}]}, "note": None}
    out = apply_assignments(
        doc,
        [
            "order.items[0].qty=3",
            "$.order.items.0.sku=canvas-40x60",
            "note=null",
            "order.gift=true",
            'order["ship to"]={"city": "Berlin"}',
            "order.items[1]=7",
        ],
    )
    assert out == {
        "order": {
            "items": [{"sku": "canvas-40x60", "qty": 3}, 7],
            "gift": True,
            "ship to": {"city": "Berlin"},
        },
        "note": None,
    }
    assert doc["order"]["items"][0]["qty"] == 1  # the input is not changed
    assert parse_assignment("a.b=two words") == (["a", "b"], "two words")
    with pytest.raises(InputError, match=r"expects json\.path=value"):
        parse_assignment("a.b")
    with pytest.raises(InputError, match="not an index"):
        apply_assignments({"a": [1]}, ["a[5]=1"])
    with pytest.raises(InputError, match="goes inside a int"):
        apply_assignments({"a": 1}, ["a.b=1"])


def test_replay_headers_keep_business_drop_dlq_add_replay() -> None:
    headers = (
        ("x-correlation-id", b"c-1"),
        ("traceparent", b"00-abc-def-01"),
        *spring_dlt_headers(topic="orders", partition=1, offset=2, timestamp_ms=3, group="g"),
        *connect_dlq_headers(topic="orders", partition=1, offset=2),
        ("x-replay-id", b"old"),
    )
    d = DeadLetter("orders-dlt", 0, 9, 0, headers=headers, payload=b"{}")
    rid = replay_id(d.coordinates, "f" * 64, 1)
    assert rid == replay_id("orders-dlt:0:9", "f" * 64, 1)  # deterministic
    assert rid != replay_id("orders-dlt:0:9", "f" * 64, 2)
    assert rid != replay_id("orders-dlt:0:10", "f" * 64, 1)
    assert list(replay_headers(d, rid, 1)) == [
        ("x-correlation-id", b"c-1"),
        ("traceparent", b"00-abc-def-01"),
        ("x-replay-id", rid.encode()),
        ("x-replay-count", b"1"),
        ("x-replayed-from", b"orders-dlt:0:9"),
    ]


def test_payload_views() -> None:
    assert payload_view(b'{"a":[1]}') == ("json", '{\n  "a": [\n    1\n  ]\n}')
    assert payload_view(b"plain text") == ("text", "plain text")
    assert payload_view(None)[0] == "empty"
    kind, text = payload_view(b"\x00\xffAB")
    assert kind == "hex" and text == "00000000  00 ff 41 42" + " " * 38 + "..AB"
