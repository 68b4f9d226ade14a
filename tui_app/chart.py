"""A metric over the window as a block chart: pure text, so it is snapshot- and unit-testable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from rich.text import Text

__all__ = ["bar_chart"]

_EIGHTHS = " ▁▂▃▄▅▆▇█"


def _label(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


def bar_chart(
    values: Sequence[float | None],
    *,
    height: int,
    since_ns: int,
    until_ns: int,
    unit: str = "",
    style: str = "cyan",
    width: int = 0,
) -> Text:
    """One column per value, ``height`` rows, scaled from 0 (or the lowest negative value) to the
    highest; the y axis names the top and the bottom with the unit, the x axis the window's ends
    (UTC). With ``width``, each value takes as many columns as fit in it."""
    real = [v for v in values if v is not None]
    if not real:
        return Text("no points in the window", style="dim")
    lo, hi = min(0.0, *real), max(real)
    span = (hi - lo) or 1.0
    suffix = f" {unit}" if unit and unit != "1" else ""
    top, bottom = _label(hi) + suffix, _label(lo) + suffix
    pad = max(len(top), len(bottom))
    each = max(1, (width - pad - 2) // len(values)) if width else 1
    t = Text()
    for row in range(height - 1, -1, -1):
        axis = top if row == height - 1 else bottom if row == 0 else ""
        t.append(f"{axis:>{pad}} │", style="dim")
        for v in values:
            if v is None:
                t.append(" " * each)
                continue
            eighths = round((v - lo) / span * height * 8)
            fill = max(0, min(8, eighths - row * 8))
            t.append(_EIGHTHS[fill] * each, style=style)
        t.append("\n")
    clock = lambda ns: datetime.fromtimestamp(ns / 1e9, UTC).strftime("%H:%M:%S")  # noqa: E731
    left, right = clock(since_ns), clock(until_ns)
    cols = len(values) * each
    gap = max(1, cols - len(left) - len(right))
    t.append(" " * pad + " └" + "─" * cols + "\n", style="dim")
    t.append(" " * (pad + 2) + left + " " * gap + right + " UTC", style="dim")
    return t
