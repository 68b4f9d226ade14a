"""Who did what to a dead letter, and when: the audit log, and discarding (resolving without a
replay), which writes to it.

Every fix, replay and discard writes an ``AuditEntry`` (OS user, time, action, target, payload
hashes before and after, result) to ``audit_log``, inside the transaction that made the change.
"""

from __future__ import annotations

import getpass
import os
import time
from collections.abc import Sequence

from console.base.model import AuditEntry, DeadLetter
from console.store.deadletters_api import DeadLetters

__all__ = ["audit_log", "discard", "os_user"]


def os_user() -> str:
    """Who is at the keyboard, for the audit log: the account of the process's user id.

    Not ``$USER``/``$LOGNAME`` (what ``getpass.getuser`` reads first): anyone can set those.
    """
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return f"uid:{os.getuid()}"


def audit_log(
    store: DeadLetters, *, limit: int | None = None, target: str | None = None
) -> list[AuditEntry]:
    """The audit log, newest first."""
    return store.audit_log(limit=limit, target=target)


def discard(
    store: DeadLetters,
    targets: Sequence[DeadLetter],
    *,
    reason: str = "",
    user: str | None = None,
) -> dict[str, str]:
    """Mark pending dead letters discarded (resolved without replay), each audited in the same
    operation. Returns coords -> result."""
    return store.discard(targets, now_ns=time.time_ns(), user=user or os_user(), reason=reason)
