"""The body of ``dlq replay``: select, check the target, reconcile, plan, confirm, send."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from console import dlq
from console.base.kafka_config import kafka_config
from console.base.model import header_text
from console.cli.dlq_cmd import _selection, confirm
from console.dlq.cluster import KafkaCluster
from console.dlq.replay import (
    Replayer,
    ReplayError,
    ReplayPlan,
    check_target,
    prepare_replay,
    replay_lock,
)

__all__ = ["run_replay"]


def run_replay(
    conn: sqlite3.Connection,
    coordinates: str | None,
    all_: bool,
    flt: dlq.DlqFilter,
    *,
    to: str | None,
    rate: float | None,
    dry_run: bool,
    yes: bool,
    force: bool,
    kafka: tuple[str | None, Path | None, list[str] | None],
    as_json: bool,
    force_cluster: str | None = None,
) -> None:
    """Select, check the target, reconcile, plan, confirm, send: one replay at a time per store
    (not dry runs)."""
    with contextlib.nullcontext() if dry_run else replay_lock(conn):
        out = Console(soft_wrap=True)
        err = Console(stderr=True, soft_wrap=True)
        cluster = KafkaCluster(kafka_config(*kafka))
        targets = _selection(conn, coordinates, all_, flt, "replay")
        # The target answers and is the cluster the dead letters came from, before anything is
        # reconciled or planned (and so before any ledger line is written).
        target = check_target(conn, cluster, targets, force_cluster)
        # Unfinished lines of an earlier run are settled, and sent again when the target lacks them,
        # even when this selection does not name them.
        rec, plan = prepare_replay(
            conn, cluster, targets, to=to, force=force, dry_run=dry_run, target=target
        )
        if rec.checked:
            err.print(
                f"reconciled {rec.checked} unfinished replay(s) of an earlier run: "
                f"{rec.found} found in the target, {rec.missing} to send again"
            )
        if coordinates and plan.refused and not plan.items:
            raise ReplayError(f"{plan.refused[0].coordinates}: {plan.refused[0].reason}")
        if dry_run:
            _print_plan(out, plan, as_json)
            return
        for r in plan.refused[:20]:
            err.print(f"skipped {r.coordinates}: {r.reason}", markup=False, highlight=False)
        if len(plan.refused) > 20:
            err.print(f"... and {len(plan.refused) - 20} more skipped")
        if not plan.items:
            err.print(f"nothing to replay ({len(plan.refused)} skipped)")
            if as_json:
                out.print_json(json.dumps({"acked": 0, "failed": 0, "skipped": len(plan.refused)}))
            return
        topics = sorted({it.target_topic for it in plan.items})
        confirm(
            f"Replay {len(plan.items)} message(s) to {', '.join(topics)} on cluster "
            f"{target.cluster_id} ({target.bootstrap})?",
            yes,
            "replay",
        )
        bulk = len(plan.items) > 1
        with Progress(
            TextColumn("replaying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not bulk,
        ) as bar:
            task = bar.add_task("replay", total=len(plan.items))
            replayer = Replayer(
                conn,
                cluster,
                rate=rate,
                progress=lambda done, total: bar.update(task, completed=done),
            )
            report = replayer.run(plan.items)
        summary = {
            "acked": report.acked,
            "failed": report.failed,
            "skipped": len(plan.refused),
            "elapsed_s": round(report.elapsed_s, 3),
            "errors": report.errors,
        }
        if as_json:
            typer.echo(json.dumps(summary))
        else:
            for coords, error in list(report.errors.items())[:20]:
                err.print(f"failed {coords}: {error}", markup=False)
            if len(plan.items) == 1 and report.acked == 1:
                it = plan.items[0]
                row = dlq.replays_for(conn, it.dead_letter)[-1]
                out.print(
                    f"replayed {it.coordinates} → {row.target_topic}:{row.target_partition}:"
                    f"{row.target_offset} (x-replay-id {it.replay_id}, replay #{it.replay_count})"
                )
            else:
                out.print(
                    f"replayed {report.acked} message(s), {report.failed} failed, "
                    f"{len(plan.refused)} skipped in {report.elapsed_s:.1f}s"
                )
        if report.failed or report.errors:
            raise typer.Exit(1)


def _print_plan(out: Console, plan: ReplayPlan, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "dry_run": True,
                    "items": [it.as_dict() for it in plan.items],
                    "refused": [
                        {"coordinates": r.coordinates, "reason": r.reason} for r in plan.refused
                    ],
                }
            )
        )
        return
    for it in plan.items:
        src = "original payload" if it.payload_version == 0 else f"fix v{it.payload_version}"
        out.print(
            f"would send {it.coordinates} → {it.target_topic} ({src}, sha256 "
            f"{it.payload_sha256[:12]}, x-replay-id {it.replay_id}, x-replay-count "
            f"{it.replay_count})",
            markup=False,
            highlight=False,
        )
        headers = ", ".join(f"{n}={header_text(v)[:40]}" for n, v in it.headers)
        out.print(f"    headers: {headers}", markup=False, highlight=False)
    for r in plan.refused:
        out.print(f"would skip {r.coordinates}: {r.reason}", markup=False, highlight=False)
    out.print(
        f"dry run: {len(plan.items)} would be sent, {len(plan.refused)} skipped; nothing sent"
    )
