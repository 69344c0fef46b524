"""Smart record (nvurisrcbin's smart-rec-* properties, start-sr / stop-sr / sr-done).

Two layers: the session model over its look-back cache (estuary.record.smart, no GStreamer),
then the element recording a real H.264 clip with 1-second key frame intervals into files that
are decoded back.
"""

from __future__ import annotations

import ctypes
import os
import threading

import pytest

from estuary.record.smart import NS, Packet, RecordBusy, SmartRecorder, recording_name

# -- the model -------------------------------------------------------------------------------------

FPS = 10
STEP = NS // FPS


def _stream(seconds: float, gop_s: float = 1.0, start: float = 0.0):
    """Packets at 10 fps from ``start`` for ``seconds`` (both rounded to the frame), a key frame
    every ``gop_s`` seconds."""
    n0, n = round(start * FPS), round((start + seconds) * FPS)
    every = int(gop_s * FPS)
    return [Packet(i * STEP, i % every == 0, i) for i in range(n0, n)]


def _feed(rec, packets):
    written, done = [], []
    for p in packets:
        step = rec.push(p)
        written += [q.payload for q in step.write]
        if step.done is not None:
            done.append(step.done)
    return written, done


@pytest.mark.parametrize("cache, before, newest, first", [
    (5, 2, 6.0, 4.0),    # want 4.0: the key frame there
    (5, 2, 6.5, 4.0),    # want 4.5: the key frame before it
    (5, 0, 6.5, 6.0),    # now: from the current GOP's key frame (decodable)
    (3, 10, 6.5, 3.0),   # more than the cache holds: cut to 3 s, want 3.5 -> 3.0
    (5, 4.5, 6.5, 2.0),  # want 2.0 exactly
])
def test_a_session_starts_at_the_key_frame_at_or_before_what_was_asked(cache, before, newest, first):
    rec = SmartRecorder(cache)
    _feed(rec, _stream(newest + 0.1))  # the newest packet at `newest`
    session, cached = rec.start(1, before, 3)
    assert cached[0].key and cached[0].ts == int(first * NS)
    assert cached[-1].ts == int(newest * NS)
    assert [p.ts for p in cached] == sorted(p.ts for p in cached)
    assert session.trigger_ts == int(newest * NS) and session.end_ts == int((newest + 3) * NS)


def test_the_cache_keeps_whole_gops_covering_its_seconds_and_no_more():
    rec = SmartRecorder(3)
    _feed(rec, _stream(20.1))
    assert 3.0 <= rec.cached_seconds < 4.0  # from the key frame at or before 17.0 to 20.0
    rec2 = SmartRecorder(3)
    _feed(rec2, _stream(20.1, gop_s=5))
    assert rec2.cached_seconds == pytest.approx(5.0)  # a GOP longer than the cache: it is kept whole


def test_a_session_ends_at_its_duration_without_the_packet_past_it():
    rec = SmartRecorder(5)
    _feed(rec, _stream(6.1))
    session, cached = rec.start(7, 2, 3)
    written, done = _feed(rec, _stream(5, start=6.1))
    assert done == [session] and session.ended == "duration"
    everything = [p.payload for p in cached] + written
    assert everything == list(range(40, 90))  # 4.0 s up to, not including, 9.0 s
    assert rec.session is None and _feed(rec, _stream(1, start=11.1)) == ([], [])


def test_without_a_cache_a_session_waits_for_the_next_key_frame():
    rec = SmartRecorder(0)
    _feed(rec, _stream(6.4))
    session, cached = rec.start(1, 5, 2)
    assert cached == []
    written, done = _feed(rec, _stream(2, start=6.4))
    assert written[0] == 70 and written[-1] == 82  # key frame at 7.0, end at 8.3 (6.3 + 2)
    assert done == [session]


