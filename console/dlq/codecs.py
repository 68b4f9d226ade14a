"""Payloads in the Confluent wire format: decoded to JSON for people, encoded back for Kafka.

The wire format (parsed and written by confluent-kafka's ``SchemaId``): byte 0 is the magic byte 0
and bytes 1-4 the schema id; Protobuf adds zig-zag varint message indexes. Newer clients put the
schema in a header instead (``__value_schema_id`` / ``__key_schema_id``: magic byte 1, a 16-byte
schema GUID, Protobuf's indexes) and the value holds only the body.

``PayloadCodec`` reads the framing and schemas through one ``Registry`` (``registry.py``:
confluent-kafka's ``SchemaRegistryClient``, which caches them by id and GUID) and hands the body to
its format's module:

* ``avro_codec``: fastavro; the JSON form is the Avro JSON encoding, so every value round-trips;
* ``protobuf_codec``: without generated classes, through a descriptor pool and ``json_format``;
* ``jsonschema_codec``: the body is JSON, checked with ``jsonschema``.

``decode`` returns a ``Decoded`` (kind ``avro``, ``protobuf`` or ``jsonschema``, the JSON document,
the schema's registry/subject/version/id/type) or None for a payload not in the wire format.
``encode`` turns an edited JSON text back into wire-format bytes with the original schema (or the
subject's latest version), or raises ``EncodeError`` (exit 2) naming each field that does not fit.
A registry URL is shown only without its credentials (``display_url``).

Errors: ``RegistryError`` (a ``HandoffError``, exit 1) when the registry cannot be reached or has
no such schema; ``EncodeError`` (an ``InputError``, exit 2) for a fix that does not encode.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from console.base.errors import InputError
from console.base.model import Header
from console.dlq import avro_codec, jsonschema_codec, protobuf_codec
from console.dlq.jsondoc import Violation, json_path, pretty_json, pretty_json_lines
from console.dlq.registry import KINDS, Registry, RegistryError, SchemaInfo

__all__ = [
    "KEY_SCHEMA_HEADER",
    "VALUE_SCHEMA_HEADER",
    "Decoded",
    "EncodeError",
    "Encoded",
    "PayloadCodec",
    "RegistryError",
    "SchemaInfo",
    "open_codec",
    "wire_schema_ref",
]

VALUE_SCHEMA_HEADER = "__value_schema_id"
KEY_SCHEMA_HEADER = "__key_schema_id"


class EncodeError(InputError):
    """A fix that does not encode with its schema: refused, nothing stored (exit 2)."""

    def __init__(self, message: str, violations: Sequence[Violation]) -> None:
        super().__init__(message)
        self.violations = tuple(violations)


@dataclass(frozen=True, slots=True)
class Decoded:
    kind: str  # avro, protobuf, jsonschema
    document: Any  # the JSON form
    schema: SchemaInfo
    in_header: bool  # the schema GUID came in __value_schema_id, not in the payload
    message_indexes: tuple[int, ...] | None = None  # Protobuf only

    @property
    def text(self) -> str:
        return pretty_json(self.document)


@dataclass(frozen=True, slots=True)
class Encoded:
    """A fix in the wire format: the bytes to produce, and the schema header when it rides one."""

    payload: bytes
    schema: SchemaInfo
    value_schema_header: bytes | None  # the new __value_schema_id, when the schema is in headers
    document: Any


def wire_schema_ref(
    payload: bytes | None, headers: Iterable[Header] = (), *, key: bool = False
) -> str | None:
    """``schema id N`` / ``schema guid G`` when the value looks like the wire format, else None.
    Needs no registry: for saying what a payload is when none is configured."""
    header = _last_header(headers, KEY_SCHEMA_HEADER if key else VALUE_SCHEMA_HEADER)
    if header is not None and len(header) >= 17 and header[0] == 1:
        import uuid

        return f"schema guid {uuid.UUID(bytes=header[1:17])}"
    if payload is not None and len(payload) >= 5 and payload[0] == 0:
        return f"schema id {int.from_bytes(payload[1:5], 'big')}"
    return None


def _last_header(headers: Iterable[Header], name: str) -> bytes | None:
    found = None
    for n, v in headers:
        if n == name:
            found = v
    return found


def open_codec(url: str | None, config_file: Path | None = None) -> PayloadCodec | None:
    """The codec the options name (``--schema-registry``, ``--schema-registry-config``)."""
    if not url:
        if config_file is not None:
            raise InputError("--schema-registry-config needs --schema-registry URL")
        return None
    conf: dict[str, str] = {}
    if config_file is not None:
        from console.base.kafka_config import parse_properties

        try:
            text = Path(config_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"--schema-registry-config: cannot read {config_file}: {exc.strerror}"
            ) from None
        conf = parse_properties(text, source=str(config_file))
    return PayloadCodec(url, conf)


class PayloadCodec:
    """Decode and encode wire-format payloads through one Schema Registry."""

    def __init__(self, url: str, conf: Mapping[str, str] | None = None, client: Any = None) -> None:
        self.registry = Registry(url, conf, client)
        self.url = self.registry.url

    def decode(
        self, payload: bytes | None, headers: Iterable[Header], topic: str, *, key: bool = False
    ) -> Decoded | None:
        """The payload decoded with its writer's schema; None when it is not in the wire format.

        Raises ``RegistryError`` when the registry cannot say what the schema is, and
        ``InputError`` when the bytes do not decode with it.
        """
        from confluent_kafka.schema_registry.common.serde import SchemaId

        if payload is None:
            return None
        headers = tuple(headers)
        header = _last_header(headers, KEY_SCHEMA_HEADER if key else VALUE_SCHEMA_HEADER)
        in_header = header is not None and len(header) >= 17 and header[0] == 1
        if not in_header and not (len(payload) >= 5 and payload[0] == 0):
            return None
        probe = SchemaId("AVRO")  # no indexes read: only the id or guid
        probe.from_bytes(io.BytesIO(header if in_header else payload))  # type: ignore[arg-type]  # in_header: not None
        guid = str(probe.guid) if probe.guid is not None else None
        schema = self.registry.schema(probe.id, guid)
        kind = schema.schema_type or "AVRO"
        if kind not in KINDS:
            raise RegistryError(f"schema registry {self.url}: unknown schema type {kind}")
        sid = SchemaId(kind)
        try:
            if in_header:
                sid.from_bytes(io.BytesIO(header))  # type: ignore[arg-type]  # in_header: not None
                body = payload
            else:
                body = sid.from_bytes(io.BytesIO(payload)).read()
        except Exception as exc:
            raise InputError(f"the payload's wire-format framing is broken: {exc}") from None
        info = self.registry.info(schema, probe.id, guid, topic, key)
        indexes = tuple(sid.message_indexes) if kind == "PROTOBUF" and sid.message_indexes else None
        try:
            document = self._decode_body(kind, schema, body, indexes, info)
        except (RegistryError, InputError):
            raise
        except Exception as exc:
            raise InputError(
                f"the payload does not decode with {info.describe()}: {type(exc).__name__}: {exc}"
            ) from None
        return Decoded(KINDS[kind], document, info, in_header, indexes)

    def _decode_body(
        self, kind: str, schema: Any, body: bytes, indexes: tuple[int, ...] | None, info: SchemaInfo
    ) -> Any:
        if kind == "AVRO":
            return avro_codec.decode(self.registry, schema, body, info)
        if kind == "PROTOBUF":
            return protobuf_codec.decode(self.registry, schema, body, indexes, info)
        return jsonschema_codec.decode(body)

    def violations(self, decoded: Decoded) -> list[Violation]:
        """What the schema says is wrong with a decoded payload: a JSON Schema's violations
        (Avro and Protobuf bytes that decode are valid by construction)."""
        if decoded.kind != "jsonschema":
            return []
        schema = self.registry.schema(decoded.schema.id, decoded.schema.guid)
        return jsonschema_codec.violations(schema, decoded.schema, decoded.document)

    def encode(self, text: str, before: Decoded, *, topic: str, latest: bool = False) -> Encoded:
        """Encode an edited JSON text with ``before``'s schema (or the subject's latest
        version), in ``before``'s framing. ``EncodeError`` names every field that does not fit."""
        from confluent_kafka.schema_registry.common.serde import SchemaId

        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EncodeError(
                f"the fix is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                [Violation("$", f"not JSON: {exc.msg}", exc.lineno, "json")],
            ) from None
        info = before.schema
        if latest:
            if not info.subject:
                raise InputError(
                    f"--schema-version latest: the schema {info.describe()} has no subject here"
                )
            reg = self.registry.latest(info.subject)
            schema = reg.schema
            info = SchemaInfo(
                self.url,
                info.subject,
                reg.version,
                reg.schema_id,
                schema.schema_type or "AVRO",
                reg.guid,
            )
        else:
            schema = self.registry.schema(info.id if info.guid is None else None, info.guid)
        indexes = before.message_indexes
        if info.type == "PROTOBUF" and latest and before.message_indexes is not None:
            old_schema = self.registry.schema(before.schema.id, before.schema.guid)
            indexes = protobuf_codec.same_message(
                self.registry, schema, info, old_schema, before.schema, before.message_indexes
            )
        body = self._encode_body(info, schema, document, indexes)
        sid = SchemaId(info.type, info.id, info.guid, list(indexes) if indexes else None)
        if info.type == "PROTOBUF" and sid.message_indexes is None:
            sid.message_indexes = [0]
        if before.in_header:
            if info.guid is None:
                raise InputError(f"{info.describe()} has no GUID for the __value_schema_id header")
            return Encoded(body, info, sid.guid_to_bytes(), document)
        if info.id is None:
            raise InputError(f"{info.describe()} has no id for the payload's prefix")
        return Encoded(sid.id_to_bytes() + body, info, None, document)

    def _encode_body(
        self, info: SchemaInfo, schema: Any, document: Any, indexes: Sequence[int] | None
    ) -> bytes:
        if info.type == "AVRO":
            body, problems = avro_codec.encode(self.registry, schema, info, document)
        elif info.type == "PROTOBUF":
            body, problems = protobuf_codec.encode(self.registry, schema, info, document, indexes)
        else:
            body, problems = jsonschema_codec.encode(schema, info, document)
        if body is not None:
            return body
        lines = pretty_json_lines(document)
        problems = [
            p
            if p.line is not None
            else Violation(p.path, p.message, _line(lines, p.path), p.validator)
            for p in problems
        ]
        listed = "\n".join(f"  {p}" for p in problems)
        raise EncodeError(
            f"the fix does not encode with {info.describe()}; nothing stored:\n{listed}", problems
        )


# -- helpers ---------------------------------------------------------------------------------


def _line(lines: dict[tuple[str | int, ...], int], path: str) -> int | None:
    for parts, line in lines.items():
        if json_path(parts) == path:
            return line
    return None
