"""Message contracts: a JSON Schema per topic, and checking a payload against it.

Where a topic's schema comes from:

* ``DirectoryContracts(path)``: ``<topic>.schema.json`` files in one directory (``--contracts``,
  else the default directory the caller passes in: the CLI and the TUI pass the demo's
  ``demo_pipeline/contracts/``, found by ``console/runtime/contracts_default.py``);
* ``RegistryContracts(url)``: a Confluent Schema Registry, the subject ``<topic>-value``, version
  ``latest``, read through httpx (``GET /subjects/<subject>/versions/latest``). A JSON Schema
  subject is a contract here; an Avro or Protobuf subject is no JSON contract (its payloads are
  checked by decoding and encoding them with their schema: ``console/dlq/codecs.py``).

``check(source, topic, payload)`` returns a ``Verdict``; each ``Violation`` carries the JSON path
of the offending value and its line in ``pretty_json(payload)``, so a screen can mark the line.
Schemas declare their draft with ``$schema`` (Draft 2020-12 and Draft 7 both work); without one
they are read as Draft 2020-12.

Errors: ``ContractError`` (a ``HandoffError``, exit 1) for a broken contracts directory, a schema
that is not a schema, or a registry that cannot be reached or answers nonsense.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from console.base.errors import HandoffError
from console.base.urls import display_url
from console.dlq.jsondoc import Violation, json_path, pretty_json_lines

if TYPE_CHECKING:  # httpx and jsonschema load on first use: the CLI starts faster without them
    import httpx

__all__ = [
    "ContractError",
    "ContractSource",
    "DirectoryContracts",
    "NoContracts",
    "RegistryContracts",
    "Verdict",
    "check",
    "open_contracts",
    "parse_payload",
    "validate",
]

SCHEMA_SUFFIX = ".schema.json"


class ContractError(HandoffError):
    """The contracts cannot be read: a broken directory, a bad schema, an unreachable registry."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of checking one payload. ``valid`` is None when there was nothing to check."""

    topic: str
    source: str  # where the contract came from, for people
    valid: bool | None
    violations: tuple[Violation, ...] = ()
    note: str = ""  # why there was no check, or a summary

    @property
    def status(self) -> str:
        return {True: "valid", False: "invalid", None: "unchecked"}[self.valid]

    def as_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "source": self.source,
            "status": self.status,
            "note": self.note,
            "violations": [v.as_dict() for v in self.violations],
        }


class ContractSource(Protocol):
    """Where schemas come from. ``schema_for`` returns None when the topic has no contract."""

    def schema_for(self, topic: str) -> dict[str, Any] | None: ...

    def describe(self, topic: str) -> str: ...


@dataclass
class NoContracts:
    """A stand-in when no contracts are available; ``reason`` says why."""

    reason: str

    def schema_for(self, topic: str) -> dict[str, Any] | None:
        return None

    def describe(self, topic: str) -> str:
        return self.reason


@dataclass
class DirectoryContracts:
    """``<topic>.schema.json`` files in ``path``."""

    path: Path
    _cache: dict[str, dict[str, Any] | None] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.exists():
            raise ContractError(f"contracts directory {self.path} does not exist")
        if not self.path.is_dir():
            raise ContractError(f"contracts directory {self.path} is not a directory")

    def describe(self, topic: str) -> str:
        return str(self.path / f"{topic}{SCHEMA_SUFFIX}")

    def topics(self) -> list[str]:
        return sorted(p.name[: -len(SCHEMA_SUFFIX)] for p in self.path.glob(f"*{SCHEMA_SUFFIX}"))

    def schema_for(self, topic: str) -> dict[str, Any] | None:
        if topic in self._cache:
            return self._cache[topic]
        file = self.path / f"{topic}{SCHEMA_SUFFIX}"
        schema: dict[str, Any] | None = None
        if file.exists():
            try:
                loaded = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise ContractError(f"cannot read contract {file}: {exc}") from exc
            except json.JSONDecodeError as exc:
                raise ContractError(
                    f"contract {file} is not JSON (line {exc.lineno}, column {exc.colno}: "
                    f"{exc.msg})"
                ) from exc
            schema = _checked_schema(loaded, str(file))
        self._cache[topic] = schema
        return schema


