"""Batching, surfaces, conversion, tiling and demuxing in real pipelines."""

import time

import numpy as np
import pytest

import pyds
from estuary.errors import SurfaceError
from estuary.gst import Gst
from estuary.gst.batchsurface import BatchSurface, FrameSurface, new_rgba_buffer

from conftest import run_pipeline

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255)}


def collect_batches(pipeline, probe_element="sink"):
    rows = []

    def probe(pad, info):
        buf = info.get_buffer()
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(buf))
        rows.append([(f.pad_index, f.source_id, f.batch_id, f.frame_num, f.buf_pts,
                      f.source_frame_width, f.source_frame_height) for f in bm.frames])
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name(probe_element).get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    return rows


def stream_eos_ids(messages):
    out = []
    for m in messages:
        if m.type == Gst.MessageType.ELEMENT and m.get_structure().has_name("stream-eos"):
            ok, sid = m.get_structure().get_uint("stream-id")
            assert ok
            out.append(sid)
    return out


@pytest.mark.parametrize("n", [1, 2, 4])
def test_mux_batches_n_sources(n):
    sizes = [(320, 240, 30), (160, 120, 15), (200, 100, 25), (64, 48, 30)][:n]
    counts = [20, 12, 16, 8][:n]
    srcs = " ".join(
        f"videotestsrc num-buffers={c} ! video/x-raw,width={w},height={h},framerate={fps}/1 ! m.sink_{i}"
        for i, ((w, h, fps), c) in enumerate(zip(sizes, counts)))
    p = Gst.parse_launch(f"nvstreammux name=m batch-size={n} width=128 height=96 ! fakesink name=sink {srcs}")
    rows = collect_batches(p)
    msgs = []
    msg = run_pipeline(p, on_message=msgs.append)
    assert msg.type == Gst.MessageType.EOS
    assert len(rows) == max(counts)  # one batch per frame time until the longest source ends
    frames = [r for batch in rows for r in batch]
    assert len(frames) == sum(counts)
    for i in range(n):
        mine = [r for r in frames if r[0] == i]
        assert [r[3] for r in mine] == list(range(counts[i]))  # frame_num per source from 0
        assert all(r[1] == i for r in mine)  # source_id == pad_index
        assert all((r[5], r[6]) == sizes[i][:2] for r in mine)
        pts = [r[4] for r in mine]
        assert pts == sorted(pts) and len(set(pts)) == len(pts)
    for batch in rows:
        assert [r[2] for r in batch] == list(range(len(batch)))  # batch_id = position
        assert len(batch) <= n
    assert sorted(stream_eos_ids(msgs)) == list(range(n))


def test_mux_output_caps_and_surface_shape():
    p = Gst.parse_launch("videotestsrc num-buffers=3 ! video/x-raw,width=320,height=240,format=I420 ! "
                         "m.sink_0 esmux name=m batch-size=1 width=160 height=120 ! fakesink name=sink")
    seen = []

    def probe(pad, info):
        buf = info.get_buffer()
        caps = pad.get_current_caps().to_string()
        arr = pyds.get_nvds_buf_surface(hash(buf), 0)
        seen.append((caps, arr.shape, arr.dtype, arr.flags.writeable))
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    run_pipeline(p)
    caps, shape, dtype, writable = seen[0]
    assert "memory:NVMM" in caps and "batch-size=(int)1" in caps and "RGBA" in caps
    assert shape == (120, 160, 4) and dtype == np.uint8 and writable


def test_source_added_and_removed_while_playing():
    p = Gst.Pipeline.new("p")
    mux = Gst.ElementFactory.make("nvstreammux", "m")
    mux.set_property("batch-size", 2)
    mux.set_property("width", 64)
    mux.set_property("height", 48)
    sink = Gst.ElementFactory.make("fakesink", "sink")
    sink.set_property("sync", False)
    p.add(mux)
    p.add(sink)
    mux.link(sink)

    def add_source(idx, pattern, num=-1):
        src = Gst.ElementFactory.make("videotestsrc", f"src{idx}")
        src.set_property("is-live", True)
        src.set_property("pattern", pattern)
        if num > 0:
            src.set_property("num-buffers", num)
        caps = Gst.ElementFactory.make("capsfilter", f"caps{idx}")
        caps.set_property("caps", Gst.Caps.from_string("video/x-raw,width=64,height=48,framerate=50/1"))
        p.add(src)
        p.add(caps)
        src.link(caps)
        pad = mux.request_pad_simple(f"sink_{idx}") if hasattr(mux, "request_pad_simple") \
            else mux.get_request_pad(f"sink_{idx}")
        caps.get_static_pad("src").link(pad)
        # downstream first: a live source started before its capsfilter pushes into a flushing
        # pad, gets FLUSHING and stops its task for good (a loaded machine lost the race 1 in 4)
        caps.sync_state_with_parent()
        src.sync_state_with_parent()
        return src, caps, pad

    def wait_for(cond, timeout=15.0):
        # polled, not slept: on a loaded machine a live source can take a second to start
        end = time.monotonic() + timeout
        while not cond() and time.monotonic() < end:
            time.sleep(0.05)
        assert cond(), f"timed out; batches so far: {[sorted(r[0] for r in b) for b in rows][-10:]}"

    rows = collect_batches(p)
    add_source(0, 0)
    p.set_state(Gst.State.PLAYING)
    wait_for(lambda: len(rows) > 4)
    src1 = add_source(1, 1)
    wait_for(lambda: sum(1 for b in rows if {r[0] for r in b} == {0, 1}) >= 3)
    # remove source 0: stop it, unlink, release the pad
    src0 = p.get_by_name("src0")
    caps0 = p.get_by_name("caps0")
    pad0 = caps0.get_static_pad("src").get_peer()
    src0.set_state(Gst.State.NULL)
    caps0.set_state(Gst.State.NULL)
    caps0.get_static_pad("src").unlink(pad0)
    mux.release_request_pad(pad0)
    p.remove(src0)
    p.remove(caps0)
    removed_at = len(rows)
    wait_for(lambda: sum(1 for b in rows[removed_at:] if {r[0] for r in b} == {1}) >= 5)
    p.set_state(Gst.State.NULL)
    sources = [set(r[0] for r in batch) for batch in rows]
    first_with_1 = next(i for i, s in enumerate(sources) if 1 in s)
    assert first_with_1 > 3 and all(s == {0} for s in sources[:first_with_1])
    assert any(s == {0, 1} for s in sources)
    assert sources[-1] == {1}  # after removal only source 1 flows
    assert [p_.get_name() for p_ in mux.sinkpads] == ["sink_1"]
    f1 = [r[3] for batch in rows for r in batch if r[0] == 1]
    assert f1 == list(range(len(f1)))


