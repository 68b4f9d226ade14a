"""Alert rules over a real store, as an on-call engineer meets them: ``watch --once`` as a CI gate,
``for:`` holding an alert back, a restarted console not firing again, each kind of rule seeing
what the panels show, and a bad rules file refused with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from console.alerts import Alert, Evaluator, parse_rules
from console.alerts.sources import open_sources
from console.base.model import SeriesPoint, Span
from console.store import Store
from tests.conftest import run_cli
from tests.tui_data import MS, NOW, S, demo_dead_letters, demo_records


def _rules(text: str) -> list:
    return parse_rules(text, "test rules")


def test_watch_once_exits_1_while_dead_letters_wait_and_0_once_discarded(
    store: Store, db_path: Path
) -> None:
    store.write(demo_dead_letters())
    fired = run_cli("watch", "--db", str(db_path), "--once", "--json")
    assert fired.returncode == 1, fired.stderr
    (line,) = [json.loads(x) for x in fired.stdout.splitlines()]
    assert line["alert"] == "DeadLettersPending" and line["state"] == "firing"
    assert line["labels"]["dlq_topic"] == "canvasflow.orders-dlt"
    assert line["labels"]["severity"] == "warning" and line["value"] == 2
    assert line["command"] == (
        "handoff-console dlq list --topic canvasflow.orders-dlt --status pending"
    )
    assert "1 alert firing" in fired.stderr

    again = run_cli("watch", "--db", str(db_path), "--once")
    assert again.returncode == 1 and again.stdout == ""  # still firing: no second FIRING line

    done = run_cli("dlq", "discard", "--all", "--yes", "--reason", "test", "--db", str(db_path))
    assert done.returncode == 0, done.stderr
    resolved = run_cli("watch", "--db", str(db_path), "--once")
    assert resolved.returncode == 0, resolved.stderr
    assert "RESOLVED  DeadLettersPending{dlq_topic=canvasflow.orders-dlt}" in resolved.stdout
    assert "nothing firing" in resolved.stderr


def test_a_restarted_evaluator_does_not_fire_again_what_already_fired(store: Store) -> None:
    store.write(demo_dead_letters())
    rules = _rules('[[rules]]\nname = "Dlq"\nkind = "dlq_depth"\nabove = 1\n')
    with open_sources(store) as src:
        first = Evaluator(rules).step(src, NOW)
    assert [(a.name, a.state, a.value) for a in first] == [("Dlq", "firing", 2.0)]
    with open_sources(store) as src:  # a new process: only the store remembers
        assert Evaluator(rules).step(src, NOW) == []  # the same instant: not a second firing
        assert Evaluator(rules).step(src, NOW + 60 * S) == []
        (current,) = Evaluator.current(src.reader)
    assert current.state == "firing" and current.fired_ns == NOW


def test_watch_reports_the_changes_another_process_made(store: Store) -> None:
    """``watch`` beside the TUI: whichever evaluates first records the change; the follower
    reports it once, with when it fired and resolved."""
    from console.alerts.engine import ChangeFollower

    store.write(demo_dead_letters())
    rules = _rules('[[rules]]\nname = "Dlq"\nkind = "dlq_depth"\nabove = 0\n')
    with open_sources(store) as src:
        follower = ChangeFollower(src.reader)
        Evaluator(rules).step(src, NOW)  # the TUI's evaluator
        (fired,) = follower.new(src.reader)
        assert follower.new(src.reader) == []
        run_cli("dlq", "discard", "--all", "--yes", "--db", str(store.path))
        Evaluator(rules).step(src, NOW + 5 * S)
        (resolved,) = follower.new(src.reader)
    assert (fired.state, fired.fired_ns) == ("firing", NOW)
    assert (resolved.state, resolved.fired_ns, resolved.resolved_ns) == (
        "resolved",
        NOW,
        NOW + 5 * S,
    )


def test_for_holds_an_alert_pending_until_it_has_held_that_long(store: Store) -> None:
    store.write(demo_dead_letters())
    rules = _rules('[[rules]]\nname = "Dlq"\nkind = "dlq_depth"\nabove = 0\nfor = "2m"\n')
    ev = Evaluator(rules)
    with open_sources(store) as src:
        assert ev.step(src, NOW) == []
        assert [a.state for a in Evaluator.current(src.reader)] == ["pending"]
        assert ev.step(src, NOW + 119 * S) == []
        (fired,) = ev.step(src, NOW + 120 * S)
    assert fired.state == "firing" and fired.active_since_ns == NOW
    assert fired.fired_ns == NOW + 120 * S


def test_a_condition_that_stops_before_for_never_fires_nor_resolves(store: Store) -> None:
    store.write(demo_dead_letters())
    rules = _rules('[[rules]]\nname = "Dlq"\nkind = "dlq_depth"\nabove = 0\nfor = "5m"\n')
    ev = Evaluator(rules)
    with open_sources(store) as src:
        assert ev.step(src, NOW) == []
        run = run_cli("dlq", "discard", "--all", "--yes", "--db", str(store.path))
        assert run.returncode == 0, run.stderr
        assert ev.step(src, NOW + 600 * S) == []
        assert Evaluator.current(src.reader) == []


# 20 s past a 5-minute boundary: a window aligned to such boundaries would see only 20 s.
AT = NOW - NOW % (300 * S) + 20 * S


def _quiet_and_erring_spans() -> list[Span]:
    """``api`` answers 40 requests in the last 5 minutes, 6 of them errors (15 %); ``billing``
    sent its last span 20 minutes ago (before ``AT``)."""
    spans = [
        Span(
            trace_id=f"{i + 1:032x}",
            span_id=f"{i + 1:016x}",
            parent_span_id=None,
            name="GET /things",
            kind=2,
            start_ns=AT - 290 * S + i * 7 * S,
            end_ns=AT - 290 * S + i * 7 * S + 3 * MS,
            service="api",
            status_code=2 if i % 7 == 0 else 0,
        )
        for i in range(40)
    ]
    spans.append(
        Span(
            trace_id=f"{99:032x}",
            span_id=f"{99:016x}",
            parent_span_id=None,
            name="charge",
            kind=2,
            start_ns=AT - 1200 * S,
            end_ns=AT - 1200 * S + 5 * MS,
            service="billing",
        )
    )
    return spans


def test_error_rate_and_quiet_services(store: Store) -> None:
    store.write(_quiet_and_erring_spans())
    rules = _rules(
        """
