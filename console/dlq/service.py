"""One dead-letter service: the object the CLI (``console/cli/dlq_cmd.py``) and the TUI
(``tui_app/dlq_ops.py``, from its workers) both call, so they select, show, fix, discard and replay
the same way.

``DeadLetterService`` holds the store, the contracts, the registry codec and the Kafka settings
(a ``DlqCluster``, console/dlq/cluster.py). Its operations:

- ``select``: one named dead letter, or every one a filter picks (pending by default);
- ``show``: one dead letter decoded (``DeadLetterDetail``);
- ``fix``: validate an edited payload, keep it as the next fixed version, audited;
- ``discard``: mark dead letters resolved, audited;
- ``replay``: check the target cluster, reconcile, plan, ask, send. One replay at a time per
  store; ``progress(done, total)`` is called as acks are recorded; it returns a ``ReplayOutcome``.

The front ends parse and render; what they show comes from these results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.base.errors import InputError
from console.base.model import AuditEntry, DeadLetter, FixedPayload, ReplayEntry
from console.dlq import audit, query
from console.dlq.cluster import DlqCluster, KafkaCluster
from console.dlq.codecs import PayloadCodec, open_codec
from console.dlq.contracts import ContractSource, Verdict, check, open_contracts
from console.dlq.fix import FixPreview, document_of, from_editor, prepare_fix, save_fix
from console.dlq.ledger import ReconcileReport, ReplayError, replay_lock
from console.dlq.plan import ReplayPlan, check_target, prepare_replay
from console.dlq.replay import ProgressFn, Replayer, ReplayReport
from console.dlq.show import DeadLetterDetail, journey_line, show
from console.dlq.target import Target
from console.store.api import Storage, reading
from console.store.deadletters_api import DeadLetters

__all__ = ["Confirm", "DeadLetterService", "FixResult", "ReplayOutcome"]

# Asked once the target is checked, the earlier run reconciled and the plan made, before
# anything is produced: False stops the replay.
Confirm = Callable[["ReplayOutcome"], bool]


@dataclass
class ReplayOutcome:
    """What a replay did: the reconcile of an earlier run's lines, the plan, the report."""

    reconciled: ReconcileReport
    plan: ReplayPlan
    target: Target | None = None
    report: ReplayReport = field(default_factory=ReplayReport)
    sent: bool = False  # False: a dry run, nothing to send, or not confirmed

    @property
    def ok(self) -> bool:
        return not (self.report.failed or self.report.errors)


@dataclass(frozen=True, slots=True)
class FixResult:
    preview: FixPreview
    fixed: FixedPayload