def test_releasing_a_pad_does_not_wait_for_downstream():
    # GstAggregator holds its SRC_LOCK while it releases a pad; the muxer used to push the
    # stream's EOS event right there, waiting for downstream (nvinfer drains its batches in
    # flight first). A sink waiting for PLAYING while the pipeline re-prerolled needed that lock
    # for the latency query: runtime-add-delete hung about 1 run in 80. Here downstream is held
    # (a probe blocks a batch) while the app releases a pad: the release must return at once,
    # and the stream's EOS event must still go downstream once the probe lets go.
    import threading
    from estuary.elements.tracker import STREAM_EOS
    from estuary import data
    p = Gst.parse_launch(
        "videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=30/1 ! m.sink_0 "
        "videotestsrc is-live=true pattern=1 ! video/x-raw,width=64,height=48,framerate=30/1 ! m.sink_1 "
        "nvstreammux name=m batch-size=2 width=64 height=48 batched-push-timeout=40000 ! "
        f"nvinfer infer-workers=2 config-file-path={data.model_path(data.PRIMARY_CONFIG)} ! "
        "fakesink name=sink sync=false")
    held, release, eos_ids = threading.Event(), threading.Event(), []

    def hold(pad, info):
        if info.type & Gst.PadProbeType.BUFFER:
            if not held.is_set():
                held.set()
                release.wait(30)
        else:
            st = info.get_event().get_structure()
            if st is not None and st.get_name() == STREAM_EOS:
                eos_ids.append(st.get_value("source-id"))
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM, hold)
    p.set_state(Gst.State.PLAYING)
    try:
        assert held.wait(60), "no batch reached the sink"
        mux = p.get_by_name("m")
        pad1 = mux.get_static_pad("sink_1")
        pad1.get_peer().unlink(pad1)
        # the held batch is the sink's preroll: the pipeline is still on its way to PLAYING,
        # as in the hang. The release runs on a thread, so that one that blocks fails the test
        # instead of hanging it
        done = threading.Event()
        threading.Thread(target=lambda: (mux.release_request_pad(pad1), done.set()), daemon=True).start()
        assert done.wait(5), "release_request_pad blocked: it waits for downstream"
    finally:
        release.set()
    end = time.monotonic() + 10
    while 1 not in eos_ids and time.monotonic() < end:
        time.sleep(0.05)
    p.set_state(Gst.State.NULL)
    assert eos_ids == [1]


def _mux_with_a_pad_nobody_feeds(unlink: bool):
    """Source 0 (30 frames) into sink_0; sink_1 requested and never linked, or linked to a
    source bin that is then removed without releasing the pad (``unlink``)."""
    p = Gst.parse_launch(
        "nvstreammux name=m batch-size=2 width=64 height=48 ! fakesink name=sink "
        "videotestsrc num-buffers=30 ! video/x-raw,width=64,height=48,framerate=30/1 ! m.sink_0")
    mux = p.get_by_name("m")
    orphan = mux.request_pad_simple("sink_1")
    if unlink:
        gone = Gst.parse_bin_from_description(
            "videotestsrc num-buffers=1 ! capsfilter caps=video/x-raw,width=64,height=48", True)
        gone.set_locked_state(True)  # never plays: a source removed before it gave anything
        p.add(gone)
        gone.get_static_pad("src").link(orphan)
        p.remove(gone)  # unlinks sink_1, leaves it requested
    return p, orphan


@pytest.mark.parametrize("unlink", [False, True], ids=["never linked", "source removed, pad kept"])
def test_a_muxer_pad_with_no_source_does_not_hold_up_the_others(unlink):
    """A sink pad that no source feeds (NVIDIA's runtime add/delete sample under load: a
    source deleted as it was added asks for its pad after its bin was removed; the link fails)
    held every batch for ever in a pipeline of file sources: the app hung. Now the pad is
    ended after a moment (2 s), without a stream-eos for a stream that never was."""
    p, _ = _mux_with_a_pad_nobody_feeds(unlink)
    rows = collect_batches(p)
    msgs = []
    t0 = time.monotonic()
    assert run_pipeline(p, timeout=20, on_message=msgs.append).type == Gst.MessageType.EOS
    assert sum(len(r) for r in rows) == 30 and {r[0] for b in rows for r in b} == {0}
    assert stream_eos_ids(msgs) == [0]
    assert time.monotonic() - t0 < 10


def test_a_muxer_whose_only_source_is_linked_late_waits_for_it():
    """With no source linked at all nothing is ended: an app may link its first source late."""
    p = Gst.parse_launch("nvstreammux name=m batch-size=1 width=64 height=48 ! fakesink name=sink")
    pad = p.get_by_name("m").request_pad_simple("sink_0")
    rows = collect_batches(p)
    src = Gst.parse_bin_from_description(
        "videotestsrc num-buffers=5 ! capsfilter caps=video/x-raw,width=64,height=48,framerate=30/1", True)

    def join():
        p.add(src)
        src.get_static_pad("src").link(pad)
        src.sync_state_with_parent()

    import threading
    threading.Timer(3.0, join).start()  # after the 2 s a pad without a source is given
    assert run_pipeline(p, timeout=20).type == Gst.MessageType.EOS
    assert sum(len(b) for b in rows) == 5


def test_a_muxer_pad_linked_late_still_gets_its_frames():
    """A pad ended for having no source takes frames again once one is linked to it."""
    p, orphan = _mux_with_a_pad_nobody_feeds(False)
    rows = collect_batches(p)
    late = Gst.parse_bin_from_description(
        "videotestsrc num-buffers=10 ! capsfilter caps=video/x-raw,width=64,height=48,framerate=30/1", True)
    p.get_by_name("sink").set_property("sync", True)  # source 0 lasts 1 s: the link comes in it

    def join():
        p.add(late)
        late.get_static_pad("src").link(orphan)
        late.sync_state_with_parent()

    import threading
    threading.Timer(2.5, join).start()  # after the pad was ended (2 s)
    msgs = []
    assert run_pipeline(p, timeout=20, on_message=msgs.append).type == Gst.MessageType.EOS
    got = [r[0] for b in rows for r in b]
    assert got.count(0) == 30 and got.count(1) == 10, got
    assert sorted(stream_eos_ids(msgs)) == [0, 1]


