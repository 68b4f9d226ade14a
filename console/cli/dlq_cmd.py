"""``handoff-console dlq list|show|fix|replay|discard|audit``: dead letters, repaired safely.

The commands parse and present; the work is the dead-letter service's
(``console/dlq/service.py``), the one the TUI calls too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from console import dlq
from console.base.coordinates import parse_address
from console.base.errors import InputError
from console.base.kafka_config import kafka_config as load_kafka_config
from console.cli import dlq_render as render
from console.cli.dlq_options import (
    AllOpt,
    ClusterFilterOpt,
    ClusterOpt,
    ContractsOpt,
    CoordArg,
    CorrOpt,
    ErrorOpt,
    OptCoordArg,
    RegistryConfigOpt,
    RegistryOpt,
    SinceOpt,
    StatusOpt,
    TopicOpt,
    YesOpt,
)
from console.cli.editor import edit_in_editor
from console.cli.options import (
    BootstrapOpt,
    DbOpt,
    JsonOpt,
    KafkaConfigOpt,
    KafkaPropOpt,
    StoreOpt,
    is_url,
    store_location,
)
from console.dlq.replay import ReplayError
from console.dlq.service import DeadLetterService, ReplayOutcome
from console.runtime.contracts_default import default_contracts_dir
from console.store import open_store

__all__ = ["dlq_app", "register"]

dlq_app = typer.Typer(
    help="Dead letters: list, show, fix against the contract, replay exactly once, discard, audit.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")


def _service(
    ctx: typer.Context,
    db: Path | None,
    store: str | None,
    *,
    contracts: Path | None = None,
    schema_registry: str | None = None,
    schema_registry_config: Path | None = None,
    kafka: dict[str, str] | None = None,
) -> DeadLetterService:
    """The service on the store ``--db`` or ``--store`` names, closed when the command ends (a
    chDB store lets go of its engine). A ClickHouse store is never created here: one without
    the console's tables has no dead letters yet."""
    where = store_location(db, store)
    storage = open_store(where, create=not is_url(where), upgrade=False)
    ctx.call_on_close(storage.close)
    return DeadLetterService(
        storage,
        contracts_dir=contracts,
        default_contracts_dir=default_contracts_dir(),
        schema_registry=schema_registry,
        schema_registry_config=schema_registry_config,
        kafka=kafka,
    )


def _address(coordinates: str | None, cluster: str | None) -> str | None:
    """``coordinates`` with ``--cluster`` folded in: ``CLUSTER/TOPIC:PARTITION:OFFSET``."""
    if cluster is None:
        return coordinates
    if not cluster or "/" in cluster:
        raise InputError(f"--cluster {cluster!r} is not a cluster id")
    if coordinates is None:
        return None  # with --all or a filter, --cluster filters (see _filter)
    named, c = parse_address(coordinates)
    if named is not None and named != cluster:
        raise InputError(f"{coordinates} names cluster {named}, --cluster names {cluster}")
    return f"{cluster}/{c}"


def _filter(
    topic: str | None,
    error: str | None,
    since: str | None,
    correlation_id: str | None,
    status: str | None,
    limit: int | None = None,
    cluster: str | None = None,
) -> dlq.DlqFilter:
    return dlq.DlqFilter(
        topic=topic,
        error=error,
        since_ms=dlq.parse_since(since) if since else None,
        correlation_id=correlation_id,
        status=status,
        limit=limit or None,
        cluster_id=cluster,
    )


@dlq_app.command("list")
def list_cmd(
    ctx: typer.Context,
    topic: TopicOpt = None,
    error: ErrorOpt = None,
    since: SinceOpt = None,
    correlation_id: CorrOpt = None,
    status: StatusOpt = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="At most N rows, 0 for all (default: 100; all with --json)."),
    ] = None,
    db: DbOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    cluster: ClusterFilterOpt = None,
) -> None:
    """Dead letters, newest first, and the depth of each DLQ topic."""
    if limit is None:
        limit = 0 if as_json else 100
    flt = _filter(topic, error, since, correlation_id, status, limit, cluster)
    service = _service(ctx, db, store)
    items = service.list_items(flt)
    if as_json:
        sys.stdout.write(json.dumps([i.as_dict() for i in items]) + "\n")
        return
    render.dead_letter_list(Console(), items, service.depth(flt), limit)


