"""A harness broker that belongs to one process: it dies with it, and leaves nothing behind.

``demo`` starts a private broker in a temporary state directory. Whatever ends the demo (Ctrl+C,
SIGTERM, SIGHUP, ``kill -9``), no JVM of that broker may outlive it:

* the JVM is started with ``PR_SET_PDEATHSIG`` (Linux): the kernel sends it SIGKILL when the
  thread that started it exits, however that happens (the data is thrown away anyway);
* the state directory records its owner (``owner``: pid and process start time, so a reused pid
  is not mistaken for it). A clean exit removes the directory; after ``kill -9`` nothing can, so
  the next start (``reap_stale``) stops a broker whose owner is gone, if one still runs, and
  removes its directory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil

__all__ = ["OWNER_FILE", "bound_command", "claim", "die_with", "owner_alive", "reap_stale"]

OWNER_FILE = "owner"
_PR_SET_PDEATHSIG = 1
_UNCLAIMED_GRACE_S = 60.0  # a directory made a moment ago may not be claimed yet


def bound_command(cmd: list[str]) -> list[str] | None:
    """``cmd`` run through util-linux's ``setpriv --pdeathsig KILL``, which sets the signal in C
    before it execs the command, or None where there is no setpriv (then ``die_with`` as a
    ``preexec_fn``). Python code between fork and exec is unsafe in a process whose other
    threads hold locks (gRPC's poller: the child aborted, exit -6, now and then)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *cmd] if setpriv else None


def die_with(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGKILL when its parent dies (and at once if it already
    has, between the fork and the ``prctl``)."""

    def preexec() -> None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):  # not Linux: reap_stale cleans up at the next start
            return
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def claim(state_dir: Path) -> None:
    """Record this process as the owner of ``state_dir``."""
    pid = os.getpid()
    (state_dir / OWNER_FILE).write_text(f"{pid} {_start_time(pid)!r}\n")


def owner_alive(state_dir: Path) -> bool | None:
    """Whether the process that claimed ``state_dir`` still runs; None when it was not claimed."""
    try:
        pid_text, started = (state_dir / OWNER_FILE).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    now = _start_time(pid)
    return now is not None and repr(now) == started


def _broker_pid(state_dir: Path) -> int | None:
    """The pid in ``broker.pid`` if that process is still a Kafka broker JVM."""
    try:
        pid = int((state_dir / "broker.pid").read_text().strip())
        cmdline = psutil.Process(pid).cmdline()
    except (OSError, ValueError, psutil.Error):
        return None
    return pid if "kafka.Kafka" in cmdline else None


def _orphaned(pid: int) -> bool:
    """Whether the process's parent is gone (it was handed to init)."""
    try:
        ppid = psutil.Process(pid).ppid()
    except psutil.Error:
        return False
    return ppid <= 1 or not psutil.pid_exists(ppid)


def _kill(pid: int, timeout: float = 10.0) -> None:
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        proc.kill()
        proc.wait(timeout)


def reap_stale(parent: Path, prefix: str) -> list[Path]:
    """Stop the brokers and remove the state directories ``parent/prefix*`` whose owner is gone
    (or that nobody claimed within a minute of being made). Returns the directories removed."""
    removed: list[Path] = []
    for state in sorted(parent.glob(f"{prefix}*")):
        if not state.is_dir():
            continue
        alive = owner_alive(state)
        if alive:
            continue
        pid = _broker_pid(state)
        if alive is None:  # unclaimed (an older harness, or made a moment ago)
            if pid is not None and not _orphaned(pid):
                continue  # its starter still runs
            with contextlib.suppress(OSError):
                if pid is None and time.time() - state.stat().st_mtime < _UNCLAIMED_GRACE_S:
                    continue
        if pid is not None:
            _kill(pid)
        shutil.rmtree(state, ignore_errors=True)
        removed.append(state)
    return removed
