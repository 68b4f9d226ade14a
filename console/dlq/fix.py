"""Fixing a dead letter's payload: edit, check against the contract, keep beside the original.

``prepare_fix`` builds a ``FixPreview`` (the diff and the contract verdict) without writing;
``save_fix`` stores it as the next version in ``fixed_payloads`` and audits it, or raises
``ContractViolation`` (exit 2) with the validation errors when the contract breaks. The original
payload in ``dead_letters`` is never changed.

A payload in the Confluent wire format is edited in its decoded JSON form (``document_of`` and
``editable_text`` take the codec) and encoded when the fix is prepared, with the original schema
or the subject's latest version: the schema is the contract, and a fix that does not encode is
refused with the fields that do not fit. The stored fix keeps the encoded bytes, the schema id and
GUID, and the ``__value_schema_id`` header it needs, so a replay needs no registry.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from console.base.errors import InputError
from console.base.model import AuditEntry, DeadLetter, FixedPayload, payload_sha256
from console.dlq.audit import os_user
from console.dlq.contracts import ContractSource, Verdict, check
from console.dlq.jsondoc import Violation, pretty_json
from console.dlq.query import contract_topic, current_version, get_dead_letter
from console.dlq.show import decoded_view, payload_view
from console.store.deadletters_api import DeadLetters

if TYPE_CHECKING:
    from console.dlq.codecs import Decoded, Encoded, PayloadCodec

__all__ = [
    "ContractViolation",
    "FixPreview",
    "apply_assignments",
    "compact_json",
    "document_of",
    "editable_text",
    "from_editor",
    "parse_assignment",
    "prepare_fix",
    "save_fix",
]


class ContractViolation(InputError):
    """A fix that breaks the contract: refused, nothing stored (exit 2)."""

    def __init__(self, message: str, violations: Sequence[Violation]) -> None:
        super().__init__(message)
        self.violations = tuple(violations)


def compact_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def editable_text(
    payload: bytes | None,
    codec: PayloadCodec | None = None,
    headers: Sequence[tuple[str, bytes | None]] = (),
    topic: str = "",
) -> str:
    """What ``$EDITOR`` opens: pretty JSON when the payload is JSON or decodes through the
    registry (``codec``), else its text."""
    view = decoded_view(codec, payload, headers, topic)
    if view.decoded is not None:
        return view.text + "\n"
    if view.note and codec is not None:
        raise InputError(f"cannot edit the payload in its decoded form: {view.note}")
    kind, text = view.kind, view.text
    if kind == "json":
        return text + "\n"
    if kind == "text":
        return text
    if kind == "empty":
        return ""
    raise InputError("the payload is binary; pass the fixed payload with --payload-file")


def from_editor(text: str) -> bytes:
    """An edited text back to payload bytes: compact JSON when it parses, else the text."""
    try:
        return compact_json(json.loads(text))
    except json.JSONDecodeError:
        return text.encode("utf-8")


_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[\"((?:[^\"\\]|\\.)*)\"\]")


def _path_parts(path: str) -> list[str | int]:
    p = path.strip()
    if p.startswith("$"):
        p = p[1:].lstrip(".")
    parts: list[str | int] = []
    pos = 0
    while pos < len(p):
        if p[pos] == ".":
            pos += 1
            continue
        m = _SEGMENT.match(p, pos)
        if not m:
            raise InputError(f"cannot read the JSON path {path!r} near {p[pos:]!r}")
        if m.group(1) is not None:
            seg = m.group(1)
            parts.append(int(seg) if seg.isdigit() else seg)
        elif m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append(json.loads(f'"{m.group(3)}"'))
        pos = m.end()
    if not parts:
        raise InputError(f"empty JSON path in {path!r}")
    return parts


def parse_assignment(text: str) -> tuple[list[str | int], Any]:
    """``a.b[0].c=VALUE``: the value is JSON when it parses, else a string."""
    path, sep, raw = text.partition("=")
    if not sep:
        raise InputError(f"--set expects json.path=value, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return _path_parts(path), value


def apply_assignments(document: Any, assignments: Sequence[str]) -> Any:
    """A copy of ``document`` with each ``path=value`` set (missing object keys are created)."""
    doc = json.loads(json.dumps(document))
    for text in assignments:
        parts, value = parse_assignment(text)
        target = doc
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            where = ".".join(str(p) for p in parts[: i + 1])
            if isinstance(target, list):
                if not isinstance(part, int) or not -len(target) <= part < len(target):
                    if isinstance(part, int) and part == len(target) and last:
                        target.append(value)
                        break
                    raise InputError(f"--set {text!r}: {where} is not an index of the list")
                if last:
                    target[part] = value
                else:
                    target = target[part]
            elif isinstance(target, dict):
                key = str(part)
                if last:
                    target[key] = value
                else:
                    if key not in target:
                        target[key] = {}
                    target = target[key]
            else:
                raise InputError(f"--set {text!r}: {where} goes inside a {type(target).__name__}")
    return doc


@dataclass(frozen=True, slots=True)
class FixPreview:
    """A proposed fix, checked, not yet stored. ``encoded`` is set when the fix was encoded with
    a registry schema (``after`` is then its wire-format bytes)."""

    dead_letter: DeadLetter
    before: bytes | None  # the latest version (a previous fix or the original)
    before_version: int
    after: bytes
    diff: str
    verdict: Verdict
    encoded: Encoded | None = None
    encoding_failed: bool = False  # the verdict is the schema's: the fix does not encode

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _diff(a_text: str, b_text: str, label: str, before_version: int) -> str:
    a = a_text.splitlines(keepends=True)
    b = b_text.splitlines(keepends=True)
    old = "original" if before_version == 0 else f"fix v{before_version}"
    out = difflib.unified_diff(
        a, b, fromfile=f"{label} ({old})", tofile=f"{label} (fix v{before_version + 1})"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def _decoded_current(
    store: DeadLetters, d: DeadLetter, codec: PayloadCodec | None
) -> tuple[bytes | None, int, Decoded | None]:
    """The current version, and its decoded form when it is in the wire format."""
    before, version, headers = current_version(store, d)
    if codec is None:
        return before, version, None
    return before, version, codec.decode(before, headers, contract_topic(d))


def prepare_fix(
    store: DeadLetters,
    coords: tuple[str, int, int] | str,
    new_payload: bytes,
    contracts: ContractSource,
    codec: PayloadCodec | None = None,
    *,
    latest_schema: bool = False,
) -> FixPreview:
    """Diff ``new_payload`` against the current version and check it against the contract.

    When the current version is in the wire format and ``codec`` decodes it, ``new_payload`` is
    the edited JSON form: it is encoded (with the original schema, or the subject's latest
    version with ``latest_schema``) and the schema's verdict is the contract's.
    """
    from console.dlq.codecs import EncodeError

    d = get_dead_letter(store, coords)
    before, version, decoded = _decoded_current(store, d, codec)
    if decoded is None:
        if latest_schema:
            raise InputError(
                "--schema-version latest needs a payload in the Confluent wire format and "
                "--schema-registry"
            )
        verdict = check(contracts, contract_topic(d), new_payload)
        diff = _diff(payload_view(before)[1], payload_view(new_payload)[1], d.coordinates, version)
        return FixPreview(d, before, version, new_payload, diff, verdict)
    assert codec is not None
    text = new_payload.decode("utf-8", errors="replace")
    topic = contract_topic(d)
    try:
        encoded = codec.encode(text, decoded, topic=topic, latest=latest_schema)
    except EncodeError as exc:
        where = decoded.schema.describe()
        verdict = Verdict(topic, where, False, exc.violations, str(exc))
        return FixPreview(d, before, version, new_payload, "", verdict, None, True)
    after_text = pretty_json(encoded.document)
    diff = _diff(decoded.text, after_text, d.coordinates, version)
    where = encoded.schema.describe()
    verdict = Verdict(topic, where, True, (), f"encodes with {where}")
    return FixPreview(d, before, version, encoded.payload, diff, verdict, encoded)


def document_of(
    store: DeadLetters,
    coords: tuple[str, int, int] | str,
    codec: PayloadCodec | None = None,
) -> Any:
    """The current version's payload parsed as JSON, or decoded to its JSON form through the
    registry (for ``--set``)."""
    d = get_dead_letter(store, coords)
    payload, _, decoded = _decoded_current(store, d, codec)
    if decoded is not None:
        return decoded.document
    try:
        return json.loads((payload or b"").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(
            f"{d.coordinates}'s payload is not JSON, so --set cannot edit it; "
            "use --payload-file or $EDITOR"
        ) from None


def save_fix(store: DeadLetters, preview: FixPreview, *, user: str | None = None) -> FixedPayload:
    """Store the fix as the next version with its audit entry, together; ``ContractViolation``
    if it breaks the contract.

    A refused fix is audited (result ``refused``) and nothing is stored as a fix.
    """
    user = user or os_user()
    d = preview.dead_letter
    now = time.time_ns()
    before_sha = payload_sha256(preview.before)
    after_sha = payload_sha256(preview.after) or ""
    detail: dict[str, Any] = {"contract": preview.verdict.source, "verdict": preview.verdict.status}
    enc = preview.encoded
    if enc is not None:
        detail["schema"] = enc.schema.as_dict()
    if preview.verdict.valid is False:
        errors = preview.verdict.violations
        detail["violations"] = [v.as_dict() for v in errors]
        store.write_audit(
            [AuditEntry(now, user, "fix", d.coordinates, "refused", before_sha, after_sha, detail)]
        )
        lines = "\n".join(f"  {v}" for v in errors)
        what = "does not encode with" if preview.encoding_failed else "breaks the contract"
        raise ContractViolation(
            f"the fix {what} {preview.verdict.source}; nothing stored:\n{lines}", errors
        )
    if not preview.changed:
        raise InputError(f"the fix changes nothing in {d.coordinates}; nothing stored")
    fixed = FixedPayload(
        d.dlq_topic,
        d.partition,
        d.offset,
        0,  # the store gives it the next version
        preview.after,
        now,
        user,
        after_sha,
        enc.schema.id if enc else None,
        enc.schema.guid if enc else None,
        enc.value_schema_header if enc else None,
    )
    audit = AuditEntry(now, user, "fix", d.coordinates, "stored", before_sha, after_sha, detail)
    return store.store_fix(fixed, d.cluster_id, audit)
