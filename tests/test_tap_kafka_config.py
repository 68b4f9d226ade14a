"""The shared librdkafka configuration: properties file, -X, --bootstrap (pure, no broker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.base.errors import InputError
from console.base.kafka_config import kafka_config, parse_properties, parse_x_options, redacted


def test_properties_file_then_x_then_bootstrap(tmp_path: Path) -> None:
    f = tmp_path / "client.properties"
    f.write_text(
        "# SASL over TLS\n"
        "bootstrap.servers=kafka-1:9093,kafka-2:9093\n"
        "security.protocol = SASL_SSL\n"
        "sasl.mechanism: PLAIN\n"
        "! another comment style\n"
        "\n"
        "sasl.username=svc\n"
        "sasl.password=s3cr=t\n"
        "ssl.ca.location=/etc/ssl/ca.pem\n"
    )
    cfg = kafka_config(None, f, ["sasl.mechanism=SCRAM-SHA-512", "client.id=ops"])
    assert cfg == {
        "bootstrap.servers": "kafka-1:9093,kafka-2:9093",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc",
        "sasl.password": "s3cr=t",
        "ssl.ca.location": "/etc/ssl/ca.pem",
        "client.id": "ops",
    }
    assert kafka_config("other:9092", f, None)["bootstrap.servers"] == "other:9092"


def test_defaults_to_the_local_broker() -> None:
    assert kafka_config() == {"bootstrap.servers": "127.0.0.1:9092"}
    assert kafka_config(None, None, ["bootstrap.servers=x:1"]) == {"bootstrap.servers": "x:1"}


def test_continuation_lines() -> None:
    props = parse_properties(
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \\\n"
        '    required username="u" password="p";\n'
    )
    assert props["sasl.jaas.config"].endswith('required username="u" password="p";')


def test_bad_input_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="-X 'nokey'"):
        parse_x_options(["nokey"])
    with pytest.raises(InputError, match="line 2"):
        parse_properties("a=1\njust words\n")
    with pytest.raises(InputError, match="no such file"):
        kafka_config(None, tmp_path / "missing.properties")


def test_redacted_masks_secrets() -> None:
    shown = redacted({"sasl.password": "p", "ssl.key.password": "k", "sasl.username": "u"})
    assert shown == {"sasl.password": "***", "ssl.key.password": "***", "sasl.username": "u"}
