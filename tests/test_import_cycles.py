"""No import cycle in console/, collectors/ or tui_app/, however the imports are hidden.

The graph is grimp's (import-linter's own): every ``import`` in a module, at module level, inside
a function or under ``TYPE_CHECKING`` alike, since a function-level import only hides a cycle.
A cycle is a strongly connected component of that graph. The one allowed: the Textual app and its
screens (the app pushes its screens; a screen asks the app for the others).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Set
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("console", "collectors", "tui_app")


def _is_app_and_screens(component: Set[str]) -> bool:
    return "tui_app.app" in component and all(
        m == "tui_app.app" or m.startswith("tui_app.screens.") for m in component
    )


def cycles(edges: Mapping[str, Set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def _import_graph() -> dict[str, set[str]]:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def test_cycles_finds_a_cycle_behind_a_function_level_import(tmp_path: Path) -> None:
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "types.py").write_text(
        "class Journey:\n    def to_json(self):\n        from cyclepkg.export import j\n"
    )
    (pkg / "export.py").write_text("from cyclepkg.derive import d\n")
    (pkg / "derive.py").write_text("from cyclepkg.types import Journey\n")
    (pkg / "alone.py").write_text("from cyclepkg.types import Journey\n")
    code = (
        "import grimp, json, sys\n"
        "g = grimp.build_graph('cyclepkg', cache_dir=None)\n"
        "print(json.dumps({m: sorted(g.find_modules_directly_imported_by(m)) for m in g.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout
    edges = {m: set(v) for m, v in json.loads(out).items()}
    assert cycles(edges) == [frozenset({"cyclepkg.types", "cyclepkg.export", "cyclepkg.derive"})]


def test_no_import_cycle_but_the_textual_app_and_its_screens() -> None:
    new = [sorted(c) for c in cycles(_import_graph()) if not _is_app_and_screens(c)]
    assert new == [], (
        "import cycles (move the shared piece down a room; a function-level import only hides "
        f"one): {new}"
    )
