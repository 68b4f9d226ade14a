"""The peers section of bench/README.md, rendered from one ``bench/peers.py`` run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"
SECTION = "## Beside the peers: Jaeger v2 and kcat (`bench/peers.py`)"
NAMES = {
    "serve": "handoff-console `serve`",
    "jaeger-badger": "Jaeger v2, Badger storage",
    "jaeger-memory": "Jaeger v2, memory storage",
}


def _n(v: Any, unit: str = "") -> str:
    if v is None:
        return "-"
    return f"{v:,.0f}{unit}" if isinstance(v, int | float) else str(v)


def _ratio(a: Any, b: Any) -> float | None:
    return a / b if isinstance(a, int | float) and isinstance(b, int | float) and b else None


def _goal(value: float | None, ok: bool, text: str) -> str:
    if value is None:
        return f"- {text}: not measured"
    return f"- {text}: **{value:.2f}**, {'met' if ok else 'not met'}"


def ingest_table(ing: dict[str, Any]) -> list[str]:
    out = [
        "| server | spans/s answered OK | spans/s stored | CPU share | stored spans per "
        "CPU-second | OK spans per CPU-second | RSS max | bytes per span on disk | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, name in NAMES.items():
        r = ing.get(key)
        if r is None:
            continue
        if "error" in r:
            out.append(f"| {name} | could not run: {r['error'][:200]} |||||||")
            continue
        disk = "(none)" if key == "jaeger-memory" else _n(r["bytes_per_span"])
        out.append(
            f"| {name} | {_n(r['ok_spans_per_s'])} | {_n(r['stored_spans_per_s'])} | "
            f"{r['cpu_share']:.2f} | {_n(r['stored_spans_per_cpu_s'])} | "
            f"{_n(r['ok_spans_per_cpu_s'])} | {_n(r['rss_max_mb'], ' MB')} | {disk} | "
            f"{r['load_before']} -> {r['load_after']} |"
        )
    return out


def ingest_goals(ing: dict[str, Any]) -> list[str]:
    ours, badger, memory = (ing.get(k) or {} for k in NAMES)
    per_core = _ratio(ours.get("stored_spans_per_cpu_s"), badger.get("stored_spans_per_cpu_s"))
    disk = _ratio(ours.get("bytes_per_span"), badger.get("bytes_per_span"))
    mem = _ratio(ours.get("stored_spans_per_cpu_s"), memory.get("ok_spans_per_cpu_s"))
    wall = _ratio(ours.get("stored_spans_per_s"), badger.get("stored_spans_per_s"))
    lines = [
        _goal(
            per_core,
            per_core is not None and per_core >= 5,
            "stored spans per CPU-second, ours / Jaeger-Badger's (goal >= 5)",
        ),
        _goal(
            disk,
            disk is not None and disk <= 0.2,
            "bytes per span on disk, ours / Jaeger-Badger's (goal <= 0.2)",
        ),
        _goal(
            mem,
            mem is not None and mem >= 0.5,
            "our stored spans per CPU-second / Jaeger-memory's accepted (goal >= 0.5)",
        ),
    ]
    if wall is not None:
        lines.append(f"- wall clock, stored spans/s ours / Jaeger-Badger's: {wall:.2f}")
    return lines


def lookup_table(lk: dict[str, Any]) -> list[str]:
    ours = lk.get("serve") or {}
    out = [
        "| lookup | handoff-console p50 / p99 | Jaeger-Badger p50 / p99 | Jaeger-memory p50 / "
        "p99 | ours / Badger (p50) |",
        "|---|---:|---:|---:|---:|",
    ]
    rows = (
        ("trace by id, library call / one HTTP client", "library trace id", "api trace id"),
        (
            "traces by correlation id (tag), library / HTTP",
            "library correlation id",
            "api correlation id (tag)",
        ),
        ("trace by id, a process each (`trace` / `curl`)", "process trace id", "process trace id"),
        (
            "by correlation id, a process each",
            "process correlation id",
            "process correlation id (tag)",
        ),
    )
    for label, our_key, their_key in rows:
        cells = []
        for key, k in (
            ("serve", our_key),
            ("jaeger-badger", their_key),
            ("jaeger-memory", their_key),
        ):
            r = (lk.get(key) or {}).get(k)
            if r is None:
                cells.append("-")
                continue
            miss = r["n"] - r.get("found", r["n"] - r.get("failed", 0))
            note = f" ({miss} of {r['n']} not found)" if miss else ""
            cells.append(f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} ms{note}")
        mine = (ours.get(our_key) or {}).get("p50_ms")
        theirs = ((lk.get("jaeger-badger") or {}).get(their_key) or {}).get("p50_ms")
        ratio = _ratio(mine, theirs)
        out.append(
            f"| {label} | {' | '.join(cells)} | {_n(ratio) if ratio is None else f'{ratio:.2f}'} |"
        )
    for key, name in NAMES.items():
        r = lk.get(key) or {}
        if "error" in r:
            out.append(f"| {name}: could not run: {r['error'][:200]} |||||")
    out.append("")
    for label, our_key, their_key in rows:
        mine = (ours.get(our_key) or {}).get("p50_ms")
        theirs = ((lk.get("jaeger-badger") or {}).get(their_key) or {}).get("p50_ms")
        ratio = _ratio(mine, theirs)
        text = f"{label}: p50 ours / Jaeger-Badger's query API (goal <= 2)"
        out.append(_goal(ratio, ratio is not None and ratio <= 2, text))
    return out


def kafka_tables(kf: dict[str, Any]) -> list[str]:
    c, p = kf.get("consume") or {}, kf.get("produce") or {}
    out: list[str] = []
    if "bare" in c:
        kcat = c.get("kcat")
        out += [
            f"Consume {c['messages']:,} messages of ~300 bytes, 3 headers, {c['partitions']} "
            f"partitions (load average {c['load_before']} -> {c['load_after']}):",
            "",
            "| consumer, pinned to one core | msg/s | tap / this |",
            "|---|---:|---:|",
            f"| tap -> store (committed hops) | {_n(c['tap_store'])} | 1.00 |",
            f"| bare confluent-kafka loop (Python) | {_n(c['bare'])} | "
            f"{c['tap_store'] / c['bare']:.2f} |",
        ]
        if kcat:
            out.append(
                f"| `kcat -C -e -o beginning` > /dev/null, whole process | {_n(kcat)} | "
                f"{c['tap_store'] / kcat:.2f} |"
            )
        out.append("")
    if "replay" in p:
        out += [
            f"Produce {p['n']:,} dead letters (~300-byte JSON; load average {p['load_before']} -> "
            f"{p['load_after']}):",
            "",
            "| producer, pinned to one core, idempotent, acks=all | msg/s | replay / this |",
            "|---|---:|---:|",
            f"| replay (select, plan, ledger, produce, acks recorded) | {_n(p['replay'])} | 1.00 |",
            f"| ... its send + ledger part alone | {_n(p['replay_send'])} | |",
            f"| bare confluent-kafka producer, same headers | {_n(p['bare'])} | "
            f"{p['replay'] / p['bare']:.2f} |",
            f"| bare producer, payload + key | {_n(p['bare_plain'])} | "
            f"{p['replay'] / p['bare_plain']:.2f} |",
        ]
        if p.get("kcat"):
            out.append(
                f"| `kcat -P`, payload + key, whole process | {_n(p['kcat'])} | "
                f"{p['replay'] / p['kcat']:.2f} |"
            )
        out.append("")
    return out


NOTES = """The first run builds Jaeger v2 with `go` (about 4 minutes on two idle cores, 13 minutes
here at a load average of 5-15) into ~/.cache/handoff-console/peers; later runs reuse it.
`--quick` runs a 10 s ingest window, lookups at 100,000 spans, 200,000 tap messages and 5,000
replays. The spans are `bench/spans.RequestFactory(correlations=True, varied=True)`: 100 per
request in 10 traces, 15 attributes, each trace its own correlation id, span ids, keys and
times drawn at random for 64 templates used in turn.