def test_a_window_with_no_key_frame_records_nothing():
    rec = SmartRecorder(0)
    _feed(rec, _stream(1.3, gop_s=10))
    session, _ = rec.start(1, 0, 1)
    written, done = _feed(rec, _stream(3, start=1.3, gop_s=10))
    assert written == [] and done == [session] and session.first_ts is None


def test_one_session_at_a_time_then_stop_and_start_again():
    rec = SmartRecorder(5)
    _feed(rec, _stream(3.1))
    rec.start(1, 1, 100)
    with pytest.raises(RecordBusy, match="session 1"):
        rec.start(2, 1, 1)
    stopped = rec.stop()
    assert stopped.id == 1 and stopped.ended == "stop-sr" and rec.stop() is None
    session, cached = rec.start(2, 1, 1)
    assert session.id == 2 and cached


def test_start_before_any_data_counts_from_the_first_packet():
    rec = SmartRecorder(5)
    session, cached = rec.start(1, 2, 1)
    assert cached == [] and session.trigger_ts is None
    written, done = _feed(rec, _stream(3.1, start=4.0))
    assert written[0] == 40 and written[-1] == 49 and done == [session]


def test_reset_forgets_the_cache_and_ends_the_session():
    rec = SmartRecorder(5)
    _feed(rec, _stream(3.1))
    rec.start(1, 1, 100)
    ended = rec.reset()
    assert ended.ended == "source rebuilt" and rec.cached_seconds == 0.0
    _feed(rec, _stream(1.1))  # timestamps restart at 0
    assert rec.cached_seconds == pytest.approx(1.0)


def test_packets_without_timestamps_still_end_a_session():
    rec = SmartRecorder(2)
    untimed = [Packet(None, i % 30 == 0, i) for i in range(300)]
    _feed(rec, untimed[:100])
    session, _ = rec.start(1, 0, 2)
    written, done = _feed(rec, untimed[100:])
    assert done == [session] and 55 <= len(written) <= 65  # ~2 s at the assumed 30 fps


def test_stalled_timestamps_do_not_grow_the_cache_without_bound():
    rec = SmartRecorder(2)
    _feed(rec, [Packet(0, i % 10 == 0, i) for i in range(20_000)])
    assert rec._cached <= 2 * 240 + 10


def test_the_model_is_safe_across_threads():
    rec = SmartRecorder(5)
    errors = []

    def pusher():
        try:
            _feed(rec, _stream(3000))
        except Exception as exc:  # pragma: no cover - the assertion says what failed
            errors.append(exc)
    t = threading.Thread(target=pusher)
    t.start()
    starts = 0
    while t.is_alive() and starts < 500:
        try:
            rec.start(starts, 1, 0.5)
            starts += 1
        except RecordBusy:
            pass
        rec.stop()
    t.join()
    assert not errors and starts > 0


def test_recording_names():
    from datetime import datetime
    assert recording_name("Smart_Record", 2, 7, datetime(2026, 12, 2, 8, 15, 0), "mp4") == \
        "Smart_Record_00002_20261202-081500_7.mp4"


# -- the element -----------------------------------------------------------------------------------

from conftest import run_pipeline  # noqa: E402
from estuary.gst import Gst  # noqa: E402

CLIP_FPS = 30


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """12 s of H.264 at 30 fps, a key frame every second (x264 would otherwise pick its own)."""
    return _encode(tmp_path_factory.mktemp("sr"), "gop1s.mp4",
                   f"x264enc speed-preset=ultrafast key-int-max={CLIP_FPS} ! h264parse ! mp4mux", seconds=12)


def _encode(directory, name: str, tail: str, seconds: int = 6) -> str:
    """A 160×120 test pattern at 30 fps through ``tail`` (encoder, muxer) into ``directory/name``."""
    path = str(directory / name)
    p = Gst.parse_launch(f"videotestsrc num-buffers={seconds * CLIP_FPS} pattern=ball ! video/x-raw,width=160,"
                         f"height=120,framerate={CLIP_FPS}/1 ! {tail} ! filesink location={path}")
    assert run_pipeline(p, timeout=60).type == Gst.MessageType.EOS
    return path


