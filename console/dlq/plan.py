"""Planning a replay: what to send, where, with which headers, and what to refuse and why.

``plan_replay`` turns dead letters into ``ReplayItem`` objects (target: ``--to`` or the original
topic; payload: the latest fix, else the original; headers: business headers kept, DLQ exception
headers dropped, ``x-replay-id`` / ``x-replay-count`` / ``x-replayed-from`` added) and
``Refusal`` objects (already replayed without ``--force``, discarded, truncated payload, unknown
original topic). A ledger line left open by an interrupted run is resumed with its own replay id.
``prepare_replay`` reconciles first, then plans: what the CLI and the TUI call.

``x-replay-id`` is deterministic: SHA-256 of the DLQ coordinates, the payload's hash and the
replay count (1 for the first replay, so a forced second replay gets its own id).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.base.model import DeadLetter, Header, payload_sha256
from console.dlq.cluster import DlqCluster
from console.dlq.ledger import REPLAY_ID, ReconcileReport, reconcile
from console.dlq.query import address, headers_with_schema
from console.dlq.target import Target, check_cluster, target_partition
from console.store.deadletters_api import DeadLetterKey, DeadLetters, key_of

__all__ = [
    "DROPPED_HEADER_PREFIXES",
    "REPLAYED_FROM",
    "REPLAY_COUNT",
    "REPLAY_ID",
    "Refusal",
    "ReplayItem",
    "ReplayPlan",
    "check_target",
    "fetch_full_payloads",
    "pending_dead_letters",
    "plan_replay",
    "prepare_replay",
    "replay_headers",
    "replay_id",
]

REPLAY_COUNT = "x-replay-count"
REPLAYED_FROM = "x-replayed-from"
# Every convention's error headers (Spring, Connect, Kafka Streams): a replayed record carries
# none of them, so the tap never takes it for a new dead letter.
DROPPED_HEADER_PREFIXES = ("kafka_dlt-", "__connect.errors.", "__streams.errors.")
_REPLAY_HEADERS = (REPLAY_ID, REPLAY_COUNT, REPLAYED_FROM)


def replay_id(coordinates: str, payload_hash: str | None, count: int) -> str:
    """The deterministic replay id: coordinates + payload hash + replay count."""
    text = f"{coordinates}|{payload_hash or 'tombstone'}|{count}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def replay_headers(
    d: DeadLetter, rid: str, count: int, schema_header: bytes | None = None
) -> tuple[Header, ...]:
    """``d``'s headers without the DLQ ones, plus the replay headers; a fix encoded with a schema
    carried in headers brings its own ``__value_schema_id``."""
    kept = [
        (name, value)
        for name, value in headers_with_schema(d.headers, schema_header)
        if not name.startswith(DROPPED_HEADER_PREFIXES) and name not in _REPLAY_HEADERS
    ]
    kept += [
        (REPLAY_ID, rid.encode()),
        (REPLAY_COUNT, str(count).encode()),
        (REPLAYED_FROM, d.coordinates.encode()),
    ]
    return tuple(kept)


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One message to send."""

    dead_letter: DeadLetter
    target_topic: str
    payload: bytes | None
    payload_version: int  # 0: the original, n: fix vn
    payload_sha256: str
    replay_id: str
    replay_count: int
    headers: tuple[Header, ...]
    resumed: bool = False  # a pending line of an interrupted run, produced again
    target_partition: int | None = None  # the original partition; None: murmur2 by key

    @property
    def coordinates(self) -> str:
        return self.dead_letter.coordinates

    def as_dict(self) -> dict[str, Any]:
        from console.base.model import header_text

        return {
            "coordinates": self.coordinates,
            "target_topic": self.target_topic,
            "replay_id": self.replay_id,
            "replay_count": self.replay_count,
            "payload_version": self.payload_version,
            "payload_sha256": self.payload_sha256,
            "headers": [[n, header_text(v)] for n, v in self.headers],
            "resumed": self.resumed,
            "target_partition": self.target_partition,
        }


@dataclass(frozen=True, slots=True)
class Refusal:
    coordinates: str
    reason: str


@dataclass
class ReplayPlan:
    items: list[ReplayItem] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


def pending_dead_letters(store: DeadLetters) -> list[DeadLetter]:
    """Dead letters with a pending or failed ledger line (an interrupted or failed replay)."""
    return store.with_open_lines()