class DeadLetterService:
    """The store, the contracts, the codec and the Kafka cluster, for every DLQ operation."""

    def __init__(
        self,
        store: Storage,
        *,
        contracts_dir: Path | None = None,
        default_contracts_dir: Path | None = None,
        schema_registry: str | None = None,
        schema_registry_config: Path | None = None,
        kafka: Mapping[str, Any] | None = None,
        cluster: DlqCluster | None = None,
    ) -> None:
        self.store = store
        self.contracts_dir = contracts_dir
        self.default_contracts_dir = default_contracts_dir
        self.schema_registry = schema_registry
        self.schema_registry_config = schema_registry_config
        self.cluster = cluster if cluster is not None else (KafkaCluster(kafka) if kafka else None)

    @functools.cached_property
    def codec(self) -> PayloadCodec | None:
        """The registry codec (``--schema-registry``), made on first use; None without one."""
        return open_codec(self.schema_registry, self.schema_registry_config)

    def contracts(self, *, strict: bool = False) -> ContractSource:
        """The contract source (``--contracts`` or ``--schema-registry``); read afresh each time,
        so a contract edited while the console runs is the one checked."""
        return open_contracts(
            self.contracts_dir,
            self.schema_registry,
            default_dir=self.default_contracts_dir,
            strict=strict,
        )

    @contextlib.contextmanager
    def dead_letters(self) -> Iterator[DeadLetters]:
        """The store's dead letters, ledger, fixes and audit (``DeadLetters``), for one
        operation."""
        letters = self.store.dead_letters()
        try:
            yield letters
        finally:
            letters.close()

    # reading ---------------------------------------------------------------------------------
    def list_items(self, flt: query.DlqFilter | None = None) -> list[query.ListItem]:
        with self.dead_letters() as store:
            return query.list_dead_letters(store, flt)

    def depth(self, flt: query.DlqFilter | None = None) -> list[query.DepthRow]:
        with self.dead_letters() as store:
            return query.depth_summary(store, flt)

    def extent(self, flt: query.DlqFilter) -> tuple[int, int | None]:
        with self.dead_letters() as store:
            return query.dead_letter_extent(store, flt)

    def get(self, coordinates: str) -> DeadLetter:
        with self.dead_letters() as store:
            return query.get_dead_letter(store, coordinates)

    def current_version(self, d: DeadLetter) -> tuple[bytes | None, int, Any]:
        """The payload a fix starts from (the latest fix, else the original), its version and
        the headers it is decoded with."""
        with self.dead_letters() as store:
            return query.current_version(store, d)

    def audit(self, *, limit: int | None = 200, target: str | None = None) -> list[AuditEntry]:
        with self.dead_letters() as store:
            return audit.audit_log(store, limit=limit, target=target)

    def select(
        self, coordinates: str | None, all_: bool, flt: query.DlqFilter, verb: str
    ) -> list[DeadLetter]:
        """One named dead letter, or every one the filters pick (pending by default)."""
        if coordinates:
            if all_:
                raise InputError(f"{verb}: pass TOPIC:PARTITION:OFFSET or --all, not both")
            return [self.get(coordinates)]
        # --cluster narrows a selection but does not make one: alone, it names no dead letters
        has_filter = any([flt.topic, flt.error, flt.since_ms, flt.correlation_id, flt.status])
        if not (all_ or has_filter):
            raise InputError(
                f"{verb}: name a dead letter (TOPIC:PARTITION:OFFSET), --all or a filter"
            )
        if flt.status is None:
            flt = dataclasses.replace(flt, status="pending")
        with self.dead_letters() as store:
            return query.select_dead_letters(store, flt)

    def show(self, coordinates: str) -> DeadLetterDetail:
        with self.dead_letters() as letters, reading(self.store) as reader:
            journey = functools.partial(journey_line, reader)
            return show(letters, coordinates, self.contracts(), self.codec, journey)

    # changing --------------------------------------------------------------------------------
    def preview_fix(
        self, coordinates: str, new: bytes, *, latest_schema: bool = False
    ) -> FixPreview:
        """The diff and the verdict of ``new`` as the next fixed version; nothing stored. With a
        registry, wire-format payloads need no JSON contract."""
        contracts = self.contracts(strict=self.codec is None)
        with self.dead_letters() as store:
            return prepare_fix(
                store, coordinates, new, contracts, self.codec, latest_schema=latest_schema
            )

    def fix(self, coordinates: str, new: bytes, *, latest_schema: bool = False) -> FixResult:
        """Store ``new`` as the next fixed version (the original is kept); refuses (exit 2) a fix
        that breaks the contract or does not encode with its schema."""
        contracts = self.contracts(strict=self.codec is None)
        with self.dead_letters() as store:
            preview = prepare_fix(
                store, coordinates, new, contracts, self.codec, latest_schema=latest_schema
            )
            return FixResult(preview, save_fix(store, preview))

    def document_of(self, coordinates: str) -> Any:
        """The current version as a JSON document (decoded with its schema when it can be)."""
        with self.dead_letters() as store:
            return document_of(store, coordinates, self.codec)

    def verdict_of_text(self, coordinates: str, text: str) -> Verdict:
        """The contract's verdict on edited JSON text (a wire-format payload: whether it
        encodes with its schema)."""
        if self.codec is not None:
            return self.preview_fix(coordinates, text.encode()).verdict
        d = self.get(coordinates)
        return check(self.contracts(), query.contract_topic(d), from_editor(text))

    def bytes_of_text(self, d: DeadLetter, text: str) -> bytes:
        """Edited text as the payload to store: verbatim when the registry decodes the current
        version (it is encoded with its schema), else compact JSON."""
        payload, _, headers = self.current_version(d)
        decoded = self.codec is not None and self.codec.decode(
            payload, headers, query.contract_topic(d)
        )
        return text.encode() if decoded else from_editor(text)

    def discard(self, letters: Sequence[DeadLetter], *, reason: str = "") -> dict[str, str]:
        """Mark ``letters`` discarded (audited); coordinates -> result."""
        with self.dead_letters() as store:
            return audit.discard(store, letters, reason=reason)

    # replaying -------------------------------------------------------------------------------
    def _cluster(self) -> DlqCluster:
        if self.cluster is None:
            raise ReplayError("no Kafka bootstrap servers: pass --bootstrap or --kafka-config")
        return self.cluster

    def check_target(
        self, letters: Sequence[DeadLetter], force_cluster: str | None = None
    ) -> Target:
        """The target answers and is the cluster ``letters`` came from (``BrokerUnreachable``,
        ``ClusterMismatch`` otherwise): the check before anything is asked or written."""
        with self.dead_letters() as store:
            return check_target(store, self._cluster(), letters, force_cluster)

    def replay(
        self,
        letters: Sequence[DeadLetter],
        *,
        to: str | None = None,
        force: bool = False,
        dry_run: bool = False,
        rate: float | None = None,
        force_cluster: str | None = None,
        confirm: Confirm | None = None,
        progress: ProgressFn | None = None,
    ) -> ReplayOutcome:
        """Check the target, reconcile an earlier run's open lines (not in a dry run), plan
        ``letters`` plus every dead letter an interrupted run left open, ask ``confirm``, send
        ledger first. One replay at a time per store (a dry run takes no lock)."""
        cluster = self._cluster()
        with self.dead_letters() as store, _nothing() if dry_run else replay_lock(store):
            # The target answers and is the cluster the dead letters came from, before anything
            # is reconciled or planned (and so before any ledger line is written).
            target = check_target(store, cluster, letters, force_cluster)
            rec, plan = prepare_replay(
                store, cluster, letters, to=to, force=force, dry_run=dry_run, target=target
            )
            outcome = ReplayOutcome(rec, plan, target)
            if dry_run or not plan.items:
                return outcome
            if confirm is not None and not confirm(outcome):
                return outcome
            replayer = Replayer(store, cluster, rate=rate, progress=progress)
            outcome.report = replayer.run(plan.items)
            outcome.sent = True
            return outcome

    def replays_for(self, d: DeadLetter) -> list[ReplayEntry]:
        with self.dead_letters() as store:
            return query.replays_for(store, d)


@contextlib.contextmanager
def _nothing() -> Iterator[None]:
    yield
