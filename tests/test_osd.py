"""On-screen display: pixel-exact shapes and alpha blending, legible text (OCR), file and RTSP
outputs."""

import threading
import time

import cv2
import numpy as np
import pytest

import pyds
from estuary.gst import GLib, Gst
from estuary.meta.core import NvDsBatchMeta
from estuary.osd import DrawOptions, Drawer

from conftest import run_pipeline


def frame_with(setup, w=320, h=240, bg=(0, 0, 0)):
    img = np.zeros((h, w, 4), np.uint8)
    img[..., :3] = bg
    img[..., 3] = 255
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    setup(batch, f)
    Drawer().draw(img, f)
    return img


def add_display(batch, frame):
    dm = pyds.nvds_acquire_display_meta_from_pool(batch)
    pyds.nvds_add_display_meta_to_frame(frame, dm)
    return dm


def test_object_box_border_pixels_and_colour():
    def setup(batch, f):
        o = batch.acquire_object()
        r = o.rect_params
        r.left, r.top, r.width, r.height, r.border_width = 50, 40, 100, 60, 3
        r.border_color.set(1.0, 0.0, 0.0, 1.0)
        f.add_object(o)

    img = frame_with(setup)
    assert tuple(img[40, 100, :3]) == (255, 0, 0) and tuple(img[42, 100, :3]) == (255, 0, 0)
    assert tuple(img[43, 100, :3]) == (0, 0, 0)  # 3 px border exactly
    assert tuple(img[70, 50, :3]) == (255, 0, 0) and tuple(img[70, 149, :3]) == (255, 0, 0)
    assert tuple(img[70, 150, :3]) == (0, 0, 0) and tuple(img[70, 100, :3]) == (0, 0, 0)
    assert tuple(img[99, 100, :3]) == (255, 0, 0) and tuple(img[100, 100, :3]) == (0, 0, 0)


def test_fill_alpha_blending_is_exact():
    def setup(batch, f):
        dm = add_display(batch, f)
        dm.num_rects = 1
        r = dm.rect_params[0]
        r.left, r.top, r.width, r.height, r.border_width = 10, 10, 50, 50, 0
        r.has_bg_color = 1
        r.bg_color.set(0.0, 0.0, 1.0, 0.25)

    img = frame_with(setup, bg=(200, 100, 40))
    expected = np.round(np.array([200, 100, 40]) * 0.75 + np.array([0, 0, 255]) * 0.25)
    assert np.abs(img[30, 30, :3].astype(int) - expected).max() <= 1
    assert tuple(img[5, 5, :3]) == (200, 100, 40)


def test_lines_circles_and_translucent_line():
    def setup(batch, f):
        dm = add_display(batch, f)
        dm.num_lines, dm.num_circles = 2, 1
        ln = dm.line_params[0]
        ln.x1, ln.y1, ln.x2, ln.y2, ln.line_width = 20, 200, 300, 200, 4
        ln.line_color.set(0.0, 1.0, 0.0, 1.0)
        ln2 = dm.line_params[1]
        ln2.x1, ln2.y1, ln2.x2, ln2.y2, ln2.line_width = 20, 150, 300, 150, 6
        ln2.line_color.set(1.0, 1.0, 1.0, 0.5)
        c = dm.circle_params[0]
        c.xc, c.yc, c.radius = 160, 80, 30
        c.circle_color.set(1.0, 1.0, 0.0, 1.0)
        c.has_bg_color = 1
        c.bg_color.set(0.0, 0.0, 1.0, 1.0)

    img = frame_with(setup)
    assert tuple(img[200, 100, :3]) == (0, 255, 0) and tuple(img[190, 100, :3]) == (0, 0, 0)
    assert 120 <= img[150, 100, 0] <= 135  # white at 50 % over black
    assert tuple(img[80, 160, :3]) == (0, 0, 255)  # filled centre
    assert tuple(img[80, 190, :3]) == (255, 255, 0)  # outline on the radius
    assert tuple(img[80, 200, :3]) == (0, 0, 0)


