"""nvvideoconvert's src-crop, flip-method and dest-crop (accepted and ignored before: a camera
mounted upside down stayed upside down). Two layers: the geometry on arrays
(estuary.surface.transform), then the element on real frames, against numpy's own turns."""

from __future__ import annotations

import numpy as np
import pytest

from estuary.surface.transform import Geometry, flip, flipped_size, parse_crop

# numpy's reference for each GstNvDsVideoFlipMethod value
TURNS = {
    0: lambda a: a,
    1: lambda a: np.rot90(a, 1),               # counter-clockwise
    2: lambda a: np.rot90(a, 2),
    3: lambda a: np.rot90(a, -1),              # clockwise
    4: lambda a: a[:, ::-1],                   # horizontal flip
    5: lambda a: np.rot90(a, 2).swapaxes(0, 1),  # across the upper-right diagonal
    6: lambda a: a[::-1],                      # vertical flip
    7: lambda a: a.swapaxes(0, 1),             # across the upper-left diagonal (transpose)
}


@pytest.mark.parametrize("method", sorted(TURNS))
def test_flip_matches_numpy(method):
    img = np.random.default_rng(method).integers(0, 255, (6, 10, 4), dtype=np.uint8)
    got = flip(img, method)
    assert np.array_equal(got, TURNS[method](img))
    assert got.shape[:2][::-1] == flipped_size(10, 6, method)


@pytest.mark.parametrize("text, want", [
    ("", None), ("0:0:0:0", None), ("10:5:20:10", (10, 5, 20, 10)), (" 1:2:3:4 ", (1, 2, 3, 4)),
    ("1:2:3", ValueError), ("a:b:c:d", ValueError), ("-1:0:5:5", ValueError), ("0:0:0:5", ValueError),
])
def test_crops_are_left_top_width_height(text, want):
    if want is ValueError:
        with pytest.raises(ValueError, match="src-crop"):
            parse_crop(text, "src-crop")
    else:
        assert parse_crop(text, "src-crop") == want


def test_crop_turn_and_place():
    img = np.arange(8 * 12 * 4, dtype=np.uint8).reshape(8, 12, 4)
    out = np.full((12, 8, 4), 7, np.uint8)
    # the 4×6 block at (2, 1), turned clockwise (6×4), into the same size at (1, 3) of the output
    Geometry((2, 1, 4, 6), 3, (1, 3, 6, 4)).apply(img, out)
    assert np.array_equal(out[3:7, 1:7], np.rot90(img[1:7, 2:6], -1))
    assert out[:3].max() == 0 and out[7:].max() == 0 and out[:, 7:].max() == 0  # the rest black
    clamped = np.zeros((8, 12, 4), np.uint8)
    Geometry((10, 6, 50, 50)).apply(img, clamped)  # past the image: clamped to its 2×2 corner
    assert np.array_equal(clamped[0, 0], img[6, 10])


# -- the element -----------------------------------------------------------------------------------

from estuary.gst import Gst, capi  # noqa: E402

import pyds  # noqa: E402,F401 - registers the elements


def _frames(props: str, out_caps: str = "video/x-raw,format=RGBA", w: int = 64, h: int = 48):
    """(input frame, output frame) of one smpte test frame through nvvideoconvert ``props``."""
    p = Gst.parse_launch(
        f"videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,format=RGBA,width={w},height={h} ! tee name=t "
        f"t. ! queue ! appsink name=ref t. ! queue ! nvvideoconvert {props} ! {out_caps} ! appsink name=out")
    p.set_state(Gst.State.PLAYING)

    def pull(name):
        sample = p.get_by_name(name).emit("pull-sample")
        assert sample is not None, f"no frame at {name}"
        st = sample.get_caps().get_structure(0)
        W, H = st.get_int("width")[1], st.get_int("height")[1]
        with capi.map_buffer(hash(sample.get_buffer())) as m:
            return capi.as_array(m)[: W * H * 4].reshape(H, W, 4).copy()
    try:
        return pull("ref"), pull("out")
    finally:
        p.set_state(Gst.State.NULL)


