"""The ``handoff-console`` command line. Commands only parse and present; the work is elsewhere.

Each feature registers its commands from its own ``console/cli/`` module, imported only
when its command runs (or for the full help).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Annotated

import typer

from console import __version__
from console.base.errors import HandoffError, InputError

__all__ = ["app", "main", "register_commands"]

app = typer.Typer(
    name="handoff-console",
    help="A terminal operator console for service handoffs over Kafka and OpenTelemetry.",
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"handoff-console {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            envvar="HANDOFF_LOG_LEVEL",
            help="Log to stderr at this level: DEBUG, INFO, WARNING (payloads never at INFO).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Find where a handoff broke, and repair it."""
    if log_level:
        _configure_logging(log_level)


def _configure_logging(level: str) -> None:
    import logging

    value = logging.getLevelName(level.strip().upper())
    if not isinstance(value, int):
        raise InputError(f"--log-level: {level!r} is not DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(
        level=value, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


# The module that registers each top-level command. Only the one asked for is imported, so a
# quick command does not pay for Textual, the OTLP receivers and the DLQ library at start-up.
_COMMANDS: dict[str, str] = {
    "demo": "demo_cmd",
    "tui": "tui_cmd",
    "serve": "serve_cmd",
    "tap": "tap_cmd",
    "trace": "trace_cmd",
    "journeys": "trace_cmd",
    "dlq": "dlq_cmd",
    "stats": "stats_cmd",
    "metrics": "metrics_cmd",
    "logs": "logs_cmd",
    "broker": "broker_cmd",
    "watch": "watch_cmd",
}
_registered: set[str] = set()


def register_commands(argv: Sequence[str] | None = None) -> typer.Typer:
    """Register the command ``argv`` names (every command when it names none) and return the app."""
    wanted = [] if list(argv or ()) == ["--version"] else _COMMANDS.values()
    for arg in argv or ():
        if not arg.startswith("-"):
            if arg in _COMMANDS:
                wanted = [_COMMANDS[arg]]
            break
    for module in dict.fromkeys(wanted):
        if module not in _registered:
            import_module(f"console.cli.{module}").register(app)
            _registered.add(module)
    return app


def main() -> None:
    """Entry point: deliberate errors print one line and exit with their code."""
    try:
        rc = register_commands(sys.argv[1:])(standalone_mode=False)
    except HandoffError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(1) from None
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:
        # Usage errors (typer vendors click, so match its ClickException by shape).
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
            show()
            raise SystemExit(exc.exit_code) from None  # type: ignore[attr-defined]  # checked above
        raise
    if isinstance(rc, int) and rc:
        raise SystemExit(rc)