@pytest.mark.parametrize("head,at_start,at_end", [(pyds.START_HEAD, True, False),
                                                   (pyds.END_HEAD, False, True),
                                                   (pyds.BOTH_HEAD, True, True)])
def test_arrow_heads(head, at_start, at_end):
    def setup(batch, f):
        dm = add_display(batch, f)
        dm.num_arrows = 1
        a = dm.arrow_params[0]
        a.x1, a.y1, a.x2, a.y2, a.arrow_width = 40, 120, 280, 120, 2
        a.arrow_head = head
        a.arrow_color.set(1.0, 1.0, 1.0, 1.0)

    img = frame_with(setup)
    # an arrow head has wings off the shaft near its tip
    start_wings = img[105:118, 42:60, 0].max() > 0 or img[123:136, 42:60, 0].max() > 0
    end_wings = img[105:118, 260:278, 0].max() > 0 or img[123:136, 260:278, 0].max() > 0
    assert start_wings == at_start and end_wings == at_end
    assert img[120, 160, 0] == 255


def test_text_is_legible_ocr():
    from rapidocr_onnxruntime import RapidOCR

    def setup(batch, f):
        o = batch.acquire_object()
        o.rect_params.width = o.rect_params.height = 0
        t = o.text_params
        t.display_text = "person 12"
        t.x_offset, t.y_offset = 30, 40
        t.font_params.font_name = "Serif"
        t.font_params.font_size = 20
        t.font_params.font_color.set(0.0, 0.0, 0.0, 1.0)
        t.set_bg_clr = 1
        t.text_bg_clr.set(1.0, 1.0, 1.0, 1.0)
        f.add_object(o)

    img = frame_with(setup, w=400, h=120, bg=(90, 90, 90))
    assert tuple(img[41, 31, :3]) == (255, 255, 255)  # background box starts at the offset
    result, _ = RapidOCR()(cv2.cvtColor(img, cv2.COLOR_RGBA2BGR))
    text = " ".join(r[1] for r in (result or []))
    assert "person" in text and "12" in text, text


def test_display_switches():
    def setup(batch, f):
        o = batch.acquire_object()
        o.rect_params.left, o.rect_params.top, o.rect_params.width, o.rect_params.height = 10, 10, 50, 50
        o.rect_params.border_width = 2
        o.rect_params.border_color.set(1, 1, 1, 1)
        f.add_object(o)

    img = np.zeros((100, 100, 4), np.uint8)
    b = NvDsBatchMeta(1)
    f = b.acquire_frame()
    setup(b, f)
    Drawer(DrawOptions(display_bbox=False)).draw(img, f)
    assert img.max() == 0


def test_osd_in_pipeline_to_mp4_file(tmp_path):
    out = tmp_path / "osd.mp4"
    p = Gst.parse_launch(
        "videotestsrc pattern=black num-buffers=8 ! video/x-raw,width=320,height=240 ! m.sink_0 "
        "nvstreammux name=m batch-size=1 width=320 height=240 ! identity name=add ! nvdsosd ! "
        f"nvvideoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast qp-max=18 ! mp4mux ! "
        f"filesink location={out}")

    def add(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            dm = pyds.nvds_acquire_display_meta_from_pool(bm)
            dm.num_rects = 1
            r = dm.rect_params[0]
            r.left, r.top, r.width, r.height, r.border_width = 100, 80, 120, 80, 0
            r.has_bg_color = 1
            r.bg_color.set(0.0, 1.0, 0.0, 1.0)
            dm.num_labels = 1
            t = dm.text_params[0]
            t.display_text = "Estuary 42"
            t.x_offset, t.y_offset = 20, 20
            t.font_params.font_name = "Sans"
            t.font_params.font_size = 18
            t.font_params.font_color.set(1.0, 1.0, 1.0, 1.0)
            pyds.nvds_add_display_meta_to_frame(f, dm)
        return Gst.PadProbeReturn.OK

    p.get_by_name("add").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, add)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    ok, img = cv2.VideoCapture(str(out)).read()
    assert ok
    g = img[100:140, 120:200].mean((0, 1))  # BGR
    assert g[1] > 200 and g[0] < 50 and g[2] < 50
    from rapidocr_onnxruntime import RapidOCR
    result, _ = RapidOCR()(img[0:70, 0:320])
    assert any("Estuary" in r[1] for r in (result or [])), result


