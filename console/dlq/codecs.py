"""Payloads in the Confluent wire format: decoded to JSON for people, encoded back for Kafka.

The wire format (parsed and written by confluent-kafka's ``SchemaId``): byte 0 is the magic byte 0
and bytes 1-4 the schema id; Protobuf adds zig-zag varint message indexes. Newer clients put the
schema in a header instead (``__value_schema_id`` / ``__key_schema_id``: magic byte 1, a 16-byte
schema GUID, Protobuf's indexes) and the value holds only the body.

``PayloadCodec`` reads schemas through confluent-kafka's ``SchemaRegistryClient`` (which caches
them by id and GUID) and decodes:

* Avro with fastavro (``schemaless_reader``); the JSON form is the Avro JSON encoding
  (``json_writer`` / ``json_reader``: unions tagged ``{"string": "x"}``, bytes and decimals as
  code-point strings), so every value round-trips exactly;
* Protobuf without generated classes: the schema is fetched with ``format=serialized``, built into
  a ``DescriptorPool`` with its references, and read with ``message_factory`` and ``json_format``;
* JSON Schema: the body is JSON, checked with ``jsonschema``.

``decode`` returns a ``Decoded`` (kind ``avro``, ``protobuf`` or ``jsonschema``, the JSON document,
the schema's registry/subject/version/id/type) or None for a payload not in the wire format.
``encode`` turns an edited JSON text back into wire-format bytes with the original schema (or the
subject's latest version), or raises ``EncodeError`` (exit 2) naming each field that does not fit.
A registry URL is shown only without its credentials (``display_url``).

Errors: ``RegistryError`` (a ``HandoffError``, exit 1) when the registry cannot be reached or has
no such schema; ``EncodeError`` (an ``InputError``, exit 2) for a fix that does not encode.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from console.base.errors import HandoffError, InputError
from console.base.model import Header
from console.base.urls import display_url
from console.dlq.contracts import validate
from console.dlq.jsondoc import Violation, json_path, pretty_json, pretty_json_lines
from console.dlq.violations import avro_violations, proto_violation

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
_KINDS = {"AVRO": "avro", "PROTOBUF": "protobuf", "JSON": "jsonschema"}


class RegistryError(HandoffError):
    """The schema registry cannot be reached, refuses us, or has no such schema (exit 1)."""


class EncodeError(InputError):
    """A fix that does not encode with its schema: refused, nothing stored (exit 2)."""

    def __init__(self, message: str, violations: Sequence[Violation]) -> None:
        super().__init__(message)
        self.violations = tuple(violations)


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """Which schema a payload was written with. ``type``: AVRO, PROTOBUF or JSON."""

    registry: str  # display_url(): never credentials
    subject: str | None
    version: int | None
    id: int | None
    type: str
    guid: str | None = None

    @property
    def kind(self) -> str:
        return _KINDS[self.type]

    def describe(self) -> str:
        where = f"subject {self.subject} v{self.version}" if self.subject else "no subject"
        ident = f"id {self.id}" if self.id is not None else f"guid {self.guid}"
        return f"{self.type} schema {ident} ({where}) at {self.registry}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "subject": self.subject,
            "version": self.version,
            "id": self.id,
            "type": self.type,
            "guid": self.guid,
        }


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
        self.url = display_url(url)
        if client is None:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            parts = urlsplit(url)
            conf = dict(conf or {})
            if parts.username is not None:
                if "basic.auth.user.info" in conf:
                    raise InputError(
                        "the schema registry URL holds credentials and the config file sets "
                        "basic.auth.user.info: keep one"
                    )
                conf["basic.auth.user.info"] = (
                    f"{unquote(parts.username)}:{unquote(parts.password or '')}"
                )
            try:
                client = SchemaRegistryClient({**conf, "url": self.url})
            except (ValueError, TypeError) as exc:
                raise InputError(f"schema registry {self.url}: {exc}") from None
        self.client = client
        self._parsed: dict[tuple[str, int | str], Any] = {}

    # -- registry access -------------------------------------------------------------------

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from confluent_kafka.schema_registry import SchemaRegistryError

        try:
            return fn(*args, **kwargs)
        except SchemaRegistryError as exc:
            raise RegistryError(
                f"schema registry {self.url}: {what}: {exc.error_message} "
                f"(HTTP {exc.http_status_code})"
            ) from None
        except Exception as exc:  # connection refused, TLS, timeouts: the client's own errors
            raise RegistryError(
                f"schema registry {self.url} is unreachable ({what}): {type(exc).__name__}: "
                f"{_strip_credentials(str(exc))}"
            ) from None

    def _schema(self, schema_id: int | None, guid: str | None) -> Any:
        if guid is not None:
            return self._call(
                f"schema guid {guid}", self.client.get_schema_by_guid, guid, fmt="serialized"
            )
        return self._call(
            f"schema id {schema_id}", self.client.get_schema, schema_id, fmt="serialized"
        )

    def _info(
        self, schema: Any, schema_id: int | None, guid: str | None, topic: str, key: bool = False
    ) -> SchemaInfo:
        """Subject and version for people: ``<topic>-value`` (``-key``) where the schema is
        registered there, else the first subject that holds the id."""
        from confluent_kafka.schema_registry import SchemaRegistryError

        subject = version = None
        wanted = f"{topic}-{'key' if key else 'value'}"
        try:
            reg = self.client.lookup_schema(wanted, schema)
            subject, version = reg.subject or wanted, reg.version
            schema_id = reg.schema_id if schema_id is None else schema_id
            guid = guid or reg.guid
        except SchemaRegistryError:
            if schema_id is not None:
                try:
                    found = self.client.get_schema_versions(schema_id)
                    if found:
                        subject, version = found[0].subject, found[0].version
                except SchemaRegistryError:
                    pass
        return SchemaInfo(self.url, subject, version, schema_id, schema.schema_type or "AVRO", guid)

    # -- decode ----------------------------------------------------------------------------

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
        schema = self._schema(probe.id, guid)
        kind = schema.schema_type or "AVRO"
        if kind not in _KINDS:
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
        info = self._info(schema, probe.id, guid, topic, key)
        indexes = tuple(sid.message_indexes) if kind == "PROTOBUF" and sid.message_indexes else None
        try:
            document = self._decode_body(kind, schema, body, indexes, info)
        except (RegistryError, InputError):
            raise
        except Exception as exc:
            raise InputError(
                f"the payload does not decode with {info.describe()}: {type(exc).__name__}: {exc}"
            ) from None
        return Decoded(_KINDS[kind], document, info, in_header, indexes)

    def _decode_body(
        self, kind: str, schema: Any, body: bytes, indexes: tuple[int, ...] | None, info: SchemaInfo
    ) -> Any:
        if kind == "AVRO":
            from fastavro import json_writer, schemaless_reader

            parsed = self._avro(schema, info)
            record = schemaless_reader(io.BytesIO(body), parsed, None)
            out = io.StringIO()
            json_writer(out, parsed, [record])
            return json.loads(out.getvalue())
        if kind == "PROTOBUF":
            from google.protobuf import json_format

            cls = self._proto_class(schema, indexes or (0,), info)
            msg = cls()
            msg.ParseFromString(body)
            return json.loads(
                json_format.MessageToJson(
                    msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
                )
            )
        return json.loads(body.decode("utf-8"))

    def violations(self, decoded: Decoded) -> list[Violation]:
        """What the schema says is wrong with a decoded payload: a JSON Schema's violations
        (Avro and Protobuf bytes that decode are valid by construction)."""
        if decoded.kind != "jsonschema":
            return []
        schema = self._schema(decoded.schema.id, decoded.schema.guid)
        try:
            return validate(json.loads(schema.schema_str), decoded.document)
        except (TypeError, json.JSONDecodeError) as exc:
            raise RegistryError(f"{decoded.schema.describe()} is not JSON: {exc}") from None

    # -- schemas made usable ---------------------------------------------------------------

    def _avro(self, schema: Any, info: SchemaInfo) -> Any:
        key = ("avro", info.guid or info.id or schema.schema_str)
        if key not in self._parsed:
            from fastavro import parse_schema

            named: dict[str, Any] = {}
            for _ref, reg in self._references(schema, seen=set()):
                parse_schema(json.loads(reg.schema.schema_str), named_schemas=named)
            self._parsed[key] = parse_schema(json.loads(schema.schema_str), named_schemas=named)
        return self._parsed[key]

    def _references(
        self, schema: Any, *, seen: set[str], fmt: str | None = None
    ) -> list[tuple[Any, Any]]:
        """What ``schema`` references, transitively, each once and after what it references
        itself (the order a parser takes them in): ``(reference, registered schema)`` pairs.
        Names in ``seen`` are skipped (and every name visited is added to it)."""
        out: list[tuple[Any, Any]] = []
        kwargs = {"fmt": fmt} if fmt else {}

        def visit(refs: Any) -> None:
            for ref in refs or ():
                if ref.name in seen:
                    continue
                seen.add(ref.name)
                reg = self._call(
                    f"reference {ref.subject} v{ref.version}",
                    self.client.get_version,
                    ref.subject,
                    ref.version,
                    **kwargs,
                )
                visit(reg.schema.references)
                out.append((ref, reg))

        visit(schema.references)
        return out

    def _proto_pool(self, schema: Any, info: Any) -> tuple[Any, Any]:
        """The schema's file in a fresh descriptor pool, with its references and Google's
        well-known types; returns ``(pool, FileDescriptorProto)``."""
        key = ("protobuf", info.guid or info.id or schema.schema_str)
        if key not in self._parsed:
            from google.protobuf import descriptor_pb2
            from google.protobuf.descriptor_pool import DescriptorPool

            pool = DescriptorPool()
            for module in _well_known():
                pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
            added = {m.DESCRIPTOR.name for m in _well_known()}
            for ref, reg in self._references(schema, seen=added, fmt="serialized"):
                ref_fd = descriptor_pb2.FileDescriptorProto.FromString(_b64(reg.schema.schema_str))
                ref_fd.name = ref.name
                pool.Add(ref_fd)
            fd = descriptor_pb2.FileDescriptorProto.FromString(_b64(schema.schema_str))
            fd.name = f"handoff/registry/{key[1]}.proto"
            pool.Add(fd)
            self._parsed[key] = (pool, fd)
        parsed: tuple[Any, Any] = self._parsed[key]
        return parsed

    def _proto_class(self, schema: Any, indexes: Sequence[int], info: Any) -> Any:
        from google.protobuf.message_factory import GetMessageClass

        pool, fd = self._proto_pool(schema, info)
        return GetMessageClass(pool.FindMessageTypeByName(_message_name(fd, indexes)))

    # -- encode ----------------------------------------------------------------------------

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
            reg = self._call(
                f"latest version of {info.subject}",
                self.client.get_latest_version,
                info.subject,
                fmt="serialized",
            )
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
            schema = self._schema(info.id if info.guid is None else None, info.guid)
        indexes = before.message_indexes
        if info.type == "PROTOBUF" and latest and before.message_indexes is not None:
            indexes = self._same_message(schema, info, before)
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

    def _same_message(self, schema: Any, info: SchemaInfo, before: Decoded) -> tuple[int, ...]:
        """The message indexes, in the latest schema, of the message ``before`` was written as."""
        old_schema = self._schema(before.schema.id, before.schema.guid)
        _, old_fd = self._proto_pool(old_schema, before.schema)
        name = _message_name(old_fd, before.message_indexes or (0,))
        _, fd = self._proto_pool(schema, info)
        found = _message_indexes(fd, name)
        if found is None:
            raise InputError(f"the latest schema of {info.subject} has no message {name}")
        return found

    def _encode_body(
        self, info: SchemaInfo, schema: Any, document: Any, indexes: Sequence[int] | None
    ) -> bytes:
        problems: list[Violation] = []
        if info.type == "AVRO":
            from fastavro import json_reader, schemaless_writer

            parsed = self._avro(schema, info)
            problems.extend(avro_violations(parsed, document))
            if not problems:
                try:
                    record = next(iter(json_reader(io.StringIO(json.dumps(document)), parsed)))
                    out = io.BytesIO()
                    schemaless_writer(out, parsed, record)
                    return out.getvalue()
                except Exception as exc:
                    problems.append(Violation("$", f"{type(exc).__name__}: {exc}", 1, "avro"))
        elif info.type == "PROTOBUF":
            from google.protobuf import json_format

            cls = self._proto_class(schema, indexes or (0,), info)
            try:
                msg = json_format.ParseDict(document, cls())
                return bytes(msg.SerializeToString())
            except json_format.ParseError as exc:
                problems.append(proto_violation(str(exc)))
        else:
            from console.dlq.contracts import validate

            try:
                json_schema = json.loads(schema.schema_str)
            except (TypeError, json.JSONDecodeError) as exc:
                raise RegistryError(f"{info.describe()} is not JSON: {exc}") from None
            problems = validate(json_schema, document)
            if not problems:
                return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
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


def _strip_credentials(text: str) -> str:
    import re

    return re.sub(r"(https?://)[^/@\s]+@", r"\1", text)


def _b64(text: str) -> bytes:
    return base64.standard_b64decode(text.encode("ascii"))


def _well_known() -> list[Any]:
    from google.protobuf import (
        any_pb2,
        duration_pb2,
        empty_pb2,
        field_mask_pb2,
        struct_pb2,
        timestamp_pb2,
        wrappers_pb2,
    )

    return [
        any_pb2,
        duration_pb2,
        empty_pb2,
        field_mask_pb2,
        struct_pb2,
        timestamp_pb2,
        wrappers_pb2,
    ]


def _message_name(fd: Any, indexes: Sequence[int]) -> str:
    """The full name of the message the indexes point at (top-level index, then nested)."""
    messages = fd.message_type
    names: list[str] = []
    for i in indexes:
        if not 0 <= i < len(messages):
            raise InputError(f"message index {i} is out of range for the schema")
        names.append(messages[i].name)
        messages = messages[i].nested_type
    return ".".join([fd.package, *names] if fd.package else names)


def _message_indexes(fd: Any, full_name: str) -> tuple[int, ...] | None:
    prefix = f"{fd.package}." if fd.package else ""
    if not full_name.startswith(prefix):
        return None
    wanted = full_name[len(prefix) :].split(".")
    messages, out = fd.message_type, []
    for part in wanted:
        idx = next((i for i, m in enumerate(messages) if m.name == part), None)
        if idx is None:
            return None
        out.append(idx)
        messages = messages[idx].nested_type
    return tuple(out)


def _line(lines: dict[tuple[str | int, ...], int], path: str) -> int | None:
    for parts, line in lines.items():
        if json_path(parts) == path:
            return line
    return None
