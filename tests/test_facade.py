"""The plain model and the pyds facade on top of it.

``estuary.meta`` is plain Python (str text, list children, no ctypes, no address registry);
``import pyds`` installs DeepStream's C shapes on the same classes. The first tests run in a
fresh interpreter, so that no earlier ``import pyds`` has installed the facade.
"""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _fresh(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=120, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_meta_imports_no_ctypes_and_keeps_no_addresses():
    bad = []
    for path in sorted((SRC / "estuary" / "meta").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            bad += [f"{path.name}: {n}" for n in names
                    if n == "ctypes" or n.startswith("estuary.pyds") or n.endswith("cmem")]
    assert not bad, bad


def test_plain_model_without_pyds():
    out = _fresh("""
        import sys
        from estuary.meta.core import NvDsBatchMeta
        b = NvDsBatchMeta(1)
        f = b.acquire_frame(); b.add_frame(f)
        o = b.acquire_object(); f.add_object(o)
        o.text_params.display_text_str = "car 7"
        o.text_params.font_params.font_name_str = "Sans"
        assert o.text_params.display_text_str == "car 7"
        assert b.frames == [f] and f.objects == [o] and o.classifiers == []
        assert not hasattr(o.text_params, "display_text")   # the C face is pyds's
        assert not hasattr(f, "obj_meta_list")
        try:
            o.text_params.display_text_str = 5
        except TypeError:
            pass
        else:
            raise AssertionError("a text field took an int")
        assert "estuary.pyds" not in sys.modules and "estuary.pyds.cmem" not in sys.modules
        print("ok")
    """)
    assert out.strip() == "ok"


def test_pyds_shows_the_same_objects_with_c_shapes():
    out = _fresh("""
        import pyds
        from estuary.meta.core import NvDsBatchMeta
        b = NvDsBatchMeta(1)
        f = b.acquire_frame(); b.add_frame(f)
        o = b.acquire_object(); f.add_object(o)
        o.text_params.display_text_str = "car 7"           # written by an element
        addr = o.text_params.display_text                   # read by an app
        assert isinstance(addr, int) and addr and pyds.get_string(addr) == "car 7"
        assert o.text_params.display_text == addr           # stable while the text is unchanged
        o.text_params.display_text = "bus 3"                # written by an app
        assert o.text_params.display_text_str == "bus 3"    # read by an element
        try:
            pyds.get_string(addr)                           # display_text frees the old string
        except Exception as e:
            assert type(e).__name__ == "InvalidAddressError"
        else:
            raise AssertionError("the replaced display_text is still readable")
        node = f.obj_meta_list
        assert pyds.NvDsObjectMeta.cast(node.data) is o and node.next is None
        assert pyds.NvDsObjectMeta.cast(pyds.get_ptr(o)) is o
        print("ok")
    """)
    assert out.strip() == "ok"


def test_release_frees_the_c_strings_pyds_made():
    import pyds
    from estuary.pyds import cmem

    before = cmem.live_buffers()
    batch = pyds.NvDsBatchMeta(1)
    frame = batch.acquire_frame()
    batch.add_frame(frame)
    addrs = []
    for i in range(50):
        o = batch.acquire_object()
        frame.add_object(o)
        o.text_params.display_text_str = f"obj {i}"
        addrs.append(o.text_params.display_text)
    assert cmem.live_buffers() - before == 50
    batch.release()
    assert cmem.live_buffers() - before == 0
    with pytest.raises(Exception, match="no live C string"):
        pyds.get_string(addrs[0])


def test_a_struct_that_dies_frees_its_c_strings():
    import pyds
    from estuary.pyds import cmem

    before = cmem.live_buffers()
    tps = [pyds.NvOSD_TextParams() for _ in range(20)]
    for i, t in enumerate(tps):
        t.display_text = f"t{i}"
        assert pyds.get_string(t.display_text) == f"t{i}"
    assert cmem.live_buffers() - before == 20
    del tps, t
    gc.collect()
    assert cmem.live_buffers() - before == 0


def test_plain_writes_cost_no_c_memory():
    import pyds
    from estuary.pyds import cmem

    before = cmem.live_buffers()
    batch = pyds.NvDsBatchMeta(1)
    frame = batch.acquire_frame()
    batch.add_frame(frame)
    for i in range(200):  # what the elements do on the streaming path
        o = batch.acquire_object()
        o.text_params.display_text_str = f"car {i}"
        o.text_params.font_params.font_name_str = "Serif"
        frame.add_object(o)
    assert cmem.live_buffers() == before
    batch.release()


def test_a_struct_class_defined_after_import_pyds_gets_the_c_shapes():
    import pyds
    from estuary.meta.struct import Items, Pointer, Struct, Text

    class Late(Struct):
        note = Text()
        target = Pointer()
        part_list = Items("parts")

    s = Late()
    s.note = "late"
    assert s.note_str == "late" and pyds.get_string(s.note) == "late"
    other = Late()
    s.target = pyds.get_ptr(other)  # an int address, as DeepStream apps may assign
    assert s.target is other
    s.parts.append(other)
    assert Late.cast(pyds.get_ptr(s)).part_list.data is other
