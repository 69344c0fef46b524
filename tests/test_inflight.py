"""nvstreammux ``max-frames-in-flight`` (issue #23 item 4): the bookkeeping on its own
(``estuary.inflight``), then pipelines that count, in probes, the frames of each stream between
the decoder's output and the end of the pipeline: the bound holds, the file source is held back
before its decoder (decoded frames are never more than the bound), and EOS, flushing seeks and
stopping while held still work; a live source's extra frames are dropped instead."""

from __future__ import annotations

import threading
import time

import pytest

import pyds
from estuary import data
from estuary.elements.decoder import make_source_bin
from estuary.gst import Gst
from estuary.inflight import FlightLimiter, StreamBudget


# -- engine-free -------------------------------------------------------------------------------
def test_budget_holds_until_a_batch_is_freed():
    b = StreamBudget(2)
    b.admit()
    b.admit()
    assert b.full() and b.in_flight == 2
    assert b.wait_room(timeout=0.1) is False  # nothing freed: times out
    b.batch(2)
    done = []
    t = threading.Thread(target=lambda: done.append(b.wait_room(timeout=5)))
    t.start()
    time.sleep(0.1)
    assert not done  # still held: batched frames count until their batch is freed
    b.release(1)
    t.join(2)
    assert done == [True] and b.in_flight == 1 and b.peak == 2


def test_flush_wakes_held_threads_and_forgets_queued_frames():
    b = StreamBudget(1)
    b.admit()
    done = []
    t = threading.Thread(target=lambda: done.append(b.wait_room()))
    t.start()
    time.sleep(0.1)
    b.set_flushing(True)
    t.join(2)
    assert done == [False]
    b.set_flushing(False)
    assert b.in_flight == 0 and not b.full()


def test_cancelled_and_unbounded():
    b = StreamBudget(1)
    b.admit()
    assert b.wait_room(cancelled=lambda: True) is False
    u = StreamBudget(0)
    for _ in range(100):
        u.admit()
    assert not u.full() and u.wait_room(timeout=0) is True


def test_limiter_ignores_batches_from_before_a_restart():
    lim = FlightLimiter(3)
    lim.budget(0).admit()
    lim.budget(1).admit()
    old = lim.batched([0, 1])
    assert lim.budget(0).in_flight == 1 and lim.budget(1).in_flight == 1
    lim.reset()
    lim.budget(0).admit()
    lim.budget(0).batch()
    lim.release(old)  # freed after the restart: must not free the new frame's slot
    assert lim.budget(0).in_flight == 1
    lim.set_limit(5)
    assert lim.budget(1).limit == 5


# -- pipelines ---------------------------------------------------------------------------------
class Counter:
    """Per stream: frames out of the decoder (source bin), admitted by the muxer, and done (at the
    sink), with the largest differences seen."""

    def __init__(self, n):
        self.lock = threading.Lock()
        self.dec, self.adm, self.out = [0] * n, [0] * n, [0] * n
        self.max_dec, self.max_adm = [0] * n, [0] * n

    def decoded(self, i):
        def probe(pad, info):
            with self.lock:
                self.dec[i] += 1
                self.max_dec[i] = max(self.max_dec[i], self.dec[i] - self.out[i])
            return Gst.PadProbeReturn.OK
        return probe

    def admitted(self, i):
        def probe(pad, info):
            with self.lock:
                self.adm[i] += 1
                self.max_adm[i] = max(self.max_adm[i], self.adm[i] - self.out[i])
            return Gst.PadProbeReturn.OK
        return probe

    def done(self, delay):
        def probe(pad, info):
            time.sleep(delay)  # a slow detector
            bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
            with self.lock:
                for f in bm.frames:
                    self.out[f.source_id] += 1
            return Gst.PadProbeReturn.OK
        return probe


def file_pipeline(n, bound, delay=0.01, late=False):
    """``late``: the bound is set after the pads are requested (as test3 sets its muxer's
    properties after linking its sources)."""
    p = Gst.Pipeline.new()
    mux = Gst.ElementFactory.make("nvstreammux", "mux")
    for k, v in (("batch-size", n), ("width", 640), ("height", 272)):
        mux.set_property(k, v)
    if not late:
        mux.set_property("max-frames-in-flight", bound)
    sink = Gst.ElementFactory.make("fakesink", "sink")
    sink.set_property("sync", False)
    p.add(mux)
    p.add(sink)
    mux.link(sink)
    c = Counter(n)
    for i in range(n):
        b = make_source_bin(i, data.media_path("bikes.mp4"))
        p.add(b)
        mp = mux.request_pad_simple(f"sink_{i}")
        b.get_static_pad("src").link(mp)
        b.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, c.decoded(i))
        mp.add_probe(Gst.PadProbeType.BUFFER, c.admitted(i))  # after the muxer's own probe
    sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, c.done(delay))
    if late:
        mux.set_property("max-frames-in-flight", bound)
    return p, mux, c


def _eos(p, timeout=60):
    msg = p.get_bus().timed_pop_filtered(int(timeout * Gst.SECOND), Gst.MessageType.EOS | Gst.MessageType.ERROR)
    assert msg is not None, "no EOS"
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    return msg


@pytest.mark.parametrize("bound, late", [(2, False), (3, False), (2, True)])
def test_file_frames_in_flight_never_exceed_the_bound_and_all_arrive(bound, late):
    p, mux, c = file_pipeline(2, bound, late=late)
    p.set_state(Gst.State.PLAYING)
    try:
        _eos(p)
        dropped = [mux._flight.budget(i).dropped for i in (0, 1)]
    finally:
        p.set_state(Gst.State.NULL)
    assert c.out == [250, 250] and dropped == [0, 0]
    if not late:  # (late, the test's own probe on the muxer's pad runs before the muxer's)
        assert max(c.max_adm) <= bound, c.max_adm
    # held back before decoding: no decoded frame waits in front of the muxer
    assert max(c.max_dec) <= bound, c.max_dec


