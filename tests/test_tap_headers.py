"""Correlation ids and W3C trace context from Kafka headers (pure, no broker)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from console.base.headers import (
    HeaderReader,
    correlation_id,
    parse_traceparent,
    read_context,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
TP = f"00-{TRACE}-{SPAN}-01".encode()


def test_each_default_header_name_gives_the_correlation_id() -> None:
    for name in ("x-correlation-id", "correlation-id", "correlationId", "correlation_id"):
        assert correlation_id([(name, b"order-7")]) == "order-7"


def test_names_match_case_insensitively_and_first_configured_name_wins() -> None:
    headers = [("correlation_id", b"low"), ("X-Correlation-ID", b"high")]
    assert correlation_id(headers) == "high"


def test_repeated_header_last_value_wins() -> None:
    assert correlation_id([("x-correlation-id", b"a"), ("x-correlation-id", b"b")]) == "b"


def test_configured_names_replace_the_defaults() -> None:
    headers = [("x-correlation-id", b"default"), ("orderRef", b"ord-1")]
    assert correlation_id(headers, ["orderRef"]) == "ord-1"
    assert correlation_id([("x-correlation-id", b"default")], ["orderRef"]) is None


def test_traceparent_gives_trace_and_span_and_stands_in_for_correlation() -> None:
    assert read_context([("traceparent", TP)]) == (TRACE, TRACE, SPAN)
    assert read_context([("traceparent", TP), ("x-correlation-id", b"c-1")]) == (
        "c-1",
        TRACE,
        SPAN,
    )


def test_invalid_traceparents_are_ignored() -> None:
    bad = [
        b"",
        b"garbage",
        f"ff-{TRACE}-{SPAN}-01".encode(),  # version ff is forbidden
        f"00-{'0' * 32}-{SPAN}-01".encode(),  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01".encode(),  # all-zero span id
        f"00-{TRACE.upper()}-{SPAN}-01".encode(),  # uppercase hex
        f"00-{TRACE}-{SPAN}-01-extra".encode(),  # version 00 has no trailing fields
        f"00-{TRACE[:-1]}-{SPAN}-01".encode(),
        b"\xff\xfe\x00",
    ]
    for value in bad:
        assert parse_traceparent(value) is None, value
        assert read_context([("traceparent", value)]) == (None, None, None)


def test_future_version_with_extra_fields_is_accepted() -> None:
    assert parse_traceparent(f"01-{TRACE}-{SPAN}-01-what-comes-next".encode()) == (TRACE, SPAN)
    assert parse_traceparent(f"00-{TRACE}-{SPAN}-00") == (TRACE, SPAN)


def test_non_utf8_or_empty_correlation_values_fall_through() -> None:
    headers = [("x-correlation-id", b"\xff\xfe"), ("correlation_id", b"fallback")]
    assert correlation_id(headers) == "fallback"
    assert correlation_id([("x-correlation-id", b""), ("traceparent", TP)]) == TRACE
    assert correlation_id([("x-correlation-id", None)]) is None
    assert correlation_id(None) is None
    assert correlation_id([]) is None


headers_strategy = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from(["traceparent", "x-correlation-id", "correlationId", "Traceparent"]),
            st.text(max_size=20),
        ),
        st.one_of(st.none(), st.binary(max_size=80)),
    ),
    max_size=8,
)


@given(headers_strategy)
def test_garbage_headers_never_raise(headers: list[tuple[str, bytes | None]]) -> None:
    corr, trace, span = HeaderReader().read(headers)
    assert corr is None or isinstance(corr, str)
    assert (trace is None) == (span is None)
    if trace is not None:
        assert len(trace) == 32 and len(span or "") == 16


@given(
    st.binary(min_size=16, max_size=16).filter(any),
    st.binary(min_size=8, max_size=8).filter(any),
    st.integers(0, 255),
)
def test_any_valid_traceparent_round_trips(trace: bytes, span: bytes, flags: int) -> None:
    value = f"00-{trace.hex()}-{span.hex()}-{flags:02x}".encode()
    assert parse_traceparent(value) == (trace.hex(), span.hex())