def test_live_timeout_pushes_partial_batches():
    timeout_us = 60000
    p = Gst.parse_launch(
        f"nvstreammux name=m batch-size=2 width=64 height=48 live-source=1 batched-push-timeout={timeout_us} ! "
        "fakesink name=sink sync=false "
        "videotestsrc is-live=true num-buffers=60 ! video/x-raw,width=64,height=48,framerate=30/1 ! m.sink_0 "
        "videotestsrc is-live=true num-buffers=6 ! video/x-raw,width=64,height=48,framerate=3/1 ! m.sink_1")
    arrivals = []
    latencies = []

    def probe(pad, info):
        buf = info.get_buffer()
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(buf))
        arrivals.append((time.monotonic(), [f.source_id for f in bm.frames]))
        running = p.get_clock().get_time() - p.get_base_time()
        latencies.append((running - buf.pts) / Gst.SECOND)
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    t0 = time.monotonic()
    run_pipeline(p, timeout=20)
    partial = [a for a in arrivals if a[1] == [0]]
    full = [a for a in arrivals if sorted(a[1]) == [0, 1]]
    assert len(partial) > 30 and len(full) >= 3  # the slow source did not hold back source 0
    n0 = sum(1 for a in arrivals for s in a[1] if s == 0)
    assert n0 == 60
    gaps = np.diff([a[0] for a in arrivals[10:]])
    # in steady state batches come at source 0's rate, not at the slow source's 333 ms period
    assert np.percentile(gaps, 95) < 0.1, gaps.max()
    # once running, latency is bounded by the sources' live latency (one frame of the slow
    # source, 333 ms: GStreamer's live-pipeline contract) plus the push timeout
    steady = latencies[-20:]
    assert max(steady) < 1 / 3 + timeout_us / 1e6 + 0.1, steady
    assert arrivals[-1][0] - t0 < 6


def test_probe_drawing_reaches_encoded_output(tmp_path):
    out = tmp_path / "drawn.mp4"
    p = Gst.parse_launch(
        "videotestsrc pattern=black num-buffers=10 ! video/x-raw,width=320,height=240 ! m.sink_0 "
        "nvstreammux name=m batch-size=1 width=320 height=240 ! nvvideoconvert name=conv ! "
        "video/x-raw(memory:NVMM),format=RGBA ! nvvideoconvert ! video/x-raw,format=I420 ! "
        f"x264enc speed-preset=ultrafast qp-max=20 ! mp4mux ! filesink location={out}")

    def probe(pad, info):
        buf = info.get_buffer()
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(buf))
        for f in bm.frames:
            frame = pyds.get_nvds_buf_surface(hash(buf), f.batch_id)
            frame[100:160, 50:150] = (255, 255, 255, 255)
            pyds.unmap_nvds_buf_surface(hash(buf), f.batch_id)
        return Gst.PadProbeReturn.OK

    p.get_by_name("conv").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    import cv2
    cap = cv2.VideoCapture(str(out))
    ok, img = cap.read()
    assert ok
    assert img[110:150, 60:140].mean() > 230  # the white box is in the decoded video
    assert img[10:60, 10:300].mean() < 30  # and the rest stayed black
    assert img[200:235, 200:300].mean() < 30


def appsink_frames(pipeline, name):
    sink = pipeline.get_by_name(name)
    frames = []

    def on_sample(s):
        sample = s.emit("pull-sample")
        buf = sample.get_buffer()
        st = sample.get_caps().get_structure(0)
        w, h = st.get_int("width")[1], st.get_int("height")[1]
        from estuary.gst import capi
        with capi.map_buffer(hash(buf)) as info:
            frames.append(capi.as_array(info)[: w * h * 4].reshape(h, w, 4).copy())
        return Gst.FlowReturn.OK

    sink.set_property("emit-signals", True)
    sink.connect("new-sample", on_sample)
    return frames


def solid_sources(names, w=160, h=120, n=4):
    patterns = {"red": 4, "green": 5, "blue": 6, "white": 3}
    return " ".join(f"videotestsrc num-buffers={n} pattern={patterns[c]} ! "
                    f"video/x-raw,width={w},height={h} ! m.sink_{i}" for i, c in enumerate(names))


def test_tiler_puts_source_k_in_tile_k():
    names = ["red", "green", "blue", "white"]
    p = Gst.parse_launch(
        f"nvstreammux name=m batch-size=4 width=160 height=120 ! "
        "nvmultistreamtiler rows=2 columns=2 width=320 height=240 name=tiler ! nvvideoconvert ! "
        f"video/x-raw,format=RGBA ! appsink name=out sync=false {solid_sources(names)}")
    tiles = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        tiles.append({f.source_id: f.tile for f in bm.frames})
        return Gst.PadProbeReturn.OK

    p.get_by_name("tiler").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    frames = appsink_frames(p, "out")
    assert run_pipeline(p).type == Gst.MessageType.EOS
    img = frames[-1]
    assert img.shape == (240, 320, 4)
    for k, name in enumerate(names):
        r, c = divmod(k, 2)
        tile = img[r * 120 + 10: r * 120 + 110, c * 160 + 10: c * 160 + 150, :3].reshape(-1, 3).mean(0)
        assert np.abs(tile - COLOURS[name]).max() < 20, (name, tile)
        assert tiles[-1][k] == (c * 160, r * 120, 160, 120)


def test_tiler_scales_object_boxes_into_tiles():
    p = Gst.parse_launch(
        f"nvstreammux name=m batch-size=2 width=160 height=120 ! identity name=add ! "
        "nvmultistreamtiler rows=1 columns=2 width=640 height=240 name=tiler ! fakesink name=sink "
        f"{solid_sources(['red', 'green'], n=2)}")

    def add(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            o = pyds.nvds_acquire_obj_meta_from_pool(bm)
            o.rect_params.left, o.rect_params.top = 10, 20
            o.rect_params.width, o.rect_params.height = 40, 30
            pyds.nvds_add_obj_meta_to_frame(f, o, None)
        return Gst.PadProbeReturn.OK

    boxes = []

    def read(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        boxes.append(sorted((f.source_id, f.batch_id, o.box) for f in bm.frames for o in f.objects))
        return Gst.PadProbeReturn.OK

    p.get_by_name("add").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, add)
    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, read)
    run_pipeline(p)
    assert boxes[0] == [(0, 0, (20.0, 40.0, 80.0, 60.0)), (1, 0, (340.0, 40.0, 80.0, 60.0))]


def test_demuxer_routes_each_source_to_its_pad():
    names = ["red", "blue", "green"]
    p = Gst.parse_launch(
        f"nvstreammux name=m batch-size=3 width=160 height=120 ! nvstreamdemux name=d "
        + " ".join(f"d.src_{i} ! queue ! nvvideoconvert ! video/x-raw,format=RGBA ! appsink name=o{i} sync=false"
                   for i in range(3))
        + " " + solid_sources(names, n=5))
    outs = [appsink_frames(p, f"o{i}") for i in range(3)]
    assert run_pipeline(p).type == Gst.MessageType.EOS
    for i, name in enumerate(names):
        assert len(outs[i]) == 5
        mean = outs[i][-1][..., :3].reshape(-1, 3).mean(0)
        assert np.abs(mean - COLOURS[name]).max() < 20, (name, mean)


def test_convert_roundtrip_raw_to_surface_to_raw():
    p = Gst.parse_launch(
        "videotestsrc num-buffers=2 pattern=blue ! video/x-raw,width=96,height=64,format=I420 ! "
        "esconvert ! video/x-raw(memory:NVMM),format=RGBA ! esconvert ! video/x-raw,format=BGRx ! "
        "esconvert ! video/x-raw,format=RGBA,width=48,height=32 ! appsink name=o sync=false")
    frames = appsink_frames(p, "o")
    assert run_pipeline(p).type == Gst.MessageType.EOS
    assert frames[0].shape == (32, 48, 4)
    assert np.abs(frames[0][..., :3].reshape(-1, 3).mean(0) - (0, 0, 255)).max() < 20


