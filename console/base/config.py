"""Where things live and the defaults every command shares.

Environment variables (each also a command-line option):
    HANDOFF_DB               the store's SQLite file
    HANDOFF_KAFKA_BOOTSTRAP  an existing Kafka cluster (host:port,...)
    HANDOFF_STATE_DIR        the broker harness's jars, data and logs
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_OTLP_GRPC",
    "DEFAULT_OTLP_HTTP",
    "default_db_path",
    "default_state_dir",
    "parse_duration",
    "parse_size",
]

APP_NAME = "handoff-console"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_OTLP_GRPC = "127.0.0.1:4317"
DEFAULT_OTLP_HTTP = "127.0.0.1:4318"


def default_db_path() -> Path:
    env = os.environ.get("HANDOFF_DB")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir(APP_NAME)) / "handoff.db"


def default_state_dir() -> Path:
    env = os.environ.get("HANDOFF_STATE_DIR")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir(APP_NAME)) / "broker"


def jar_cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME)) / "kafka"


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str) -> float:
    """``"10m"``, ``"30s"``, ``"24h"``, ``"1h30m"``, ``"250ms"`` or plain seconds -> seconds.

    Raises ValueError with a message for a person on anything else.
    """
    t = text.strip().lower()
    try:
        value = float(t)
    except ValueError:
        pass
    else:
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {text!r}")
        return value
    pos, total = 0, 0.0
    for m in _DURATION.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    if pos != len(t) or not t:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 10m, 24h, 1h30m)")
    return total


_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*")
_UNIT_B = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_size(text: str) -> int:
    """``"2GB"``, ``"500MB"``, ``"1GiB"`` or plain bytes -> bytes. ValueError on anything else."""
    m = _SIZE.fullmatch(text.lower())
    if not m or m.group(2) not in _UNIT_B:
        raise ValueError(f"not a size: {text!r} (use e.g. 2GB, 500MB, 1GiB)")
    return int(float(m.group(1)) * _UNIT_B[m.group(2)])
