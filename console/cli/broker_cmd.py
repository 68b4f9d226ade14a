"""``handoff-console broker up|status|down``: the real Kafka harness."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from console.base.config import default_state_dir
from console.cli.options import JsonOpt
from console.runtime.broker import Broker
from console.runtime.kafka_release import DEFAULT_KAFKA_VERSION

__all__ = ["register"]

broker_app = typer.Typer(
    help="Run a single-node Apache Kafka (KRaft) for the demo and the tests.",
    no_args_is_help=True,
)

PortOpt = Annotated[int, typer.Option("--port", help="The broker's listener port on 127.0.0.1.")]
# status and down: without --port, the port the state directory's broker was started on.
AskPortOpt = Annotated[
    int | None,
    typer.Option(
        "--port",
        help="The broker's listener port on 127.0.0.1 (default: the one the state directory's "
        "broker was started on, else 9092).",
        show_default=False,
    ),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar="HANDOFF_STATE_DIR",
        help="Where the broker keeps data, logs and its pid file.",
        show_default=False,
    ),
]

VersionOpt = Annotated[
    str | None,
    typer.Option(
        "--kafka-version",
        envvar="HANDOFF_KAFKA_VERSION",
        help=f"The Apache Kafka release to run: 3.9.x or 4.x (default {DEFAULT_KAFKA_VERSION}); "
        "each version's jars are fetched and cached once.",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(broker_app, name="broker")


def _broker(port: int | None, state_dir: Path | None, version: str | None = None) -> Broker:
    where = state_dir or default_state_dir()
    if port is None:
        port = Broker.configured_port(where) or 9092
    return Broker(where, port=port, version=version)


@broker_app.command("up")
def up(
    port: PortOpt = 9092,
    state_dir: StateOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker.")] = 90.0,
    kafka_version: VersionOpt = None,
) -> None:
    """Start the broker (fetching the jars once) and wait until it answers."""
    status = _broker(port, state_dir, kafka_version).up(timeout=timeout)
    typer.echo(
        f"Kafka {status.version} running on {status.bootstrap} "
        f"(pid {status.pid}, state {status.state_dir})"
    )


@broker_app.command("status")
def status(port: AskPortOpt = None, state_dir: StateOpt = None, as_json: JsonOpt = False) -> None:
    """Say whether the harness broker runs; exit 1 when it does not."""
    st = _broker(port, state_dir).status()
    if as_json:
        typer.echo(json.dumps(st.as_dict()))
    elif st.running:
        typer.echo(f"running on {st.bootstrap} (pid {st.pid})")
    else:
        typer.echo(f"not running ({st.bootstrap})")
    if not st.running:
        raise typer.Exit(1)


@broker_app.command("down")
def down(port: AskPortOpt = None, state_dir: StateOpt = None) -> None:
    """Stop the broker this harness started."""
    stopped = _broker(port, state_dir).down()
    typer.echo("stopped" if stopped else "no harness broker was running")
