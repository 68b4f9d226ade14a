"""Small pure helpers that turn numbers into cells: sparklines, durations, rates, ages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

__all__ = ["age", "fit_widths", "held", "middle", "ms", "pct", "rate", "sparkline"]

_BLOCKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 12) -> str:
    """``values`` as block characters scaled to their maximum, averaged down to ``width``."""
    vals = list(values)
    if len(vals) > width:
        step = len(vals) / width
        vals = [
            sum(chunk) / len(chunk)
            for i in range(width)
            if (chunk := vals[int(i * step) : max(int(i * step) + 1, int((i + 1) * step))])
        ]
    if not vals:
        return " " * width
    top = max(vals)
    if top <= 0:
        return ("▁" * len(vals)).rjust(width)
    top_i = len(_BLOCKS) - 1
    chars = [_BLOCKS[max(1 if v > 0 else 0, min(top_i, round(v / top * top_i)))] for v in vals]
    return "".join(chars).rjust(width)


def middle(text: str, width: int) -> str:
    """``text`` in ``width`` cells, shortened in the middle where it must, keeping more of the
    distinguishing end (``canvasflow-…-processor``)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    tail = (width - 1) * 3 // 5
    head = width - 1 - tail
    return text[:head] + "…" + text[len(text) - tail :]


def fit_widths(
    natural: Sequence[int],
    minimum: Sequence[int],
    available: int,
    order: Sequence[int] = (),
) -> list[int]:
    """Column widths: each its natural (content) width when they all fit in ``available``
    cells; else the columns named in ``order`` give way first, in that order, down to their
    ``minimum``; then the widest."""
    widths = list(natural)
    for i in order:
        excess = sum(widths) - available
        if excess <= 0:
            return widths
        widths[i] = max(minimum[i], widths[i] - excess)
    while sum(widths) > available:
        shrinkable = [i for i, w in enumerate(widths) if w > minimum[i]]
        if not shrinkable:
            break
        i = max(shrinkable, key=lambda i: widths[i])
        widths[i] -= 1
    return widths


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.0f}s"
    if value >= 1000:
        return f"{value / 1000:.1f}s"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}"


def rate(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if value >= 10:
        return f"{value:.0f}"
    return f"{value:.1f}"


def pct(value: float) -> str:
    return "0%" if value <= 0 else (f"{value * 100:.1f}%" if value < 0.1 else f"{value * 100:.0f}%")


def age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 60:
        return f"{seconds:.0f}s ago"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.0f}h ago"


def held(window: str, holds: str, last_ns: int | None, nothing: str = "Nothing") -> str:
    """What an empty window says (markup): what the store does hold, and that ``w`` widens it."""
    last = datetime.fromtimestamp(last_ns / 1e9).strftime("%H:%M") if last_ns else "?"
    return (
        f"[b]{nothing} in the last {window}.[/b] The store holds {holds}, the last at {last}; "
        "[b]w[/b] widens the window."
    )
