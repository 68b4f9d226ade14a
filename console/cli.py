"""The ``handoff-console`` command line. Commands only parse and present; the work is elsewhere.

Each feature registers its commands from its own ``console/commands/`` module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from console import __version__
from console.commands import (
    broker_cmd,
    demo_cmd,
    dlq_cmd,
    serve_cmd,
    stats_cmd,
    tap_cmd,
    trace_cmd,
)
from console.errors import HandoffError, InputError

__all__ = ["app", "main"]

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


broker_cmd.register(app)
serve_cmd.register(app)
stats_cmd.register(app)
trace_cmd.register(app)
dlq_cmd.register(app)
tap_cmd.register(app)
demo_cmd.register(app)


def main() -> None:
    """Entry point: deliberate errors print one line and exit with their code."""
    try:
        rc = app(standalone_mode=False)
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
    except Exception as exc:  # click usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        raise
    if isinstance(rc, int) and rc:
        raise SystemExit(rc)