def test_wrong_link_fails_at_negotiation():
    with pytest.raises(Exception):
        Gst.parse_launch("videotestsrc ! video/x-raw,format=RGBA ! estiler ! fakesink")


def test_non_rgba_surface_raises_deepstream_message():
    buf = new_rgba_buffer(8, 8)
    surf = BatchSurface([FrameSurface(buf, 8, 8, color_format="NV12")], 1)
    with pytest.raises(SurfaceError, match="Currently we only support RGBA color Format"):
        surf.map_frame(0)


def test_probe_without_batch_meta_gets_clear_error():
    buf = Gst.Buffer.new_allocate(None, 16, None)
    with pytest.raises(SurfaceError, match="nvstreammux"):
        pyds.get_nvds_buf_surface(hash(buf), 0)


def test_scoped_pixels_and_writes_visible():
    buf = new_rgba_buffer(4, 2)
    surf = FrameSurface(buf, 4, 2)
    with surf.pixels() as px:
        px[1, 3] = (1, 2, 3, 4)
    assert tuple(surf.copy()[1, 3]) == (1, 2, 3, 4)


def test_fps_meter_format():
    from estuary.perf import FpsMeter
    m = FpsMeter(interval=1000, printer=None)
    for _ in range(10):
        m.tick(0)
    m.tick(1, 5)
    rep = m.report()
    assert set(rep) == {0, 1} and rep[0][0] > rep[1][0] > 0
    assert FpsMeter.format(rep).startswith("**PERF:  {'stream0': ")
    assert m.totals == {0: 10, 1: 5}


@pytest.fixture(scope="module")
def h264_clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    mp4, es = d / "clip.mp4", d / "clip.h264"
    for target, mux in ((mp4, "mp4mux"), (es, "video/x-h264,stream-format=byte-stream,alignment=au")):
        p = Gst.parse_launch(
            "videotestsrc num-buffers=20 pattern=green ! video/x-raw,width=160,height=120,framerate=20/1 ! "
            f"x264enc speed-preset=ultrafast ! video/x-h264,profile=high ! h264parse ! {mux} ! "
            f"filesink location={target}")
        assert run_pipeline(p).type == Gst.MessageType.EOS
    return mp4, es


def test_elementary_stream_through_nvv4l2decoder(h264_clip):
    _, es = h264_clip
    p = Gst.parse_launch(
        f"filesrc location={es} ! h264parse ! nvv4l2decoder ! m.sink_0 "
        "nvstreammux name=m batch-size=1 width=160 height=120 ! fakesink name=sink")
    means = []

    def probe(pad, info):
        buf = info.get_buffer()
        means.append(pyds.get_nvds_buf_surface(hash(buf), 0)[..., :3].reshape(-1, 3).mean(0))
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    assert len(means) == 20
    assert np.abs(means[-1] - COLOURS["green"]).max() < 25


def test_uri_source_bins_feed_the_muxer(h264_clip):
    from estuary.elements.decoder import make_source_bin
    mp4, _ = h264_clip
    p = Gst.Pipeline.new("p")
    mux = Gst.ElementFactory.make("nvstreammux", "m")
    mux.set_property("batch-size", 2)
    mux.set_property("width", 160)
    mux.set_property("height", 120)
    sink = Gst.ElementFactory.make("fakesink", "sink")
    p.add(mux)
    p.add(sink)
    mux.link(sink)
    for i, uri in enumerate((Gst.filename_to_uri(str(mp4)), str(mp4))):
        b = make_source_bin(i, uri)
        p.add(b)
        b.get_static_pad("src").link(mux.request_pad_simple(f"sink_{i}"))
    rows = collect_batches(p)
    msgs = []
    assert run_pipeline(p, on_message=msgs.append).type == Gst.MessageType.EOS
    frames = [r for batch in rows for r in batch]
    assert sorted(set(r[0] for r in frames)) == [0, 1] and len(frames) == 40
    assert sorted(stream_eos_ids(msgs)) == [0, 1]


def _source_bin_frames(mp4):
    """The RGBA frames a source bin gives for ``mp4`` and the type names of the elements inside."""
    from estuary.elements.decoder import make_source_bin
    from estuary.gst import all_elements
    p = Gst.Pipeline.new("p")
    sink = Gst.ElementFactory.make("fakesink", "sink")
    b = make_source_bin(0, str(mp4))
    p.add(b)
    p.add(sink)
    b.get_static_pad("src").link(sink.get_static_pad("sink"))
    frames, inside = [], set()

    def probe(pad, info):
        from estuary.gst import capi
        buf = info.get_buffer()
        with capi.map_buffer(hash(buf)) as m:
            frames.append(capi.as_array(m).copy())
        return Gst.PadProbeReturn.OK

    def walk(pad, info):
        inside.update(e.__gtype__.name for e in all_elements(b))
        return Gst.PadProbeReturn.REMOVE

    sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, walk)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    return frames, inside


def test_uri_source_bin_decodes_in_software_without_a_nested_esdecoder(h264_clip, monkeypatch):
    """Without NVDEC the source bin's uridecodebin plugs the software decoder itself and the
    bin's own esconvert makes the surfaces (an autoplugged esdecoder would parse and convert a
    second time, then hand its surfaces through the bin's esconvert): the same pixels either
    way."""
    from estuary.elements import urisrc
    if not urisrc._plain_decoder():
        pytest.skip("NVDEC decoders are installed: the source bin keeps esdecoder for them")
    mp4, _ = h264_clip
    plain, inside = _source_bin_frames(mp4)
    assert "EstuaryDecoder" not in inside and "EstuaryConvert" in inside, inside
    monkeypatch.setenv("ESTUARY_URISRC_ESDECODER", "1")
    nested, inside2 = _source_bin_frames(mp4)
    assert "EstuaryDecoder" in inside2, inside2
    assert len(plain) == len(nested) == 20
    assert all(np.array_equal(a, b) for a, b in zip(plain, nested))


@pytest.mark.parametrize("w, h, env, want", [
    (640, 272, None, 1), (1920, 1080, None, 1), (1920, 1088, None, 1), (2560, 1440, None, 0),
    (3840, 2160, None, 0), (640, 272, "", 1), (640, 272, "0", 0), (3840, 2160, "3", 3),
])
def test_decoder_threads_one_up_to_1080p_unless_told(w, h, env, want):
    from estuary.elements.decoder import decoder_threads
    assert decoder_threads(w, h, env) == want


@pytest.mark.parametrize("env", ["x", "-1", "1.5"])
def test_decoder_threads_bad_setting_says_what_to_give(env):
    from estuary.elements.decoder import decoder_threads
    from estuary.errors import ConfigError
    with pytest.raises(ConfigError, match="ESTUARY_DECODER_THREADS.*give"):
        decoder_threads(640, 272, env)


