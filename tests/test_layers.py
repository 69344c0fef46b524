"""The layering of docs/architecture.md, checked on the source: engine-free packages import no
GStreamer, and no two modules import each other at module level."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ENGINE_FREE = ("meta", "infer", "track", "osd", "analytics", "messaging", "flow", "boxes")
FORBIDDEN = ("gi", "estuary.gst", "estuary.elements", "estuary.pyds", "estuary.apps", "pyds")


def _modules() -> dict[str, Path]:
    mods = {}
    for p in (SRC / "estuary").rglob("*.py"):
        name = ".".join(p.relative_to(SRC).with_suffix("").parts)
        mods[name[: -len(".__init__")] if name.endswith(".__init__") else name] = p
    return mods


def _imports(tree, top_level_only: bool):
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{a.name}" for a in node.names)


@pytest.mark.parametrize("pkg", ENGINE_FREE)
def test_engine_free_packages_import_no_gstreamer(pkg):
    mods = _modules()
    bad = []
    for name, path in mods.items():
        if name != f"estuary.{pkg}" and not name.startswith(f"estuary.{pkg}."):
            continue
        for imp in _imports(ast.parse(path.read_text()), top_level_only=False):
            if any(imp == f or imp.startswith(f + ".") for f in FORBIDDEN):
                bad.append(f"{name} imports {imp}")
    assert not bad, "\n".join(bad)


def test_no_module_level_import_cycles():
    mods = _modules()
    graph = {m: {i for i in _imports(ast.parse(p.read_text()), top_level_only=True)
                 if i in mods and i != m} for m, p in mods.items()}
    # Tarjan's strongly connected components; a component of two or more modules is a loop
    index, low, stack, on, loops, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                loops.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in graph:
        if v not in index:
            visit(v)
    assert not loops, loops


def test_engine_free_modules_run_without_gstreamer():
    """Import the engine-free modules with ``gi`` made unimportable: they must still load (the
    package's ``__init__`` registers elements only where GStreamer exists)."""
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'gi' or name.startswith('gi.'):\n"
            "            raise ImportError('gi is blocked in this test')\n"
            "sys.meta_path.insert(0, Block())\n"
            "import estuary.meta, estuary.meta.arrays, estuary.track, estuary.boxes, estuary.osd.draw\n"
            "import estuary.infer.config, estuary.infer.parsers, estuary.infer.cluster\n"
            "import estuary.analytics, estuary.messaging.schema, estuary.flow\n"
            "assert 'gi' not in sys.modules\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