[[rules]]
name = "Errors"
kind = "error_rate"
above_percent = 10
window = "5m"
min_spans = 20

[[rules]]
name = "Quiet"
kind = "service_quiet"
quiet_for = "10m"
severity = "critical"
labels = { team = "payments" }
"""
    )
    with open_sources(store) as src:
        changes = Evaluator(rules).step(src, AT)
    got = {(a.name, a.about.get("service")): a for a in changes}
    assert set(got) == {("Errors", "api"), ("Quiet", "billing")}
    assert got["Errors", "api"].value is not None and 14 < got["Errors", "api"].value < 16
    quiet = got["Quiet", "billing"]
    assert quiet.labels == {
        "alertname": "Quiet",
        "severity": "critical",
        "service": "billing",
        "team": "payments",
    }
    assert "no spans from billing for 1,200 s" in quiet.summary


def test_lag_above_and_growing_per_group_and_topic(store: Store) -> None:
    points = [
        SeriesPoint("consumer.lag_total", "orders", NOW - k * 30 * S, 1000.0 - k * 50, "billing")
        for k in range(12)  # 6 minutes of lag rising from 450 to 1,000 messages
    ]
    points += [
        SeriesPoint("consumer.lag_total", "orders", NOW - k * 30 * S, 7.0, "audit")
        for k in range(12)
    ]
    store.write(points)
    rules = _rules(
        """
[[rules]]
name = "LagHigh"
kind = "lag_above"
above = 500

[[rules]]
name = "LagGrowing"
kind = "lag_growing"
growing_for = "5m"
"""
    )
    with open_sources(store) as src:
        changes = Evaluator(rules).step(src, NOW)
    assert sorted((a.name, a.about["group"], a.about["topic"]) for a in changes) == [
        ("LagGrowing", "billing", "orders"),
        ("LagHigh", "billing", "orders"),
    ]


def test_stalled_journeys_per_topic(store: Store) -> None:
    store.write(demo_records())  # 120 uploads sent to canvasflow.uploads that nobody took
    rules = _rules(
        '[[rules]]\nname = "Stalled"\nkind = "journeys_stalled"\nlonger_than = "5m"\n'
        'per = "topic"\n'
    )
    with open_sources(store) as src:
        (alert,) = Evaluator(rules).step(src, NOW)
    assert alert.about == {"topic": "canvasflow.uploads"}
    # Sent between 10 and 5 minutes ago: the half of the 120 older than five minutes.
    assert alert.value is not None and 55 <= alert.value <= 62


def test_a_bad_rules_file_exits_2_naming_the_rule_and_key(db_path: Path, tmp_path: Path) -> None:
    Store.open(db_path)
    bad = tmp_path / "rules.toml"
    bad.write_text('[[rules]]\nname = "Lag"\nkind = "lag_above"\nabove = "lots"\n')
    run = run_cli("watch", "--db", str(db_path), "--once", "--rules", str(bad))
    assert run.returncode == 2
    assert "rules/0/above (rule 'Lag'): 'lots' is not of type 'number'" in run.stderr
    bad.write_text('[[rules]]\nname = "Lag"\nkind = "lag_abov"\nabove = 1\n')
    run = run_cli("watch", "--db", str(db_path), "--once", "--rules", str(bad))
    assert run.returncode == 2 and "'lag_abov' is not one of" in run.stderr
    run = run_cli("watch", "--db", str(tmp_path / "none.db"), "--once")
    assert run.returncode == 2 and "no handoff-console database" in run.stderr


def test_an_older_look_does_not_undo_what_another_process_changed_after_it(store: Store) -> None:
    """The TUI and ``watch`` evaluate one store; one that looked before the other resolved (or
    fired) an alert must not fire it again (or resolve it) from that older look."""
    store.write(demo_dead_letters())
    rules = _rules('[[rules]]\nname = "Dlq"\nkind = "dlq_depth"\nabove = 0\n')
    with open_sources(store) as src:
        Evaluator(rules).step(src, NOW)
        run_cli("dlq", "discard", "--all", "--yes", "--db", str(store.path))
        (resolved,) = Evaluator(rules).step(src, NOW + 10 * S)
        assert resolved.state == "resolved"
        # A slow evaluator that looked at NOW + 5 s, when the dead letters still waited:
        from console.alerts.observe import Observation

        stale = [Observation(rules[0], {"dlq_topic": "canvasflow.orders-dlt"}, 2.0, "old", "")]
        changes: list[Alert] = []
        ev = Evaluator(rules)
        src.store.change_alerts(lambda rows: ev._apply(rows, stale, NOW + 5 * S, changes))
        assert changes == []
        (current,) = Evaluator.current(src.reader)
        assert current.state == "resolved" and current.resolved_ns == NOW + 10 * S


def test_the_readme_rules_example_is_a_valid_rules_file() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    rules = parse_rules(example, "README")
    assert [(r.name, r.kind, r.for_s) for r in rules] == [
        ("PaymentsDeadLetters", "dlq_depth", 120.0),
        ("OrdersStalled", "journeys_stalled", 60.0),
    ]
