"""End-to-end tests run real brokers, demos and floods for minutes: each gets 15 minutes before
pytest-timeout calls it hung (the suite-wide limit of 5 minutes is for everything else)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in item.keywords and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(900))
