"""Fixing a dead letter's payload: edit, check against the contract, keep beside the original.

``prepare_fix`` builds a ``FixPreview`` (the diff and the contract verdict) without writing;
``save_fix`` stores it as the next version in ``fixed_payloads`` and audits it, or raises
``ContractViolation`` (exit 2) with the validation errors when the contract breaks. The original
payload in ``dead_letters`` is never changed.
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from console.contracts import ContractSource, Verdict, Violation, check
from console.dlq import (
    contract_topic,
    current_payload,
    get_dead_letter,
    os_user,
    write_audit,
)
from console.dlq_show import payload_view
from console.errors import InputError
from console.model import AuditEntry, DeadLetter, FixedPayload, payload_sha256

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


def editable_text(payload: bytes | None) -> str:
    """What ``$EDITOR`` opens: pretty JSON when the payload is JSON, else its text."""
    kind, text = payload_view(payload)
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
    """A proposed fix, checked, not yet stored."""

    dead_letter: DeadLetter
    before: bytes | None  # the latest version (a previous fix or the original)
    before_version: int
    after: bytes
    diff: str
    verdict: Verdict

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _diff(before: bytes | None, after: bytes, label: str, before_version: int) -> str:
    a = payload_view(before)[1].splitlines(keepends=True)
    b = payload_view(after)[1].splitlines(keepends=True)
    old = "original" if before_version == 0 else f"fix v{before_version}"
    out = difflib.unified_diff(
        a, b, fromfile=f"{label} ({old})", tofile=f"{label} (fix v{before_version + 1})"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


def prepare_fix(
    conn: sqlite3.Connection,
    coords: tuple[str, int, int] | str,
    new_payload: bytes,
    contracts: ContractSource,
) -> FixPreview:
    """Diff ``new_payload`` against the current version and check it against the contract."""
    d = get_dead_letter(conn, coords)
    before, version = current_payload(conn, d)
    verdict = check(contracts, contract_topic(d), new_payload)
    return FixPreview(
        d, before, version, new_payload, _diff(before, new_payload, d.coordinates, version), verdict
    )


def document_of(conn: sqlite3.Connection, coords: tuple[str, int, int] | str) -> Any:
    """The current version's payload parsed as JSON (for ``--set``)."""
    d = get_dead_letter(conn, coords)
    payload, _ = current_payload(conn, d)
    try:
        return json.loads((payload or b"").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(
            f"{d.coordinates}'s payload is not JSON, so --set cannot edit it; "
            "use --payload-file or $EDITOR"
        ) from None


def save_fix(
    conn: sqlite3.Connection, preview: FixPreview, *, user: str | None = None
) -> FixedPayload:
    """Store the fix as the next version; ``ContractViolation`` if it breaks the contract.

    A refused fix is audited (result ``refused``) and nothing is stored in ``fixed_payloads``.
    """
    user = user or os_user()
    d = preview.dead_letter
    now = time.time_ns()
    before_sha = payload_sha256(preview.before)
    after_sha = payload_sha256(preview.after) or ""
    detail: dict[str, Any] = {"contract": preview.verdict.source, "verdict": preview.verdict.status}
    if preview.verdict.valid is False:
        errors = preview.verdict.violations
        detail["violations"] = [v.as_dict() for v in errors]
        conn.execute("BEGIN IMMEDIATE")
        write_audit(
            conn,
            [AuditEntry(now, user, "fix", d.coordinates, "refused", before_sha, after_sha, detail)],
        )
        conn.execute("COMMIT")
        lines = "\n".join(f"  {v}" for v in errors)
        raise ContractViolation(
            f"the fix breaks the contract ({preview.verdict.source}); nothing stored:\n{lines}",
            errors,
        )
    if not preview.changed:
        raise InputError(f"the fix changes nothing in {d.coordinates}; nothing stored")
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute(
            "SELECT coalesce(max(version), 0) FROM fixed_payloads "
            "WHERE dlq_topic = ? AND partition = ? AND offset = ?",
            (d.dlq_topic, d.partition, d.offset),
        ).fetchone()
        version = int(row[0]) + 1
        fixed = FixedPayload(
            d.dlq_topic, d.partition, d.offset, version, preview.after, now, user, after_sha
        )
        conn.execute(
            "INSERT INTO fixed_payloads (dlq_topic, partition, offset, version, payload, sha256, "
            "created_ns, author) VALUES (?,?,?,?,?,?,?,?)",
            (d.dlq_topic, d.partition, d.offset, version, preview.after, after_sha, now, user),
        )
        detail["version"] = version
        write_audit(
            conn,
            [
                AuditEntry(
                    now,
                    user,
                    "fix",
                    d.coordinates,
                    f"stored v{version}",
                    before_sha,
                    after_sha,
                    detail,
                )
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return fixed
