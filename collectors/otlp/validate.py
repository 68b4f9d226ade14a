"""What the store cannot hold, found while decoding: values past an SQLite INTEGER, bad ids.

OTLP's times, counts and zero counts are fixed64: a legal value may be past 2**63-1, which no
SQLite INTEGER holds. The decoders reject such a record (and one with a bad trace or span id)
and count it per reason in ``Rejections``, whose ``message()`` the receivers put in
``partial_success``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BAD_IDS",
    "MAX_INT64",
    "MIN_INT64",
    "Rejections",
    "out_of_range",
    "span_problem",
]

MAX_INT64 = (1 << 63) - 1  # the largest value an SQLite INTEGER holds
MIN_INT64 = -(1 << 63)


class Rejections:
    """Records a request holds that cannot be stored, counted per reason, for
    ``partial_success`` (``message``: "1 spans with start_time_unix_nano past 2**63-1; ...")."""

    __slots__ = ("count", "reasons", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self.reasons: dict[str, int] = {}

    def add(self, reason: str) -> None:
        self.count += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def message(self) -> str:
        return "; ".join(f"{n} {self.what} {why}" for why, n in self.reasons.items())


def out_of_range(**fields: int | None) -> str | None:
    """The first of ``fields`` (OTLP fixed64 values) past what the store can hold, as a reason."""
    for name, value in fields.items():
        if value is not None and value > MAX_INT64:
            return f"with {name} past 2**63-1 ({value})"
    return None


BAD_IDS = "without a valid trace or span id"


def span_problem(span: Any) -> str | None:
    """Why a protobuf span cannot be stored (None: it can)."""
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        return BAD_IDS
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start > MAX_INT64 or end > MAX_INT64:
        return out_of_range(start_time_unix_nano=start, end_time_unix_nano=end)
    return None
