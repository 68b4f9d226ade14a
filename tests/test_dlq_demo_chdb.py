"""``dlq`` on the chDB store a headless demo wrote: list, show, replay one, replay the rest, each
dead letter in its original topic exactly once (what issue 26 asks of ``demo --store chdb://``)."""

from __future__ import annotations

import collections
import json
import uuid
from pathlib import Path

from tests.conftest import run_cli
from tests.dlq_helpers import headers_of, read_topic


def test_dlq_replay_on_the_demo_s_chdb_store(kafka_bootstrap: str, tmp_path: Path) -> None:
    store = ("--store", f"chdb://{tmp_path / 'demo'}")
    kafka = ("--bootstrap", kafka_bootstrap)
    prefix = f"c{uuid.uuid4().hex[:8]}.canvasflow"
    demo = run_cli(
        "demo", "--headless", "--duration", "20", *store, "--json", *kafka,
        "--topic-prefix", prefix, "--poison-rate", "0.25", "--flaky-rate", "0.3",
        "--rate", "3", "--seed", "5",
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    summary = json.loads(demo.stdout.strip().splitlines()[-1])
    assert summary["dead_letters_total"] >= 2

    listed = run_cli("dlq", "list", *store, "--json")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert len(items) == summary["dead_letters_total"]
    assert {i["status"] for i in items} == {"pending"}
    first = items[-1]  # the oldest
    coords, original = first["coordinates"], first["original_topic"]
    assert original.startswith(prefix)

    shown = run_cli("dlq", "show", coords, *store, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["replays"] == []

    one = run_cli("dlq", "replay", coords, *store, *kafka, "--yes")
    assert one.returncode == 0, one.stderr
    assert f"replayed {coords} → {original}:" in one.stdout
    again = run_cli("dlq", "replay", coords, *store, *kafka, "--yes")
    assert again.returncode == 1 and "already replayed" in again.stderr
    rest = run_cli("dlq", "replay", "--all", *store, *kafka, "--yes")
    assert rest.returncode == 0, rest.stderr

    listed = json.loads(run_cli("dlq", "list", *store, "--json").stdout)
    assert {i["status"] for i in listed} == {"replayed"}
    replayed_from: collections.Counter[bytes | None] = collections.Counter()
    for topic in {i["original_topic"] for i in items}:
        replayed_from.update(
            headers_of(m).get("x-replayed-from") for m in read_topic(kafka_bootstrap, topic)
        )
    assert {i["coordinates"].encode(): 1 for i in items}.items() <= replayed_from.items()
    shown = json.loads(run_cli("dlq", "show", coords, *store, "--json").stdout)
    assert [(r["replay_count"], r["state"]) for r in shown["replays"]] == [(1, "acked")]
