"""A poison message in a Spring DLQ on the real broker: list, show, fix, replay, exactly once."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path

import pytest

from console.dlq import DlqFilter
from console.store import Storage
from tests.conftest import create_topic, run_cli
from tests.dlq_helpers import dead_letters_on_broker, headers_of, read_topic, write_contract

BACKENDS = ("sqlite", "chdb")  # every test on both stores (tests/conftest.py)
POISON = b'{"order_id":"o-1","quantity":"two","sku":"canvas-40x60"}'


@pytest.fixture
def poison(kafka_bootstrap: str, topic: str, store: Storage, tmp_path: Path) -> dict[str, object]:
    original, dlt = topic, f"{topic}-dlt"
    create_topic(kafka_bootstrap, original)
    create_topic(kafka_bootstrap, dlt)
    [d] = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=dlt,
        original_topic=original,
        payloads=[POISON],
        correlation_ids=["corr-poison-1"],
    )
    return {
        "letter": d,
        "coords": d.coordinates,
        "original": original,
        "contracts": str(write_contract(tmp_path / "contracts", original)),
    }


def _cli(store_args: list[str], bootstrap: str, *args: str) -> tuple[int, str, str]:
    r = run_cli(*args, *store_args, env={"HANDOFF_KAFKA_BOOTSTRAP": bootstrap})
    return r.returncode, r.stdout, r.stderr


def _ledger_lines(store: Storage) -> int:
    with contextlib.closing(store.dead_letters()) as letters:
        return sum(len(lines) for lines in letters.ledger_lines().values())


def test_list_show_fix_replay_exactly_once(
    poison: dict[str, object], store_args: list[str], kafka_bootstrap: str
) -> None:
    coords, original = str(poison["coords"]), str(poison["original"])
    dlt, partition, offset = coords.rsplit(":", 2)

    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "list", "--json")
    assert rc == 0, err
    [item] = json.loads(out)
    assert item["dlq_topic"] == dlt
    assert (item["partition"], item["offset"]) == (int(partition), int(offset))
    assert (item["original_topic"], item["original_partition"], item["original_offset"]) == (
        original,
        0,
        100,
    )
    assert item["exception_class"].endswith("DeserializationException")
    assert "two" in item["exception_message"]
    assert item["correlation_id"] == "corr-poison-1"
    assert item["status"] == "pending"

    rc, out, err = _cli(
        store_args,
        kafka_bootstrap,
        "dlq",
        "show",
        coords,
        "--contracts",
        str(poison["contracts"]),
        "--json",
    )
    assert rc == 0, err
    shown = json.loads(out)
    assert shown["payload_kind"] == "json"
    assert '"quantity": "two"' in shown["payload"]
    assert shown["contract"]["status"] == "invalid"
    [violation] = shown["contract"]["violations"]
    assert violation["path"] == "$.quantity"
    assert violation["line"] == 3  # line 3 of the pretty-printed payload
    headers = {h["name"]: h["value"] for h in shown["headers"]}
    assert headers["kafka_dlt-original-topic"] == original
    assert headers["kafka_dlt-original-offset"] == "100"  # Spring's 8-byte long, decoded
    assert shown["decoded_headers"]["original_offset"] == 100
    assert shown["decoded_headers"]["convention"] == "spring"
    assert f"hops {coords}" in shown["journey"]  # the tap's hop for the DLQ message
    assert shown["replays"] == []

    rc, out, err = _cli(
        store_args,
        kafka_bootstrap,
        "dlq",
        "fix",
        coords,
        "--set",
        "quantity=2",
        "--contracts",
        str(poison["contracts"]),
    )
    assert rc == 0, err
    assert '-  "quantity": "two",' in out and '+  "quantity": 2,' in out
    assert "stored fix v1" in out

    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "replay", coords, "--yes")
    assert rc == 0, err
    assert f"replayed {coords}" in out

    msgs = read_topic(kafka_bootstrap, original)
    assert len(msgs) == 1
    msg = msgs[0]
    assert json.loads(msg.value()) == {"order_id": "o-1", "quantity": 2, "sku": "canvas-40x60"}
    h = headers_of(msg)
    assert h["x-correlation-id"] == b"corr-poison-1"
    assert h["traceparent"] == dict(poison["letter"].headers)["traceparent"]  # type: ignore[attr-defined]  # a DeadLetter
    assert h["tenant"] == b"acme"
    assert h["x-replay-count"] == b"1"
    assert h["x-replayed-from"] == coords.encode()
    assert len(h["x-replay-id"] or b"") == 32
    assert not [n for n in h if n.startswith("kafka_dlt-")]
    assert msg.key() == b"k0"

    # A second replay is refused and sends nothing.
    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "replay", coords, "--yes")
    assert rc == 1
    assert "already replayed" in err and "--force" in err
    assert len(read_topic(kafka_bootstrap, original)) == 1

    rc, out, err = _cli(
        store_args, kafka_bootstrap, "dlq", "list", "--status", "replayed", "--json"
    )
    assert [i["status"] for i in json.loads(out)] == ["replayed"]

    # --force sends it again, as replay #2 with its own id.
    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "replay", coords, "--yes", "--force")
    assert rc == 0, err
    msgs = read_topic(kafka_bootstrap, original)
    assert len(msgs) == 2
    second = headers_of(msgs[1])
    assert second["x-replay-count"] == b"2"
    assert second["x-replay-id"] != h["x-replay-id"]

    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "show", coords, "--json")
    shown = json.loads(out)
    assert [(r["replay_count"], r["state"]) for r in shown["replays"]] == [
        (1, "acked"),
        (2, "acked"),
    ]
    assert shown["replays"][0]["target_offset"] == msgs[0].offset()
    assert shown["status"] == "replayed"
    assert json.loads(shown["payload"])["quantity"] == "two"  # the original is kept

    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "audit", "--json")
    entries = json.loads(out)
    actions = sorted((e["action"], e["result"].split(" ")[0]) for e in entries)
    assert actions == [("fix", "stored"), ("replay", "acked"), ("replay", "acked")]
    fix = next(e for e in entries if e["action"] == "fix")
    assert fix["before_sha256"] == hashlib.sha256(POISON).hexdigest()
    assert fix["after_sha256"] != fix["before_sha256"]
    assert all(e["os_user"] and e["target"] == coords for e in entries)


def test_dry_run_sends_nothing(
    poison: dict[str, object], store_args: list[str], kafka_bootstrap: str, store: Storage
) -> None:
    coords, original = str(poison["coords"]), str(poison["original"])
    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "replay", coords, "--dry-run")
    assert rc == 0, err
    assert f"would send {coords} → {original}" in out
    assert "x-replayed-from=" + coords in out
    assert "nothing sent" in out
    assert read_topic(kafka_bootstrap, original) == []
    assert _ledger_lines(store) == 0
    with contextlib.closing(store.dead_letters()) as letters:
        assert letters.list_items(DlqFilter())[0].status == "pending"


def test_invalid_fix_is_refused_and_nothing_stored(
    poison: dict[str, object], store_args: list[str], kafka_bootstrap: str, store: Storage
) -> None:
    coords = str(poison["coords"])
    rc, out, err = _cli(
        store_args,
        kafka_bootstrap,
        "dlq",
        "fix",
        coords,
        "--set",
        "quantity=0",
        "--set",
        "order_id=7",
        "--contracts",
        str(poison["contracts"]),
    )
    assert rc == 2
    assert "breaks the contract" in err and "nothing stored" in err
    assert "$.quantity" in err and "$.order_id" in err
    with contextlib.closing(store.dead_letters()) as letters:
        assert len(letters.latest_fixes()) == 0
    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "show", coords, "--json")
    assert json.loads(out)["fixes"] == []


def test_fix_with_editor_then_show(
    poison: dict[str, object], store_args: list[str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    coords = str(poison["coords"])
    editor = tmp_path / "editor.py"
    editor.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text().replace('\"two\"', '3'))\n"
    )
    r = run_cli(
        "dlq",
        "fix",
        coords,
        "--contracts",
        str(poison["contracts"]),
        *store_args,
        env={"EDITOR": f"{sys.executable} {editor}"},
    )
    assert r.returncode == 0, r.stderr
    r = run_cli("dlq", "show", coords, "--contracts", str(poison["contracts"]), *store_args)
    assert r.returncode == 0, r.stderr
    assert "fix v1" in r.stdout and '"quantity": 3' in r.stdout
    assert "contract: valid" in r.stdout and "contract: invalid" in r.stdout


def test_payload_not_json_shows_as_hex(
    kafka_bootstrap: str, topic: str, store: Storage, store_args: list[str]
) -> None:
    [d] = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=f"{topic}-dlt",
        original_topic=topic,
        payloads=[b"\x00\x01\xffAvro\x02"],
    )
    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "show", d.coordinates, "--json")
    assert rc == 0, err
    shown = json.loads(out)
    assert shown["payload_kind"] == "hex"
    assert shown["payload"].startswith("00000000  00 01 ff 41 76 72 6f 02")
    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "show", d.coordinates)
    assert "00 01 ff 41 76 72 6f 02" in out and "...Avro." in out


def test_replay_without_tty_or_yes_is_refused(
    poison: dict[str, object], store_args: list[str], kafka_bootstrap: str
) -> None:
    rc, _out, err = _cli(store_args, kafka_bootstrap, "dlq", "replay", str(poison["coords"]))
    assert rc == 2
    assert "no terminal; pass --yes" in err
    assert read_topic(kafka_bootstrap, str(poison["original"])) == []


def test_discard_and_list_filters(
    poison: dict[str, object], store_args: list[str], kafka_bootstrap: str
) -> None:
    coords = str(poison["coords"])
    rc, out, err = _cli(
        store_args, kafka_bootstrap, "dlq", "list", "--error", "nothing-like-this", "--json"
    )
    assert json.loads(out) == []
    rc, out, err = _cli(
        store_args,
        kafka_bootstrap,
        "dlq",
        "list",
        "--error",
        'String "two"',
        "--since",
        "1h",
        "--json",
    )
    assert len(json.loads(out)) == 1
    rc, out, err = _cli(
        store_args, kafka_bootstrap, "dlq", "discard", coords, "--yes", "--reason", "test"
    )
    assert rc == 0, err
    rc, out, err = _cli(
        store_args, kafka_bootstrap, "dlq", "list", "--status", "discarded", "--json"
    )
    assert [i["status"] for i in json.loads(out)] == ["discarded"]
    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "replay", coords, "--yes")
    assert rc == 1 and "discarded" in err
    rc, out, err = _cli(store_args, kafka_bootstrap, "dlq", "audit", "--json")
    [entry] = json.loads(out)
    assert (entry["action"], entry["target"], entry["result"]) == ("discard", coords, "discarded")
    assert entry["detail"] == {"reason": "test"}


def test_truncated_payload_is_read_back_from_the_dlq_topic(
    kafka_bootstrap: str, topic: str, store: Storage, store_args: list[str]
) -> None:
    """The tap kept only 16 bytes; the replay sends the whole message, read at its coordinates."""
    create_topic(kafka_bootstrap, topic)
    whole = b'{"order_id":"o-7","quantity":2,"note":"' + b"x" * 500 + b'"}'
    [d] = dead_letters_on_broker(
        kafka_bootstrap,
        store,
        dlq_topic=f"{topic}-dlt",
        original_topic=topic,
        payloads=[whole],
        payload_limit=16,
    )
    assert d.payload_truncated and d.payload == whole[:16]
    rc, _out, err = _cli(store_args, kafka_bootstrap, "dlq", "replay", d.coordinates, "--yes")
    assert rc == 0, err
    [msg] = read_topic(kafka_bootstrap, topic)
    assert msg.value() == whole
    assert headers_of(msg)["x-replayed-from"] == d.coordinates.encode()


# The CLI replays in a subprocess while this process holds the lock: a chDB store is one
# process's. Two replays on one chDB store at once: tests/test_dlq_concurrent.py.
@pytest.mark.backends("sqlite")
def test_one_replay_at_a_time_per_store(
    poison: dict[str, object], store_args: list[str], kafka_bootstrap: str, store: Storage
) -> None:
    from console.dlq.replay import replay_lock

    coords, original = str(poison["coords"]), str(poison["original"])
    with replay_lock(store.dead_letters()):  # this (live) test process holds it
        rc, _out, err = _cli(store_args, kafka_bootstrap, "dlq", "replay", coords, "--yes")
        assert rc == 1 and "another replay is running on this store" in err
        assert read_topic(kafka_bootstrap, original) == []
    rc, _out, err = _cli(store_args, kafka_bootstrap, "dlq", "replay", coords, "--yes")
    assert rc == 0, err
    assert len(read_topic(kafka_bootstrap, original)) == 1
