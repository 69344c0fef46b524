"""GStreamer glue: batch meta on buffers, pyds access by hash(buffer), element errors on the bus."""

import pytest

import pyds
from estuary.gst import Gst, GstBase, batchmeta
from estuary.gst.element import ElementBase, Prop, register_element
from estuary.meta.core import NvDsBatchMeta

from conftest import run_pipeline


class MetaAttacher(ElementBase, GstBase.BaseTransform):
    """Test element: attaches a batch meta with one frame and N objects to each buffer."""

    __gtype_name__ = "EstuaryTestMetaAttacher"
    FACTORY = "estestattach"
    METADATA = ("Test meta attacher", "Filter", "attaches batch meta", "Estuary tests")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, "ANY", None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, "ANY", None))
    PROPS = (Prop("objects", int, 2, "objects per frame", 0, 100),
             Prop("fail-at", int, -1, "raise on this buffer number", -1, 1 << 30))

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.set_in_place(True)
        self.count = 0

    def do_transform_ip(self, buf):
        self.count += 1
        if self.count == self.settings.fail_at:
            raise ValueError(f"synthetic failure on buffer {self.count}")
        batch = NvDsBatchMeta(1)
        f = batch.acquire_frame()
        f.frame_num = self.count - 1
        batch.add_frame(f)
        for k in range(self.settings.objects):
            o = batch.acquire_object()
            o.class_id = k
            f.add_object(o)
        batchmeta.attach(buf, batch)
        return Gst.FlowReturn.OK


register_element(MetaAttacher)


def test_element_registered_and_has_templates():
    el = Gst.ElementFactory.make("estestattach", None)
    assert el is not None
    assert el.get_static_pad("sink") is not None and el.get_static_pad("src") is not None
    assert el.get_property("objects") == 2
    el.set_property("objects", 5)
    assert el.get_property("objects") == 5


def test_probe_reads_batch_meta_after_tee_and_queue():
    p = Gst.parse_launch(
        "videotestsrc num-buffers=30 ! video/x-raw,width=64,height=48 ! estestattach objects=3 ! "
        "tee name=t t. ! queue ! fakesink name=a t. ! queue ! videoconvert ! fakesink name=b")
    seen = {"a": [], "b": []}

    def probe(pad, info, key):
        gst_buffer = info.get_buffer()
        batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(gst_buffer))
        l_frame = batch_meta.frame_meta_list
        while l_frame is not None:
            try:
                frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
            except StopIteration:
                break
            n = 0
            l_obj = frame_meta.obj_meta_list
            while l_obj is not None:
                pyds.NvDsObjectMeta.cast(l_obj.data)
                n += 1
                l_obj = l_obj.next
            seen[key].append((frame_meta.frame_num, n))
            l_frame = l_frame.next
        return Gst.PadProbeReturn.OK

    for key in ("a", "b"):
        p.get_by_name(key).get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe, key)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS
    expected = [(i, 3) for i in range(30)]
    assert seen["a"] == expected and seen["b"] == expected


def test_buffer_without_meta_gives_none():
    buf = Gst.Buffer.new_allocate(None, 16, None)
    assert pyds.gst_buffer_get_nvds_batch_meta(hash(buf)) is None


def test_meta_survives_buffer_copy_and_runs_copy_callback():
    buf = Gst.Buffer.new_allocate(None, 16, None)
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    copies = []

    def copy_func(data, user_data):
        um = pyds.NvDsUserMeta.cast(data)
        copies.append(um.user_meta_data)
        return dict(um.user_meta_data)

    um = pyds.nvds_acquire_user_meta_from_pool(batch)
    um.user_meta_data = {"k": 1}
    pyds.set_user_copyfunc(um, copy_func)
    pyds.nvds_add_user_meta_to_frame(f, um)
    pyds.gst_buffer_add_nvds_meta(hash(buf), batch)
    try:
        copy = buf.copy_deep()
        assert hash(copy) != hash(buf)
        c = pyds.gst_buffer_get_nvds_batch_meta(hash(copy))
        assert c is not None and c is not batch
        assert copies == [{"k": 1}]
        assert c.frames[0].user_meta[0].user_meta_data == {"k": 1}
        assert pyds.gst_buffer_get_nvds_batch_meta(hash(buf)) is batch
    finally:
        pyds.unset_callback_funcs()


def test_batch_meta_released_with_its_buffer():
    released = []
    buf = Gst.Buffer.new_allocate(None, 16, None)
    batch = NvDsBatchMeta(1)
    um = batch.acquire_user()
    um.release_func = lambda m, ud: released.append(True)
    batch.add_user_meta(um)
    batchmeta.attach(buf, batch)
    del batch, um
    assert released == []
    del buf
    assert released == [True]


def test_exception_in_element_becomes_bus_error():
    p = Gst.parse_launch("videotestsrc num-buffers=50 ! estestattach name=boom fail-at=5 ! "
                         "fakesink name=sink")
    count = []
    p.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda pad, info: count.append(1) or Gst.PadProbeReturn.OK)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.ERROR
    err, debug = msg.parse_error()
    assert msg.src.get_name() == "boom"
    assert "boom" in err.message and "ValueError" in err.message
    assert "synthetic failure on buffer 5" in err.message
    assert "Traceback" in debug and "do_transform_ip" in debug
    assert len(count) == 4  # nothing after the failing buffer


def test_no_critical_on_element_creation():
    import subprocess
    import sys
    code = ("import pyds\nfrom estuary.gst import Gst\n"
            "for n in ('esmux','nvstreammux','estiler','nvmultistreamtiler','esconvert','nvvideoconvert','esdemux','nvstreamdemux'):\n"
            "    e = Gst.ElementFactory.make(n, None)\n"
            "    assert e is not None, n\n"
            "p = Gst.parse_launch('videotestsrc num-buffers=2 ! fakesink')\nprint('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "CRITICAL" not in out.stderr and "WARNING" not in out.stderr, out.stderr
