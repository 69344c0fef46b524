"""Work-arounds for faults of other GStreamer elements that unmodified DeepStream apps meet.

Installed on the pipeline an Estuary element goes into (``nvvideoconvert``, the converter every
app puts between Estuary's surfaces and a software encoder, calls :func:`install` on NULL →
READY). Each fix is a no-op where the element behaves.

* ``avenc_mpeg4`` (gst-libav 1.22.0 with FFmpeg 5.1, Debian 12) gives every packet it encodes
  no valid timestamps: PTS and DTS are FFmpeg's "no timestamp", ``INT64_MIN``, passed on as the
  unsigned 2^63 ns (``avenc_mjpeg`` and ``avenc_h263p`` of the same build keep theirs), so
  ``mpeg4videoparse`` gives no PTS and ``qtmux`` stops the pipeline: "Buffer has no PTS". NVIDIA's
  deepstream-opticalflow and deepstream-ssd-parser write their MP4 that way. The encoder takes
  one frame and gives one packet, in order, when it makes no B-frames (its default), so each
  packet without timestamps gets those of the frame it came from.
"""

from __future__ import annotations

import logging

from estuary.gst import Gst, all_elements

log = logging.getLogger("estuary.fixups")

__all__ = ["install", "restore_encoder_timestamps"]

_NONE = Gst.CLOCK_TIME_NONE
_AV_NOPTS = 1 << 63  # FFmpeg's AV_NOPTS_VALUE (INT64_MIN) read as a GstClockTime


def install(element: Gst.Element) -> None:
    """Apply the fixes to every element of ``element``'s top-level pipeline, and to those added
    to it later; once per pipeline."""
    top = element
    while top.get_parent() is not None:
        top = top.get_parent()
    if not isinstance(top, Gst.Bin) or getattr(top, "_estuary_fixups", False):
        return
    top._estuary_fixups = True
    for e in all_elements(top):  # (not `for e in bin.iterate_recurse()`: that needs gst-python's overrides)
        _fix(e)
    top.connect("deep-element-added", lambda _bin, _sub, e: _fix(e))


def _fix(element: Gst.Element) -> None:
    factory = element.get_factory()
    if factory is not None and factory.get_name() == "avenc_mpeg4":
        restore_encoder_timestamps(element)


def restore_encoder_timestamps(encoder: Gst.Element) -> None:
    """Give each packet ``encoder`` outputs without a PTS the timestamps of the frame it was
    encoded from (frames and packets one to one, in order: an encoder without B-frames). Left
    alone where the encoder is set to make B-frames (its packets come out of display order)."""
    if getattr(encoder, "_estuary_timestamps", False):
        return
    encoder._estuary_timestamps = True
    if encoder.find_property("max-bframes") is not None and encoder.get_property("max-bframes") > 0:
        return
    name = encoder.get_name()  # (the probes hold no reference to the encoder: no cycle)
    # the frame being encoded (PTS, duration): without B-frames each packet comes out while its
    # frame is being encoded, so the newest frame is its own (a frame the encoder took without a
    # packet — clipped, dropped — does not shift the ones after it). Its PTS is mapped through
    # running time: the encoder's output timeline is not its input's (GstVideoEncoder in
    # gst-libav 1.22 shifts it by 1,000 hours, segment included)
    seg = {"frame": None, "in": None, "out": None, "warned": False}

    def on_frame(_pad, info):
        if info.type & Gst.PadProbeType.BUFFER:
            b = info.get_buffer()
            seg["frame"] = (b.pts, b.duration)
            return Gst.PadProbeReturn.OK
        ev = info.get_event()
        if ev is None:
            return Gst.PadProbeReturn.OK
        if ev.type in (Gst.EventType.FLUSH_STOP, Gst.EventType.STREAM_START):
            seg["frame"] = None
        elif ev.type == Gst.EventType.SEGMENT:
            seg["in"] = ev.parse_segment()
        return Gst.PadProbeReturn.OK

    def on_packet(_pad, info):
        if info.type & Gst.PadProbeType.EVENT_DOWNSTREAM:
            ev = info.get_event()
            if ev is not None and ev.type == Gst.EventType.SEGMENT:
                seg["out"] = ev.parse_segment()
            return Gst.PadProbeReturn.OK
        b = info.get_buffer()
        if seg["frame"] is None:
            return Gst.PadProbeReturn.OK
        (pts, duration), seg["frame"] = seg["frame"], None
        if b.pts in (_NONE, _AV_NOPTS) and pts != _NONE:
            if seg["in"] is not None and seg["out"] is not None:
                running = seg["in"].to_running_time(Gst.Format.TIME, pts)
                out = seg["out"].position_from_running_time(Gst.Format.TIME, running)
                pts = out if out != _NONE else pts
            # the encoder's own new buffer, referenced by nobody else yet
            b.pts = b.dts = pts
            if b.duration == _NONE:
                b.duration = duration
            if not seg["warned"]:
                seg["warned"] = True
                log.info("%s: packets without timestamps (a gst-libav fault); each gets its frame's", name)
        return Gst.PadProbeReturn.OK

    encoder.get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM | Gst.PadProbeType.EVENT_FLUSH, on_frame)
    encoder.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM, on_packet)
