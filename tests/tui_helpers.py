"""Helpers for driving the app in tests: wait for a condition, read the screen as text."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot


async def wait_for(pilot: Pilot, cond: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the app run until ``cond()`` is true (workers post from threads)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time:\n" + screen_text(pilot.app))
        await pilot.pause(0.05)
    await asyncio.sleep(0)


def screen_text(app: App[Any]) -> str:
    """What the terminal shows, as plain text lines."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
