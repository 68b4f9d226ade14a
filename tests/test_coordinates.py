"""One parser for ``TOPIC:PARTITION:OFFSET`` (console/base/coordinates.py): ``trace --message``,
the ``dlq`` commands and the TUI's search box read coordinates the same way, each with the words
its users already see."""

from __future__ import annotations

import pytest

from console.base.coordinates import Coordinates, is_coordinates, parse_address, parse_coordinates
from console.base.errors import InputError


def test_a_topic_may_hold_colons_and_the_last_two_fields_are_numbers() -> None:
    assert parse_coordinates("orders:v1-dlt:3:42") == Coordinates("orders:v1-dlt", 3, 42)
    assert str(Coordinates("orders-dlt", 0, 7)) == "orders-dlt:0:7"
    assert parse_address("lkc-1/orders-dlt:0:7") == ("lkc-1", Coordinates("orders-dlt", 0, 7))
    assert parse_address("orders-dlt:0:7") == (None, Coordinates("orders-dlt", 0, 7))


@pytest.mark.parametrize(
    ("text", "option", "message"),
    [
        ("orders-dlt:3", None, "expected TOPIC:PARTITION:OFFSET, got 'orders-dlt:3'"),
        ("o:x:1", None, "expected TOPIC:PARTITION:OFFSET with numbers, got 'o:x:1'"),
        ("o:-1:1", None, "expected TOPIC:PARTITION:OFFSET with numbers >= 0, got 'o:-1:1'"),
        ("o:0", "--message", "--message must be TOPIC:PARTITION:OFFSET, got 'o:0'"),
        ("o:x:1", "--message", "--message must be TOPIC:PARTITION:OFFSET, got 'o:x:1'"),
        ("o:0:-2", "--message", "--message partition and offset must be >= 0, got 'o:0:-2'"),
    ],
)
def test_bad_coordinates_say_what_was_expected(text: str, option: str | None, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_coordinates(text, option=option)
    assert str(err.value) == message


def test_the_search_box_takes_coordinates_and_nothing_else_for_them() -> None:
    from tui_app.ops import query_kind

    assert query_kind(" orders.placed:0:12 ") == ("message", "orders.placed:0:12")
    assert query_kind("orders.placed:0:-1")[0] == "correlation_id"
    assert query_kind("order-42")[0] == "correlation_id"
    assert is_coordinates("a:1:2") and not is_coordinates("a:1")