def _decoder_threads_seen(launch: str):
    """Runs ``launch`` (its sink named ``sink``); returns the final message, the frames that
    reached the sink and each libav decoder's ``max-threads`` once frames flowed."""
    from estuary.gst import all_elements
    p = Gst.parse_launch(launch)
    threads, n = {}, [0]

    def probe(pad, info):
        n[0] += 1
        for e in all_elements(p):
            f = e.get_factory()
            if f is not None and f.get_plugin_name() == "libav":
                threads[e.get_name()] = e.get_property("max-threads")
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    return run_pipeline(p), n[0], threads


@pytest.fixture(scope="module")
def big_clip(tmp_path_factory):
    """Three frames larger than 1080p."""
    mp4 = tmp_path_factory.mktemp("big") / "big.mp4"
    p = Gst.parse_launch(
        "videotestsrc num-buffers=3 pattern=green ! video/x-raw,width=2560,height=1440,format=I420,framerate=20/1 ! "
        f"x264enc speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location={mp4}")
    assert run_pipeline(p).type == Gst.MessageType.EOS
    return mp4


_DECODING_PATHS = {
    # the sample ports' source bin (esurisrcbin's uridecodebin plugs the software decoder)
    "source bin": "esurisrcbin uri={uri} ! fakesink name=sink",
    # deepstream-test1's decoder (esdecoder's decodebin)
    "nvv4l2decoder": "filesrc location={path} ! qtdemux ! {parse} ! nvv4l2decoder ! fakesink name=sink",
    # deepstream-test3's uridecodebin, which autoplugs esdecoder
    "uridecodebin": "uridecodebin uri={uri} ! fakesink name=sink",
}


def _launch(path: str, mp4, parse: str = "h264parse") -> str:
    return _DECODING_PATHS[path].format(uri=Gst.filename_to_uri(str(mp4)), path=mp4, parse=parse)


@pytest.mark.parametrize("mux, ext", [("mpegtsmux", "ts"), ("matroskamux", "mkv"), ("flvmux", "flv")])
def test_nvurisrcbin_plays_h264_in_any_container(mux, ext, tmp_path):
    """An MPEG-TS input (files, and the MP2T of RTSP cameras, HLS and UDP streams) failed at
    once: tsdemux's stream-collection message shares bits with WARNING, and the source took it
    for a warning to redact (AttributeError, an ERROR on the bus)."""
    path = tmp_path / f"clip.{ext}"
    enc = Gst.parse_launch(f"videotestsrc num-buffers=30 ! video/x-raw,width=160,height=120 ! x264enc ! h264parse ! "
                           f"{mux} ! filesink location={path}")
    assert run_pipeline(enc).type == Gst.MessageType.EOS
    p = Gst.parse_launch(f"nvurisrcbin uri={Gst.filename_to_uri(str(path))} ! fakesink name=sink")
    frames = []
    p.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda _p, _i: frames.append(1) or Gst.PadProbeReturn.OK)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    assert len(frames) == 30


@pytest.mark.parametrize("path", ["source bin", "nvv4l2decoder"])
@pytest.mark.parametrize("interval, frames", [(0, 250), (1, 250), (3, 84), (5, 50), (30, 9)])
def test_drop_frame_interval_outputs_every_nth_frame(path, interval, frames):
    """nvurisrcbin's and nvv4l2decoder's drop-frame-interval (apps set it to run analytics on a
    fraction of a camera's frames): accepted and ignored before, so every frame went on; now the
    first and every n-th after it (the bundled clip: 250 frames)."""
    from estuary import data
    clip = data.media_path("bikes.mp4")
    launch = _launch(path, clip).replace(" ! fakesink", f" drop-frame-interval={interval} ! fakesink", 1)
    p = Gst.parse_launch(launch)
    pts = []
    p.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda _p, info: pts.append(info.get_buffer().pts) or Gst.PadProbeReturn.OK)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    assert len(pts) == frames
    step = {b - a for a, b in zip(pts, pts[1:])}
    assert len({round(d / 1e6) for d in step}) == 1  # evenly spaced: every n-th frame


def _reference_pictures(clip) -> tuple[list[int], list[int], list[int]]:
    """PTS of every access unit of ``clip``'s H.264, of its key frames (no DELTA_UNIT after the
    parser) and of those with a reference slice (``nal_ref_idc`` > 0 on the first slice NAL:
    read here on the length-prefixed 'avc' stream, independently of estuary.codec.nal)."""
    p = Gst.parse_launch(f"filesrc location={clip} ! qtdemux ! h264parse ! video/x-h264,stream-format=avc ! "
                         "fakesink name=sink")
    every, keys, ref = [], [], []

    def seen(_pad, info):
        b = info.get_buffer()
        ok, mi = b.map(Gst.MapFlags.READ)
        data = bytes(mi.data)
        b.unmap(mi)
        every.append(b.pts)
        if not b.has_flags(Gst.BufferFlags.DELTA_UNIT):
            keys.append(b.pts)
        pos = 0
        while pos + 4 < len(data):
            size = int.from_bytes(data[pos: pos + 4], "big")
            nal = data[pos + 4]
            if 1 <= nal & 0x1F <= 5:
                if nal & 0x60:
                    ref.append(b.pts)
                break
            pos += 4 + size
        return Gst.PadProbeReturn.OK
    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, seen)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    return every, keys, ref


@pytest.mark.parametrize("path, prop", [("source bin", "dec-skip-frames"), ("nvv4l2decoder", "skip-frames"),
                                        ("uridecodebin", None)])
@pytest.mark.parametrize("mode", ["decode_all", "decode_non_ref", "decode_key", "2"])
def test_skip_frames_decodes_what_it_says(path, prop, mode):
    """nvv4l2decoder's skip-frames and nvurisrcbin's dec-skip-frames (accepted and ignored
    before): decode_key hands only the key frames to the decoder (the bundled clip: 6 of 250, at
    their own times); decode_non_ref leaves out the pictures no other refers to (nal_ref_idc 0)
    and decodes the rest, at their own times; decode_all everything. Through an app's
    uridecodebin the decoder is found by its name, as NVIDIA's apps find "nvv4l2decoder"."""
    from estuary import data
    clip = data.media_path("bikes.mp4")
    every, keys, ref = _reference_pictures(clip)
    assert 1 < len(keys) < len(ref) < len(every) == 250
    launch = _launch(path, clip)
    if prop:
        launch = launch.replace(" ! fakesink", f" {prop}={mode} ! fakesink", 1)
    p = Gst.parse_launch(launch)
    if prop is None:
        p.connect("deep-element-added", lambda _b, _s, e: e.set_property("skip-frames", 2 if mode == "2" else mode)
                  if e.get_name().find("nvv4l2decoder") != -1 else None)
    pts = []
    p.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda _p, info: pts.append(info.get_buffer().pts) or Gst.PadProbeReturn.OK)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    want = {"decode_all": sorted(every), "decode_non_ref": sorted(ref)}.get(mode, keys)
    assert pts == want, (len(pts), len(want))


