"""librdkafka configuration from ``--bootstrap``, ``--kafka-config FILE`` and ``-X key=value``.

A minimal private stand-in for ``console/kafka_config.py`` (being written on the tap branch):
later sources win, so ``-X`` overrides the file, which overrides ``--bootstrap``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from console.errors import InputError

__all__ = ["kafka_conf"]


def _read_properties(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read --kafka-config {path}: {exc.strerror or exc}") from exc
    conf: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise InputError(f"{path} line {n}: expected key=value, got {line!r}")
        conf[key.strip()] = value.strip()
    return conf


def kafka_conf(
    bootstrap: str | None,
    config_file: Path | None = None,
    props: Sequence[str] | None = None,
) -> dict[str, str]:
    """A librdkafka config dict; raises ``InputError`` for a malformed property."""
    conf: dict[str, str] = {}
    if bootstrap:
        conf["bootstrap.servers"] = bootstrap
    if config_file is not None:
        conf.update(_read_properties(config_file))
    for item in props or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"-X expects key=value, got {item!r}")
        conf[key.strip()] = value.strip()
    if "bootstrap.servers" not in conf:
        raise InputError("no Kafka bootstrap servers: pass --bootstrap or set bootstrap.servers")
    return conf
