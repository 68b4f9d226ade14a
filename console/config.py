"""Where things live and the defaults every command shares.

Environment variables (each also a command-line option):
    HANDOFF_DB               the store's SQLite file
    HANDOFF_KAFKA_BOOTSTRAP  an existing Kafka cluster (host:port,...)
    HANDOFF_STATE_DIR        the broker harness's jars, data and logs
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = [
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_OTLP_GRPC",
    "DEFAULT_OTLP_HTTP",
    "default_db_path",
    "default_state_dir",
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
