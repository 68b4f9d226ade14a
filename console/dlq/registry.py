"""A Confluent Schema Registry as the codecs use it: schemas by id or GUID, subjects and versions
for people, references in the order a parser takes them, and errors that name the registry
without its credentials.

``Registry`` wraps confluent-kafka's ``SchemaRegistryClient`` (which caches schemas by id and
GUID) and keeps each schema parsed once per format (``parsed``: Avro's named schemas, Protobuf's
descriptor pools), so every format module (``avro_codec``, ``protobuf_codec``,
``jsonschema_codec``) reads through one client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from console.base.errors import HandoffError, InputError
from console.base.urls import display_url

__all__ = ["KINDS", "Registry", "RegistryError", "SchemaInfo"]

KINDS = {"AVRO": "avro", "PROTOBUF": "protobuf", "JSON": "jsonschema"}


class RegistryError(HandoffError):
    """The schema registry cannot be reached, refuses us, or has no such schema (exit 1)."""


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
        return KINDS[self.type]

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


class Registry:
    """One Schema Registry client; ``url`` is what may be printed (no credentials)."""

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
        self.parsed: dict[tuple[str, int | str], Any] = {}  # per format and schema

    def call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
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

    def schema(self, schema_id: int | None, guid: str | None) -> Any:
        if guid is not None:
            return self.call(
                f"schema guid {guid}", self.client.get_schema_by_guid, guid, fmt="serialized"
            )
        return self.call(
            f"schema id {schema_id}", self.client.get_schema, schema_id, fmt="serialized"
        )

    def latest(self, subject: str) -> Any:
        """The subject's latest registered version."""
        return self.call(
            f"latest version of {subject}",
            self.client.get_latest_version,
            subject,
            fmt="serialized",
        )

    def info(
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

    def references(
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
                reg = self.call(
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


def _strip_credentials(text: str) -> str:
    return re.sub(r"(https?://)[^/@\s]+@", r"\1", text)
