"""The layering of docs/architecture.md, checked on the source: engine-free packages import no
GStreamer, no two modules import each other at module level, and no two folders import each
other at all (function-level imports included)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ENGINE_FREE = ("meta", "infer", "track", "osd", "analytics", "messaging", "flow", "boxes", "record", "cpus", "codec")
FORBIDDEN = ("gi", "estuary.gst", "estuary.elements", "estuary.pyds", "estuary.apps", "pyds")


def _modules(src: Path = SRC) -> dict[str, Path]:
    mods = {}
    for p in (src / "estuary").rglob("*.py"):
        name = ".".join(p.relative_to(src).with_suffix("").parts)
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


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of two or more nodes (Tarjan): the import loops."""
    index, low, stack, on, loops, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
    for v in list(graph):
        if v not in index:
            visit(v)
    return loops


def test_no_module_level_import_cycles():
    mods = _modules()
    graph = {m: {i for i in _imports(ast.parse(p.read_text()), top_level_only=True)
                 if i in mods and i != m} for m, p in mods.items()}
    loops = _cycles(graph)
    assert not loops, loops


def _folder(path: Path, src: Path = SRC) -> str:
    """A module's node in the folder graph: its folder under src/ (``estuary.gst``), or the
    module itself for a file at the top of a package (``estuary.data``, ``estuary.cli``)."""
    rel = path.relative_to(src).with_suffix("").parts
    return ".".join(rel[:2]) if len(rel) > 2 else ".".join(rel)


def folder_graph(src: Path = SRC) -> dict[str, dict[str, list[str]]]:
    """folder → folder it imports → the imports that make the edge ("module -> module"), with
    imports inside functions counted (a lazy import is still a dependency)."""
    mods = _modules(src)

    def owner(name):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, dict[str, list[str]]] = {}
    for m, p in mods.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from estuary import data`` depends on estuary.data, not on estuary/__init__
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods]
                names = subs if len(subs) == len(node.names) else [node.module, *subs]
            else:
                continue
            for name in filter(None, map(owner, names)):
                a, b = _folder(p, src), _folder(mods[name], src)
                if a != b:
                    graph.setdefault(a, {}).setdefault(b, []).append(f"{m} -> {name}")
    return graph


def test_no_import_cycles_between_folders():
    """Folders import each other in one direction only (gst imports surface, never the other
    way), counting imports inside functions too."""
    graph = folder_graph()
    loops = _cycles({a: set(bs) for a, bs in graph.items()})
    detail = [f"{a} -> {b}: {graph[a][b][:3]}" for loop in loops for a in loop for b in loop
              if b in graph.get(a, {})]
    assert not loops, f"{loops}\n" + "\n".join(detail)


def test_the_folder_check_finds_a_cycle(tmp_path):
    """The check itself: two folders that import each other (one of them lazily) are a loop."""
    (tmp_path / "estuary" / "a").mkdir(parents=True)
    (tmp_path / "estuary" / "b").mkdir()
    (tmp_path / "estuary" / "a" / "x.py").write_text("from estuary.b.y import f\n")
    (tmp_path / "estuary" / "b" / "y.py").write_text("def f():\n    from estuary.a import x\n")
    graph = folder_graph(tmp_path)
    assert _cycles({a: set(bs) for a, bs in graph.items()}) == [["estuary.a", "estuary.b"]]


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


def test_bus_loops_live_in_the_runner():
    """One place waits on a pipeline's bus: runner.run (main programs) and runner.play_until_end
    (everything else). The DeepStream sample ports keep their own GLib main loop (they are
    NVIDIA's apps, unmodified), and the fleet worker polls its bus without waiting."""
    allowed = {"estuary.runner", "estuary.fleet.backends"}
    bad = [name for name, path in _modules().items()
           if name not in allowed and not name.startswith("estuary.apps.samples.")
           and any(w in path.read_text() for w in ("timed_pop", "add_signal_watch", ".poll(Gst."))]
    assert not bad, f"hand-written bus loops (use estuary.runner.run or play_until_end): {bad}"


def test_no_python_iteration_over_gst_iterators():
    """``for e in bin.iterate_elements()`` works only where gst-python's overrides are installed
    (Debian's python3-gst-1.0); a pip-installed PyGObject (the GPU machine) has none, and there
    every pipeline with nvvideoconvert failed ("'Iterator' object is not iterable") until
    estuary/gst/fixups.py walked the bin with it.next() as estuary.gst.all_elements does."""
    bad = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            it = node.iter if isinstance(node, (ast.For, ast.comprehension)) else None
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr.startswith("iterate"):
                bad.append(f"{name}:{getattr(node, 'lineno', '?')}")
    assert not bad, f"iterate a Gst.Iterator with it.next() (estuary.gst.all_elements): {bad}"