@pytest.mark.parametrize("path", list(_DECODING_PATHS))
@pytest.mark.parametrize("clip, env, want", [("small", None, 1), ("small", "0", 0), ("big", None, 0)])
def test_software_decoders_get_their_threads_from_the_frame_size(path, clip, env, want, h264_clip,
                                                                 big_clip, monkeypatch):
    """Up to 1080p a libav decoder runs on one thread (less CPU a frame where inference keeps
    the cores busy); larger frames and ``ESTUARY_DECODER_THREADS=0`` keep libav's own choice."""
    mp4 = h264_clip[0] if clip == "small" else big_clip
    if env is not None:
        monkeypatch.setenv("ESTUARY_DECODER_THREADS", env)
    msg, frames, threads = _decoder_threads_seen(
        _launch(path, mp4))
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    assert frames == (20 if clip == "small" else 3)
    assert list(threads.values()) == [want], threads


def test_bad_decoder_threads_setting_is_an_error_naming_it(h264_clip, monkeypatch):
    monkeypatch.setenv("ESTUARY_DECODER_THREADS", "many")
    msg, _, _ = _decoder_threads_seen(_launch("source bin", h264_clip[0]))
    assert msg.type == Gst.MessageType.ERROR
    assert "ESTUARY_DECODER_THREADS='many': give a number of threads" in msg.parse_error()[0].message


def test_one_decoder_thread_gives_the_same_pixels(h264_clip, monkeypatch):
    one, _ = _source_bin_frames(h264_clip[0])
    monkeypatch.setenv("ESTUARY_DECODER_THREADS", "0")
    auto, _ = _source_bin_frames(h264_clip[0])
    assert len(one) == len(auto) == 20
    assert all(np.array_equal(a, b) for a, b in zip(one, auto))


@pytest.fixture(scope="module")
def format_clips(tmp_path_factory):
    """Green H.264 clips in the formats of H.264's 4:4:4, 4:2:2 and 10-bit profiles (and
    8-bit 4:2:0 to compare), and H.265 Main10 (today's cameras): what ``esconvert`` does not
    read itself."""
    d = tmp_path_factory.mktemp("formats")
    out = {}
    for name, fmt, codec in (("I420", "I420", "264"), ("Y444", "Y444", "264"), ("Y42B", "Y42B", "264"),
                             ("I420_10LE", "I420_10LE", "264"), ("HEVC Main10", "I420_10LE", "265")):
        out[name] = d / f"{name.replace(' ', '-')}.mp4"
        p = Gst.parse_launch(
            f"videotestsrc num-buffers=5 pattern=green ! video/x-raw,format={fmt},width=320,height=240,"
            f"framerate=20/1 ! x{codec}enc speed-preset=ultrafast ! h{codec}parse ! mp4mux ! "
            f"filesink location={out[name]}")
        assert run_pipeline(p).type == Gst.MessageType.EOS
    return out


def _frame_means(launch: str):
    """Runs ``launch`` (its sink named ``sink``, RGBA surfaces in); returns the final message
    and each frame's mean R, G, B."""
    from estuary.gst import capi
    p = Gst.parse_launch(launch)
    means = []

    def probe(pad, info):
        with capi.map_buffer(hash(info.get_buffer())) as m:
            means.append(capi.as_array(m).reshape(-1, 4)[:, :3].mean(0))
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    return run_pipeline(p), means


@pytest.mark.parametrize("path", list(_DECODING_PATHS))
@pytest.mark.parametrize("fmt", ["Y444", "Y42B", "I420_10LE", "HEVC Main10"])
def test_4_2_2_4_4_4_and_10_bit_video_decodes_to_surfaces(path, fmt, format_clips):
    """Before, these stopped with "not-negotiated" (esconvert reads 8-bit 4:2:0 and RGB
    formats): now GStreamer's videoconvert goes between, and the pixels are those of the
    8-bit 4:2:0 clip of the same picture."""
    def means(f):
        mp4 = format_clips[f]
        msg, got = _frame_means(_launch(path, mp4, "h265parse" if "HEVC" in f else "h264parse"))
        assert msg.type == Gst.MessageType.EOS, msg.parse_error()
        return got
    got, ref = means(fmt), means("I420")
    assert len(got) == len(ref) == 5
    assert np.abs(np.array(got) - np.array(ref)).max() < 3, (got[0], ref[0])
    assert np.abs(got[0] - COLOURS["green"]).max() < 25


@pytest.mark.parametrize("fmt", ["I420", "Y444"])
def test_a_restarted_source_bin_plays_a_converted_format_again(fmt, format_clips):
    """EOS, READY, PLAYING again: a 4:4:4 stream (videoconvert between decoder and esconvert)
    said "has no video stream that can be decoded" on the second run — the first run's
    converter still held esconvert's input."""
    p = Gst.parse_launch(f"nvurisrcbin uri=file://{format_clips[fmt]} ! fakesink name=sink sync=false")
    frames = []
    p.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda _p, _i: frames.append(1) or Gst.PadProbeReturn.OK)
    for run in (1, 2):
        p.set_state(Gst.State.PLAYING)
        msg = p.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        assert msg is not None and msg.type == Gst.MessageType.EOS, (run, msg and msg.parse_error())
        p.set_state(Gst.State.READY)
    p.set_state(Gst.State.NULL)
    assert len(frames) == 10


def test_a_decoder_plugged_by_uridecodebin_is_fed_by_its_thread(tmp_path):
    """A JPEG photo through uridecodebin: the outer typefind hands the file to esdecoder with no
    parser between, and esdecoder's own typefind took it in pull mode, pushing frames from a
    thread of its own before uridecodebin had linked esdecoder's output ("not-linked": the
    odd-sized photo test above failed 2-40 % of runs under load; GStreamer's jpegdec never).
    Now the inner typefind runs in push mode, fed by the outer one."""
    jpg = tmp_path / "photo.jpg"
    assert run_pipeline(Gst.parse_launch(
        f"videotestsrc num-buffers=1 ! video/x-raw,width=320,height=240 ! jpegenc ! filesink location={jpg}")
    ).type == Gst.MessageType.EOS
    p = Gst.parse_launch(f"uridecodebin name=u uri={Gst.filename_to_uri(str(jpg))} ! fakesink")
    typefinds = []
    p.get_by_name("u").connect("deep-element-added", lambda _b, _s, el: typefinds.append(el) if (
        el.get_factory() is not None and el.get_factory().get_name() == "typefind") else None)
    p.set_state(Gst.State.PAUSED)
    p.get_state(10 * Gst.SECOND)
    from estuary.elements.decoder import EsDecoder  # (plugged as esdecoder or nvv4l2decoder)
    inner = [t for t in typefinds if isinstance(t.get_parent().get_parent(), EsDecoder)]
    modes = [t.get_static_pad("sink").mode for t in inner]
    p.set_state(Gst.State.NULL)
    assert modes == [Gst.PadMode.PUSH]