@pytest.mark.parametrize("surfaces", [False, True])
@pytest.mark.parametrize("method", sorted(TURNS))
def test_flip_method_turns_the_frame(method, surfaces):
    caps = "video/x-raw(memory:NVMM),format=RGBA" if surfaces else "video/x-raw,format=RGBA"
    ref, out = _frames(f"flip-method={method}", caps)
    assert np.array_equal(out, TURNS[method](ref))


def test_src_crop_is_scaled_to_the_output_and_dest_crop_places_it():
    import cv2
    ref, out = _frames("src-crop=10:5:20:10")
    assert out.shape == ref.shape
    assert np.abs(out.astype(int) - cv2.resize(np.ascontiguousarray(ref[5:15, 10:30]), (64, 48)).astype(int)).max() <= 1
    ref, out = _frames("dest-crop=8:8:32:24 flip-method=2")
    assert np.array_equal(out[8:32, 8:40], cv2.resize(np.rot90(ref, 2), (32, 24), interpolation=cv2.INTER_LINEAR))
    assert out[:8].max() == 0 and out[32:].max() == 0


def test_a_camera_turned_before_the_muxer_is_batched_turned():
    """The usual place: each camera's frames, before nvstreammux."""
    from conftest import run_pipeline
    p = Gst.parse_launch(
        "videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=64,height=48 ! nvvideoconvert flip-method=3 ! "
        "video/x-raw(memory:NVMM),format=RGBA ! m.sink_0 nvstreammux name=m batch-size=1 width=48 height=64 ! "
        "fakesink name=sink")
    sizes = []

    def probe(_pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        sizes.extend((f.source_frame_width, f.source_frame_height) for f in bm.frames)
        return Gst.PadProbeReturn.OK
    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    assert sizes == [(48, 64)] * 3


@pytest.mark.parametrize("after, props", [
    ("nvmultistreamtiler width=64 height=48", "flip-method=2"),
    ("nvstreamdemux name=d d.src_0", "flip-method=3"),
    ("nvmultistreamtiler width=64 height=48", "src-crop=0:0:32:24"),
])
def test_a_tiled_or_demuxed_frame_is_turned_on_its_way_to_raw_video(after, props):
    """Where the guide says: after the tiler or nvstreamdemux, into raw video (an encoder)."""
    from conftest import run_pipeline
    from estuary.surface.transform import Geometry, parse_crop
    p = Gst.parse_launch(
        "videotestsrc num-buffers=2 pattern=smpte ! video/x-raw,format=RGBA,width=64,height=48 ! tee name=t "
        "t. ! queue ! appsink name=ref t. ! queue ! nvvideoconvert ! video/x-raw(memory:NVMM),format=RGBA ! "
        f"m.sink_0 nvstreammux name=m batch-size=1 width=64 height=48 ! {after} ! nvvideoconvert {props} ! "
        "video/x-raw,format=RGBA ! appsink name=out")
    p.set_state(Gst.State.PLAYING)
    got = {}
    for name in ("ref", "out"):
        sample = p.get_by_name(name).emit("pull-sample")
        st = sample.get_caps().get_structure(0)
        W, H = st.get_int("width")[1], st.get_int("height")[1]
        with capi.map_buffer(hash(sample.get_buffer())) as m:
            got[name] = capi.as_array(m)[: W * H * 4].reshape(H, W, 4).copy()
    p.set_state(Gst.State.NULL)
    kv = dict(item.split("=") for item in props.split())
    geom = Geometry(parse_crop(kv.get("src-crop", "")), int(kv.get("flip-method", 0)))
    want = np.empty(got["out"].shape, np.uint8)
    geom.apply(got["ref"], want)
    assert got["out"].shape[:2] == geom.default_size(64, 48)[::-1]
    assert np.abs(got["out"].astype(int) - want.astype(int)).max() <= 1


@pytest.mark.parametrize("sources, after, props, why", [
    (2, "", "flip-method=1", "apply to single frames: put this nvvideoconvert before nvstreammux"),
    (1, "nvmultistreamtiler width=64 height=48 ! ", "flip-method=2 ! video/x-raw(memory:NVMM)",
     "with raw video out (video/x-raw), not on batched surfaces"),
    (1, "", "src-crop=1:2:3", "src-crop '1:2:3': expected left:top:width:height"),
])
def test_what_cannot_be_done_is_an_error_saying_what_to_do(sources, after, props, why):
    from conftest import run_pipeline
    crop_before = props.startswith("src-crop")
    before = f"nvvideoconvert {props} ! " if crop_before else "nvvideoconvert ! "
    tail = "" if crop_before else f"{after}nvvideoconvert {props} ! "
    srcs = " ".join(f"videotestsrc num-buffers=3 ! video/x-raw,format=RGBA,width=64,height=48 ! {before}"
                    f"video/x-raw(memory:NVMM),format=RGBA ! m.sink_{i}" for i in range(sources))
    p = Gst.parse_launch(f"nvstreammux name=m batch-size={sources} width=64 height=48 ! {tail}fakesink {srcs}")
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.ERROR and why in msg.parse_error()[0].message, msg.parse_error()


@pytest.mark.parametrize("first, then", [
    ("", "src-crop=10:5:20:10"),                   # a digital zoom started while playing (pass-through before)
    ("src-crop=0:0:32:24", "src-crop=32:24:32:24"),  # a pan
    ("flip-method=2", "flip-method=0"),
    ("", "src-crop=1:2:3"),                        # a bad crop: a WARNING, the frames go on as before
])
def test_geometry_set_while_playing_applies_from_the_next_frame(first, then):
    """DeepStream apps change nvvideoconvert's src-crop while playing (digital pan and zoom):
    it was read at the stream's start only. Frames before the change follow ``first``, frames
    after it ``then``, each checked against estuary.surface.transform on the same input."""
    from estuary.surface.transform import Geometry
    w, h = 64, 48
    p = Gst.parse_launch(
        f"videotestsrc num-buffers=12 pattern=ball ! video/x-raw,format=RGBA,width={w},height={h},framerate=30/1 ! "
        f"tee name=t t. ! queue max-size-buffers=1 ! appsink name=ref sync=false max-buffers=1 "
        f"t. ! queue max-size-buffers=1 ! nvvideoconvert name=c {first} ! video/x-raw,format=RGBA ! "
        "appsink name=out sync=false max-buffers=1")
    conv = p.get_by_name("c")
    p.set_state(Gst.State.PLAYING)

    def pull(name):
        sample = p.get_by_name(name).emit("pull-sample")
        assert sample is not None, f"no frame at {name}"
        with capi.map_buffer(hash(sample.get_buffer())) as m:
            return capi.as_array(m)[: w * h * 4].reshape(h, w, 4).copy()

    def expect(props, ref):
        kv = dict(x.split("=", 1) for x in props.split()) if props else {}
        want = np.zeros_like(ref)
        try:
            geom = Geometry(parse_crop(kv.get("src-crop", ""), "src-crop"), int(kv.get("flip-method", 0)))
        except ValueError:
            return None
        geom.apply(ref, want) if geom else want.__setitem__(Ellipsis, ref)
        return want
    bus = p.get_bus()
    try:
        before = [(pull("ref"), pull("out")) for _ in range(3)]
        for kv in then.split():
            k, v = kv.split("=", 1)
            conv.set_property(k, int(v) if k == "flip-method" else v)
        after = [(pull("ref"), pull("out")) for _ in range(5)]
        warnings = []
        while (m := bus.pop_filtered(Gst.MessageType.WARNING)) is not None:
            warnings.append(m.parse_warning()[0].message)
    finally:
        p.set_state(Gst.State.NULL)
    for ref, out in before:
        assert np.abs(out.astype(int) - expect(first, ref).astype(int)).max() <= 1
    # frames converted before the change wait in the queue and the appsink: the last one shows it
    ref, out = after[-1]
    want = expect(then, ref)
    if want is None:  # refused: the frames go on as before, a WARNING says why, the property too
        assert np.abs(out.astype(int) - expect(first, ref).astype(int)).max() <= 1
        assert warnings and "src-crop" in warnings[0] and "last geometry stays" in warnings[0]
        assert conv.get_property("src-crop") == (dict(x.split("=", 1) for x in first.split()).get("src-crop", "")
                                                 if first else "")
    else:
        assert np.abs(out.astype(int) - want.astype(int)).max() <= 1
        assert not warnings


@pytest.mark.parametrize("fmt", ["RGBA", "I420"])
@pytest.mark.parametrize("method, par", [(0, "4/3"), (2, "4/3"), (1, "3/4"), (3, "3/4"), (7, "3/4")])
def test_a_quarter_turn_turns_the_pixel_aspect_ratio(method, par, fmt):
    """An anamorphic source (4:3 pixels) turned a quarter has 3:4 pixels: the caps said 4:3 and
    a player showed the turned picture stretched (session 17's "not done"); converted to
    another format (an encoder's I420) the ratio was dropped altogether (review finding)."""
    p = Gst.parse_launch(
        "videotestsrc num-buffers=1 ! video/x-raw,format=RGBA,width=64,height=48,pixel-aspect-ratio=4/3 ! "
        f"nvvideoconvert flip-method={method} ! video/x-raw,format={fmt} ! appsink name=out")
    p.set_state(Gst.State.PLAYING)
    try:
        sample = p.get_by_name("out").emit("pull-sample")
        st = sample.get_caps().get_structure(0)
    finally:
        p.set_state(Gst.State.NULL)
    _, n, d = st.get_fraction("pixel-aspect-ratio")
    assert f"{n}/{d}" == par
    assert (st.get_int("width")[1], st.get_int("height")[1]) == ((48, 64) if par == "3/4" else (64, 48))


def _raw_run(launch: str, change, frames: int = 4):
    """Run ``launch`` (its converter named ``c``, its last appsink ``out``, max-buffers=1), call
    ``change(conv)`` after two frames; returns (the last frame's array, warnings)."""
    p = Gst.parse_launch(launch)
    conv = p.get_by_name("c")
    p.set_state(Gst.State.PLAYING)
    last = None
    try:
        for k in range(frames):
            sample = p.get_by_name("out").emit("pull-sample")
            assert sample is not None
            st = sample.get_caps().get_structure(0)
            W, H = st.get_int("width")[1], st.get_int("height")[1]
            with capi.map_buffer(hash(sample.get_buffer())) as m:
                last = capi.as_array(m)[: W * H * 4].copy()
            if k == 1:
                change(conv)
        warnings = []
        while (m := p.get_bus().pop_filtered(Gst.MessageType.WARNING | Gst.MessageType.ERROR)) is not None:
            assert m.type == Gst.MessageType.WARNING, m.parse_error()
            warnings.append(m.parse_warning()[0].message)
    finally:
        p.set_state(Gst.State.NULL)
    return last, warnings


def test_a_crop_cleared_after_the_tiler_while_playing_takes_effect():
    """After the tiler (a batch of one on its way to raw video) a geometry set while playing was
    ignored, clearing it too (review finding): the last frame is the whole tile again."""
    launch = ("videotestsrc num-buffers=8 pattern=smpte ! video/x-raw,width=64,height=48,framerate=30/1 ! "
              "nvvideoconvert ! video/x-raw(memory:NVMM),format=RGBA ! m.sink_0 nvstreammux name=m batch-size=1 "
              "width=64 height=48 ! nvmultistreamtiler rows=1 columns=1 width=64 height=48 ! "
              "nvvideoconvert name=c src-crop=0:0:32:24 ! video/x-raw,format=RGBA ! appsink name=out max-buffers=1")
    cleared, warnings = _raw_run(launch, lambda c: c.set_property("src-crop", ""), frames=6)
    kept, _ = _raw_run(launch, lambda c: None, frames=6)
    whole, _ = _raw_run(launch.replace(" src-crop=0:0:32:24", ""), lambda c: None, frames=6)
    assert not warnings
    assert np.array_equal(cleared, whole) and not np.array_equal(kept, whole)


def test_a_crop_that_cannot_be_written_is_refused_with_a_warning():
    """An odd-sized I420 picture passing through cannot be written again (4:2:0 needs even
    sizes): a crop set while playing is a WARNING and the frames go on, not an ERROR that ended
    the pipeline (review finding)."""
    launch = ("videotestsrc num-buffers=6 ! video/x-raw,format=I420,width=17,height=9,framerate=30/1 ! "
              "nvvideoconvert name=c ! video/x-raw,format=I420 ! appsink name=out max-buffers=1")
    _, warnings = _raw_run(launch, lambda c: c.set_property("src-crop", "0:0:8:4"))
    assert warnings and "odd size" in warnings[0]
