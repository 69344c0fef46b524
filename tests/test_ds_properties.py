"""Every property of DeepStream 7.1's elements exists on our aliases with DeepStream's name, GType
and default, generated from one table (estuary/gst/dsprops.py), checked element by element."""

import pytest

import pyds  # noqa: F401 - registers the DeepStream names
from estuary.gst import GObject, Gst, dsprops

GTYPE = {"bool": "gboolean", "string": "gchararray", "int": "gint", "uint": "guint", "int64": "gint64",
         "uint64": "guint64", "pointer": "gpointer"}


def _make(element):
    f = Gst.ElementFactory.find(element)
    assert f is not None, f"{element} is not registered"
    return f.create(None)


@pytest.mark.parametrize("element", dsprops.elements())
def test_every_deepstream_property_exists_with_its_type_and_default(element):
    el = _make(element)
    problems = []
    for row in dsprops.properties_for(element).values():
        p = el.find_property(row.name)
        if p is None:
            problems.append(f"{row.name}: missing")
            continue
        want = GTYPE.get(row.type, row.type)
        if p.value_type.name != want and (element, row.name) not in dsprops.TYPE_DEVIATIONS:
            problems.append(f"{row.name}: type {p.value_type.name}, DeepStream {want}")
        if bool(p.flags & GObject.ParamFlags.WRITABLE) == row.readonly:
            problems.append(f"{row.name}: " + ("writable, DeepStream's is read-only" if row.readonly else "not writable"))
        if row.default is None or (element, row.name) in dsprops.DEVIATIONS:
            continue
        value = el.get_property(row.name)
        if row.type == "string":
            value = value or ""  # NULL and "" are both unset (module docstring)
        elif row.is_enum:
            value = int(value)
        if value != row.default:
            problems.append(f"{row.name}: default {value!r}, DeepStream {row.default!r}")
    assert problems == []


def test_deviations_are_real_and_explained():
    for (element, name), why in {**dsprops.DEVIATIONS, **dsprops.TYPE_DEVIATIONS}.items():
        assert name in dsprops.properties_for(element), (element, name)
        assert len(why) > 20
    # a deviation that no longer deviates would hide a later regression: each must still differ
    for (element, name) in dsprops.DEVIATIONS:
        row = dsprops.properties_for(element)[name]
        value = _make(element).get_property(name)
        assert (int(value) if row.is_enum else value or "") != row.default, (element, name)


@pytest.mark.parametrize("element,name,value", [
    ("nvstreammux", "nvbuf-memory-type", 3), ("nvstreammux", "compute-hw", 1),
    ("nvstreammux", "interpolation-method", 4), ("nvmultistreamtiler", "compute-hw", 1),
    ("nvmultistreamtiler", "interpolation-method", 2), ("nvvideoconvert", "flip-method", 6),
    ("nvvideoconvert", "gpu-id", 0), ("nvtracker", "tracker-width", 1280), ("nvtracker", "compute-hw", 1),
    ("nvdsosd", "process-mode", 1), ("nvv4l2decoder", "cudadec-memtype", 2), ("nvv4l2decoder", "skip-frames", 2),
    ("nvurisrcbin", "smart-record", 2), ("nvmsgconv", "payload-type", 257), ("nvinfer", "clip-object-outside-roi", False),
])
def test_values_apps_set_are_stored_as_numbers(element, name, value):
    el = _make(element)
    el.set_property(name, value)
    got = el.get_property(name)
    assert got == value and (isinstance(got, bool) or int(got) == value)


@pytest.mark.parametrize("element,name,value", [
    ("nvstreammux", "nvbuf-memory-type", 9), ("nvmultistreamtiler", "compute-hw", 3),
    ("nvv4l2decoder", "drop-frame-interval", 31), ("nvmultistreamtiler", "buffer-pool-size", 11),
])
def test_out_of_range_values_are_refused(element, name, value):
    el = _make(element)
    before = el.get_property(name)
    with pytest.warns(Warning, match="invalid or out of range"):
        el.set_property(name, value)
    assert el.get_property(name) == before


def test_negative_values_for_unsigned_properties_raise():
    el = _make("nvstreammux")
    with pytest.raises((OverflowError, TypeError, ValueError)):
        el.set_property("gpu-id", -1)


def test_underscore_spellings_and_gst_launch_strings_work():
    el = _make("nveglglessink")
    el.set_property("gpu_id", 0)  # runtime_source_add_delete's spelling
    p = Gst.parse_launch("videotestsrc num-buffers=1 ! nvvideoconvert name=conv compute-hw=GPU "
                         "nvbuf-memory-type=nvbuf-mem-cuda-unified interpolation-method=Algo-3 ! fakesink")
    # by name: an alias shares its class with the es* factory, and GStreamer records on the class
    # the factory that made its first instance, so get_factory() depends on what ran before
    conv = p.get_by_name("conv")
    assert int(conv.get_property("compute-hw")) == 1 and int(conv.get_property("nvbuf-memory-type")) == 3
    assert int(conv.get_property("interpolation-method")) == 4


def test_properties_without_effect_say_so_in_their_description():
    el = _make("nvmultistreamtiler")
    assert "no effect here" in el.find_property("compute-hw").blurb
    assert "no effect here" in _make("nvurisrcbin").find_property("ipc-socket-path").blurb
    assert "no effect here" not in el.find_property("rows").blurb  # implemented ones keep theirs


def test_docs_are_generated_from_the_table():
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "docs", "ds-properties.md")
    with open(path, encoding="utf-8") as f:
        assert f.read() == dsprops.markdown(), "run: python -m estuary.gst.dsprops > docs/ds-properties.md"


def test_implemented_means_implemented():
    # a row without a "no effect" note must be a property the element declares itself, not a
    # generated stand-in (whose description says it has no effect)
    for element in dsprops.elements():
        el = _make(element)
        for row in dsprops.properties_for(element).values():
            if not row.note:
                assert "no effect here" not in (el.find_property(row.name).blurb or ""), (element, row.name)