@pytest.mark.parametrize("caps, want", [
    (None, True),  # not known yet: 4:2:0, the usual case
    ("video/x-h265, profile=main-10, chroma-format=4:2:0, bit-depth-luma=10", True),
    ("video/x-h265, profile=main-444, chroma-format=4:4:4", False),
    ("video/x-h265, profile=main-422-10", False),  # no chroma-format: the profile says
    ("video/x-h264, profile=high-4:4:4", False),
    ("video/x-h264, profile=high-4:2:2-intra", False),
    ("video/x-h264, profile=high", True),
    ("video/x-h264, chroma-format=4:0:0", False),  # monochrome: NVDEC's output is no NV12 either
    ("image/jpeg, sampling=YCbCr-4:2:0", True),  # jpegparse's field
    ("image/jpeg, sampling=YCbCr-4:4:4", False),
    ("image/jpeg, sampling=GRAYSCALE", False),
])
def test_nvdec_output_stays_on_the_gpu_only_for_4_2_0_streams(caps, want):
    """NVDEC decodes 4:2:0 into NV12 / P010 / P016, which the muxer converts on the GPU; other
    chroma formats are decoded into system memory (GStreamer's NVDEC decoders pick CUDA memory
    whenever it is offered, whatever the layout, and would stop with "not-negotiated")."""
    from estuary.elements.decoder import chroma_420
    assert chroma_420(Gst.Caps.from_string(caps) if caps else None) is want


@pytest.mark.parametrize("path", ["source bin", "uridecodebin"])
def test_an_odd_sized_jpeg_photo_decodes_to_surfaces(path, tmp_path):
    """A 321×241 JPEG (jpegdec gives odd-sized I420) was refused: "I420 frames must have even
    width and height"."""
    jpg = tmp_path / "odd.jpg"
    p = Gst.parse_launch("videotestsrc num-buffers=1 pattern=green ! video/x-raw,format=I420,width=321,height=241 "
                         f"! jpegenc ! filesink location={jpg}")
    assert run_pipeline(p).type == Gst.MessageType.EOS
    msg, means = _frame_means(_launch(path, jpg))
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    assert len(means) == 1 and np.abs(means[0] - COLOURS["green"]).max() < 25, means


def test_missing_file_source_gives_clear_error(tmp_path):
    from estuary.elements.decoder import make_source_bin
    from estuary.errors import SourceError
    with pytest.raises(SourceError, match="no such file"):
        make_source_bin(0, str(tmp_path / "nope.mp4"))


def test_deepstream_test3_source_bin_gets_nvmm_from_uridecodebin(h264_clip):
    """An unmodified DeepStream source bin links the decoded pad only if it is memory:NVMM."""
    mp4, _ = h264_clip
    errors = []

    def cb_newpad(decodebin, decoder_src_pad, data):
        caps = decoder_src_pad.get_current_caps()
        gststruct = caps.get_structure(0)
        features = caps.get_features(0)
        if gststruct.get_name().find("video") != -1:
            if features.contains("memory:NVMM"):
                bin_ghost_pad = data.get_static_pad("src")
                if not bin_ghost_pad.set_target(decoder_src_pad):
                    errors.append("Failed to link decoder src pad to source bin ghost pad")
            else:
                errors.append("Decodebin did not pick nvidia decoder plugin.")

    def decodebin_child_added(child_proxy, obj, name, user_data):
        if name.find("decodebin") != -1:
            obj.connect("child-added", decodebin_child_added, user_data)

    nbin = Gst.Bin.new("source-bin-00")
    uri_decode_bin = Gst.ElementFactory.make("uridecodebin", "uri-decode-bin")
    uri_decode_bin.set_property("uri", Gst.filename_to_uri(str(mp4)))
    uri_decode_bin.connect("pad-added", cb_newpad, nbin)
    uri_decode_bin.connect("child-added", decodebin_child_added, nbin)
    Gst.Bin.add(nbin, uri_decode_bin)
    nbin.add_pad(Gst.GhostPad.new_no_target("src", Gst.PadDirection.SRC))
    p = Gst.Pipeline.new("p")
    mux = Gst.ElementFactory.make("nvstreammux", "m")
    mux.set_property("batch-size", 1)
    mux.set_property("width", 160)
    mux.set_property("height", 120)
    sink = Gst.ElementFactory.make("fakesink", "sink")
    for e in (nbin, mux, sink):
        p.add(e)
    mux.link(sink)
    nbin.get_static_pad("src").link(mux.request_pad_simple("sink_0"))
    rows = collect_batches(p)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    assert errors == []
    assert len(rows) == 20


def test_enable_padding_letterboxes():
    p = Gst.parse_launch(
        "videotestsrc num-buffers=1 pattern=white ! video/x-raw,width=200,height=100 ! m.sink_0 "
        "esmux name=m batch-size=1 width=200 height=200 enable-padding=1 ! fakesink name=sink")
    seen = []

    def probe(pad, info):
        seen.append(np.array(pyds.get_nvds_buf_surface(hash(info.get_buffer()), 0)))
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    run_pipeline(p)
    img = seen[0]
    assert img[:45, :, :3].max() == 0 and img[-45:, :, :3].max() == 0  # black bars
    assert img[60:140, 10:190, :3].min() > 240  # the white image, scaled 1:1 in width


def test_missing_camera_gives_clear_error():
    from estuary.elements.decoder import make_source_bin
    from estuary.errors import SourceError
    with pytest.raises(SourceError, match="no camera at /dev/video99"):
        make_source_bin(0, "/dev/video99")


_OPENH264_ONLY = """
import sys
from estuary.gst import Gst
from estuary import data
import estuary.elements  # noqa: F401 - registers esdecoder (nvv4l2decoder) and esurisrcbin
path = data.media_path("bikes.mp4")
p = Gst.parse_launch(sys.argv[1].replace("PATH", path) + " ! fakesink name=sink")
plugged, frames = [], [0]
p.connect("deep-element-added", lambda _b, _s, e: plugged.append(e.get_factory().get_name() if e.get_factory() else ""))
def count(_pad, _info):
    frames[0] += 1
    return Gst.PadProbeReturn.OK
p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, count)
p.set_state(Gst.State.PLAYING)
m = p.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
p.set_state(Gst.State.NULL)
print(m.type.first_value_nick if m else "timeout", frames[0], ",".join(sorted(set(plugged))))
if m is not None and m.type == Gst.MessageType.ERROR:
    print(m.parse_error()[0].message)
"""


