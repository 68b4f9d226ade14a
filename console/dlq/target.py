"""Where a replay goes, checked before anything is reconciled, planned or produced.

``DlqCluster.probe`` (console/dlq/cluster.py) asks the cluster for its metadata through a
producer configured as the one that will send (``replay_producer_config``: no topic is ever
created, Java's murmur2 partitioner), within a few seconds: the cluster id and every topic's
partition count (a ``Target``). A cluster it cannot reach raises ``BrokerUnreachable`` (exit 1)
with one line naming the bootstrap and the error; librdkafka's own log lines go to the
``handoff.kafka.librdkafka`` logger, never raw to the terminal.

``check_cluster(target, letters, force_cluster)`` refuses (``ClusterMismatch``, exit 2) a replay
of dead letters tapped from another cluster, naming both ids; an unknown id (None) counts as
different. ``--force-cluster ID`` overrides it deliberately, and must name the target's own id.

``target_partition(target, topic, partition)`` is the dead letter's original partition when it is
known and exists in the target topic, else None (the producer's murmur2 partitioner places it by
key, as a Java producer would, so per-key order holds).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console.base.errors import HandoffError, InputError
from console.base.model import DeadLetter

__all__ = [
    "RDKAFKA_LOG",
    "BrokerUnreachable",
    "ClusterMismatch",
    "Target",
    "check_cluster",
    "quiet",
    "replay_producer_config",
    "target_partition",
]

RDKAFKA_LOG = logging.getLogger("handoff.kafka.librdkafka")
RDKAFKA_LOG.addHandler(logging.NullHandler())  # no handler configured: say nothing, not stderr


class BrokerUnreachable(HandoffError):
    """The Kafka cluster does not answer (exit 1)."""


class ClusterMismatch(InputError):
    """The target is not the cluster the dead letters came from (exit 2)."""


@dataclass(frozen=True, slots=True)
class Target:
    bootstrap: str
    cluster_id: str | None
    partitions: dict[str, int] = field(default_factory=dict)  # topic -> partition count

    def has_topic(self, topic: str) -> bool:
        return topic in self.partitions


def quiet(conf: Mapping[str, Any]) -> dict[str, Any]:
    """``conf`` with librdkafka's log lines sent to Python logging."""
    return {**conf, "logger": RDKAFKA_LOG}


def replay_producer_config(conf: Mapping[str, Any]) -> dict[str, Any]:
    """The replay producer: never creates a topic, places keys as Java does (murmur2)."""
    out: dict[str, Any] = {"linger.ms": 5, **quiet(conf)}
    out.update(
        {
            "enable.idempotence": True,
            "acks": "all",
            "allow.auto.create.topics": False,
            "partitioner": "murmur2_random",
        }
    )
    return out


def check_cluster(
    target: Target, letters: Iterable[DeadLetter], force_cluster: str | None = None
) -> None:
    """Refuse unless every dead letter came from the target's cluster (or it is forced)."""
    if force_cluster is not None:
        if force_cluster != target.cluster_id:
            raise ClusterMismatch(
                f"--force-cluster {force_cluster} is not the target's cluster: {target.bootstrap} "
                f"is cluster {target.cluster_id or 'unknown'}; nothing produced"
            )
        return
    for d in letters:
        if d.cluster_id is None or d.cluster_id != target.cluster_id:
            came = d.cluster_id or "unknown"
            raise ClusterMismatch(
                f"refusing to replay {d.coordinates}: it came from cluster {came}, but "
                f"{target.bootstrap} is cluster {target.cluster_id or 'unknown'}; nothing "
                f"produced (--force-cluster {target.cluster_id or 'ID'} sends it there anyway)"
            )


def target_partition(target: Target | None, topic: str, partition: int | None) -> int | None:
    if target is None or partition is None or partition < 0:
        return None
    count = target.partitions.get(topic, 0)
    return partition if partition < count else None
