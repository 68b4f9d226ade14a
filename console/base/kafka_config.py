"""The librdkafka configuration every command that talks to Kafka shares.

Three sources, later ones winning, as kcat takes them:

1. ``--kafka-config FILE``: a properties file (``key=value`` or ``key: value`` lines, ``#`` and
   ``!`` comments, a trailing backslash continues a line), e.g. ``security.protocol=SASL_SSL``,
   ``sasl.mechanism=PLAIN``, ``sasl.username=...``, ``ssl.ca.location=...``;
2. ``-X key=value`` (repeatable);
3. ``--bootstrap`` (env ``HANDOFF_KAFKA_BOOTSTRAP``) for ``bootstrap.servers``, when given;
   without it the file's or ``-X``'s ``bootstrap.servers`` stands, else ``127.0.0.1:9092``.

``kafka_config(...)`` returns the merged dict for a client, ``redacted(config)`` the same with
secrets masked, for printing. It is the one place a client configuration is built: the commands,
the daemon, the TUI's replay and the demo all take theirs from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from console.base.config import DEFAULT_BOOTSTRAP
from console.base.errors import InputError

__all__ = [
    "kafka_config",
    "parse_properties",
    "parse_x_options",
    "read_properties",
    "redacted",
    "split_bootstrap",
]

_SECRET_WORDS = ("password", "secret", "key.pem", "keystore", "token", "sasl.jaas")


def parse_properties(text: str, *, source: str = "properties") -> dict[str, str]:
    """``key=value`` / ``key: value`` lines; comments and blank lines skipped."""
    out: dict[str, str] = {}
    logical: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip() if not buf else raw.lstrip()
        if not buf and (not line or line[0] in "#!"):
            continue
        if not buf:
            start = n
        if line.endswith("\\") and not line.endswith("\\\\"):
            buf += line[:-1]
            continue
        logical.append((start, buf + line))
        buf = ""
    if buf:
        logical.append((start, buf))
    for n, line in logical:
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        key = line[:cut].strip() if cut >= 0 else ""
        if not key:
            raise InputError(f"{source} line {n}: expected key=value, got {line!r}")
        out[key] = line[cut + 1 :].strip()
    return out


def read_properties(path: str | Path) -> dict[str, str]:
    """Read a librdkafka properties file (``--kafka-config``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"--kafka-config: no such file: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--kafka-config: cannot read {p}: {exc}") from None
    return parse_properties(text, source=str(p))


def parse_x_options(items: Iterable[str] | None) -> dict[str, str]:
    """``-X key=value`` options as a dict (the last of a repeated key wins)."""
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"-X {item!r}: expected key=value (e.g. -X security.protocol=SSL)")
        out[key.strip()] = value.strip()
    return out


def kafka_config(
    bootstrap: str | None = None,
    config_file: str | Path | None = None,
    x_options: Iterable[str] | None = None,
) -> dict[str, str]:
    """The merged librdkafka configuration: file, then ``-X``, then ``--bootstrap``."""
    config: dict[str, str] = {}
    if config_file is not None:
        config.update(read_properties(config_file))
    config.update(parse_x_options(x_options))
    if "metadata.broker.list" in config and "bootstrap.servers" not in config:
        config["bootstrap.servers"] = config.pop("metadata.broker.list")
    if bootstrap:
        config["bootstrap.servers"] = bootstrap
    config.setdefault("bootstrap.servers", DEFAULT_BOOTSTRAP)
    return config


def split_bootstrap(config: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """``(bootstrap servers, the rest)`` of a ``kafka_config()`` result, as the collectors take
    them (they set their own client defaults and let the rest override them)."""
    rest = dict(config)
    return rest.pop("bootstrap.servers", DEFAULT_BOOTSTRAP), rest


def redacted(config: Mapping[str, object]) -> dict[str, object]:
    """The configuration with passwords, secrets and keys masked (for logs and errors)."""
    return {
        k: ("***" if any(w in k.lower() for w in _SECRET_WORDS) else v) for k, v in config.items()
    }
