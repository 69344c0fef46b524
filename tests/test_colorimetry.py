"""Colour conversion honours the caps' colorimetry: the CPU path (nvstreammux's conversion of
I420/NV12/RGB input) against GStreamer's videoconvert on the same frames, for BT.601/BT.709 ×
limited/full range."""

import cv2
import numpy as np
import pytest

from estuary.gst import Gst, GstVideo, batchmeta
from estuary.surface.colorimetry import colorimetry_from_caps

from conftest import run_pipeline

W, H = 320, 240
#: caps colorimetry → (matrix, full range)
COLORIMETRIES = {"bt601": ("bt601", False), "bt709": ("bt709", False),
                 "1:4:0:0": ("bt601", True), "1:3:0:0": ("bt709", True)}


def _pixels(sample_or_buf, width=W, height=H):
    buf = sample_or_buf
    ok, mi = buf.map(Gst.MapFlags.READ)
    try:
        return np.frombuffer(mi.data, np.uint8)[: width * height * 4].reshape(height, width, 4).copy()
    finally:
        buf.unmap(mi)


def both_paths(fmt: str, colorimetry: str, pattern: str):
    """One videotestsrc frame with the given caps, converted by videoconvert (reference) and by
    nvstreammux (Estuary's CPU path); returns (reference RGBA, ours RGBA, the raw frame's caps)."""
    col = f",colorimetry={colorimetry}" if fmt != "RGB" else ""
    p = Gst.parse_launch(
        f"videotestsrc num-buffers=1 pattern={pattern} ! video/x-raw,format={fmt},width={W},height={H}{col} ! "
        "tee name=t t. ! queue ! videoconvert ! video/x-raw,format=RGBA ! appsink name=ref "
        "t. ! queue ! appsink name=raw "
        f"t. ! queue ! m.sink_0 nvstreammux name=m batch-size=1 width={W} height={H} ! fakesink name=sink")
    got = {}

    def probe(pad, info):
        batch = batchmeta.get(info.get_buffer())
        got["ours"] = batch.surface.frames[0].copy()
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    ref = {}

    def on_sample(sink):
        ref["rgba"] = _pixels(sink.emit("pull-sample").get_buffer())
        return Gst.FlowReturn.OK

    sink = p.get_by_name("ref")
    sink.set_property("emit-signals", True)
    sink.connect("new-sample", on_sample)
    raw = p.get_by_name("raw")
    raw.set_property("emit-signals", True)
    def on_raw(sink):
        got["raw"] = _raw(sink.emit("pull-sample").get_buffer(), fmt)
        return Gst.FlowReturn.OK

    raw.connect("new-sample", on_raw)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    return ref["rgba"][..., :3].astype(np.int16), got["ours"][..., :3].astype(np.int16), got["raw"]


def _raw(buf, fmt):
    ok, mi = buf.map(Gst.MapFlags.READ)
    try:
        n = W * H * 3 // 2 if fmt != "RGB" else W * H * 3
        return np.frombuffer(mi.data, np.uint8)[:n].copy()
    finally:
        buf.unmap(mi)


