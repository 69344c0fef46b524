"""Pixel writes respect GStreamer's copy-on-write: drawing on one branch of a tee never shows up
in the other branch's frames, and the muxer reads frames with the buffer's own row pitch."""

import ctypes

import numpy as np
import pytest

import pyds
from estuary.errors import StreamError
from estuary.gst import Gst, batchmeta, capi

from conftest import run_pipeline

W, H = 160, 120


def _add_box(pad, info):
    batch = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
    for f in batch.frames:
        o = pyds.nvds_acquire_obj_meta_from_pool(batch)
        r = o.rect_params
        r.left, r.top, r.width, r.height = 20, 20, 60, 40
        r.border_width = 4
        r.border_color.set(1.0, 0.0, 0.0, 1.0)
        o.text_params.display_text = ""
        pyds.nvds_add_obj_meta_to_frame(f, o, None)
    return Gst.PadProbeReturn.OK


def test_tee_branches_do_not_see_each_others_drawing():
    p = Gst.parse_launch(
        f"videotestsrc num-buffers=3 pattern=black ! video/x-raw,format=RGBA,width={W},height={H} ! "
        f"m.sink_0 nvstreammux name=m batch-size=1 width={W} height={H} ! identity name=meta ! tee name=t "
        "t. ! queue ! nvdsosd ! fakesink name=drawn "
        "t. ! queue ! fakesink name=clean")
    p.get_by_name("meta").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, _add_box)
    kept = {"drawn": [], "clean": []}

    def keep(name):
        def probe(pad, info):
            kept[name].append(info.get_buffer())  # held to the end, as a slow branch would
            return Gst.PadProbeReturn.OK
        return probe

    for name in kept:
        p.get_by_name(name).get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, keep(name))
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    assert len(kept["drawn"]) == len(kept["clean"]) == 3
    for drawn, clean in zip(kept["drawn"], kept["clean"]):
        d = batchmeta.get(drawn).surface.frames[0].copy()
        c = batchmeta.get(clean).surface.frames[0].copy()
        assert d[20:24, 20:80, 0].min() == 255  # the box's top border is drawn on the osd branch
        assert c[..., :3].max() == 0  # and the other branch is still all black


def test_writes_into_shared_memory_are_copy_on_write():
    buf = Gst.Buffer.new_allocate(None, 16, None)
    with capi.map_memory(hash(buf), 0, write=True) as info:
        capi.as_array(info)[:] = 0
    other = batchmeta.shallow_copy(buf)  # shares the memory, as a batch copied for a tee branch does
    with capi.map_memory(hash(buf), 0, write=True) as info:
        capi.as_array(info)[:] = 7
    with capi.map_memory(hash(other), 0, write=False) as info:
        assert capi.as_array(info).max() == 0  # the other buffer kept its pixels
    with capi.map_memory(hash(buf), 0, write=False) as info:
        assert capi.as_array(info).min() == 7
    # a buffer someone else holds too cannot have its shared memory replaced: a clear error
    held = batchmeta.shallow_copy(other)
    capi.lib.gst_mini_object_ref.restype = ctypes.c_void_p
    capi.lib.gst_mini_object_ref.argtypes = [ctypes.c_void_p]
    capi.lib.gst_mini_object_unref.argtypes = [ctypes.c_void_p]
    capi.lib.gst_mini_object_ref(hash(held))
    try:
        with pytest.raises(StreamError, match="copy the buffer before writing"):
            with capi.map_memory(hash(held), 0, write=True):
                pass
    finally:
        capi.lib.gst_mini_object_unref(hash(held))


@pytest.mark.parametrize("fmt", ["RGBA", "I420"])
def test_muxer_reads_padded_rows_with_the_video_meta_pitch(fmt):
    """A frame whose rows are padded (stride > width × bytes, as decoders and cameras give) and
    that starts after a header: the pitch and offset come from its GstVideoMeta."""
    from estuary.gst import GstVideo
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (H, W, 4), np.uint8)
    img[..., 3] = 255
    pad, head = 96, 64
    if fmt == "RGBA":
        stride = W * 4 + pad
        data = np.zeros(head + stride * H, np.uint8)
        rows = data[head:].reshape(H, stride)
        rows[:, : W * 4] = img.reshape(H, W * 4)
        strides, offsets, n = [stride, 0, 0, 0], [head, 0, 0, 0], 1
        expect = img
    else:
        import cv2
        i420 = cv2.cvtColor(img, cv2.COLOR_RGBA2YUV_I420)  # (H * 3 / 2, W), tight
        ys, cs = W + pad, W // 2 + pad // 2
        y_off, u_off = head, head + ys * H
        v_off = u_off + cs * (H // 2)
        data = np.zeros(v_off + cs * (H // 2), np.uint8)
        data[y_off:u_off].reshape(H, ys)[:, :W] = i420[:H]
        data[u_off:v_off].reshape(H // 2, cs)[:, : W // 2] = i420[H: H + H // 4].reshape(H // 2, W // 2)
        data[v_off:].reshape(H // 2, cs)[:, : W // 2] = i420[H + H // 4:].reshape(H // 2, W // 2)
        strides, offsets, n = [ys, cs, cs, 0], [y_off, u_off, v_off, 0], 3
        expect = None  # compared with the same frame packed tightly, below
    buf = Gst.Buffer.new_wrapped(data.tobytes())
    GstVideo.buffer_add_video_meta_full(buf, GstVideo.VideoFrameFlags.NONE,
                                        GstVideo.VideoFormat.from_string(fmt), W, H, n, offsets, strides)
    p = Gst.parse_launch(
        f"appsrc name=src caps=video/x-raw,format={fmt},width={W},height={H},framerate=1/1 format=time ! "
        f"m.sink_0 nvstreammux name=m batch-size=1 width={W} height={H} ! fakesink name=sink")
    got, zero_copy = [], []

    def probe(pad, info):
        frame = batchmeta.get(info.get_buffer()).surface.frames[0]
        zero_copy.append(frame.offset == head)
        got.append(frame.copy())
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    src = p.get_by_name("src")
    # hold the frame on appsrc's pad until the test has dropped its own reference: then the
    # frame reaches the muxer with no other holder and the muxer may use it in place
    block = src.get_static_pad("src").add_probe(Gst.PadProbeType.BLOCK_DOWNSTREAM, lambda *a: Gst.PadProbeReturn.OK)
    p.set_state(Gst.State.PAUSED)
    buf.pts, buf.duration = 0, Gst.SECOND
    src.emit("push-buffer", buf)
    del buf
    src.emit("end-of-stream")
    src.get_static_pad("src").remove_probe(block)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    if expect is None:
        from estuary.surface.convert import frame_to_rgba, plane_views
        tight = np.ascontiguousarray(i420).reshape(-1)
        expect = frame_to_rgba(plane_views(tight, "I420", W, H, (W, W // 2, W // 2), (0, W * H, W * H * 5 // 4)),
                               "I420")
    assert np.array_equal(got[0], expect)
    assert zero_copy == [fmt == "RGBA"]  # RGBA at the output size is used in place