How to read these tables:

- *Stored* is what each server says it stored: for handoff-console the spans in the store
  (`Store.counts()`), for Jaeger its own `otelcol_exporter_sent_spans` counter (spans the
  storage exporter wrote without error). `serve` answers OK once a request is queued for the
  store (up to `--max-queued` records, 200,000 by default), so over a short window its
  "answered OK" runs ahead of "stored" while that queue fills; the stored figure is the one
  to compare.
- *Per CPU-second* divides by the CPU the server process used (user + system, all threads) in
  the window: when the Python load generator on the other core cannot keep a fast server busy
  (CPU share well below 1.0, as with Jaeger-memory), this is the figure that says what one core
  would do. On a machine this loaded, other jobs share the server's core too, and the kernel
  shares a core per runnable thread: Jaeger (Go, one P on its one core) then gets a smaller
  share of core 0 than `serve` with its gRPC, writer and Python threads, so at a high load
  average the wall-clock columns favour `serve` and only the per-CPU-second ones compare.
- *Bytes per span on disk*: blocks allocated under the server's data directory (SQLite file,
  WAL and shm; Badger's key and value directories) after a clean stop, over the spans stored in
  the run.
- Lookups: the library call is `console.journeys.journey()` over one store reader, in a
  process pinned to core 0 (the core the store's server had); Jaeger's is its HTTP query API
  from one reused client on core 1, the server on core 0. A `trace` process is a whole Python
  interpreter start (imports included), a `curl` process is a C binary: the process rows
  measure start-up more than lookup. handoff-console's store is read after `serve` stopped;
  Jaeger answers while running (idle).
- kcat is timed as a whole process (start, metadata, reads, and `-e` waiting to see the end of
  every partition), so its rate is a lower bound; the tap and the bare loop are timed from their
  first message. (An empty-topic run of kcat took longer than reading 300,000 messages, so it
  is no measure of that fixed cost and is not subtracted.) The broker (Java) is not pinned and
  shares both cores.
"""


def _sizes(run: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    return dict((part.get("ran") or {}).get("sizes") or run["sizes"])


def _ran(part: dict[str, Any]) -> list[str]:
    ran = part.get("ran")
    if not ran:
        return []
    return [f"Ran {ran['at']}: `python bench/peers.py {' '.join(ran['argv'])}`.", ""]


def render(run: dict[str, Any]) -> str:
    s = run["sizes"]
    lines = [SECTION, ""]
    lines.append(
        f"Run {run['started']}, `python bench/peers.py {' '.join(run['argv'])}`, "
        f"{run['cpus']} cores shared with other engineers' work (load average {run['load_start']}"
        f" at the start, {run['load_end']} at the end; per-row figures below): wall-clock rates "
        "are noisy, the per-CPU-second figures steadier. Each server pinned to core 0 with "
        "`taskset -c 0`, the load generator (`bench/otlp_load.Load`, Python gRPC, 100-span "
        f"requests, 15 attributes, {s['inflight']} in flight) on core 1."
    )
    lines.append("")
    for name, info in run["peers"].items():
        if "error" in info and info["error"].startswith("skipped"):
            lines.append(f"- {name}: {info['error']}")
        elif "error" in info:
            lines.append(f"- {name}: **could not be built**: `{info['error'][:500]}`")
        else:
            extra = f" {info['version']}" if info.get("version") else ""
            lines.append(f"- {name}: `{info['path']}`{extra}")
    lines += ["", NOTES]
    ing = run.get("ingest")
    if ing:
        s = _sizes(run, ing)
        lines += [f"### OTLP ingest ({s['seconds']:.0f} s window after {s['warmup']:.0f} s)", ""]
        lines += _ran(ing)
        if "error" in ing:
            lines.append(f"Failed: `{ing['error']}`")
        else:
            lines += [*ingest_table(ing), "", *ingest_goals(ing)]
        lines.append("")
    lk = run.get("lookups")
    if lk:
        s = _sizes(run, lk)
        lines += [
            f"### Lookups at {s['lookup_spans']:,} spans ({s['lookups']} ids per kind, "
            f"{s['processes']} processes)",
            "",
        ]
        lines += _ran(lk)
        lines += lookup_table(lk) if "error" not in lk else [f"Failed: `{lk['error']}`"]
        lines.append("")
    kf = run.get("kafka")
    if kf:
        lines += ["### Kafka", "", *_ran(kf)]
        lines += kafka_tables(kf) if "error" not in kf else [f"Failed: `{kf['error']}`", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_readme(run: dict[str, Any]) -> None:
    text = render(run)
    old = README.read_text()
    pattern = re.compile(re.escape(SECTION) + r".*?(?=\n## |\Z)", re.S)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else old.rstrip() + "\n\n" + text
    README.write_text(new)
