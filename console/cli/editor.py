"""``dlq fix`` without ``--set`` or ``--payload-file``: the payload opened in the user's editor."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from console.base.errors import InputError

__all__ = ["edit_in_editor"]


def edit_in_editor(text: str) -> str:
    """Open ``text`` in ``$VISUAL`` / ``$EDITOR`` (default vi) and return what was saved."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="handoff-fix-") as tmp:
        path = Path(tmp) / "payload.json"
        path.write_text(text, encoding="utf-8")
        before = path.stat().st_mtime_ns
        try:
            rc = subprocess.run([*shlex.split(editor), str(path)], check=False).returncode
        except OSError as exc:
            raise InputError(f"cannot start the editor {editor!r}: {exc.strerror}") from exc
        if rc != 0:
            raise InputError(f"the editor {editor!r} exited with {rc}; nothing stored")
        edited = path.read_text(encoding="utf-8")
        if edited == text and path.stat().st_mtime_ns == before:
            raise InputError("the editor closed without changes; nothing stored")
        return edited
