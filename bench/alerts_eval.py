"""Alert evaluation benchmark: what one ``Evaluator.step`` with the default rules costs, per rule
kind, beside the overview refresh on the same store (the TUI runs both: the overview every
second, the alerts every 5 s, through the same reader and lock).

The store: N spans and N hops over the last 15 minutes (``bench/tui_refresh.py``'s generator:
20 services, 10 topics, every hop a send no consumer took, so every journey is a stalled
candidate: the stalled search's worst case), 1,000 pending dead letters on 5 DLQ topics and a
consumer-lag series per topic and group every 5 s.

    python bench/alerts_eval.py                       # 1,000,000 spans and hops
    python bench/alerts_eval.py --spans 100000        # quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.smoke import add_smoke, smoke_sizes  # noqa: E402
from bench.tui_refresh import TOPICS, build  # noqa: E402
from console.alerts import Evaluator, load_rules  # noqa: E402
from console.alerts.observe import observe  # noqa: E402
from console.alerts.sources import open_sources  # noqa: E402
from console.base.model import DeadLetter, SeriesPoint  # noqa: E402
from console.readers import panels  # noqa: E402
from console.store import Store  # noqa: E402

S = 1_000_000_000


def add_dead_letters_and_lag(store: Store, now: int) -> None:
    letters = [
        DeadLetter(
            dlq_topic=f"{TOPICS[i % 5]}.dlq",
            partition=0,
            offset=i,
            timestamp_ms=(now - (i % 600) * S) // 1_000_000,
            payload=b'{"bad": true}',
            payload_size=13,
            original_topic=TOPICS[i % 5],
            exception_message="poison",
            correlation_id=f"h-{i}",
            first_seen_ns=now - (i % 600) * S,
        )
        for i in range(1000)
    ]
    lag = [
        SeriesPoint("consumer.lag_total", topic, now - k * 5 * S, 100.0 + k, f"group-{g}")
        for k in range(180)
        for topic in TOPICS
        for g in range(3)
    ]
    store.write([*letters, *lag])


def timed(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]  # a callable
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spans", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
    add_smoke(ap)
    args = smoke_sizes(ap.parse_args(), spans=2_000, runs=1)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "alerts.db"
        build(db, args.spans)
        store = Store.open(db)
        now = time.time_ns()
        add_dead_letters_and_lag(store, now)
        with open_sources(store) as src:
            reader = src.reader
            rules = load_rules(None)
            aggregator = panels.ServiceAggregator()

            def overview() -> None:
                aggregator.refresh(reader, now)
                panels.topic_panels(reader, now)
                panels.health(reader, now)

            overview_ms = timed(overview, args.runs)
            evaluator = Evaluator(rules)
            step_ms = timed(lambda: evaluator.step(src, now), args.runs)
            print(f"store: {args.spans:,} spans, {args.spans:,} hops, 1,000 dead letters")
            print(f"{'what':<34}{'p50 ms':>10}{'max ms':>10}")
            print(f"{'overview refresh (the peer)':<34}{statistics.median(overview_ms):>10.1f}"
                  f"{max(overview_ms):>10.1f}")  # fmt: skip
            print(f"{'Evaluator.step, default rules':<34}{statistics.median(step_ms):>10.1f}"
                  f"{max(step_ms):>10.1f}")  # fmt: skip
            for rule in rules:
                ms = timed(lambda r=rule: observe(src, [r], now), args.runs)
                print(f"  {rule.kind:<32}{statistics.median(ms):>10.1f}{max(ms):>10.1f}")
            ratio = statistics.median(step_ms) / statistics.median(overview_ms)
            print(
                f"step / overview refresh: {ratio:.2f}"
                " (the TUI: alerts every 5 s, overview every 1 s)"
            )


if __name__ == "__main__":
    main()