@dlq_app.command("show")
def show_cmd(
    ctx: typer.Context,
    coordinates: CoordArg,
    contracts: ContractsOpt = None,
    schema_registry: RegistryOpt = None,
    schema_registry_config: RegistryConfigOpt = None,
    db: DbOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    cluster: ClusterOpt = None,
) -> None:
    """Headers, payload (decoded), contract check, journey and replay history of one dead letter."""
    coordinates = _address(coordinates, cluster) or coordinates
    service = _service(
        ctx,
        db,
        store,
        contracts=contracts,
        schema_registry=schema_registry,
        schema_registry_config=schema_registry_config,
    )
    detail = service.show(coordinates)
    if as_json:
        typer.echo(json.dumps(detail.as_dict(), indent=2, ensure_ascii=False))
        return
    render.detail(Console(), detail)


@dlq_app.command("fix")
def fix_cmd(
    ctx: typer.Context,
    coordinates: CoordArg,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="json.path=value (repeatable; JSON if it parses, else text)."),
    ] = None,
    payload_file: Annotated[
        Path | None, typer.Option("--payload-file", help="The fixed payload, verbatim.")
    ] = None,
    schema_version: Annotated[
        str,
        typer.Option(
            "--schema-version",
            help="Encode a wire-format fix with its original schema, or with the subject's "
            "latest version (the registry has checked its compatibility).",
        ),
    ] = "original",
    contracts: ContractsOpt = None,
    schema_registry: RegistryOpt = None,
    schema_registry_config: RegistryConfigOpt = None,
    db: DbOpt = None,
    store: StoreOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Store a fixed payload beside the original ($EDITOR, --set or --payload-file).

    A payload in the Confluent wire format (with --schema-registry) is edited as decoded JSON
    and stored encoded with its schema; a fix that does not encode is refused (exit 2).
    """
    from console.dlq import fix as dlq_fix

    coordinates = _address(coordinates, cluster) or coordinates
    if set_ and payload_file:
        raise InputError("pass either --set or --payload-file, not both")
    if schema_version not in ("original", "latest"):
        raise InputError("--schema-version must be original or latest")
    service = _service(
        ctx,
        db,
        store,
        contracts=contracts,
        schema_registry=schema_registry,
        schema_registry_config=schema_registry_config,
    )
    codec = service.codec
    if codec is None:  # a fix is checked against a JSON contract: the directory must be there
        service.contracts(strict=True)
    if payload_file is not None:
        try:
            new = payload_file.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read --payload-file {payload_file}: {exc.strerror}") from exc
    elif set_:
        doc = service.document_of(coordinates)
        new = dlq_fix.compact_json(dlq_fix.apply_assignments(doc, set_))
    else:
        d = service.get(coordinates)
        current, _, headers = service.current_version(d)
        text = dlq_fix.editable_text(current, codec, headers, dlq.contract_topic(d))
        new = dlq_fix.from_editor(edit_in_editor(text))
    result = service.fix(coordinates, new, latest_schema=schema_version == "latest")
    preview, fixed = result.preview, result.fixed
    console = Console()
    render.diff(console, preview.diff)
    render.verdict(console, preview.verdict)
    console.print(
        f"stored fix v{fixed.version} of {coordinates} (sha256 {fixed.sha256[:12]}); "
        "the original is kept"
    )


@dlq_app.command("replay")
def replay_cmd(
    ctx: typer.Context,
    coordinates: OptCoordArg = None,
    all_: AllOpt = False,
    topic: TopicOpt = None,
    error: ErrorOpt = None,
    since: SinceOpt = None,
    correlation_id: CorrOpt = None,
    status: StatusOpt = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Send to this topic instead of the original.")
    ] = None,
    rate: Annotated[
        float | None, typer.Option("--rate", help="At most N messages per second.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be sent; send nothing.")
    ] = False,
    yes: YesOpt = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replay messages already replayed or discarded.")
    ] = False,
    force_cluster: Annotated[
        str | None,
        typer.Option(
            "--force-cluster",
            help="Replay to a cluster other than the one the dead letters came from; must name "
            "the target's cluster id.",
            show_default=False,
        ),
    ] = None,
    db: DbOpt = None,
    store: StoreOpt = None,
    bootstrap: BootstrapOpt = None,
    kafka_config: KafkaConfigOpt = None,
    x: KafkaPropOpt = None,
    as_json: JsonOpt = False,
    cluster: ClusterOpt = None,
) -> None:
    """Produce dead letters back (fixed payload if any), exactly once, ledger first, only to the
    cluster they came from."""
    flt = _filter(topic, error, since, correlation_id, status, cluster=cluster)
    coordinates = _address(coordinates, cluster)
    service = _service(ctx, db, store, kafka=load_kafka_config(bootstrap, kafka_config, x))
    letters = service.select(coordinates, all_, flt, "replay")
    out = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)
    bar = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
    )
    task = bar.add_task("replay", total=None)

    def ask(outcome: ReplayOutcome) -> bool:
        plan, target = outcome.plan, outcome.target
        assert target is not None  # checked before the plan was made
        render.reconciled(err, outcome.reconciled)
        render.skipped(err, plan)
        topics = sorted({it.target_topic for it in plan.items})
        _confirm(
            f"Replay {len(plan.items)} message(s) to {', '.join(topics)} on cluster "
            f"{target.cluster_id} ({target.bootstrap})?",
            yes,
            "replay",
        )
        if len(plan.items) > 1:
            bar.update(task, total=len(plan.items))
            bar.start()
        return True

    try:
        outcome = service.replay(
            letters,
            to=to,
            force=force,
            dry_run=dry_run,
            rate=rate,
            force_cluster=force_cluster,
            confirm=ask,
            progress=lambda done, total: bar.update(task, completed=done),
        )
    finally:
        bar.stop()
    _replay_result(service, outcome, out, err, single=coordinates is not None, as_json=as_json)


def _replay_result(
    service: DeadLetterService,
    outcome: ReplayOutcome,
    out: Console,
    err: Console,
    *,
    single: bool,
    as_json: bool,
) -> None:
    plan, report = outcome.plan, outcome.report
    if not outcome.sent:
        render.reconciled(err, outcome.reconciled)
    if single and plan.refused and not plan.items:
        raise ReplayError(f"{plan.refused[0].coordinates}: {plan.refused[0].reason}")
    if not outcome.sent:
        render.unsent(out, err, plan, as_json)
        return
    one = plan.items[0] if len(plan.items) == 1 and report.acked == 1 else None
    landed = service.replays_for(one.dead_letter)[-1] if one is not None else None
    render.replay_sent(out, err, plan, report, landed, as_json)
    if not outcome.ok:
        raise typer.Exit(1)


def _confirm(question: str, yes: bool, verb: str) -> None:
    """Ask unless ``--yes``; without a terminal and without ``--yes``, refuse."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError(f"refusing to {verb} without confirmation: no terminal; pass --yes")
    if not typer.confirm(question, default=False):
        raise typer.Abort()


