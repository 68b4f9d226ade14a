"""Every command that talks to Kafka takes the same Kafka options (console/cli/options.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from console.cli.app import register_commands

KAFKA_COMMANDS = {"tap", "serve", "tui", "demo", "dlq replay"}


# typer vendors click (typer._click), so commands and options are matched by their shape.
def _commands(cmd: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, f"{path} {name}".strip())


def _kafka_commands() -> dict[str, Any]:
    root = typer.main.get_command(register_commands())
    return {
        path: cmd
        for path, cmd in _commands(root)
        if any("--bootstrap" in p.opts for p in cmd.params)
    }


def test_every_kafka_command_reads_the_same_bootstrap_variable_and_client_options() -> None:
    found = _kafka_commands()
    assert set(found) >= KAFKA_COMMANDS
    for path, cmd in found.items():
        options = {opt: p for p in cmd.params for opt in p.opts}
        bootstrap = options["--bootstrap"]
        assert bootstrap.envvar == "HANDOFF_KAFKA_BOOTSTRAP", path
        assert bootstrap.default is None, path  # the default comes from kafka_config, not here
        assert "--kafka-config" in options, path
        assert "-X" in options, path
        assert options["-X"].multiple, path


def test_bootstrap_help_names_the_default_a_user_gets() -> None:
    found = _kafka_commands()
    assert "start the broker harness" in _help(found["demo"])
    for path in KAFKA_COMMANDS - {"demo"}:
        assert "127.0.0.1:9092" in _help(found[path]), path


def _help(cmd: Any) -> str:
    (bootstrap,) = (p for p in cmd.params if "--bootstrap" in p.opts)
    return str(bootstrap.help or "")