def _decoded(path):
    """(frames, first pts, last pts) of a recording, decoded."""
    p = Gst.parse_launch(f"uridecodebin uri=file://{path} ! fakesink name=sink sync=false")
    pts = []
    p.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda _p, info: pts.append(info.get_buffer().pts) or Gst.PadProbeReturn.OK)
    assert run_pipeline(p, timeout=60).type == Gst.MessageType.EOS, f"{path} does not play"
    return len(pts), min(pts), max(pts)


def _capsule(obj):
    new = ctypes.pythonapi.PyCapsule_New
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    return new(ctypes.addressof(obj), None, None)


def _run(clip, props: str, actions, timeout=60, shown=None):
    """Run nvurisrcbin on ``clip`` as fast as it decodes; ``actions(src, pts_s)`` is called for
    each decoded frame (whose times go to ``shown``). Returns (sr-done infos, bus warnings,
    estuary-sr-done messages)."""
    from estuary.record.info import recording_info
    p = Gst.parse_launch(f"nvurisrcbin name=src uri=file://{clip} {props} ! fakesink name=sink sync=false")
    src = p.get_by_name("src")
    done, warnings, messages = [], [], []
    src.connect("sr-done", lambda _el, info, user: done.append((recording_info(info), user)))
    p.get_by_name("sink").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda _p, info: (shown.append(info.get_buffer().pts) if shown is not None else None,
                                                   actions(src, info.get_buffer().pts / 1e9)) and Gst.PadProbeReturn.OK)
    p.set_state(Gst.State.PLAYING)
    bus = p.get_bus()
    while True:
        msg = bus.timed_pop_filtered(timeout * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR |
                                     Gst.MessageType.WARNING | Gst.MessageType.ELEMENT)
        if msg is None or msg.type in (Gst.MessageType.EOS, Gst.MessageType.ERROR):
            break
        if msg.type == Gst.MessageType.WARNING:
            warnings.append(msg.parse_warning()[0].message)
        elif msg.get_structure().get_name() == "estuary-sr-done":
            messages.append(msg.get_structure())
    p.set_state(Gst.State.NULL)
    assert msg is not None and msg.type == Gst.MessageType.EOS, msg and msg.parse_error()
    return done, warnings, messages


def _once(at_s, fn):
    fired = []

    def act(src, pts):
        if pts >= at_s and not fired:
            fired.append(pts)
            fn(src)
    return act


@pytest.mark.parametrize("container, ext", [(0, "mp4"), (1, "mkv")])
def test_start_sr_records_the_seconds_before_and_after(clip, tmp_path, container, ext):
    sid, user = ctypes.c_uint32(0), ctypes.c_uint32(99)
    cap_sid, cap_user = _capsule(sid), _capsule(user)
    done, warnings, messages = _run(
        clip, f"smart-record=2 smart-rec-cache=5 smart-rec-container={container} "
              f"smart-rec-dir-path={tmp_path} smart-rec-file-prefix=ev",
        _once(5.0, lambda src: src.emit("start-sr", cap_sid, 2, 3, cap_user)))
    assert not warnings
    assert sid.value == 1  # the session id, written where start-sr's first argument points
    (info, got_user), = done
    assert hash(got_user) == ctypes.addressof(user)  # the user data handed back
    assert info.session_id == 1 and info.container == container and (info.width, info.height) == (160, 120)
    assert info.filename.startswith("ev_00000_") and info.filename.endswith(f"_1.{ext}")
    assert os.listdir(tmp_path) == [info.filename] and info.dirpath == str(tmp_path)
    # 2 s before the trigger, from the key frame at or before it (1 s GOPs), and 3 s after
    assert 4990 <= info.duration_ms <= 6100  # (150 frames: 4,999 ms)
    frames, first, last = _decoded(info.path)
    assert frames == pytest.approx(info.duration_ms / 1000 * CLIP_FPS, abs=2)
    assert first < Gst.SECOND // 10  # it starts at 0
    (msg,) = messages
    assert msg.get_value("path") == info.path and msg.get_value("duration-ms") == info.duration_ms
    assert msg.get_value("ended") == "duration"


