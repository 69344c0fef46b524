"""nvv4l2h264enc / nvv4l2h265enc / nvjpegenc: DeepStream's encoder names and properties produce
playable files (decoded to the last frame here) with the settings asked for."""

import pytest

import pyds  # noqa: F401 - registers the DeepStream names
from estuary.elements.encoders import PRESETS, x26x_settings
from estuary.gst import Gst

FRAMES = 45


def _run(desc, timeout=90):
    p = Gst.parse_launch(desc)
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(timeout * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert msg is not None, f"timed out: {desc}"
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    return p


def _encode(tmp_path, enc, mux, name, pattern="ball", frames=FRAMES):
    out = tmp_path / name
    # DeepStream's apps feed their encoders from nvvideoconvert with NVMM I420 caps
    _run(f"videotestsrc num-buffers={frames} pattern={pattern} ! video/x-raw,width=320,height=240,framerate=30/1 ! "
         f"nvvideoconvert ! video/x-raw(memory:NVMM),format=I420 ! {enc} ! {mux} ! filesink location={out}")
    return out


def _decode(path):
    """Every decoded frame's pts, and the caps of the compressed stream."""
    frames, caps = [], []
    p = Gst.parse_launch(f"filesrc location={path} ! parsebin name=pb ! decodebin ! videoconvert ! "
                         "appsink name=out sync=false emit-signals=true")

    def on_pad(_pb, pad):
        caps.append((pad.get_current_caps() or pad.query_caps(None)).to_string())

    p.get_by_name("pb").connect("pad-added", on_pad)
    p.get_by_name("out").connect("new-sample", lambda s: (frames.append(s.emit("pull-sample").get_buffer().pts),
                                                          Gst.FlowReturn.OK)[1])
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    return frames, caps


@pytest.mark.parametrize("enc,parse,mux,codec", [
    ("nvv4l2h264enc bitrate=2000000 iframeinterval=15 preset-level=1 insert-sps-pps=1 profile=2",
     "h264parse", "mp4mux", "video/x-h264"),
    ("nvv4l2h264enc profile=0", "h264parse", "matroskamux", "video/x-h264"),
    ("nvv4l2h265enc bitrate=1000000 iframeinterval=10 insert-sps-pps=1", "h265parse", "mp4mux", "video/x-h265"),
])
def test_encoders_write_playable_files(tmp_path, enc, parse, mux, codec):
    path = _encode(tmp_path, enc, f"{parse} ! {mux}", "out." + ("mp4" if mux == "mp4mux" else "mkv"))
    frames, caps = _decode(path)
    assert len(frames) == FRAMES  # decoded to the end
    assert caps and caps[0].startswith(codec)
    if "profile=2" in enc:
        assert "profile=(string)main" in caps[0]
    if "profile=0" in enc:
        assert "profile=(string)constrained-baseline" in caps[0] or "profile=(string)baseline" in caps[0]


def _nal_types(data: bytes, h265=False):
    out, i = [], 0
    while (i := data.find(b"\x00\x00\x01", i)) >= 0:
        b = data[i + 3]
        out.append((b >> 1) & 0x3F if h265 else b & 0x1F)
        i += 3
    return out


def _keyframes(path, parse="h264parse"):
    flags = []
    p = Gst.parse_launch(f"filesrc location={path} ! {parse} ! appsink name=out sync=false emit-signals=true")
    p.get_by_name("out").connect("new-sample", lambda s: (flags.append(
        not s.emit("pull-sample").get_buffer().has_flags(Gst.BufferFlags.DELTA_UNIT)), Gst.FlowReturn.OK)[1])
    _run_pipeline(p)
    return [i for i, key in enumerate(flags) if key]


def _run_pipeline(p):
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()


@pytest.mark.parametrize("sps_pps", [True, False])
def test_iframeinterval_and_insert_sps_pps(tmp_path, sps_pps):
    # raw byte-stream output, as rtph264pay gets it in DeepStream's RTSP apps
    path = _encode(tmp_path, f"nvv4l2h264enc iframeinterval=15 insert-sps-pps={int(sps_pps)}", "identity",
                   "out.h264")
    assert _keyframes(path) == [0, 15, 30]         # a key frame every 15 frames
    sps = _nal_types(path.read_bytes()).count(7)
    assert sps == 3 if sps_pps else sps >= 1      # SPS before every IDR when asked


def test_bitrate_is_in_bits_per_second(tmp_path):
    low = _encode(tmp_path, "nvv4l2h264enc bitrate=300000", "identity", "low.h264", pattern="snow", frames=60)
    high = _encode(tmp_path, "nvv4l2h264enc bitrate=3000000", "identity", "high.h264", pattern="snow", frames=60)
    seconds = 60 / 30
    assert low.stat().st_size * 8 / seconds < 300000 * 1.6
    assert high.stat().st_size > 4 * low.stat().st_size


def test_nvjpegenc_writes_jpeg_images(tmp_path):
    out = tmp_path / "f%02d.jpg"
    _run(f"videotestsrc num-buffers=3 ! video/x-raw,width=160,height=120 ! nvvideoconvert ! "
         f"video/x-raw(memory:NVMM),format=I420 ! nvjpegenc quality=70 ! multifilesink location={out}")
    files = sorted(tmp_path.glob("f*.jpg"))
    assert len(files) == 3 and all(f.read_bytes()[:2] == b"\xff\xd8" for f in files)
    import cv2
    img = cv2.imread(str(files[0]))
    assert img.shape == (120, 160, 3)


def test_property_mapping():
    s = x26x_settings(4000000, 30, 1, 1, False, False, 0)
    assert s["bitrate"] == 4000 and s["key-int-max"] == 30 and s["speed-preset"] == "ultrafast"
    assert s["vbv-buf-capacity"] == 1000 and s["aud"] is False
    assert x26x_settings(500, 10, 4, 0, True, True, 2)["bitrate"] == 1  # never 0 kbit/s
    assert x26x_settings(1000000, 10, 4, 0, True, True, 2)["speed-preset"] == PRESETS[4][0] == "slow"
    assert "aud" not in x26x_settings(1000000, 10, 3, 1, True, True, 0, h265=True)


def test_unsupported_profile_is_a_bus_error_naming_it():
    p = Gst.parse_launch("videotestsrc num-buffers=2 ! nvv4l2h265enc name=enc profile=1 ! fakesink")
    assert p.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE
    msg = p.get_bus().timed_pop_filtered(5 * Gst.SECOND, Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert msg is not None and "enc" in msg.parse_error()[0].message
    assert "profile 1 is not supported here; use one of 0 (main)" in msg.parse_error()[0].message


def test_avenc_mpeg4_into_qtmux_after_nvvideoconvert(tmp_path):
    """deepstream-opticalflow's and deepstream-ssd-parser's output: nvvideoconvert → avenc_mpeg4 →
    mpeg4videoparse → qtmux. gst-libav 1.22.0 with FFmpeg 5.1 (Debian 12) gives avenc_mpeg4's
    packets no timestamps and qtmux stopped with "Buffer has no PTS" (estuary/gst/fixups.py)."""
    if Gst.ElementFactory.find("avenc_mpeg4") is None:
        pytest.skip("gst-libav's avenc_mpeg4 is not installed")
    path = tmp_path / "out.mp4"
    _run(f"videotestsrc num-buffers={FRAMES} pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! "
         "nvvideoconvert ! video/x-raw,format=I420 ! avenc_mpeg4 bitrate=2000000 ! mpeg4videoparse ! "
         f"qtmux ! filesink location={path}")
    frames, caps = _decode(path)
    assert caps and caps[0].startswith("video/mpeg")
    assert len(frames) == FRAMES
    # the frames' own times, 1/30 s apart from 0
    assert all(abs(f - i * Gst.SECOND / 30) < Gst.MSECOND for i, f in enumerate(frames)), frames[:5]


@pytest.mark.parametrize("enc", ["avenc_mjpeg", "avenc_mpeg4"])
def test_encoder_timestamps_are_left_alone_where_given(enc):
    """The fix restores timestamps only where the encoder gave none: avenc_mjpeg's (which it
    gives) come out as without it, and avenc_mpeg4's as the frames' on the encoder's timeline."""
    from estuary.gst import fixups
    if Gst.ElementFactory.find(enc) is None:
        pytest.skip(f"gst-libav's {enc} is not installed")
    seen = {}
    for fixed in (False, True):
        p = Gst.parse_launch(f"videotestsrc num-buffers=5 ! video/x-raw,width=160,height=120,framerate=25/1 ! "
                             f"{enc} name=enc ! fakesink name=s")
        if fixed:
            fixups.restore_encoder_timestamps(p.get_by_name("enc"))
        pts = seen.setdefault(fixed, [])
        p.get_by_name("s").get_static_pad("sink").add_probe(
            Gst.PadProbeType.BUFFER, lambda _pad, info, pts=pts: (pts.append(info.get_buffer().pts), Gst.PadProbeReturn.OK)[1])
        p.set_state(Gst.State.PLAYING)
        p.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        p.set_state(Gst.State.NULL)
    assert len(seen[True]) == 5
    if enc == "avenc_mjpeg":
        assert seen[True] == seen[False]
    else:
        # consecutive frame times (the encoder's timeline may be shifted: 1,000 h in gst-libav 1.22)
        assert all(b - a == Gst.SECOND // 25 for a, b in zip(seen[True], seen[True][1:])), seen[True]
        assert seen[True][0] < 1 << 63