def test_rtsp_output_reaches_a_loopback_client():
    from estuary.outputs import rtsp_sink_description, start_rtsp_server
    loop = GLib.MainLoop()
    t = threading.Thread(target=loop.run, daemon=True)
    rtsp_port, udp_port = 18554 + int(time.time()) % 500, 15400 + int(time.time()) % 500
    server = start_rtsp_server(rtsp_port=rtsp_port, udp_port=udp_port, path="/estuary")
    t.start()
    src = Gst.parse_launch(
        "videotestsrc is-live=true num-buffers=150 ! video/x-raw,width=320,height=240,framerate=30/1 ! m.sink_0 "
        "nvstreammux name=m batch-size=1 width=320 height=240 live-source=1 ! nvdsosd ! nvvideoconvert ! "
        f"video/x-raw,format=I420 ! {rtsp_sink_description(udp_port)}")
    src.set_state(Gst.State.PLAYING)
    time.sleep(0.5)
    client = Gst.parse_launch(
        f"rtspsrc location=rtsp://127.0.0.1:{rtsp_port}/estuary latency=100 protocols=tcp ! rtph264depay ! "
        "h264parse ! avdec_h264 ! fakesink name=out sync=false")
    frames = []
    client.get_by_name("out").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda pad, info: frames.append(1) or Gst.PadProbeReturn.OK)
    client.set_state(Gst.State.PLAYING)
    deadline = time.time() + 8
    while time.time() < deadline and len(frames) < 10:
        time.sleep(0.1)
    client.set_state(Gst.State.NULL)
    src.set_state(Gst.State.NULL)
    loop.quit()
    del server
    assert len(frames) >= 10


