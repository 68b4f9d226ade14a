"""Histogram arithmetic: points merged into one distribution, and quantile estimates from it.

A quantile is estimated inside the bucket that holds its rank, as Prometheus'
``histogram_quantile`` does: linearly for explicit bounds, geometrically for exponential buckets
(whose bucket ``k`` at ``scale`` is exactly ``(base**k, base**(k+1)]``, ``base = 2**2**-scale``).
Two things keep the estimate honest where ``histogram_quantile`` is not:

- Each point's optional ``min`` and ``max`` (OTLP carries them) narrow the first and last
  populated buckets, including the unbounded ones, so an estimate never leaves ``[min, max]``.
- An estimate whose bucket holds every observation has nothing to interpolate with: the value
  could be anywhere in it. It is reported as a bound (``≤ 5 s``: ``Estimate.bound == "le"``), and
  one in the overflow bucket of an explicit histogram without a ``max`` as ``> 10 s`` (``"gt"``).

``Estimate.low``/``Estimate.high`` are the interval the true quantile lies in (its bucket, narrowed
by ``min``/``max``), so an estimate is always within one bucket of the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Distribution", "Estimate", "Point", "rescale"]

Bound = Literal["le", "gt"]
_INF = float("inf")


@dataclass(frozen=True, slots=True)
class Point:
    """One stored metric point, as the readers need it (gauges and sums use ``value`` only)."""

    time_ns: int
    start_ns: int
    value: float | None
    count: int | None
    sum: float | None
    bounds: tuple[float, ...] | None
    buckets: tuple[int, ...]
    scale: int | None
    zero: int
    pos_offset: int
    pos: tuple[int, ...]
    neg_offset: int
    neg: tuple[int, ...]
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    """A quantile: ``value`` to show, and the interval ``[low, high]`` the truth lies in.

    ``bound`` is None for an interpolated estimate, ``"le"`` when only ``value`` as an upper bound
    is known (every observation in one bucket), ``"gt"`` when the quantile is past the last
    explicit bound and no ``max`` was sent (``value`` is that bound)."""

    value: float
    low: float
    high: float
    bound: Bound | None = None

    @property
    def prefix(self) -> str:
        """``"≤ "``, ``"> "`` or nothing: what goes before the number when it is shown."""
        return {"le": "≤ ", "gt": "> "}.get(self.bound or "", "")

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "low": None if self.low == -_INF else self.low,
            "high": None if self.high == _INF else self.high,
            "bound": self.bound,
        }


def rescale(buckets: dict[int, int], shift: int) -> dict[int, int]:
    """Exponential buckets ``shift`` scales coarser (bucket ``k`` becomes ``k >> shift``)."""
    out: dict[int, int] = {}
    for k, c in buckets.items():
        out[k >> shift] = out.get(k >> shift, 0) + c
    return out


class Distribution:
    """A histogram's observations merged over points: explicit buckets or exponential ones, with
    the smallest ``min`` and largest ``max`` of the points added (unknown once a point with
    observations lacks one)."""

    def __init__(self) -> None:
        self.count = 0
        self.sum = 0.0
        self.bounds: tuple[float, ...] | None = None
        self.buckets: list[int] = []
        self.scale: int | None = None
        self.zero = 0
        self.pos: dict[int, int] = {}
        self.neg: dict[int, int] = {}
        self.min: float | None = None
        self.max: float | None = None
        self._extremes_known = True

    def add(self, p: Point, sign: int = 1) -> None:
        """Add ``p`` (``sign=-1`` takes away a cumulative series' earlier point: its counts go,
        its ``min``/``max`` say nothing about what is left and are ignored)."""
        self.count += sign * (p.count or 0)
        self.sum += sign * (p.sum or 0.0)
        if sign > 0 and (p.count or 0) > 0:
            self._extremes(p.min, p.max)
        if p.scale is not None:
            self._add_exponential(p, sign)
        elif p.bounds is not None:
            if self.bounds is None or self.bounds != p.bounds:
                if self.bounds is not None and sign > 0 and any(self.buckets):
                    return  # bounds changed mid-window: keep the first layout's buckets
                self.bounds, self.buckets = p.bounds, [0] * len(p.buckets)
            for i, c in enumerate(p.buckets[: len(self.buckets)]):
                self.buckets[i] += sign * c

    def _extremes(self, lo: float | None, hi: float | None) -> None:
        if lo is None or hi is None:
            self._extremes_known = False
            self.min = self.max = None
        elif self._extremes_known:
            self.min = lo if self.min is None else min(self.min, lo)
            self.max = hi if self.max is None else max(self.max, hi)

    def _add_exponential(self, p: Point, sign: int) -> None:
        scale = p.scale
        assert scale is not None
        if self.scale is None:
            self.scale = scale
        elif scale < self.scale:  # coarsen what we hold to the point's scale
            shift = self.scale - scale
            self.pos = rescale(self.pos, shift)
            self.neg = rescale(self.neg, shift)
            self.scale = scale
        shift = scale - self.scale
        self.zero += sign * p.zero
        for target, offset, counts in (
            (self.pos, p.pos_offset, p.pos),
            (self.neg, p.neg_offset, p.neg),
        ):
            for i, c in enumerate(counts):
                if c:
                    k = (offset + i) >> shift
                    target[k] = target.get(k, 0) + sign * c

    def _ordered(self) -> list[tuple[float, float, int]]:
        """Populated buckets as ``(low, high, count)`` from the smallest values up."""
        out: list[tuple[float, float, int]] = []
        if self.scale is not None:
            base = 2.0 ** (2.0**-self.scale)
            out.extend(
                (-(base ** (k + 1)), -(base**k), self.neg[k])
                for k in sorted(self.neg, reverse=True)
            )
            out.append((0.0, 0.0, self.zero))
            out.extend((base**k, base ** (k + 1), self.pos[k]) for k in sorted(self.pos))
        elif self.bounds is not None:
            b = self.bounds
            for i, c in enumerate(self.buckets):
                # The first bucket is (-inf, b0]: durations and sizes start at 0, as Prometheus
                # assumes; the overflow bucket is (b_last, +inf).
                low = b[i - 1] if i > 0 else (min(0.0, b[0]) if b else -_INF)
                high = b[i] if i < len(b) else _INF
                out.append((low, high, c))
        return [o for o in out if o[2] > 0]

    def quantile(self, q: float) -> Estimate | None:
        """The ``q`` quantile (0 < q ≤ 1), or None without observations."""
        if self.count <= 0:
            return None
        buckets = self._ordered()
        total = sum(c for _, _, c in buckets)
        if total <= 0:
            return None
        rank, seen, i = q * total, 0, 0
        while i < len(buckets) - 1 and seen + buckets[i][2] < rank:
            seen += buckets[i][2]
            i += 1
        low, high, c = buckets[i]
        return self._estimate(low, high, min(1.0, (rank - seen) / c), alone=len(buckets) == 1)

    def _estimate(self, low: float, high: float, f: float, *, alone: bool) -> Estimate | None:
        """The estimate at fraction ``f`` of the bucket ``(low, high]``, narrowed by min/max."""
        if self.min is not None and self.max is not None:
            low, high = max(low, self.min), min(high, self.max)
            if low > high:  # min/max and buckets disagree (a cumulative series): trust min/max
                low = high = min(max(low, self.min), self.max)
        if low == high:
            return Estimate(low, low, high)
        if low == -_INF and high == _INF:  # one bucket for everything, no min/max: nothing known
            return None
        if low == -_INF:  # below the first bound and no min: only an upper bound is known
            return Estimate(high, low, high, "le")
        if high == _INF:  # past the last bound and no max: only a lower bound is known
            return Estimate(low, low, high, "gt")
        if alone:  # the bucket holds every observation: anywhere in it
            return Estimate(high, low, high, "le")
        if self.scale is not None and low > 0:
            value = low * (high / low) ** f
        elif self.scale is not None and high < 0:
            value = -((-high) * (low / high) ** (1 - f))
        else:
            value = low + (high - low) * f
        return Estimate(min(max(value, low), high), low, high)