def plan_replay(
    store: DeadLetters,
    targets: Iterable[DeadLetter],
    *,
    to: str | None = None,
    force: bool = False,
    target: Target | None = None,
) -> ReplayPlan:
    """What a replay of ``targets`` would send, and what it refuses and why.

    With the ``target`` cluster's metadata, a topic it lacks is refused (a replay never creates
    one) and each item goes to its original partition where that exists.
    """
    ledger = store.ledger_lines()
    fixes = store.latest_fixes()
    plan = ReplayPlan()
    seen: set[DeadLetterKey] = set()
    for d in targets:
        key = key_of(d)
        if key in seen:
            continue
        seen.add(key)
        lines = ledger.get(key, [])
        version, payload, schema_header = fixes.get(key, (0, d.payload, None))
        if version == 0 and d.payload is None and d.convention != "none":
            plan.refused.append(
                Refusal(
                    d.coordinates,
                    "it has no value (the exception is only in its headers); store a fix "
                    "(dlq fix --payload-file) to replay it, or discard it",
                )
            )
            continue
        if version == 0 and d.payload_truncated:
            plan.refused.append(
                Refusal(
                    d.coordinates,
                    f"only {len(d.payload or b'')} of {d.payload_size} payload bytes are in the "
                    "store and the DLQ topic no longer has the message; store a fix "
                    "(dlq fix --payload-file) to replay it",
                )
            )
            continue
        sha = payload_sha256(payload) or ""
        open_lines = [ln for ln in lines if ln.state in ("pending", "failed")]
        resumable = [
            ln
            for ln in open_lines
            if ln.payload_sha256 == sha and (to is None or ln.target_topic == to)
        ]
        if resumable:
            last = resumable[-1]
            item = ReplayItem(
                d, last.target_topic, payload, version, sha, last.replay_id, last.replay_count, ()
            )
            _plan(plan, target, item, schema_header, resumed=True)
            continue
        acked = [ln for ln in lines if ln.state == "acked"]
        if acked and not force:
            a = acked[-1]
            plan.refused.append(
                Refusal(
                    d.coordinates,
                    f"already replayed to {a.target_topic}:{a.target_partition}:"
                    f"{a.target_offset} (x-replay-id {a.replay_id}); "
                    "--force replays it again",
                )
            )
            continue
        if d.status == "discarded" and not force:
            plan.refused.append(Refusal(d.coordinates, "discarded; --force replays it anyway"))
            continue
        to_topic = to or d.original_topic
        if not to_topic:
            plan.refused.append(
                Refusal(d.coordinates, "its original topic is unknown; pass --to TOPIC")
            )
            continue
        count = max(ln.replay_count for ln in lines) + 1 if lines else 1
        # A dead letter from a known cluster is named with it, so two clusters' dead letters at
        # the same coordinates never share a replay id (a resumed line keeps the id it has).
        rid = replay_id(address(d), sha, count)
        item = ReplayItem(d, to_topic, payload, version, sha, rid, count, ())
        _plan(plan, target, item, schema_header, resumed=False)
    return plan


def _plan(
    plan: ReplayPlan,
    target: Target | None,
    item: ReplayItem,
    schema_header: bytes | None,
    *,
    resumed: bool,
) -> None:
    """Add ``item`` with its replay headers and partition, unless the target cluster lacks its
    topic (then it is refused)."""
    d, topic = item.dead_letter, item.target_topic
    if (missing := _missing(target, topic, d)) is not None:
        plan.refused.append(missing)
        return
    headers = replay_headers(d, item.replay_id, item.replay_count, schema_header)
    partition = target_partition(target, topic, d.original_partition)
    plan.items.append(
        dataclasses.replace(item, headers=headers, resumed=resumed, target_partition=partition)
    )


def _missing(target: Target | None, topic: str, d: DeadLetter) -> Refusal | None:
    if target is None or target.has_topic(topic):
        return None
    return Refusal(
        d.coordinates,
        f"topic {topic} does not exist on cluster {target.cluster_id or 'unknown'} "
        f"({target.bootstrap}); a replay never creates a topic",
    )


def fetch_full_payloads(
    cluster: DlqCluster, letters: Sequence[DeadLetter], *, timeout: float = 30.0
) -> list[DeadLetter]:
    """``letters`` with every truncated payload read back whole from the DLQ topic at its
    coordinates. A message no longer in the topic, or whose bytes do not start with the stored
    prefix, is returned unchanged (still truncated: the plan refuses it)."""
    wanted = [(d.dlq_topic, d.partition, d.offset) for d in letters if d.payload_truncated]
    if not wanted:
        return list(letters)
    found = cluster.fetch(wanted, timeout)
    out: list[DeadLetter] = []
    for d in letters:
        whole = found.get((d.dlq_topic, d.partition, d.offset)) if d.payload_truncated else None
        if whole is not None and whole.startswith(d.payload or b""):
            d = dataclasses.replace(
                d, payload=whole, payload_truncated=False, payload_size=len(whole)
            )
        out.append(d)
    return out


def check_target(
    store: DeadLetters,
    cluster: DlqCluster,
    letters: Iterable[DeadLetter],
    force_cluster: str | None = None,
) -> Target:
    """The replay's first step, before anything is reconciled or planned (and so before any ledger
    line is written): the target answers (else ``BrokerUnreachable``) and is the cluster that
    ``letters`` and every dead letter an interrupted run left open came from (else
    ``ClusterMismatch``), unless ``force_cluster`` names it."""
    target = cluster.probe()
    check_cluster(target, [*pending_dead_letters(store), *letters], force_cluster)
    return target


def prepare_replay(
    store: DeadLetters,
    cluster: DlqCluster | None,
    targets: Iterable[DeadLetter],
    *,
    to: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    target: Target | None = None,
) -> tuple[ReconcileReport, ReplayPlan]:
    """Reconcile (not in a dry run), read truncated payloads back from their DLQ topic, then plan
    ``targets`` plus every dead letter an interrupted run left open. With ``cluster`` None nothing
    talks to Kafka. Send the plan with ``Replayer(...).run(plan.items)``.
    """
    rec = ReconcileReport()
    if cluster is not None and not dry_run:
        rec = reconcile(store, cluster)
    letters = [*pending_dead_letters(store), *targets]
    if cluster is not None:
        letters = fetch_full_payloads(cluster, letters)
    return rec, plan_replay(store, letters, to=to, force=force, target=target)