def test_stop_sr_ends_the_session_and_a_second_start_is_refused(clip, tmp_path):
    def act(src, pts, state={}):
        if pts >= 3.0 and "started" not in state:
            state["started"] = pts
            src.emit("start-sr", None, 1, 100, None)
            assert src.get_property("smart-rec-status") is True
            src.emit("start-sr", None, 1, 5, None)  # refused: one at a time
        if pts >= 6.0 and "stopped" not in state:
            state["stopped"] = pts
            src.emit("stop-sr", 7)  # no such session: refused
            src.emit("stop-sr", 1)
            assert src.get_property("smart-rec-status") is False
    done, warnings, messages = _run(clip, f"smart-record=1 smart-rec-cache=2 smart-rec-dir-path={tmp_path}", act)
    assert len(warnings) == 2
    assert "session 1 is still recording" in warnings[0]
    assert "no smart record session 7" in warnings[1]
    (info, _), = done
    assert 3000 <= info.duration_ms < 9000  # ~1-2 s before 3.0, to ~6.0 (the decoder reads ahead)
    assert messages[0].get_value("ended") == "stop-sr"
    assert _decoded(info.path)[0] == pytest.approx(info.duration_ms / 1000 * CLIP_FPS, abs=2)


def test_the_end_of_the_stream_finishes_the_file(clip, tmp_path):
    done, warnings, messages = _run(
        clip, f"smart-record=2 smart-rec-cache=3 smart-rec-default-duration=100 smart-rec-dir-path={tmp_path}",
        _once(8.0, lambda src: src.emit("start-sr", None, 2, 0, None)))  # 0: the default duration
    (info, _), = done
    assert not warnings and messages[0].get_value("ended") == "end of stream"
    frames, _first, _last = _decoded(info.path)
    assert 4990 <= info.duration_ms <= 6100 and frames >= 5 * CLIP_FPS - 1  # 2-3 s before 8 s, to 12 s


@pytest.mark.parametrize("skip", [1, 2])
def test_recordings_hold_every_frame_whatever_the_decoder_skips(clip, tmp_path, skip):
    """dec-skip-frames leaves frames undecoded, not unrecorded (as in DeepStream): the recorder
    taps the stream before the frames are dropped (review finding: it recorded key frames only,
    a 4 s file of 5 frames)."""
    shown = []
    done, warnings, messages = _run(
        clip, f"dec-skip-frames={skip} smart-record=2 smart-rec-cache=3 smart-rec-default-duration=100 "
              f"smart-rec-dir-path={tmp_path}",
        _once(8.0, lambda src: src.emit("start-sr", None, 2, 0, None)), shown=shown)
    if skip == 2:
        assert len(shown) <= 12  # key frames only were decoded (1 s GOPs)
    (info, _), = done
    assert not warnings
    frames, _first, _last = _decoded(info.path)
    assert 4990 <= info.duration_ms <= 6100 and frames >= 5 * CLIP_FPS - 1


@pytest.mark.parametrize("props, why", [
    ("smart-rec-dir-path=/nonexistent/dir", "does not exist"),
    ("smart-rec-mode=2", "audio only"),
])
def test_a_recording_that_cannot_be_made_is_a_warning_and_the_pipeline_goes_on(clip, tmp_path, props, why):
    done, warnings, _messages = _run(
        clip, f"smart-record=2 smart-rec-cache=2 smart-rec-dir-path={tmp_path} {props}",
        _once(2.0, lambda src: src.emit("start-sr", None, 1, 2, None)))
    assert done == [] and len(warnings) == 1 and why in warnings[0] and "start-sr ignored" in warnings[0]


