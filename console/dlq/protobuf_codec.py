"""Protobuf payloads through the registry, without generated classes: the schema is fetched with
``format=serialized``, built into a ``DescriptorPool`` with its references and Google's
well-known types, and read and written with ``message_factory`` and ``json_format``. The wire
format's message indexes name the message (top-level index, then nested)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from console.base.errors import InputError
from console.dlq.jsondoc import Violation
from console.dlq.registry import Registry, SchemaInfo
from console.dlq.violations import proto_violation

__all__ = ["decode", "encode", "message_class", "same_message"]


def _pool(registry: Registry, schema: Any, info: Any) -> tuple[Any, Any]:
    """The schema's file in a fresh descriptor pool, with its references and Google's
    well-known types; returns ``(pool, FileDescriptorProto)``."""
    key = ("protobuf", info.guid or info.id or schema.schema_str)
    if key not in registry.parsed:
        from google.protobuf import descriptor_pb2
        from google.protobuf.descriptor_pool import DescriptorPool

        pool = DescriptorPool()
        for module in _well_known():
            pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
        added = {m.DESCRIPTOR.name for m in _well_known()}
        for ref, reg in registry.references(schema, seen=added, fmt="serialized"):
            ref_fd = descriptor_pb2.FileDescriptorProto.FromString(_b64(reg.schema.schema_str))
            ref_fd.name = ref.name
            pool.Add(ref_fd)
        fd = descriptor_pb2.FileDescriptorProto.FromString(_b64(schema.schema_str))
        fd.name = f"handoff/registry/{key[1]}.proto"
        pool.Add(fd)
        registry.parsed[key] = (pool, fd)
    parsed: tuple[Any, Any] = registry.parsed[key]
    return parsed


def message_class(registry: Registry, schema: Any, indexes: Sequence[int], info: Any) -> Any:
    from google.protobuf.message_factory import GetMessageClass

    pool, fd = _pool(registry, schema, info)
    return GetMessageClass(pool.FindMessageTypeByName(_message_name(fd, indexes)))


def decode(
    registry: Registry,
    schema: Any,
    body: bytes,
    indexes: tuple[int, ...] | None,
    info: SchemaInfo,
) -> Any:
    from google.protobuf import json_format

    cls = message_class(registry, schema, indexes or (0,), info)
    msg = cls()
    msg.ParseFromString(body)
    return json.loads(
        json_format.MessageToJson(
            msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    )


def encode(
    registry: Registry,
    schema: Any,
    info: SchemaInfo,
    document: Any,
    indexes: Sequence[int] | None,
) -> tuple[bytes | None, list[Violation]]:
    """The Protobuf body of ``document``, or None and what does not fit."""
    from google.protobuf import json_format

    cls = message_class(registry, schema, indexes or (0,), info)
    try:
        msg = json_format.ParseDict(document, cls())
        return bytes(msg.SerializeToString()), []
    except json_format.ParseError as exc:
        return None, [proto_violation(str(exc))]


def same_message(
    registry: Registry,
    schema: Any,
    info: SchemaInfo,
    old_schema: Any,
    old_info: SchemaInfo,
    old_indexes: tuple[int, ...] | None,
) -> tuple[int, ...]:
    """The message indexes, in ``schema``, of the message ``old_indexes`` name in the old one."""
    _, old_fd = _pool(registry, old_schema, old_info)
    name = _message_name(old_fd, old_indexes or (0,))
    _, fd = _pool(registry, schema, info)
    found = _message_indexes(fd, name)
    if found is None:
        raise InputError(f"the latest schema of {info.subject} has no message {name}")
    return found


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