class RegistryContracts:
    """A Confluent Schema Registry: subject ``<topic>-value``, latest version, JSON schemas only."""

    def __init__(
        self, url: str, *, client: httpx.Client | None = None, timeout: float = 10.0
    ) -> None:
        import httpx

        self.url = display_url(url)  # what is printed: never credentials
        parts = httpx.URL(url)
        auth = (parts.username, parts.password) if parts.username else None
        self._base = str(parts.copy_with(username=None, password=None)).rstrip("/")
        self._client = client or httpx.Client(timeout=timeout, auth=auth)
        self._cache: dict[str, dict[str, Any] | None] = {}
        self._notes: dict[str, str] = {}

    def describe(self, topic: str) -> str:
        return self._notes.get(topic) or f"{self.url} subject {topic}-value"

    def close(self) -> None:
        self._client.close()

    def schema_for(self, topic: str) -> dict[str, Any] | None:
        if topic in self._cache:
            return self._cache[topic]
        import httpx

        subject = f"{topic}-value"
        endpoint = f"{self._base}/subjects/{subject}/versions/latest"
        try:
            resp = self._client.get(
                endpoint, headers={"Accept": "application/vnd.schemaregistry.v1+json"}
            )
        except httpx.HTTPError as exc:
            raise ContractError(
                f"schema registry at {self.url} is unreachable ({type(exc).__name__}: {exc})"
            ) from exc
        schema: dict[str, Any] | None = None
        if resp.status_code == 404:
            schema = None  # no such subject (error_code 40401) or version: no contract
        elif resp.status_code != 200:
            raise ContractError(
                f"schema registry at {self.url} answered {resp.status_code} for {subject}: "
                f"{resp.text[:200]}"
            )
        else:
            schema = self._parse(resp, subject, topic)
        self._cache[topic] = schema
        return schema

    def _parse(self, resp: httpx.Response, subject: str, topic: str) -> dict[str, Any] | None:
        try:
            body = resp.json()
            kind = body.get("schemaType", "AVRO")  # the registry omits it for Avro
            text = body["schema"]
        except (ValueError, KeyError, AttributeError) as exc:
            raise ContractError(
                f"schema registry at {self.url} sent an unexpected answer for {subject}"
            ) from exc
        if kind != "JSON":
            self._notes[topic] = (
                f"{self.url} subject {subject} holds a {kind} schema: its payloads are checked "
                "by decoding and encoding them with it"
            )
            return None
        try:
            loaded = json.loads(text)
        except (TypeError, json.JSONDecodeError) as exc:
            raise ContractError(f"subject {subject}'s schema is not JSON: {exc}") from exc
        return _checked_schema(loaded, f"{self.url} subject {subject}")


def _checked_schema(schema: Any, where: str) -> dict[str, Any]:
    import jsonschema
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict):
        raise ContractError(f"contract {where} is not a JSON Schema object")
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ContractError(f"contract {where} is not a valid JSON Schema: {exc.message}") from exc
    return schema


def open_contracts(
    contracts_dir: Path | None = None,
    schema_registry: str | None = None,
    *,
    default_dir: Path | None = None,
    strict: bool = True,
) -> ContractSource:
    """The contract source the options name: a registry, a directory, or ``default_dir`` (the
    caller's default: the CLI and the TUI pass the demo's contracts directory).

    With ``strict=False`` a missing default directory gives ``NoContracts`` (with the reason)
    instead of raising; an explicit ``contracts_dir`` that is broken always raises.
    """
    if schema_registry:
        return RegistryContracts(schema_registry)
    if contracts_dir is not None:
        return DirectoryContracts(contracts_dir)
    if default_dir is not None and default_dir.is_dir():
        return DirectoryContracts(default_dir)
    missing = f"the demo's contracts directory {default_dir} is missing; " if default_dir else ""
    reason = f"no contracts: {missing}pass --contracts DIR or --schema-registry URL"
    if strict:
        raise ContractError(reason)
    return NoContracts(reason)


def validate(schema: dict[str, Any], document: Any) -> list[Violation]:
    """Every violation of ``schema`` by the parsed ``document``, in document order."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    lines = pretty_json_lines(document)
    found = []
    for err in validator.iter_errors(document):
        parts = tuple(err.absolute_path)
        found.append(
            Violation(
                path=json_path(parts),
                message=err.message,
                line=lines.get(parts),
                validator=str(err.validator),
            )
        )
    found.sort(key=lambda v: (v.line or 0, v.path, v.message))
    return found


def parse_payload(payload: bytes | None) -> tuple[Any, Violation | None]:
    """The payload as JSON, or a violation saying why it is not JSON."""
    if payload is None:
        return None, Violation("$", "the payload is empty (a tombstone)", None, "json")
    try:
        return json.loads(payload.decode("utf-8")), None
    except UnicodeDecodeError as exc:
        return None, Violation("$", f"the payload is not UTF-8 text ({exc.reason})", None, "json")
    except json.JSONDecodeError as exc:
        msg = f"the payload is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        return None, Violation("$", msg, exc.lineno, "json")


def check(source: ContractSource, topic: str, payload: bytes | None) -> Verdict:
    """Check ``payload`` against ``topic``'s contract."""
    schema = source.schema_for(topic)
    where = source.describe(topic)
    if schema is None:
        note = where if isinstance(source, NoContracts) else f"no contract for {topic} ({where})"
        return Verdict(topic, where, None, (), note)
    document, not_json = parse_payload(payload)
    violations: Sequence[Violation] = [not_json] if not_json else validate(schema, document)
    if violations:
        n = len(violations)
        note = f"{n} violation{'s' if n != 1 else ''} of {where}"
        return Verdict(topic, where, False, tuple(violations), note)
    return Verdict(topic, where, True, (), f"matches {where}")