def test_start_sr_with_smart_record_off_says_how_to_turn_it_on(clip):
    done, warnings, _ = _run(clip, "", _once(1.0, lambda src: src.emit("start-sr", None, 1, 2, None)))
    assert done == [] and warnings and "smart-record is 0" in warnings[0]


def test_the_signals_are_deepstreams():
    from estuary.gst import GObject
    el = Gst.ElementFactory.make("nvurisrcbin", None)
    for name, params in (("start-sr", ["gpointer", "guint", "guint", "gpointer"]), ("stop-sr", ["guint"]),
                         ("sr-done", ["gpointer", "gpointer"])):
        q = GObject.signal_query(name, type(el))
        assert q is not None and [t.name for t in q.param_types] == params, name
    assert el.get_property("smart-rec-status") is False
    assert el.get_property("smart-rec-file-prefix") == "Smart_Record"
    el.set_property("smart-rec-video-cache", 7)  # the deprecated name sets the same value
    assert el.get_property("smart-rec-cache") == 7


def test_a_camera_that_drops_ends_its_recording_with_a_playable_file(tmp_path):
    """An RTSP camera (key frame every 0.5 s) recorded from 1 s back; the camera is killed
    mid-recording: its stream ends (the source reconnects to a new one), so the session ends
    there and its file is finished and reported."""
    import time
    from servers import free_port
    from estuary.record.info import recording_info
    from estuary.testing import RtspTestServer
    cam = RtspTestServer(free_port(), width=160, height=120).start()
    try:
        p = Gst.parse_launch(
            f"nvurisrcbin name=src uri={cam.uri} rtsp-reconnect-interval=1 smart-record=2 smart-rec-cache=2 "
            f"smart-rec-dir-path={tmp_path} ! fakesink sync=false")
        src = p.get_by_name("src")
        done = []
        src.connect("sr-done", lambda _el, info, _u: done.append(recording_info(info)))
        p.set_state(Gst.State.PLAYING)
        time.sleep(3)  # frames and a cache
        src.emit("start-sr", None, 1, 60, None)
        time.sleep(2)
        cam.kill()
        deadline = time.monotonic() + 20
        msg = None
        while not done and time.monotonic() < deadline:
            m = p.get_bus().timed_pop_filtered(Gst.SECOND // 2, Gst.MessageType.ERROR | Gst.MessageType.ELEMENT)
            if m is not None and m.type == Gst.MessageType.ELEMENT and m.get_structure().get_name() == "estuary-sr-done":
                msg = m.get_structure()
            assert m is None or m.type != Gst.MessageType.ERROR, m.parse_error()
        p.set_state(Gst.State.NULL)
    finally:
        cam.kill()
    (info,) = done
    # (rtspsrc ends the stream when the server goes: the session ends at that EOS, or at the
    # rebuild when the source gives up on the stream first)
    assert msg is not None and msg.get_value("ended") in ("end of stream", "source rebuilt")
    assert 2000 <= info.duration_ms <= 4500  # ~1-1.5 s before the start, ~2 s after it
    frames, _first, _last = _decoded(info.path)
    assert frames == pytest.approx(info.duration_ms / 1000 * CLIP_FPS, abs=3)


def test_a_file_that_cannot_be_created_is_a_warning_naming_it(clip, tmp_path):
    prefix = "x" * 300  # the directory is fine; the file name is too long for the file system
    done, warnings, _ = _run(
        clip, f"smart-record=2 smart-rec-cache=2 smart-rec-dir-path={tmp_path} smart-rec-file-prefix={prefix}",
        _once(3.0, lambda src: src.emit("start-sr", None, 1, 2, None)))
    assert done == [] and len(warnings) == 1
    assert f"start-sr ignored: cannot create a file in {tmp_path}: File name too long" in warnings[0]
    assert os.listdir(tmp_path) == []


_FULL_DISK = """
import resource, signal, sys
from estuary.gst import Gst
from estuary.gst.recording import RecordingWriter
caps = Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=au,width=160,height=120,framerate=30/1")
src = Gst.parse_launch("videotestsrc num-buffers=90 ! video/x-raw,width=160,height=120,framerate=30/1 ! "
                       "x264enc speed-preset=ultrafast key-int-max=30 ! video/x-h264,stream-format=byte-stream ! "
                       "appsink name=out sync=false")
out = src.get_by_name("out")
src.set_state(Gst.State.PLAYING)
# a file may grow to 20 KB here, as if the disk filled up (EFBIG instead of ENOSPC)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
writer = RecordingWriter(sys.argv[1], caps, 0)
while (sample := out.emit("pull-sample")) is not None:
    writer.write(sample.get_buffer())
src.set_state(Gst.State.NULL)
print("ERROR:", writer.finish())
"""


def test_the_writer_reports_a_full_disk(tmp_path):
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-c", _FULL_DISK, str(tmp_path / "full.mp4")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "ERROR: Could not write to resource: File too large" in run.stdout, run.stdout + run.stderr[-2000:]


def test_raw_video_cannot_be_recorded():
    from estuary.gst.recording import recordable
    assert "not compressed" in recordable(Gst.Caps.from_string("video/x-raw,format=I420"), 0)
    assert recordable(Gst.Caps.from_string("video/x-h265,stream-format=hvc1"), 1) == ""
    assert "not known" in recordable(None, 0)


def test_recording_leaves_the_live_stream_alone_and_sessions_back_to_back_are_whole(clip, tmp_path):
    """The analytics' frames keep their times while sessions record (a recording once rebased
    the live packets' timestamps: frames stood still, then jumped a second); sessions started
    as soon as the last one ended, over the same cached seconds, each get their own file of
    their own length."""
    state = {"ids": 0}

    def act(src, pts):
        if pts >= 2.0 and not src.get_property("smart-rec-status") and state["ids"] < 6:
            state["ids"] += 1
            src.emit("start-sr", None, 1, 1, None)
    shown = []
    done, warnings, _ = _run(clip, f"smart-record=2 smart-rec-cache=3 smart-rec-dir-path={tmp_path}", act,
                             shown=shown)
    assert not warnings
    steps = {b - a for a, b in zip(shown, shown[1:])}
    assert len(shown) == 12 * CLIP_FPS and max(steps) - min(steps) <= 1, sorted(steps)[:3] + sorted(steps)[-3:]
    assert [i.session_id for i, _ in done] == list(range(1, len(done) + 1)) and len(done) >= 5
    assert len({i.filename for i, _ in done}) == len(done) and sorted(os.listdir(tmp_path)) == sorted(i.filename for i, _ in done)
    for info, _ in done:
        frames, first, _last = _decoded(info.path)
        assert 1990 <= info.duration_ms <= 3100, info  # 1-2 s before (1 s GOPs), 1 s after
        assert frames == pytest.approx(info.duration_ms / 1000 * CLIP_FPS, abs=2) and first < Gst.SECOND // 10


@pytest.mark.parametrize("name, tail, container, warning", [
    # an MJPEG camera: its decoder is an image decoder, not a video one
    ("cam.mkv", "jpegenc ! matroskamux", 1, None),
    ("raw.mkv", "matroskamux", 0, "the input's video is not compressed"),
    ("vp8.mkv", "vp8enc deadline=1 keyframe-max-dist=30 ! matroskamux", 0, "video/x-vp8 cannot be stored in mp4"),
])
def test_other_inputs_record_or_say_why_not(tmp_path, name, tail, container, warning):
    src = _encode(tmp_path, name, tail)
    out = tmp_path / "out"
    out.mkdir()
    done, warnings, _ = _run(src, f"smart-record=2 smart-rec-cache=2 smart-rec-container={container} "
                                  f"smart-rec-dir-path={out}",
                             _once(2.0, lambda el: el.emit("start-sr", None, 1, 2, None)))
    if warning is None:
        (info, _), = done
        assert not warnings and os.listdir(out) == [info.filename]
        assert _decoded(info.path)[0] == pytest.approx(info.duration_ms / 1000 * CLIP_FPS, abs=2)
    else:
        assert done == [] and len(warnings) == 1 and warning in warnings[0]
        assert os.listdir(out) == []


def test_a_restarted_pipeline_records_again(clip, tmp_path):
    from estuary.record.info import recording_info
    p = Gst.parse_launch(f"nvurisrcbin name=src uri=file://{clip} smart-record=2 smart-rec-cache=2 "
                         f"smart-rec-dir-path={tmp_path} ! fakesink name=sink sync=false")
    src = p.get_by_name("src")
    done, fired = [], []
    src.connect("sr-done", lambda _el, info, _u: done.append(recording_info(info).session_id))

    def probe(_pad, info):
        if info.get_buffer().pts >= 2 * Gst.SECOND and len(fired) < len(runs):
            fired.append(1)
            src.emit("start-sr", None, 1, 1, None)
        return Gst.PadProbeReturn.OK
    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    runs = []
    for _ in range(2):  # PLAYING → EOS → READY → PLAYING again
        runs.append(1)
        p.set_state(Gst.State.PLAYING)
        msg = p.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        assert msg is not None and msg.type == Gst.MessageType.EOS, msg and msg.parse_error()
        p.set_state(Gst.State.READY)
    p.set_state(Gst.State.NULL)
    assert done == [1, 2] and len(os.listdir(tmp_path)) == 2


def test_timestamps_that_go_back_end_the_session():
    rec = SmartRecorder(5)
    _feed(rec, _stream(10.1))
    session, _ = rec.start(1, 1, 100)
    written, done = _feed(rec, _stream(2.1, start=0.0))  # a camera that reset its clock
    assert done == [session] and session.ended == "timestamps went back" and written == []
    assert rec.cached_seconds == pytest.approx(2.0)  # the new timeline is cached


def test_names_are_reserved_and_never_shared(tmp_path):
    from estuary.elements.smartrec import _reserve
    names = [_reserve(str(tmp_path), "a_1.mp4") for _ in range(3)]
    assert names == ["a_1.mp4", "a_1-2.mp4", "a_1-3.mp4"] and sorted(os.listdir(tmp_path)) == sorted(names)


def test_h265_with_presentation_times_only_records_into_mp4(tmp_path):
    """H.265 in MKV (no decode times; x265's open GOPs show pictures before their key frame):
    those leading pictures had times before the file's start and mp4mux failed."""
    src = _encode(tmp_path, "hevc.mkv", f"x265enc speed-preset=ultrafast key-int-max={CLIP_FPS} ! h265parse ! matroskamux")
    out = tmp_path / "out"
    out.mkdir()
    done, warnings, _ = _run(src, f"smart-record=2 smart-rec-cache=3 smart-rec-dir-path={out}",
                             _once(3.0, lambda el: el.emit("start-sr", None, 2, 2, None)))
    (info, _), = done
    assert not warnings
    frames, first, _ = _decoded(info.path)
    assert frames >= 3.5 * CLIP_FPS and frames == pytest.approx(info.duration_ms / 1000 * CLIP_FPS, abs=3)


def test_a_start_after_the_decoder_ended_records_the_cache_before_the_pipeline_ends(clip, tmp_path):
    """The application is behind the decoder (a clock-synced sink): a start-sr on one of the
    last frames comes after the decoder's EOS. The cache is the recording, finished before the
    pipeline's EOS reaches the application."""
    from estuary.record.info import recording_info
    p = Gst.parse_launch(f"nvurisrcbin name=src uri=file://{clip} smart-record=2 smart-rec-cache=2 "
                         f"smart-rec-dir-path={tmp_path} ! queue max-size-time=0 max-size-buffers=0 max-size-bytes=0 ! "
                         "fakesink name=sink sync=true")
    src = p.get_by_name("src")
    done, order = [], []
    src.connect("sr-done", lambda _el, info, _u: (done.append(recording_info(info)), order.append("sr-done")))
    fired = []

    def probe(_pad, info):
        if info.get_buffer().pts >= int(11.5 * Gst.SECOND) and not fired:
            fired.append(1)
            src.emit("start-sr", None, 1, 10, None)
        return Gst.PadProbeReturn.OK
    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    # the decoder is seconds ahead of the clock-synced sink; at 11.5 s it has long ended
    msg = run_pipeline(p, timeout=60, on_message=lambda m: order.append("eos") if m.type == Gst.MessageType.EOS else None)
    assert msg.type == Gst.MessageType.EOS and fired
    assert order == ["sr-done", "eos"]
    (info,) = done
    assert 1000 <= info.duration_ms <= 2600  # 1-2 s before, nothing after: the stream had ended
    assert _decoded(info.path)[0] == pytest.approx(info.duration_ms / 1000 * CLIP_FPS, abs=2)


def test_start_sr_outside_a_run_is_refused(clip, tmp_path):
    p = Gst.parse_launch(f"nvurisrcbin name=src uri=file://{clip} smart-record=2 smart-rec-dir-path={tmp_path} "
                         "! fakesink")
    src = p.get_by_name("src")
    p.set_state(Gst.State.READY)
    src.emit("start-sr", None, 1, 1, None)
    msg = p.get_bus().pop_filtered(Gst.MessageType.WARNING)
    p.set_state(Gst.State.NULL)
    assert msg is not None and "not running" in msg.parse_warning()[0].message
    assert os.listdir(tmp_path) == []


def test_smart_record_set_after_the_start_says_so(clip, tmp_path):
    def act(src, pts, state={}):
        if "set" not in state:
            state["set"] = src.set_property("smart-record", 2) or True
        elif pts >= 2.0 and "started" not in state:
            state["started"] = src.emit("start-sr", None, 1, 1, None) or True
    done, warnings, _ = _run(clip, f"smart-rec-dir-path={tmp_path}", act)
    assert done == [] and len(warnings) == 1 and "smart-record was 0 when the source started" in warnings[0]


@pytest.mark.parametrize("other, same", [
    ("video/x-h264,stream-format=avc,width=640,height=272,profile=high,level=(string)4,framerate=25/1", True),
    ("video/x-h264,stream-format=avc,width=1280,height=720,profile=high", False),
    ("video/x-h264,stream-format=avc,width=640,height=272,profile=main", False),
    ("video/x-h265,stream-format=hvc1,width=640,height=272,profile=high", False),
])
def test_a_new_format_ends_a_session_and_a_refinement_does_not(other, same):
    from estuary.elements.smartrec import _format
    base = Gst.Caps.from_string("video/x-h264,stream-format=avc,width=640,height=272,profile=high,level=(string)3")
    assert (_format(base) == _format(Gst.Caps.from_string(other))) is same


@pytest.mark.parametrize("how", ["capsule", "int"])
def test_recording_info_reads_a_capsule_or_an_address(how):
    from estuary import capsule
    from estuary.record.info import NvDsSRRecordingInfo, recording_info
    names = (b"a_1.mp4", b"/rec")
    info = NvDsSRRecordingInfo(None, 4, names[0], names[1], 2500, 1, 640, 480, 1, 0, 0, 0)
    arg = capsule.new(ctypes.addressof(info)) if how == "capsule" else ctypes.addressof(info)
    assert capsule.address(capsule.new(ctypes.addressof(info))) == ctypes.addressof(info)
    got = recording_info(arg)
    assert (got.session_id, got.path, got.duration_ms, got.container, got.width, got.height) == \
        (4, "/rec/a_1.mp4", 2500, 1, 640, 480)
