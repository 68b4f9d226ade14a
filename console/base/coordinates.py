"""Kafka coordinates: where one message sits, ``TOPIC:PARTITION:OFFSET``, and the
``CLUSTER/TOPIC:PARTITION:OFFSET`` form that names a cluster where two clusters' dead letters share
them. One type and one parser for every room: ``trace --message``, the ``dlq`` commands and the
TUI's search box.

Neither a Kafka cluster id nor a topic name holds a ``/``, so the first one splits them; a topic
name may hold colons, so the last two split the partition and the offset.
"""

from __future__ import annotations

from typing import NamedTuple

from console.base.errors import InputError

__all__ = ["Coordinates", "is_coordinates", "parse_address", "parse_coordinates"]


class Coordinates(NamedTuple):
    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


def parse_coordinates(text: str, *, option: str | None = None) -> Coordinates:
    """``orders-dlt:0:42`` -> ``Coordinates("orders-dlt", 0, 42)``; ``InputError`` when
    malformed, worded for the command-line ``option`` that gave it when there is one."""
    head, sep1, offset = text.rpartition(":")
    topic, sep2, partition = head.rpartition(":")
    shape = (
        f"{option} must be TOPIC:PARTITION:OFFSET, got {text!r}"
        if option
        else f"expected TOPIC:PARTITION:OFFSET, got {text!r}"
    )
    if not (sep1 and sep2 and topic):
        raise InputError(shape)
    try:
        p, o = int(partition), int(offset)
    except ValueError:
        if option:
            raise InputError(shape) from None
        raise InputError(f"expected TOPIC:PARTITION:OFFSET with numbers, got {text!r}") from None
    if p < 0 or o < 0:
        raise InputError(
            f"{option} partition and offset must be >= 0, got {text!r}"
            if option
            else f"expected TOPIC:PARTITION:OFFSET with numbers >= 0, got {text!r}"
        )
    return Coordinates(topic, p, o)


def parse_address(text: str) -> tuple[str | None, Coordinates]:
    """``CLUSTER/TOPIC:P:O`` -> ``(CLUSTER, Coordinates)``; plain ``TOPIC:P:O`` has no cluster."""
    cluster, sep, rest = text.partition("/")
    if not sep:
        return None, parse_coordinates(text)
    if not cluster:
        raise InputError(f"expected CLUSTER/TOPIC:PARTITION:OFFSET, got {text!r}")
    return cluster, parse_coordinates(rest)


def is_coordinates(text: str) -> bool:
    """Whether ``text`` parses as ``TOPIC:PARTITION:OFFSET`` (what a search box names)."""
    try:
        parse_coordinates(text)
    except InputError:
        return False
    return True
