"""Bad inputs: a corrupt file in one source stops that source only, with an error that names it."""

import os

import pytest

from estuary import data
from estuary.elements.decoder import make_source_bin
from estuary.gst import Gst
from estuary.runner import run


def test_corrupt_source_is_dropped_and_the_others_finish(tmp_path, capsys):
    bad = tmp_path / "corrupt.mp4"
    good = open(data.media_path("bikes.mp4"), "rb").read()
    bad.write_bytes(good[:40000] + os.urandom(20000))  # a truncated file with garbage after the header
    p = Gst.Pipeline.new("p")
    mux = Gst.ElementFactory.make("nvstreammux", "m")
    mux.set_property("batch-size", 2)
    mux.set_property("width", 320)
    mux.set_property("height", 136)
    sink = Gst.ElementFactory.make("fakesink", "sink")
    p.add(mux)
    p.add(sink)
    mux.link(sink)
    for i, path in enumerate((data.media_path("bikes.mp4"), str(bad))):
        b = make_source_bin(i, path)
        p.add(b)
        b.get_static_pad("src").link(mux.request_pad_simple(f"sink_{i}"))
    frames = {0: 0, 1: 0}

    def probe(pad, info):
        import pyds
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            frames[f.source_id] += 1
        return Gst.PadProbeReturn.OK

    sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    status = run(p, continue_on_source_error=True)
    err = capsys.readouterr().err
    assert status == 0, err
    assert frames[0] == 250  # the good source played to its end
    assert "source 1 (source-bin-01) failed:" in err and "continuing with the other sources" in err


def test_without_the_policy_a_source_error_stops_the_pipeline(tmp_path, capsys):
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(os.urandom(50000))
    p = Gst.Pipeline.new("p")
    mux = Gst.ElementFactory.make("nvstreammux", "m")
    sink = Gst.ElementFactory.make("fakesink", "sink")
    p.add(mux)
    p.add(sink)
    mux.link(sink)
    b = make_source_bin(0, str(bad))
    p.add(b)
    b.get_static_pad("src").link(mux.request_pad_simple("sink_0"))
    assert run(p) == 1
    assert "ERROR from" in capsys.readouterr().err


def test_missing_input_file_is_named_before_anything_starts():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "estuary", "run", "test1", "/nonexistent/video.h264"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 4
    assert "no such file: /nonexistent/video.h264" in r.stderr


def test_a_source_without_video_is_named_with_what_it_holds(tmp_path, capsys):
    wav = tmp_path / "speech.wav"
    mk = Gst.parse_launch(f"audiotestsrc num-buffers=20 ! wavenc ! filesink location={wav}")
    mk.set_state(Gst.State.PLAYING)
    mk.get_bus().timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    mk.set_state(Gst.State.NULL)
    p = Gst.Pipeline.new("p")
    mux = Gst.ElementFactory.make("nvstreammux", "m")
    sink = Gst.ElementFactory.make("fakesink", "sink")
    p.add(mux)
    p.add(sink)
    mux.link(sink)
    for i, path in enumerate((data.media_path("bikes.mp4"), str(wav))):
        b = make_source_bin(i, path)
        p.add(b)
        b.get_static_pad("src").link(mux.request_pad_simple(f"sink_{i}"))
    assert run(p, continue_on_source_error=True) == 0
    err = capsys.readouterr().err
    assert "speech.wav) has no video stream that can be decoded (streams found: audio/x-raw)" in err
