"""``serve --metrics`` with the Kafka tap and OTLP over Kafka on a real broker: the hops, dead
letters and OTLP records the scrape says were committed are the messages produced."""

from __future__ import annotations

from pathlib import Path

from tests.otlp_helpers import Serve, trace_request
from tests.prometheus_helpers import Samples, scrape, value
from tests.tap_helpers import produce, unique, wait_for
from tests.test_otlp_kafka import GARBAGE, group, metrics_request, spec, topics
from tests.test_otlp_kafka import produce as produce_otlp


def test_tap_and_otlp_kafka_counts_match_the_messages_produced(
    kafka_bootstrap: str, db_path: Path
) -> None:
    orders = unique("orders")
    dlt = f"{orders}-dlt"  # a dead-letter topic by the default patterns
    produce(kafka_bootstrap, orders, [(b"k", b'{"n": %d}' % i, []) for i in range(5)])
    produce(kafka_bootstrap, dlt, [(b"k", b'{"n": %d}' % i, []) for i in range(2)])
    t = topics()
    produce_otlp(
        kafka_bootstrap,
        [
            (t["traces"], trace_request(4, service="orders", seed=3).SerializeToString()),
            (t["traces"], GARBAGE),
            (t["metrics"], metrics_request(5).SerializeToString()),
        ],
    )
    args = ["--otlp-grpc", "off", "--otlp-http", "off", "--bootstrap", kafka_bootstrap]
    args += ["--topics", f"{orders},{dlt}", "--group", unique("tap"), "--from-beginning"]
    args += ["--otlp-kafka-topics", spec(t), "--otlp-kafka-group", group()]
    with Serve(db_path, *args, "--metrics", "127.0.0.1:0") as s:
        url = s.metrics_url
        assert url is not None

        last: list[Samples] = [{}]

        def settled() -> Samples | None:
            got = last[0] = scrape(url)
            done = (
                value(got, "handoff_records_committed_total", signal="hops", receiver="tap") == 7
                and value(
                    got, "handoff_records_committed_total", signal="metrics", receiver="otlp-kafka"
                )
                == 5
                and ("handoff_kafka_lag_messages", frozenset({("receiver", "tap")})) in got
                and ("handoff_kafka_lag_messages", frozenset({("receiver", "otlp-kafka")})) in got
            )
            return got if done else None

        try:
            got = wait_for(settled, timeout=60, what="the tap and OTLP/Kafka to commit")
        except AssertionError:
            kafka = {k: v for k, v in last[0].items() if "kafka" in str(k) or "records" in k[0]}
            raise AssertionError(f"the last scrape: {kafka}") from None

    def committed(signal: str, receiver: str) -> float:
        return value(got, "handoff_records_committed_total", signal=signal, receiver=receiver)

    def received(signal: str, receiver: str) -> float:
        return value(got, "handoff_records_received_total", signal=signal, receiver=receiver)

    assert (committed("hops", "tap"), committed("dead_letters", "tap")) == (7, 2)
    assert (received("hops", "tap"), received("dead_letters", "tap")) == (7, 2)
    assert (committed("spans", "otlp-kafka"), committed("metrics", "otlp-kafka")) == (4, 5)
    assert received("spans", "otlp-kafka") == 4
    messages = "handoff_kafka_messages_total"
    assert value(got, messages, receiver="tap", topic=orders) == 5
    assert value(got, messages, receiver="tap", topic=dlt) == 2
    assert value(got, messages, receiver="otlp-kafka", topic=t["traces"]) == 2
    assert value(got, "handoff_otlp_kafka_bad_messages_total") == 1
    assert value(got, "handoff_kafka_lag_messages", receiver="tap") == 0
    assert value(got, "handoff_kafka_rewinds_total", receiver="tap") == 0
