"""Property tests: whatever bytes or JSON arrive, the decoders answer records or ``DecodeError``."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLog
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from collectors.otlp.decode import (
    DecodeError,
    decode_logs_request,
    decode_metrics_request,
    decode_trace_request,
)
from collectors.otlp.fast import FastTraceDecoder
from console.base.model import LogRecord, MetricPoint, Span
from console.store.sqlite.blocks import encode_spans
from tests.otlp_helpers import trace_request


def _examples(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        database=None,
    )


# Structured strategies are costly to draw, so the mutation tests draw a base body and a seed
# and then try MUTATIONS cheap variants each: tens of thousands of cases in a few seconds.
MUTATIONS = 40
DECODERS = (decode_trace_request, decode_metrics_request, decode_logs_request)
RECORD = {
    decode_trace_request: Span,
    decode_metrics_request: MetricPoint,
    decode_logs_request: LogRecord,
}


def _only_decode_error(decoder: Any, body: bytes, fmt: str) -> None:
    try:
        records, rejected, message = decoder(body, fmt)
    except DecodeError:
        return
    assert rejected >= 0 and isinstance(message, str)
    assert all(isinstance(r, RECORD[decoder]) for r in records)
    for r in records:
        json.dumps(getattr(r, "attributes", {}))  # what the store will write


def _any_value(depth: int = 0) -> st.SearchStrategy[AnyValue]:
    leaves = st.one_of(
        st.text(max_size=8).map(lambda s: AnyValue(string_value=s)),
        st.booleans().map(lambda b: AnyValue(bool_value=b)),
        st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
        st.floats().map(lambda f: AnyValue(double_value=f)),
        st.binary(max_size=8).map(lambda b: AnyValue(bytes_value=b)),
        st.just(AnyValue()),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda vs: AnyValue(array_value=ArrayValue(values=vs))),
            st.lists(st.tuples(st.text(max_size=4), inner), max_size=3).map(
                lambda kvs: AnyValue(
                    kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in kvs])
                )
            ),
        ),
        max_leaves=6,
    )


_attrs = st.lists(st.tuples(st.text(max_size=6), _any_value()), max_size=4).map(
    lambda kvs: [KeyValue(key=k, value=v) for k, v in kvs]
)


@st.composite
def _valid_bodies(draw: st.DrawFn) -> tuple[Any, bytes]:
    """A structurally valid request of any signal, with random values, serialized."""
    which = draw(st.sampled_from(DECODERS))
    resource = Resource(attributes=draw(_attrs))
    if which is decode_trace_request:
        req = trace_request(draw(st.integers(0, 4)), seed=draw(st.integers(1, 2**40)))
        for span in req.resource_spans[0].scope_spans[0].spans:
            span.attributes.extend(draw(_attrs))
            span.trace_id = draw(st.sampled_from([span.trace_id, b"", b"\x01" * 3]))
        req.resource_spans[0].resource.CopyFrom(resource)
        return which, req.SerializeToString()
    if which is decode_logs_request:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
        )

        log = PbLog(
            body=draw(_any_value()),
            attributes=draw(_attrs),
            trace_id=draw(st.binary(max_size=17)),
            span_id=draw(st.binary(max_size=9)),
            severity_number=draw(st.integers(0, 24)),  # type: ignore[arg-type]  # an enum field takes any int
        )
        req = ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=[log])])
            ]
        )
        return which, req.SerializeToString()
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    number = m.NumberDataPoint(
        attributes=draw(_attrs), as_int=draw(st.integers(-(2**63), 2**63 - 1))
    )
    floats = st.floats()
    hist = m.HistogramDataPoint(count=3, bucket_counts=[1, 2], explicit_bounds=[draw(floats)])
    expo = m.ExponentialHistogramDataPoint(count=2)
    metrics = [
        m.Metric(name="g", gauge=m.Gauge(data_points=[number])),
        m.Metric(name="s", sum=m.Sum(data_points=[m.NumberDataPoint(as_double=draw(floats))])),
        m.Metric(name="h", histogram=m.Histogram(data_points=[hist])),
        m.Metric(name="e", exponential_histogram=m.ExponentialHistogram(data_points=[expo])),
        m.Metric(name="q", summary=m.Summary(data_points=[m.SummaryDataPoint(count=1, sum=2.0)])),
        m.Metric(name="none"),
    ]
    scope = m.ScopeMetrics(metrics=metrics)
    req = ExportMetricsServiceRequest(
        resource_metrics=[m.ResourceMetrics(resource=resource, scope_metrics=[scope])]
    )
    return which, req.SerializeToString()


@_examples(2000)
@given(st.sampled_from(DECODERS), st.binary(max_size=200))
def test_random_bytes_as_protobuf(decoder: Any, body: bytes) -> None:
    _only_decode_error(decoder, body, "protobuf")


@_examples(2000)
@given(st.sampled_from(DECODERS), st.binary(max_size=200))
def test_random_bytes_as_json(decoder: Any, body: bytes) -> None:
    _only_decode_error(decoder, body, "json")


@_examples(200)
@given(_valid_bodies())
def test_valid_requests_with_random_values_decode(case: tuple[Any, bytes]) -> None:
    decoder, body = case
    records, _, _ = decoder(body, "protobuf")
    assert all(isinstance(r, RECORD[decoder]) for r in records)
    for r in records:
        json.dumps(r.attributes)


@_examples(300)
@given(_valid_bodies(), st.integers(0, 2**32))
def test_mutated_protobuf(case: tuple[Any, bytes], seed: int) -> None:
    decoder, body = case
    rnd = random.Random(seed)
    for _ in range(MUTATIONS):
        buf = bytearray(body)
        for _ in range(rnd.randint(1, 4)):
            op = rnd.choice(("flip", "insert", "delete", "truncate"))
            at = rnd.randrange(len(buf)) if buf else 0
            if op == "flip" and buf:
                buf[at] = rnd.randrange(256)
            elif op == "insert":
                buf[at:at] = rnd.randbytes(rnd.randint(1, 6))
            elif op == "delete" and buf:
                del buf[at]
            else:
                del buf[at:]
        _only_decode_error(decoder, bytes(buf), "protobuf")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
_KEYS = [
    "resourceSpans", "resourceMetrics", "resourceLogs", "scopeSpans", "scopeMetrics", "scopeLogs",
    "spans", "logRecords", "metrics", "traceId", "spanId", "parentSpanId", "attributes", "key",
    "value", "stringValue", "intValue", "kvlistValue", "arrayValue", "values", "gauge", "sum",
    "dataPoints", "asInt", "asDouble", "body", "links", "events", "startTimeUnixNano", "kind",
]  # fmt: skip
_otlp_json = st.recursive(
    _json,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


@_examples(500)
@given(st.sampled_from(DECODERS), _otlp_json)
def test_random_otlp_shaped_json(decoder: Any, doc: Any) -> None:
    _only_decode_error(decoder, json.dumps(doc).encode(), "json")


_SPAN = {
    "traceId": "5b8efff798038103d269b633813fc60c",
    "spanId": "eee19b7ec3c1b174",
    "name": "x",
    "kind": 2,
    "attributes": [{"key": "a", "value": {"intValue": "7"}}],
}
_LOG = {"timeUnixNano": "1", "body": {"stringValue": "b"}, "spanId": "eee19b7ec3c1b174"}
_METRIC = {"name": "m", "sum": {"dataPoints": [{"asInt": "3"}]}}
_JSON_BASE = json.dumps(
    {
        "resourceSpans": [{"scopeSpans": [{"spans": [_SPAN]}]}],
        "resourceLogs": [{"scopeLogs": [{"logRecords": [_LOG]}]}],
        "resourceMetrics": [{"scopeMetrics": [{"metrics": [_METRIC]}]}],
    }
).encode()
_JSON_BYTES = b'{}[]:,"0123456789abcdefxyzAZ.-+eE \\u\x00\xff'


@_examples(300)
@given(st.sampled_from(DECODERS), st.integers(0, 2**32))
def test_mutated_json_text(decoder: Any, seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(MUTATIONS * 3):
        text = bytearray(_JSON_BASE)
        for _ in range(rnd.randint(1, 3)):
            at = rnd.randrange(len(text))
            new = bytes(rnd.choice(_JSON_BYTES) for _ in range(rnd.randint(0, 3)))
            text[at : at + rnd.randint(0, 3)] = new
        _only_decode_error(decoder, bytes(text), "json")


_fast = FastTraceDecoder(cache_entries=64)  # small: misses, hits and clears all happen


@_examples(150)
@given(_valid_bodies(), st.integers(0, 2**32))
def test_fast_trace_path_gives_the_same_records_and_rows(
    case: tuple[Any, bytes], seed: int
) -> None:
    decoder, body = case
    if decoder is not decode_trace_request:
        body = trace_request(3, seed=seed % 1000 + 1).SerializeToString()
    rnd = random.Random(seed)
    for mutate in (False, *[True] * 12):
        if mutate:
            buf = bytearray(body)
            buf[rnd.randrange(len(buf))] = rnd.randrange(256)
            candidate = bytes(buf)
        else:
            candidate = body
        try:
            expected = decode_trace_request(candidate)
        except DecodeError:
            with pytest.raises(DecodeError):
                _fast.decode(candidate)
            with pytest.raises(DecodeError):
                _fast.decode_rows(candidate)
            continue
        got = _fast.decode(candidate)
        assert repr(got) == repr(expected)  # repr: a NaN attribute is equal to itself
        assert encode_spans(got[0]) == encode_spans(expected[0])  # stored alike, byte for byte
        rows, rejected, message = _fast.decode_rows(candidate)  # what the receivers store
        assert (rejected, message) == (expected[1], expected[2])
        assert encode_spans(rows) == encode_spans(expected[0])