def test_headless_display_sink_discards_with_a_warning(monkeypatch, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    p = Gst.parse_launch("videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! m.sink_0 "
                         "nvstreammux name=m batch-size=1 width=64 height=48 ! nvegltransform ! "
                         "nveglglessink sync=false")
    assert run_pipeline(p).type == Gst.MessageType.EOS


def test_jpeg_snapshots(tmp_path):
    from estuary.outputs import jpeg_snapshot_bin
    p = Gst.parse_launch("videotestsrc pattern=red num-buffers=20 ! video/x-raw,width=64,height=48 ! m.sink_0 "
                         "nvstreammux name=m batch-size=1 width=64 height=48 ! nvdsosd ! nvvideoconvert name=c ! "
                         "video/x-raw,format=I420 ! identity name=last")
    snap = jpeg_snapshot_bin(str(tmp_path / "snap_%03d.jpg"), every=5)
    p.add(snap)
    p.get_by_name("last").link(snap)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    files = sorted(tmp_path.glob("snap_*.jpg"))
    assert len(files) == 4
    img = cv2.imread(str(files[0]))
    assert img.shape == (48, 64, 3) and img[..., 2].mean() > 200 and img[..., 1].mean() < 40


WILD = [float("nan"), float("inf"), -float("inf"), 1e30, -1e30, 2.0 ** 40, -5.0]


@pytest.mark.parametrize("v", WILD)
def test_wild_geometry_is_clipped_or_skipped_never_fatal(v):
    """User metadata with NaN/inf/huge values: the shape is clipped or skipped, the good box
    beside it is still drawn, and nothing raises (it used to stop the pipeline inside OpenCV)."""
    import math

    def setup(batch, f):
        bad = batch.acquire_object()
        r = bad.rect_params
        r.left = r.top = r.width = r.height = v
        r.border_width = 3
        bad.text_params.display_text = "wild"
        bad.text_params.x_offset = int(v) if math.isfinite(v) else 0
        bad.text_params.font_params.font_size = 10 ** 6
        f.add_object(bad)
        good = batch.acquire_object()
        g = good.rect_params
        g.left, g.top, g.width, g.height, g.border_width = 200, 150, 50, 40, 2
        g.border_color.set(0.0, 1.0, 0.0, 1.0)
        f.add_object(good)
        dm = add_display(batch, f)
        dm.num_lines = dm.num_circles = dm.num_arrows = 1
        ln, c, a = dm.line_params[0], dm.circle_params[0], dm.arrow_params[0]
        if math.isfinite(v):
            ln.x1, ln.y1, ln.x2, ln.y2, ln.line_width = int(max(min(v, 2**31 - 1), -2**31)), 0, 10, 10, 10 ** 6
            c.xc, c.yc, c.radius = 10, 10, int(min(abs(v), 2**31 - 1))
            a.x1, a.y1, a.x2, a.y2, a.arrow_width = 0, 0, int(max(min(v, 2**31 - 1), -2**31)), 5, 10 ** 6

    img = frame_with(setup)
    assert tuple(img[150, 220, :3]) == (0, 255, 0)  # the good box's top border
    try:
        import torch
    except ImportError:
        return  # the GPU drawing code is exercised on torch's CPU tensors where torch exists
    from estuary.osd import DrawOptions
    from estuary.osd.gpu import draw_gpu
    t = torch.zeros((240, 320, 4), dtype=torch.uint8)
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    setup(batch, f)
    draw_gpu(t, f, DrawOptions())
    assert tuple(t[150, 220, :3].tolist()) == (0, 255, 0)


def test_opaque_label_fast_path_gives_the_same_pixels_as_fill_and_blend():
    """Opaque text on an opaque background is drawn as one cached block; the pixels must be those
    of the general path (a background fill, then the text blended through its coverage)."""
    from estuary.osd import draw as D

    def setup(batch, f):
        o = batch.acquire_object()
        t = o.text_params
        t.display_text = "car 12 Ågé"
        t.x_offset, t.y_offset = 300, 230  # partly outside the frame: clipped the same way
        t.font_params.font_name, t.font_params.font_size = "Serif", 13
        t.font_params.font_color.set(0.3, 0.77, 0.91, 1.0)
        t.set_bg_clr = 1
        t.text_bg_clr.set(0.13, 0.5, 0.333, 1.0)
        o.rect_params.border_width = 0
        f.add_object(o)

    fast = frame_with(setup, bg=(7, 7, 7))
    slow = np.zeros_like(fast)
    slow[..., :3], slow[..., 3] = 7, 255
    mask = D.text_mask("car 12 Ågé", "Serif", D.font_pixels(13))
    bg = D._colour(0.13, 0.5, 0.333)
    fg = D._colour(0.3, 0.77, 0.91)
    D.blend_fill(slow, 300, 230, 300 + mask.shape[1], 230 + mask.shape[0], bg, 1.0)
    D.blend_mask(slow, 300, 230, mask, fg, 1.0)
    assert (fast != 7).any() and np.array_equal(fast, slow)


def _reference_draw(img, frame):
    """The drawer's contract in plain primitives: every rectangle (fill, then the four bands of
    its border), then every label (background fill, then the text blended through its mask)."""
    from estuary.osd import draw as D
    h, w = img.shape[:2]
    for o in frame.objects:
        r = o.rect_params
        x1, y1 = round(r.left), round(r.top)
        x2, y2 = round(r.left + r.width), round(r.top + r.height)
        if r.has_bg_color:
            c = r.bg_color
            D.blend_fill(img, x1, y1, x2, y2, D._colour(c.red, c.green, c.blue), c.alpha)
        bw = min(r.border_width, max(x2 - x1, y2 - y1, 0))
        c = r.border_color
        for ya, yb, xa, xb in D._bands(x1, y1, x2, y2, bw, w, h) if bw > 0 else ():
            D.blend_fill(img, xa, ya, xb, yb, D._colour(c.red, c.green, c.blue), c.alpha)
    for o in frame.objects:
        t = o.text_params
        if not t.display_text_str:
            continue
        fp = t.font_params
        mask = D.text_mask(t.display_text_str, fp.font_name_str, D.font_pixels(fp.font_size))
        if t.set_bg_clr:
            c = t.text_bg_clr
            D.blend_fill(img, t.x_offset, t.y_offset, t.x_offset + mask.shape[1], t.y_offset + mask.shape[0],
                         D._colour(c.red, c.green, c.blue), c.alpha)
        c = fp.font_color
        D.blend_mask(img, t.x_offset, t.y_offset, mask, D._colour(c.red, c.green, c.blue), c.alpha)


def _random_scene(batch, f, rng, translucent, grid):
    """Objects at random (overlapping, partly outside the frame) or one per grid cell (apart);
    opaque colours and labels on a background, or translucent colours and some labels without."""
    def colour(c):
        a = float(rng.choice([0.0, rng.uniform(0.05, 0.95)])) if translucent else 1.0
        c.set(*(float(v) for v in rng.random(3)), a)

    for i in range(48):
        o = batch.acquire_object()
        r = o.rect_params
        if grid:
            r.left, r.top = 10 + (i % 8) * 78 + rng.uniform(0, 4), 30 + (i // 8) * 75 + rng.uniform(0, 4)
            r.width, r.height = rng.uniform(20, 70), rng.uniform(10, 40)
        else:
            r.left, r.top = rng.uniform(-60, 640), rng.uniform(-40, 480)
            r.width, r.height = rng.uniform(1.5, 160), rng.uniform(0, 120)
        r.border_width = int(rng.integers(0, 7))
        colour(r.border_color)
        r.has_bg_color = int(rng.random() < 0.5)
        colour(r.bg_color)
        t = o.text_params
        t.display_text = f"id {i} Åg"
        t.x_offset = int(r.left) if grid else int(rng.integers(-40, 640))
        t.y_offset = int(r.top) - 22 if grid else int(rng.integers(-20, 480))
        t.font_params.font_name = str(rng.choice(["Serif", "Sans", "Mono"]))
        t.font_params.font_size = int(rng.integers(7, 11) if grid else rng.integers(6, 22))
        colour(t.font_params.font_color)
        t.set_bg_clr = int(rng.random() < 0.7) if translucent else 1
        colour(t.text_bg_clr)
        f.add_object(o)


@pytest.mark.parametrize("translucent,grid", [(False, False), (True, True)])
def test_drawer_pixels_are_those_of_the_reference_primitives(translucent, grid):
    """Opaque borders, fills and labels on an opaque background are exactly the plain fill +
    blend primitives, overlaps and clipping included; translucent fills and labels over the
    frame (blended by OpenCV in whole levels) are within one level of them."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        batch = NvDsBatchMeta(1)
        f = batch.acquire_frame()
        batch.add_frame(f)
        _random_scene(batch, f, rng, translucent, grid)
        img = rng.integers(0, 256, (480, 640, 4), dtype=np.uint8)
        img[..., 3] = 255
        ours, ref = img.copy(), img.copy()
        Drawer().draw(ours, f)
        _reference_draw(ref, f)
        diff = np.abs(ours.astype(int) - ref.astype(int))
        assert (ours != img).mean() > 0.05  # the scene draws a good part of the frame
        assert diff.max() <= (1 if translucent else 0), (seed, diff.max())
        assert (ours[..., 3] == 255).all()  # an opaque frame stays opaque


def test_labels_are_drawn_over_every_box():
    """DeepStream's order: all boxes first, then all labels, so a later object's box does not
    cover an earlier object's label."""
    def setup(batch, f):
        for left, top, label in ((20, 50, "first"), (10, 40, None)):
            o = batch.acquire_object()
            r = o.rect_params
            r.left, r.top, r.width, r.height, r.border_width = left, top, 120, 80, 6
            r.border_color.set(1.0, 0.0, 0.0, 1.0)
            if label:
                t = o.text_params
                t.display_text = label
                t.x_offset, t.y_offset = 5, 38  # across the second box's top border
                t.font_params.font_size = 12
                t.font_params.font_color.set(0.0, 0.0, 0.0, 1.0)
                t.set_bg_clr = 1
                t.text_bg_clr.set(1.0, 1.0, 1.0, 1.0)
            f.add_object(o)

    from estuary.osd.draw import font_pixels, text_mask
    lh, lw = text_mask("first", "Serif", font_pixels(12)).shape
    img = frame_with(setup)
    label = img[40:46, 10:5 + lw, :3].reshape(-1, 3)  # where the second box's top border crosses it
    assert not (label == (255, 0, 0)).all(axis=1).any()  # the label, not the border, is there
    assert tuple(img[41, 10 + lw, :3]) == (255, 0, 0)  # that border beside the label


def test_colours_composite_over_the_frames_alpha():
    def setup(batch, f):
        o = batch.acquire_object()
        r = o.rect_params
        r.left, r.top, r.width, r.height, r.border_width = 20, 20, 100, 60, 2
        r.border_color.set(0.0, 1.0, 0.0, 1.0)
        r.has_bg_color = 1
        r.bg_color.set(0.0, 0.0, 1.0, 0.25)
        f.add_object(o)

    img = np.zeros((120, 160, 4), np.uint8)  # fully transparent
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    setup(batch, f)
    Drawer().draw(img, f)
    assert tuple(img[20, 50]) == (0, 255, 0, 255)  # opaque border: opaque pixel
    assert abs(int(img[50, 50, 3]) - 64) <= 1 and abs(int(img[50, 50, 2]) - 64) <= 1  # 25 % over nothing
    assert tuple(img[5, 5]) == (0, 0, 0, 0)  # nothing drawn: untouched


def test_rgb_frames_are_drawn_too():
    def setup(batch, f):
        o = batch.acquire_object()
        r = o.rect_params
        r.left, r.top, r.width, r.height, r.border_width = 10, 10, 40, 30, 2
        r.border_color.set(1.0, 1.0, 0.0, 1.0)
        f.add_object(o)

    img = np.zeros((64, 64, 3), np.uint8)
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    setup(batch, f)
    Drawer().draw(img, f)
    assert tuple(img[10, 20]) == (255, 255, 0) and tuple(img[20, 20]) == (0, 0, 0)


def test_values_that_are_not_numbers_are_skipped_with_one_warning(caplog):
    from estuary.osd import draw as D
    D._warned.clear()

    def setup(batch, f):
        for left, font_size in ((10 ** 400, 10), ("left", 10), (5, float("nan"))):
            o = batch.acquire_object()
            o.rect_params.left, o.rect_params.top = left, 5
            o.rect_params.width = o.rect_params.height = 20
            o.rect_params.border_width = 2
            o.rect_params.border_color.set(1, 1, 1, 1)
            o.text_params.display_text = "x"
            o.text_params.font_params.font_size = font_size
            f.add_object(o)
        good = batch.acquire_object()
        g = good.rect_params
        g.left, g.top, g.width, g.height, g.border_width = 100, 100, 40, 40, 2
        g.border_color.set(0.0, 1.0, 0.0, 1.0)
        f.add_object(good)

    with caplog.at_level("WARNING", logger="estuary.osd"):
        img = frame_with(setup)
    assert tuple(img[100, 120, :3]) == (0, 255, 0)
    assert tuple(img[5, 10, :3]) == (255, 255, 255)  # the box at left=5 is drawn, its label skipped
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("skipped a rect" in m for m in warnings) == 1, warnings
    assert sum("skipped a text" in m for m in warnings) == 1, warnings


@pytest.mark.parametrize("big", [False, True])  # per-row Python and numpy geometry
def test_objects_stored_as_arrays_are_drawn_without_making_structs(caplog, big):
    """nvinfer writes a frame's objects as a table; the OSD draws it as it draws the structs made
    from it (same pixels), without making them; a non-finite box is skipped with a warning."""
    from estuary.meta.arrays import FrameObjects, ObjectStyle
    from estuary.osd import draw as D
    D._warned.clear()
    styles = [ObjectStyle(3, (1, 0, 0, 1), None, "Serif", 11, (1, 1, 1, 1), (0, 0, 0, 1)),
              ObjectStyle(2, (0, 1, 0, 0.5), (0, 0, 1, 0.3), "Sans", 9, (1, 1, 0, 1), None),
              ObjectStyle(5, (0.2, 0.3, 0.9, 1), (1, 1, 1, 1), None, 0, (0, 0, 0, 1), (1, 1, 1, 0.5)), None]
    rng = np.random.default_rng(3)
    n = 60 if big else 12
    xy = rng.uniform(-50, 600, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.3, 150, (n, 2))], 1)
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    table = f.append_objects(FrameObjects.detections(
        boxes, rng.random(n), rng.integers(0, 4, n), labels=[f"car {i}" for i in range(n)],
        style=[styles[i] for i in rng.integers(0, 4, n)], label_raise=20))
    table.boxes[7] = (np.nan, 10, 50, 60)  # a user's write into the live table
    img = rng.integers(0, 256, (480, 640, 4), dtype=np.uint8)
    img[..., 3] = 255
    from_arrays, from_structs = img.copy(), img.copy()
    with caplog.at_level("WARNING", logger="estuary.osd"):
        Drawer().draw(from_arrays, f)
    assert FrameObjects.from_frame(f).live  # still arrays: no struct was made
    assert sum("skipped a rect" in r.getMessage() for r in caplog.records) == 1
    assert len(f.objects) == n  # now the structs
    Drawer().draw(from_structs, f)
    assert (from_arrays != img).mean() > 0.02 and np.array_equal(from_arrays, from_structs)