def exact_rgb(raw: np.ndarray, fmt: str, colorimetry: str) -> np.ndarray:
    """ITU-R BT.601/709 YCbCr → R'G'B' in float64, written out here independently of
    estuary.surface.colorimetry; chroma repeated (I420) or interpolated (NV12)."""
    kr, kb = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}[COLORIMETRIES[colorimetry][0]]
    full = COLORIMETRIES[colorimetry][1]
    y = raw[: W * H].reshape(H, W).astype(np.float64)
    if fmt == "I420":
        u = raw[W * H: W * H + W * H // 4].reshape(H // 2, W // 2)
        v = raw[W * H + W * H // 4:].reshape(H // 2, W // 2)
        u, v = (np.repeat(np.repeat(c, 2, 0), 2, 1).astype(np.float64) for c in (u, v))
    else:
        uv = raw[W * H:].reshape(H // 2, W // 2, 2)
        u, v = (cv2.resize(np.ascontiguousarray(uv[..., k]), (W, H), interpolation=cv2.INTER_LINEAR)
                .astype(np.float64) for k in (0, 1))
    if full:
        yn, pb, pr = y / 255.0, (u - 128) / 255.0, (v - 128) / 255.0
    else:
        yn, pb, pr = (y - 16) / 219.0, (u - 128) / 224.0, (v - 128) / 224.0
    r = yn + 2 * (1 - kr) * pr
    b = yn + 2 * (1 - kb) * pb
    g = (yn - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.rint(np.stack([r, g, b], -1) * 255.0), 0, 255).astype(np.int16)


def _videoconvert_bias(colorimetry: str) -> float:
    """videoconvert 1.22's 8-bit YUV→RGB fast path (video-orc ``convert_AYUV_ARGB``) works on
    (x − 128) with no luma offset, so limited-range output comes out 112·255/219 − 112 − 16 ≈ 2.4
    levels dark; full range is unbiased. Returned so the comparison is about matrix and range."""
    full = COLORIMETRIES[colorimetry][1]
    return 0.0 if full else 128.0 - 112.0 * 255.0 / 219.0  # the sign: videoconvert − exact


@pytest.mark.parametrize("colorimetry", list(COLORIMETRIES))
@pytest.mark.parametrize("fmt", ["I420", "NV12"])
def test_yuv_to_rgb_matches_videoconvert(fmt, colorimetry):
    ref, ours, raw = both_paths(fmt, colorimetry, "colors")
    # against the exact ITU conversion of the same frame: within 1 level everywhere
    assert np.abs(ours - exact_rgb(raw, fmt, colorimetry)).max() <= 1
    # against videoconvert (GStreamer 1.22): its limited-range fast path is ~2.4 levels dark
    # (see _videoconvert_bias); with that offset removed, R and B are within 1 level in the
    # mean. videoconvert's G is ~1.2 levels dark on average: its 8-bit fixed point truncates
    # (mulhsw) each of G's two negative chroma terms. Single values differ by up to ~3 levels
    # from that truncation and from chroma resampled differently at sharp colour edges.
    shifted = np.clip(np.rint(ours.astype(np.float64) + _videoconvert_bias(colorimetry)), 0, 255)
    diff = (ref - shifted).reshape(-1, 3)
    mean_abs = np.abs(diff).mean(0)
    assert mean_abs[0] <= 1.0 and mean_abs[2] <= 1.0, mean_abs
    assert -1.5 <= diff[:, 1].mean() <= 0.0 and mean_abs[1] <= 2.0, (diff[:, 1].mean(), mean_abs)
    assert np.percentile(np.abs(diff), 99) <= 3, np.percentile(np.abs(diff), 99)


@pytest.mark.parametrize("colorimetry", ["1:4:0:0", "bt709"])
def test_the_old_fixed_bt601_limited_conversion_would_fail_this_check(colorimetry):
    """The check above has teeth: OpenCV's fixed BT.601 limited-range conversion (what
    frame_to_rgba did before) is far from videoconvert on full-range or BT.709 frames."""
    p = Gst.parse_launch(f"videotestsrc num-buffers=1 pattern=colors ! video/x-raw,format=I420,width={W},"
                         f"height={H},colorimetry={colorimetry} ! appsink name=s")
    p.set_state(Gst.State.PLAYING)
    buf = p.get_by_name("s").emit("pull-sample").get_buffer()
    ok, mi = buf.map(Gst.MapFlags.READ)
    i420 = np.frombuffer(mi.data, np.uint8)[: W * H * 3 // 2].reshape(H * 3 // 2, W).copy()
    buf.unmap(mi)
    p.set_state(Gst.State.NULL)
    old = cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420).astype(np.int16)
    ref, ours, _ = both_paths("I420", colorimetry, "colors")
    bias = _videoconvert_bias(colorimetry)
    assert np.abs(np.clip(old + bias, 0, 255) - ref).mean() > 3.0
    assert np.abs(np.clip(ours + bias, 0, 255) - ref).mean() <= 1.2


def test_rgb_input_is_passed_through_exactly():
    ref, ours, _ = both_paths("RGB", "", "colors")
    assert np.array_equal(ref, ours)


def test_caps_colorimetry_is_read():
    from estuary.gst.video import video_format
    caps = Gst.Caps.from_string("video/x-raw,format=I420,width=1280,height=720,colorimetry=1:4:0:0,"
                                "framerate=30/1")
    assert video_format(caps).color == colorimetry_from_caps("1:4:0:0", 720)
    assert video_format(caps).color.full_range and video_format(caps).color.matrix == "bt601"
    hd = Gst.Caps.from_string("video/x-raw,format=I420,width=1280,height=720,framerate=30/1")
    assert video_format(hd).color.matrix == "bt709" and not video_format(hd).color.full_range


@pytest.mark.parametrize("name,matrix,full", [
    ("bt601", "bt601", False), ("bt709", "bt709", False), ("bt2020", "bt2020", False),
    ("bt2020-10", "bt2020", False),  # 10-bit HEVC (Main10 HDR cameras) says this one
    ("bt2100-pq", "bt2020", False), ("bt2100-hlg", "bt2020", False), ("smpte240m", "smpte240m", False),
    ("2:6:14:9", "bt2020", False), ("1:3:5:1", "bt709", True)])
def test_named_and_coded_colorimetries(name, matrix, full):
    c = colorimetry_from_caps(name, 1080)
    assert (c.matrix, c.full_range) == (matrix, full)
    # GStreamer knows the name too (a caps string an upstream element could send)
    assert GstVideo.VideoColorimetry().from_string(name)


@pytest.mark.parametrize("low", [16, 0])
def test_i420_bt601_fast_path_is_exact_and_super_black_takes_the_general_path(low):
    """BT.601 limited I420 goes through OpenCV's fixed-point conversion when no luma is below
    16 (OpenCV clamps it there); either way the result is within 1 level of the exact formula."""
    from estuary.surface.colorimetry import Colorimetry
    from estuary.surface.convert import frame_to_rgba
    rng = np.random.default_rng(low)
    y = rng.integers(low, 236, (H, W), dtype=np.uint8)
    u = rng.integers(16, 241, (H // 2, W // 2), dtype=np.uint8)
    v = rng.integers(16, 241, (H // 2, W // 2), dtype=np.uint8)
    raw = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
    ours = frame_to_rgba([y, u, v], "I420", colorimetry=Colorimetry("bt601", False))[..., :3]
    assert np.abs(ours.astype(np.int16) - exact_rgb(raw, "I420", "bt601")).max() <= 1


@pytest.mark.parametrize("h,w", [(270, 480), (90, 160)])
def test_i420_fast_path_with_chroma_planes_that_are_not_whole_rows(h, w):
    """h % 4 == 2 (e.g. 480×270): each chroma plane ends mid-row in the packed I420 layout."""
    from estuary.surface.colorimetry import Colorimetry
    from estuary.surface.convert import frame_to_rgba, rgba_to
    rng = np.random.default_rng(h)
    y = rng.integers(16, 236, (h, w), dtype=np.uint8)
    u = rng.integers(16, 241, (h // 2, w // 2), dtype=np.uint8)
    v = rng.integers(16, 241, (h // 2, w // 2), dtype=np.uint8)
    ours = frame_to_rgba([y, u, v], "I420", colorimetry=Colorimetry("bt601", False))[..., :3]
    up = lambda c: np.repeat(np.repeat(c, 2, 0), 2, 1).astype(np.float64)  # noqa: E731
    yn, pb, pr = (y - 16.0) / 219.0, (up(u) - 128) / 224.0, (up(v) - 128) / 224.0
    r, b = yn + 2 * (1 - 0.299) * pr, yn + 2 * (1 - 0.114) * pb
    g = (yn - 0.299 * r - 0.114 * b) / (1 - 0.299 - 0.114)
    exact = np.clip(np.rint(np.stack([r, g, b], -1) * 255.0), 0, 255)
    assert np.abs(ours.astype(np.int16) - exact).max() <= 1
    nv12 = rgba_to(np.dstack([ours, np.full((h, w), 255, np.uint8)]), "NV12")
    assert nv12.shape == (h * 3 // 2, w)


@pytest.mark.parametrize("fmt, chroma_site, colorimetry", [
    ("I420", None, None), ("I420", "jpeg", None), ("I420", None, ("bt709", True)), ("NV12", None, None),
])
@pytest.mark.parametrize("h, w", [(241, 321), (241, 320), (240, 321), (1, 1)])
def test_odd_sized_frames_convert_as_the_frame_one_pixel_larger_cropped(fmt, chroma_site, colorimetry, h, w):
    """Odd sizes (a JPEG photo of 321×241, 4:4:4 video made 4:2:0) were refused ("must have even
    width and height"): their last chroma row/column serves one luma row/column, so the frame
    converts as the even frame around it, cropped (within a level: the even frame may take
    OpenCV's fixed-point fast path)."""
    from estuary.surface.colorimetry import Colorimetry
    from estuary.surface.convert import frame_to_rgba
    rng = np.random.default_rng(h * 1000 + w)
    H2, W2 = h + h % 2, w + w % 2
    y = rng.integers(16, 236, (H2, W2), dtype=np.uint8)
    c = rng.integers(16, 241, (3, H2 // 2, W2 // 2), dtype=np.uint8)
    col = Colorimetry(*colorimetry) if colorimetry else None
    planes = ([y, c[0], c[1]] if fmt == "I420" else
              [y, np.ascontiguousarray(np.stack([c[0], c[1]], -1).reshape(H2 // 2, W2))])
    even = frame_to_rgba(planes, fmt, colorimetry=col, chroma_site=chroma_site).astype(np.int16)
    odd = frame_to_rgba([planes[0][:h, :w]] + planes[1:], fmt, colorimetry=col, chroma_site=chroma_site)
    assert odd.shape == (h, w, 4)
    assert np.abs(odd.astype(np.int16) - even[:h, :w]).max() <= 1


def _through(fmt: str, colorimetry: str, w: int, h: int, path: str):
    """One smpte frame of ``fmt`` converted by videoconvert (reference) and by Estuary: through
    nvvideoconvert to raw RGBA, or batched by nvstreammux; (reference, ours) RGB as int16."""
    ours = ("nvvideoconvert ! video/x-raw,format=RGBA ! appsink name=ours emit-signals=true" if path == "convert" else
            f"m.sink_0 nvstreammux name=m batch-size=1 width={w} height={h} ! fakesink name=sink")
    p = Gst.parse_launch(
        f"videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format={fmt},width={w},height={h},"
        f"colorimetry={colorimetry} ! tee name=t t. ! queue ! videoconvert ! video/x-raw,format=RGBA ! "
        f"appsink name=ref emit-signals=true t. ! queue ! {ours}")
    got = {}

    def sample(name):
        def cb(sink):
            got[name] = _pixels(sink.emit("pull-sample").get_buffer(), w, h)
            return Gst.FlowReturn.OK
        return cb
    p.get_by_name("ref").connect("new-sample", sample("ref"))
    if path == "convert":
        p.get_by_name("ours").connect("new-sample", sample("ours"))
    else:
        def probe(pad, info):
            got["ours"] = batchmeta.get(info.get_buffer()).surface.frames[0].copy()
            return Gst.PadProbeReturn.OK
        p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    return got["ref"][..., :3].astype(np.int16), got["ours"][..., :3].astype(np.int16)


@pytest.mark.parametrize("path", ["convert", "mux"])
@pytest.mark.parametrize("w, h", [(320, 240), (17, 9)])
@pytest.mark.parametrize("colorimetry", ["bt601", "1:3:0:0"])
@pytest.mark.parametrize("fmt", ["YUY2", "UYVY", "YVYU", "NV21", "YV12"])
def test_camera_formats_convert_as_videoconvert_does(fmt, colorimetry, w, h, path):
    """USB (UVC) cameras' packed 4:2:2 (YUY2, UYVY, YVYU) and the chroma-swapped 4:2:0 formats
    (NV21, YV12) go into nvvideoconvert and nvstreammux as they come (`v4l2src ! nvvideoconvert`
    failed to link before: "can't handle caps"), with the caps' matrix and range, chroma
    interpolated as videoconvert does: within its 8-bit fast path's bias (limited range: up to
    5 levels, see _videoconvert_bias) of GStreamer's own conversion, at even and odd sizes."""
    ref, ours = _through(fmt, colorimetry, w, h, path)
    shifted = np.clip(np.rint(ours.astype(np.float64) + _videoconvert_bias(colorimetry)), 0, 255)
    assert np.abs(shifted - ref).mean() <= 1.5
    assert np.abs(ours - ref).max() <= (6 if colorimetry == "bt601" else 3)
