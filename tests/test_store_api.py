"""The store seam: ``open_store`` picks the backend for a ``--db`` value, and what comes back is
used only through the interface (``console/store/api.py``): write, count, read, follow."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

import pytest

from console.base.errors import InputError
from console.base.model import LogRecord, Span
from console.readers.logs import new_logs, recent_logs
from console.store import STORE_FAILURES, Cursor, Storage, open_store, reading
from console.store.api import AlertChanges, AlertRow

NOW = 1_700_000_000_000_000_000


def _span(i: int) -> Span:
    return Span(f"{i:032x}", f"{i:016x}", "GET /x", NOW, NOW + 1_000_000, "upload", kind=2)


def test_a_path_and_a_sqlite_url_open_the_same_store(db_path: Path) -> None:
    open_store(db_path).write([_span(1), _span(2)])
    again = open_store(f"sqlite://{db_path}", create=False, upgrade=False)
    counts = again.counts()
    assert counts["spans"] == 2
    assert counts["services"] == ["upload"]


def test_an_unknown_backend_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # taken for a relative path, it would be created here
    with pytest.raises(InputError, match=r"no store backend for cassandra://") as exc:
        open_store("cassandra://localhost:9042/otel")
    assert "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []  # not taken for a file path: nothing created


@pytest.mark.backends("sqlite", "chdb", "chdb-json")
def test_a_follower_carries_on_from_its_cursor_through_the_interface(store: Storage) -> None:
    store.write([LogRecord(time_ns=NOW + i, service="s", body=f"old {i}") for i in range(3)])
    reader = store.reader()
    try:
        got, cursor = recent_logs(reader, 0)
        assert [r.body for r in got] == ["old 0", "old 1", "old 2"]
        assert new_logs(reader, cursor) == ([], cursor)  # caught up: the same cursor back
        store.write(
            [LogRecord(time_ns=NOW + 10 + i, service="s", body=f"new {i}") for i in range(2)]
        )
        seen, after = new_logs(reader, cursor)
        assert [r.body for r in seen] == ["new 0", "new 1"]
        assert after > cursor
        assert new_logs(reader, after) == ([], after)
    finally:
        reader.close()


def _alert(state: str) -> AlertRow:
    return AlertRow("Dlq", '{"alertname": "Dlq"}', state, NOW, NOW, None, 2.0, "2 waiting", "{}")


@pytest.mark.backends("sqlite", "chdb")
def test_an_alert_change_and_its_event_are_stored_together_or_not_at_all(store: Storage) -> None:
    """``Storage.change_alerts`` is one transaction: when the event cannot be stored, the new
    state is not kept either, so ``watch`` and the TUI never see a resolution with no event."""
    firing = _alert("firing")
    store.change_alerts(lambda rows: AlertChanges([firing], (), [(firing, NOW)]))
    with reading(store) as reader:
        (event,) = reader.alert_events_after(Cursor(0))
        assert [r.state for r in reader.alert_states()] == ["firing"]
        assert (event.state, event.time_ns) == ("firing", NOW)
        assert event.event_id is not None and reader.last_alert_event() == event.event_id
        assert reader.alert_events_after(event.event_id) == []
    resolved = dataclasses.replace(firing, state="resolved", resolved_ns=NOW + 1)
    # An event the store refuses (its summary is NOT NULL), after the state was written:
    unstorable = dataclasses.replace(resolved, summary=cast(str, None))
    with pytest.raises(STORE_FAILURES):
        store.change_alerts(lambda rows: AlertChanges([resolved], (), [(unstorable, NOW + 1)]))
    with reading(store) as reader:
        assert [r.state for r in reader.alert_states()] == ["firing"]  # the state rolled back
        assert [e.state for e in reader.alert_events(NOW - 1)] == ["firing"]
    store.change_alerts(lambda rows: AlertChanges([resolved], (), [(resolved, NOW + 1)]))
    with reading(store) as reader:
        assert [r.state for r in reader.alert_states()] == ["resolved"]
        assert [e.state for e in reader.alert_events(NOW - 1)] == ["resolved", "firing"]