def test_a_frame_the_osd_cannot_draw_on_is_a_clear_error():
    from estuary.errors import SurfaceError
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    f.add_object(batch.acquire_object())
    with pytest.raises(SurfaceError, match="RGBA"):
        Drawer().draw(np.zeros((8, 8, 4), np.float32), f)


def test_gpu_drawer_draws_objects_stored_as_arrays_as_their_structs():
    """The GPU OSD (on torch CPU tensors here) draws a frame's object table without making
    structs, with the pixels it gives the structs made from the same rows."""
    torch = pytest.importorskip("torch")
    from estuary.meta.arrays import FrameObjects, ObjectStyle
    from estuary.osd import DrawOptions
    from estuary.osd.gpu import draw_gpu
    styles = [ObjectStyle(3, (1, 0, 0, 1), None, "Serif", 11, (1, 1, 1, 1), (0, 0, 0, 1)),
              ObjectStyle(2, (0, 1, 0, 0.5), (0, 0, 1, 0.3), "Sans", 9, (1, 1, 0, 1), None), None]
    rng = np.random.default_rng(5)
    n = 20
    xy = rng.uniform(-30, 300, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 90, (n, 2))], 1)
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    f.append_objects(FrameObjects.detections(
        boxes, rng.random(n), rng.integers(0, 3, n), labels=[f"car {i}" for i in range(n)],
        style=[styles[i] for i in rng.integers(0, 3, n)], label_raise=20))
    base = torch.from_numpy(rng.integers(0, 256, (240, 320, 4), dtype=np.uint8))
    from_arrays, from_structs = base.clone(), base.clone()
    draw_gpu(from_arrays, f, DrawOptions())
    assert f.object_table() is not None  # still arrays: no struct was made
    assert len(f.objects) == n
    draw_gpu(from_structs, f, DrawOptions())
    assert (from_arrays != base).float().mean() > 0.02 and torch.equal(from_arrays, from_structs)