def test_unbounded_file_runs_ahead():
    """The measure above can fail: without a bound the decoder runs ahead of a slow sink."""
    p, _mux, c = file_pipeline(1, 0, delay=0.02)
    p.set_state(Gst.State.PLAYING)
    try:
        _eos(p)
    finally:
        p.set_state(Gst.State.NULL)
    assert c.out == [250]
    assert max(c.max_dec) > 3, c.max_dec


def test_flushing_seek_and_stop_while_held():
    p, mux, c = file_pipeline(1, 2, delay=0.01)
    p.set_state(Gst.State.PLAYING)
    deadline = time.time() + 30
    while c.out[0] < 60 and time.time() < deadline:
        time.sleep(0.02)
    assert c.out[0] >= 60
    assert p.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 2 * Gst.SECOND)
    with c.lock:
        before = c.out[0]
    _eos(p)
    after = c.out[0] - before
    # 10 s clip: from 2 s on, the rest plays after the seek (more than a few frames, fewer than all)
    assert 100 < after < 250, after
    assert mux._flight.budget(0).in_flight <= 2
    # flushing left no frame counted: the bound holds and nothing is stuck
    # stopping while the source is held back returns promptly
    p2, _m2, c2 = file_pipeline(1, 2, delay=0.2)
    p2.set_state(Gst.State.PLAYING)
    deadline = time.time() + 30
    while c2.out[0] < 3 and time.time() < deadline:
        time.sleep(0.02)
    t = time.time()
    p2.set_state(Gst.State.NULL)
    assert time.time() - t < 3
    p.set_state(Gst.State.NULL)


def test_appsrc_without_decoder_is_bounded_at_the_muxer():
    p = Gst.parse_launch(
        "videotestsrc num-buffers=60 ! video/x-raw,format=RGBA,width=64,height=48,framerate=30/1 ! "
        "m.sink_0 nvstreammux name=m batch-size=1 width=64 height=48 max-frames-in-flight=3 ! "
        "fakesink name=sink sync=false")
    c = Counter(1)
    p.get_by_name("m").get_static_pad("sink_0").add_probe(Gst.PadProbeType.BUFFER, c.admitted(0))
    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, c.done(0.01))
    p.set_state(Gst.State.PLAYING)
    try:
        _eos(p)
    finally:
        p.set_state(Gst.State.NULL)
    assert c.out == [60] and c.max_adm[0] <= 3


@pytest.mark.parametrize("bound,limit", [(-2, 4 + 4), (2, 2), (-1, 0)])
def test_live_source_is_bounded_by_dropping(bound, limit):
    """A live source gets a bound with -2 (auto): 4 more than the frames that wait for the pipeline
    latency (here the 40 ms push timeout and the source's one frame, 57 ms at 60 fps: 4); its frames over the bound are dropped,
    not held (it cannot wait). With 2 (one frame in the slow sink, one kept as its last sample)
    frames are dropped here; with the default the muxer's own queue pushes back first."""
    p = Gst.parse_launch(
        "videotestsrc is-live=true num-buffers=40 ! video/x-raw,format=RGBA,width=64,height=48,framerate=60/1 ! "
        f"m.sink_0 nvstreammux name=m batch-size=1 width=64 height=48 max-frames-in-flight={bound} ! "
        "fakesink name=sink sync=false")
    mux = p.get_by_name("m")
    c = Counter(1)
    mux.get_static_pad("sink_0").add_probe(Gst.PadProbeType.BUFFER, c.admitted(0))
    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, c.done(0.1))
    p.set_state(Gst.State.PLAYING)
    try:
        _eos(p)
        budget = mux._flight.budget(0)  # read before stopping: a stop resets it
        got_limit, dropped = budget.limit, budget.dropped
    finally:
        p.set_state(Gst.State.NULL)
    assert got_limit == limit
    if limit == 0:  # the default: unbounded, nothing dropped
        assert dropped == 0 and c.out[0] == 40
        return
    assert c.max_adm[0] <= limit, c.max_adm
    assert c.out[0] + dropped == 40
    if limit == 2:
        assert dropped > 0


def test_nvinfer_workers_do_not_stall_a_bounded_stream():
    """nvinfer with 2 workers used to push a finished batch only when the next one came; with 2
    frames in flight (one kept by the sink as its last sample) none could come: every frame
    waited for the muxer's 5 s fallback. Now batches leave as soon as they are done."""
    from estuary import data as d
    p = Gst.parse_launch(
        f"filesrc location={d.media_path('bikes.mp4')} ! qtdemux ! h264parse ! nvv4l2decoder ! "
        "identity eos-after=30 ! m.sink_0 nvstreammux name=m batch-size=1 width=640 height=272 "
        f"max-frames-in-flight=2 ! nvinfer config-file-path={d.model_path(d.PRIMARY_CONFIG)} infer-workers=2 ! "
        "fakesink name=sink")
    mux = p.get_by_name("m")
    c = Counter(1)
    mux.get_static_pad("sink_0").add_probe(Gst.PadProbeType.BUFFER, c.admitted(0))
    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, c.done(0))
    p.set_state(Gst.State.PLAYING)
    try:
        _eos(p, timeout=300)
        overruns = mux._flight.budget(0).overruns
    finally:
        p.set_state(Gst.State.NULL)
    assert c.out[0] >= 30 and c.max_adm[0] <= 2 and overruns == 0, (c.out, c.max_adm, overruns)