@pytest.mark.parametrize("launch", [
    "esurisrcbin uri=file://PATH",                                   # esurisrcbin's own decoder choice
    "uridecodebin uri=file://PATH",                                  # an app's uridecodebin: esdecoder inside
    "filesrc location=PATH ! qtdemux ! h264parse ! nvv4l2decoder",   # deepstream-test1's chain
], ids=["esurisrcbin", "uridecodebin", "nvv4l2decoder"])
def test_h264_from_mp4_with_openh264_as_the_only_decoder(launch):
    """Without gst-libav (Fedora's default install; the GPU machine) openh264dec decodes H.264.
    It takes byte-stream only; the parser used to settle on "avc" because esdecoder's caps were
    among the candidates' (and esdecoder was then refused): "missing a plug-in" on every MP4."""
    if Gst.ElementFactory.find("openh264dec") is None:
        pytest.skip("GStreamer's openh264 plugin is not installed (gstreamer1.0-plugins-bad)")
    import os
    import subprocess
    import sys
    env = dict(os.environ, GST_PLUGIN_FEATURE_RANK="avdec_h264:NONE")
    r = subprocess.run([sys.executable, "-c", _OPENH264_ONLY, launch], capture_output=True, text=True,
                       timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    status, frames, plugged = r.stdout.split("\n", 1)[0].split(" ")
    assert status == "eos", r.stdout
    assert "openh264dec" in plugged.split(",") and "avdec_h264" not in plugged.split(","), plugged
    assert int(frames) == 250


@pytest.mark.parametrize("reset", [True, False])
def test_frame_num_reset_on_eos(reset):
    """nvstreammux frame-num-reset-on-eos (accepted and ignored before): a source that ends and
    starts again on the same pad (a flush, a new stream) numbers its frames from 0 again; without
    it they go on."""
    import threading
    import time

    import pyds
    caps = "video/x-raw,format=RGBA,width=32,height=24,framerate=30/1"
    p = Gst.parse_launch(f"appsrc name=a format=time caps={caps} ! m.sink_0 nvstreammux name=m batch-size=1 "
                         f"width=32 height=24 frame-num-reset-on-eos={str(reset).lower()} ! fakesink name=s")
    src, nums, ended = p.get_by_name("a"), [], threading.Event()
    p.get_by_name("s").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, lambda _p, info: nums.extend(
        f.frame_num for f in pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer())).frames)
        or Gst.PadProbeReturn.OK)

    def frame(i):
        b = Gst.Buffer.new_wrapped(bytes(32 * 24 * 4))
        b.pts, b.duration = i * Gst.SECOND // 30, Gst.SECOND // 30
        return b
    p.set_state(Gst.State.PLAYING)
    try:
        for i in range(5):
            src.emit("push-buffer", frame(i))
        src.emit("end-of-stream")
        bus, end = p.get_bus(), time.monotonic() + 10
        while time.monotonic() < end and not ended.is_set():
            m = bus.timed_pop(100 * Gst.MSECOND)
            if m is not None and m.type == Gst.MessageType.ELEMENT and m.get_structure().get_name() == "stream-eos":
                ended.set()
        assert ended.is_set() and nums == [0, 1, 2, 3, 4]
        pad = src.get_static_pad("src")  # the same source again: flushed, a new stream
        for ev in (Gst.Event.new_flush_start(), Gst.Event.new_flush_stop(True), Gst.Event.new_stream_start("again"),
                   Gst.Event.new_caps(Gst.Caps.from_string(caps))):
            pad.push_event(ev)
        seg = Gst.Segment()
        seg.init(Gst.Format.TIME)
        pad.push_event(Gst.Event.new_segment(seg))
        for i in range(5):
            pad.push(frame(i))
        end = time.monotonic() + 10
        while time.monotonic() < end and len(nums) < 10:
            time.sleep(0.05)
    finally:
        p.set_state(Gst.State.NULL)
    assert nums[5:] == ([0, 1, 2, 3, 4] if reset else [5, 6, 7, 8, 9])


@pytest.mark.parametrize("reset", [True, False])
def test_frame_num_reset_on_stream_reset(reset):
    """nvstreammux frame-num-reset-on-stream-reset: a stream-reset event for a source (what
    pyds.gst_element_send_nvevent_new_stream_reset sends, and the muxer passes on to trackers)
    restarts its frame numbers at 0 from the next frame."""
    import threading

    import pyds
    from estuary.gst.events import STREAM_RESET, stream_event
    p = Gst.parse_launch("videotestsrc num-buffers=40 is-live=true ! video/x-raw,width=32,height=24,framerate=30/1 ! "
                         "nvvideoconvert ! video/x-raw(memory:NVMM),format=RGBA ! m.sink_0 nvstreammux name=m "
                         f"batch-size=1 width=32 height=24 frame-num-reset-on-stream-reset={str(reset).lower()} ! "
                         "fakesink name=s")
    mux, nums, sent = p.get_by_name("m"), [], []

    def probe(_pad, info):
        for f in pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer())).frames:
            nums.append(f.frame_num)
            if len(nums) == 10:  # from another thread: the event is serialized behind this batch
                sent.append(threading.Thread(target=lambda: mux.get_static_pad("sink_0").send_event(
                    stream_event(STREAM_RESET, 0))))
                sent[0].start()
        return Gst.PadProbeReturn.OK
    p.get_by_name("s").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    sent[0].join()
    assert len(nums) == 40
    if reset:
        k = nums.index(0, 1)  # numbering started again after the event
        assert nums[:k] == list(range(k)) and nums[k:] == list(range(40 - k)) and k >= 10
    else:
        assert nums == list(range(40))


def test_frame_num_reset_on_stream_reset_sent_to_the_muxer_resets_the_source_it_names():
    """pyds.gst_element_send_nvevent_new_stream_reset(muxer, 1) arrives on whichever sink pad
    GStreamer picks: the source the event names starts again, the other goes on (review
    finding: the pad it arrived on, source 0, was reset)."""
    import threading

    import pyds
    p = Gst.parse_launch(
        "nvstreammux name=m batch-size=2 width=32 height=24 frame-num-reset-on-stream-reset=true ! fakesink name=s "
        + " ".join(f"videotestsrc num-buffers=30 is-live=true ! video/x-raw,width=32,height=24,framerate=30/1 ! "
                   f"nvvideoconvert ! video/x-raw(memory:NVMM),format=RGBA ! m.sink_{i}" for i in range(2)))
    mux, nums, sent = p.get_by_name("m"), {0: [], 1: []}, []

    def probe(_pad, info):
        for f in pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer())).frames:
            nums[f.pad_index].append(f.frame_num)
        if len(nums[1]) >= 10 and not sent:
            sent.append(threading.Thread(target=lambda: pyds.gst_element_send_nvevent_new_stream_reset(hash(mux), 1)))
            sent[0].start()
        return Gst.PadProbeReturn.OK
    p.get_by_name("s").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    sent[0].join()
    assert nums[0] == list(range(len(nums[0])))  # never reset
    k = nums[1].index(0, 1)
    assert k >= 10 and nums[1][k:] == list(range(len(nums[1]) - k))