@dlq_app.command("discard")
def discard_cmd(
    ctx: typer.Context,
    coordinates: OptCoordArg = None,
    all_: AllOpt = False,
    topic: TopicOpt = None,
    error: ErrorOpt = None,
    since: SinceOpt = None,
    correlation_id: CorrOpt = None,
    reason: Annotated[str, typer.Option("--reason", help="Why, for the audit log.")] = "",
    yes: YesOpt = False,
    db: DbOpt = None,
    store: StoreOpt = None,
    cluster: ClusterOpt = None,
) -> None:
    """Mark dead letters resolved without replaying them."""
    service = _service(ctx, db, store)
    flt = _filter(topic, error, since, correlation_id, None, cluster=cluster)
    coordinates = _address(coordinates, cluster)
    targets = service.select(coordinates, all_, flt, "discard")
    if not targets:
        typer.echo("nothing to discard")
        return
    _confirm(f"Discard {len(targets)} dead letter(s)?", yes, "discard")
    results = service.discard(targets, reason=reason)
    done = sum(1 for r in results.values() if r == "discarded")
    for coords, result in results.items():
        if result != "discarded":
            typer.echo(f"{coords}: {result}", err=True)
    typer.echo(f"discarded {done} of {len(results)}")
    if coordinates and not done:
        raise typer.Exit(1)


@dlq_app.command("audit")
def audit_cmd(
    ctx: typer.Context,
    target: Annotated[
        str | None, typer.Option("--target", help="Only entries about TOPIC:PARTITION:OFFSET.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most N entries (0: all).")] = 200,
    db: DbOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who fixed, replayed or discarded what, when, with payload hashes and results."""
    entries = _service(ctx, db, store).audit(limit=limit or None, target=target)
    if as_json:
        typer.echo(json.dumps([render.audit_dict(e) for e in entries]))
        return
    render.audit(Console(), entries)
