"""The per-frame CPU path around inference (issue #23, session 7): OpenCV's thread setting,
converting straight into pooled buffers, drawing without needless batch copies, and the
detector's input tensor written in place. Each saving must leave results unchanged."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

import pyds  # noqa: F401 - registers the elements
from estuary.gst import Gst, batchmeta, capi
from estuary.meta.core import NvDsBatchMeta
from estuary.surface import cvthreads
from estuary.surface.colorimetry import Colorimetry
from estuary.surface.convert import _flat_i420, frame_to_rgba

from conftest import run_pipeline


# -- OpenCV's threads ---------------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    (None, 1), ("", 1), ("1", 1), ("4", 4), (" 2 ", 2), ("auto", None), (" AUTO ", None),
    ("0", 1), ("-3", 1), ("many", 1),
])
def test_opencv_threads_from_env(value, expected):
    assert cvthreads.threads_from_env(value) == expected


@pytest.mark.parametrize("value,expected", [(None, "1"), ("3", "3"), ("auto", "default")])
def test_import_sets_opencv_threads(value, expected):
    env = {k: v for k, v in os.environ.items() if k != cvthreads.ENV}
    if value is not None:
        env[cvthreads.ENV] = value
    code = ("import cv2; default = cv2.getNumThreads(); import estuary; n = cv2.getNumThreads(); "
            "print('default' if n == default and n != 1 and n != 3 else n)")
    if expected == "default" and (os.cpu_count() or 1) in (1, 3):
        pytest.skip("OpenCV's default equals a value tested here on this machine")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == expected


# -- I420 planes read in place --------------------------------------------------------------------
H, W = 272, 640


def _i420(rng, h=H, w=W):
    flat = np.empty(h * w * 3 // 2, np.uint8)
    flat[: h * w] = rng.integers(16, 236, h * w)
    flat[h * w:] = rng.integers(16, 241, h * w // 2)
    cs = (h // 2) * (w // 2)
    y = flat[: h * w].reshape(h, w)
    u = flat[h * w: h * w + cs].reshape(h // 2, w // 2)
    v = flat[h * w + cs:].reshape(h // 2, w // 2)
    return flat, y, u, v


def _padded(p, pad=64):
    """The same plane with ``pad`` bytes more per row (a decoder's aligned stride)."""
    big = np.zeros((p.shape[0], p.shape[1] + pad), np.uint8)
    big[:, : p.shape[1]] = p
    return big[:, : p.shape[1]]


@pytest.mark.parametrize("layout,flat_view", [
    ("flat", True),            # one buffer, Y then U then V, tight rows: read in place
    ("separate", False),       # planes in separate arrays
    ("padded", False),         # rows with padding
    ("swapped", False),        # V before U
])
def test_i420_planes_in_place_only_when_flat(layout, flat_view):
    rng = np.random.default_rng(7)
    flat, y, u, v = _i420(rng)
    planes = {"flat": [y, u, v], "separate": [y.copy(), u.copy(), v.copy()],
              "padded": [_padded(y), _padded(u), _padded(v)], "swapped": [y, v, u]}[layout]
    view = _flat_i420(planes, H, W)
    assert (view is not None) == flat_view
    if flat_view:
        assert np.shares_memory(view, flat) and view.shape == (H * 3 // 2, W)
    # whichever way the planes lie, the pixels are the same
    got = frame_to_rgba(planes, "I420", colorimetry=Colorimetry("bt601", False))
    ref_planes = [y.copy(), v.copy(), u.copy()] if layout == "swapped" else [y.copy(), u.copy(), v.copy()]
    ref = frame_to_rgba(ref_planes, "I420", colorimetry=Colorimetry("bt601", False))
    assert np.array_equal(got, ref)


# -- pooled frame buffers ---------------------------------------------------------------------------
def _data_address(buf):
    with capi.map_buffer(hash(buf), write=False) as info:
        return info.data


def test_frame_pool_reuses_memory_only_when_it_is_the_buffers_own():
    from estuary.gst.pool import FramePool
    pool = FramePool(4096)
    try:
        a = pool.acquire()
        assert a.get_size() == 4096
        addr = _data_address(a)
        del a  # back to the pool
        b = pool.acquire()
        assert _data_address(b) == addr
        with capi.map_buffer(hash(b), write=True) as info:
            capi.as_array(info)[:] = 7
        keep = batchmeta.shallow_copy(b)  # shares b's memory
        del b  # memory shared: the pool must not hand it out again
        c = pool.acquire()
        assert _data_address(c) != addr
        with capi.map_buffer(hash(c), write=True) as info:
            capi.as_array(info)[:] = 9
        with capi.map_buffer(hash(keep), write=False) as info:
            assert (capi.as_array(info) == 7).all()
    finally:
        pool.close()


@pytest.mark.parametrize("fmt", ["I420", "NV12", "RGB", "BGRx"])
def test_esconvert_frames_equal_frame_to_rgba(fmt):
    """esconvert writes the converted frame into a pooled buffer: the pixels are exactly those
    of frame_to_rgba on the same input, frame after frame (a reused buffer keeps nothing)."""
    from estuary.gst.video import buffer_to_rgba, video_format
    desc = (f"videotestsrc num-buffers=6 pattern=ball ! video/x-raw,format={fmt},width=320,height=240 ! "
            "tee name=t t. ! queue ! appsink name=raw sync=false "
            "t. ! queue ! esconvert ! video/x-raw(memory:NVMM),format=RGBA ! appsink name=conv sync=false")
    p = Gst.parse_launch(desc)
    got = {"raw": [], "conv": []}
    for name in got:
        sink = p.get_by_name(name)
        sink.set_property("emit-signals", True)

        def on_sample(s, name=name):
            sample = s.emit("pull-sample")
            fmt_ = video_format(sample.get_caps())
            buf = sample.get_buffer()
            if name == "raw":
                got[name].append(buffer_to_rgba(buf, fmt_))
            else:
                with capi.map_buffer(hash(buf)) as info:
                    got[name].append(capi.as_array(info)[: 320 * 240 * 4].reshape(240, 320, 4).copy())
            return Gst.FlowReturn.OK
        sink.connect("new-sample", on_sample)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS
    assert len(got["raw"]) == len(got["conv"]) == 6
    for a, b in zip(got["raw"], got["conv"]):
        assert np.array_equal(a, b)
    assert not np.array_equal(got["conv"][0], got["conv"][3])  # the ball moved: real frames compared


# -- no batch copies in a chain of Python elements ------------------------------------------------
_ref = capi._fn(capi.lib, "gst_mini_object_ref", ctypes.c_void_p, ctypes.c_void_p)
_unref = capi._fn(capi.lib, "gst_mini_object_unref", None, ctypes.c_void_p)


@pytest.mark.parametrize("others,noted,copied", [
    (0, 0, False),  # ours alone
    (1, 0, True),   # someone else holds it (a tee branch)
    (1, 1, False),  # the one other reference is a pusher's wrapper on this thread's stack
    (2, 1, True),   # a pusher's and somebody else's
    (2, 2, False),  # two pushers (mux → nvinfer → ...) on this thread
])
def test_writable_discounts_references_noted_by_pushers(others, noted, copied):
    buf = Gst.Buffer.new()
    meta = NvDsBatchMeta(1)
    batchmeta.attach(buf, meta)
    addr = hash(buf)
    for _ in range(others):
        _ref(addr)
    try:
        def check(b, depth):
            if depth:
                return batchmeta.push_held(check, b, depth - 1)
            out = batchmeta.writable(b)
            return out is not b
        assert check(buf, noted) == copied
    finally:
        for _ in range(others):
            _unref(addr)


def test_osd_after_mux_and_tracker_draws_on_the_batch_it_was_given():
    """mux → nvtracker → nvdsosd in one thread: each Python element upstream still holds the
    batch while the OSD runs; the OSD must not take that for a tee and copy every batch."""
    p = Gst.parse_launch(
        "videotestsrc num-buffers=5 ! video/x-raw,format=RGBA,width=320,height=240 ! m.sink_0 "
        "nvstreammux name=m batch-size=1 width=320 height=240 ! nvtracker name=tr ! nvdsosd name=osd ! "
        "fakesink name=s sync=false")
    seen, after = [], []
    p.get_by_name("tr").get_static_pad("src").add_probe(
        Gst.PadProbeType.BUFFER, lambda pad, info: seen.append(batchmeta.get(info.get_buffer())) or Gst.PadProbeReturn.OK)
    p.get_by_name("s").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda pad, info: after.append(batchmeta.get(info.get_buffer())) or Gst.PadProbeReturn.OK)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    assert len(seen) == len(after) == 5
    assert all(a is b for a, b in zip(seen, after))


# -- the detector's input tensor -------------------------------------------------------------------
def _letterbox(img, W, H, net, interp):
    """The frame stretched, or letterboxed into a fresh zeroed array (what prepare did before)."""
    from estuary.infer.preprocess import fit_transform
    h, w = img.shape[:2]
    tr = fit_transform(w, h, net)
    if not net.keep_aspect:
        return cv2.resize(img, (W, H), interpolation=interp), tr
    nw, nh = max(1, round(w * tr.sx)), max(1, round(h * tr.sy))
    ox, oy = int(tr.ox), int(tr.oy)
    out = np.zeros((H, W, img.shape[2]), img.dtype)
    # (OpenCV drops a single channel's axis: put it back)
    out[oy: oy + nh, ox: ox + nw] = cv2.resize(img, (nw, nh), interpolation=interp).reshape(nh, nw, -1)
    return out, tr


def _reference_prepare(images, net, rois=None, arithmetic: bool = True):
    """The straightforward way (what prepare did before): convert, scale, stack, float, shift,
    scale, transpose (without ``arithmetic``: the uint8 pixels, transposed)."""
    from estuary.infer.preprocess import INTERPOLATION, Transform, crop_roi
    interp = INTERPOLATION.get(net.interpolation, cv2.INTER_LINEAR)
    code = {0: cv2.COLOR_RGBA2RGB, 1: cv2.COLOR_RGBA2BGR, 2: cv2.COLOR_RGBA2GRAY}[net.color_format]
    batch = np.empty((len(images), net.height, net.width, net.channels), np.uint8)
    trs = []
    for i, img in enumerate(images):
        img, left, top = crop_roi(img, rois[i] if rois is not None else None)
        conv = cv2.cvtColor(np.ascontiguousarray(img), code)
        if conv.ndim == 2:
            conv = conv[..., None]
        scaled, tr = _letterbox(conv, net.width, net.height, net, interp)
        batch[i] = scaled.reshape(net.height, net.width, net.channels)
        trs.append(Transform(tr.sx, tr.sy, tr.ox, tr.oy, left, top))
    if not arithmetic:
        return (batch if net.nhwc else np.ascontiguousarray(batch.transpose(0, 3, 1, 2))), trs
    x = batch.astype(np.float32)
    offs = np.asarray(net.offsets[: net.channels] if net.offsets else [0.0] * net.channels, np.float32)
    if offs.any():
        x -= offs
    if net.scale != 1.0:
        x *= np.float32(net.scale)
    if not net.nhwc:
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x, trs


@pytest.mark.parametrize("color,channels", [(0, 3), (1, 3), (2, 1)])
@pytest.mark.parametrize("offsets,scale", [((0.0, 0.0, 0.0), 0.0039215697906911373),
                                           ((103.939, 116.779, 123.68), 1.0), ((), 0.017), ((1.5,), 1.0)])
@pytest.mark.parametrize("keep_aspect,symmetric,nhwc", [(False, True, False), (True, True, False),
                                                    (True, False, False), (False, True, True), (True, True, True)])
@pytest.mark.parametrize("interpolation", [1, 0, 2, 3, 4])
def test_prepare_is_bit_identical_to_the_straightforward_way(color, channels, offsets, scale, keep_aspect, symmetric,
                                                             nhwc, interpolation):
    from estuary.infer.preprocess import NetInput, prepare
    rng = np.random.default_rng(3)
    # a frame scaled down, one scaled up, and one letterboxed the other way (taller than wide)
    imgs = [rng.integers(0, 256, (272, 640, 4), np.uint8), rng.integers(0, 256, (100, 90, 4), np.uint8),
            rng.integers(0, 256, (300, 40, 4), np.uint8)]
    rois = [(10, 20, 300, 200), None, None]
    net = NetInput(96, 64, channels, color, scale, offsets, keep_aspect, symmetric, interpolation, nhwc)
    for reuse in (False, True, True):  # (twice reused: the letterbox margins of the last call cleared)
        got, trs = prepare(imgs[::-1] if reuse else imgs, net, rois[::-1] if reuse else rois, reuse=reuse)
        ref, ref_trs = _reference_prepare(imgs[::-1] if reuse else imgs, net, rois[::-1] if reuse else rois)
        assert got.dtype == np.float32 and got.shape == ref.shape and got.flags.c_contiguous
        assert np.array_equal(got, ref)
        assert trs == ref_trs
        # uint8 for a runtime that scales itself: the pixels before the arithmetic
        raw, raw_trs = prepare(imgs, net, rois, reuse=reuse, u8=True)
        ref_raw, _ = _reference_prepare(imgs, net, rois, arithmetic=False)
        assert raw.dtype == np.uint8 and np.array_equal(raw, ref_raw) and raw_trs == _reference_prepare(imgs, net, rois)[1]


def test_prepare_reuse_keeps_one_tensor_per_thread():
    import threading
    from estuary.infer.preprocess import NetInput, prepare
    img = np.zeros((50, 60, 4), np.uint8)
    net = NetInput(32, 32, 3, 0, 1.0)
    a, _ = prepare([img], net, reuse=True)
    b, _ = prepare([img], net, reuse=True)
    c, _ = prepare([img], net)
    assert a is b and c is not a
    other = []
    t = threading.Thread(target=lambda: other.append(prepare([img], net, reuse=True)[0]))
    t.start()
    t.join()
    assert other[0] is not a
