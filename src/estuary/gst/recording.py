"""A smart-record file (``estuary.record``): encoded packets in, an MP4 or MKV out, in a pipeline of its own.

Its own pipeline, not a branch of the application's: a recording starts and ends while the
application's pipeline plays, and a failing disk must not stop the analytics (the failure is
reported, the pipeline goes on). MP4s are written as every Estuary recording is
(:data:`estuary.mp4.RECORDING_MUX`: fragmented, unbuffered), so a process killed mid-recording
leaves a file that plays up to its last second.
"""

from __future__ import annotations

import os
import threading

from estuary.gst import GLib, Gst
from estuary.mp4 import RECORDING_FILESINK, RECORDING_MUX

__all__ = ["RecordingWriter", "CONTAINERS", "recordable", "describe"]

#: smart-rec-container value → (file extension, muxer)
CONTAINERS = {0: ("mp4", RECORDING_MUX), 1: ("mkv", "matroskamux")}
#: parsers that turn a decoder's input into what a muxer takes (byte-stream → avc, codec data)
_PARSERS = {"video/x-h264": "h264parse", "video/x-h265": "h265parse"}


def _reason(message: str, debug: str | None) -> str:
    """The system's reason for a file sink's ERROR, which its debug text ends with ("...: File
    too large", "system error: No space left on device"), after GStreamer's message ("Could not
    write to resource."): the reason is what a user can act on."""
    last = ((debug or "").strip().splitlines() or [""])[-1]
    for mark in ("system error:", "Error while writing to file descriptor"):
        if mark in last:
            tail = last.split(mark, 1)[1]
            reason = tail.split(":", 1)[1] if mark.startswith("Error") else tail  # (past "5:")
            return f"{message.rstrip('.')}: {reason.strip()}"
    return message


def _playable(path: str) -> bool:
    """Whether a failed recording still holds something to play: an MP4 with an index or a
    fragment, any other non-empty file (an MKV plays up to where it stopped)."""
    from estuary.mp4 import top_level_boxes
    if os.path.getsize(path) == 0:
        return False
    boxes = top_level_boxes(path)
    return boxes is None or any(kind in ("moov", "moof") for kind, _size in boxes)


def _mux_factory(container: int) -> str:
    return CONTAINERS[container][1].split()[0]


def describe(caps: Gst.Caps) -> str:
    """A format as a user knows it: ``video/x-h264``, ``video/mpeg (mpegversion 2)``."""
    st = caps.get_structure(0)
    ok, version = st.get_int("mpegversion")
    return st.get_name() + (f" (mpegversion {version})" if ok else "")


def recordable(caps: Gst.Caps, container: int) -> str:
    """Why ``caps`` (a decoder's input) cannot go into ``container``; empty when it can."""
    if caps is None or caps.is_empty():
        return "the source's encoded format is not known yet"
    name = caps.get_structure(0).get_name()
    if name.startswith("video/x-raw"):
        return "the input is not compressed video (nothing to record without encoding it)"
    factory = Gst.ElementFactory.find(_mux_factory(container))
    if factory is None:
        return f"{_mux_factory(container)} is not installed"
    # with a parser in front (H.264, H.265), the muxer gets what the parser makes of the stream
    # (avc from byte-stream): the codec decides; otherwise the stream as it is must fit
    want = Gst.Caps.from_string(name) if name in _PARSERS else caps
    for tmpl in factory.get_static_pad_templates():
        if tmpl.direction == Gst.PadDirection.SINK and tmpl.get_caps().can_intersect(want):
            return ""
    return f"{describe(caps)} cannot be stored in {CONTAINERS[container][0]}"


class RecordingWriter:
    """``appsrc ! [parser] ! muxer ! filesink`` writing ``path``; :meth:`write` packets (their
    timestamps moved so the file starts at 0), then :meth:`finish`."""

    def __init__(self, path: str, caps: Gst.Caps, container: int):
        why = recordable(caps, container)
        if why:
            raise ValueError(why)
        self.path = path
        self._format = f"{describe(caps)} cannot be stored in {CONTAINERS[container][0]}"
        name = caps.get_structure(0).get_name()
        parser = _PARSERS.get(name)
        chain = f"appsrc name=src format=time ! {parser + ' ! ' if parser else ''}" \
                f"{CONTAINERS[container][1]} ! {RECORDING_FILESINK} name=sink"
        try:
            self._pipe = Gst.parse_launch(chain)
        except GLib.Error as exc:  # a parser or muxer that is not installed
            raise ValueError(f"cannot record {describe(caps)}: {exc.message}") from None
        self._src = self._pipe.get_by_name("src")
        self._src.set_property("caps", caps)
        self._src.set_property("max-bytes", 0)  # never block the source's streaming thread
        self._pipe.get_by_name("sink").set_property("location", path)
        self._base: int | None = None
        self._lo: int | None = None
        self._hi = 0
        self.packets = 0
        st = caps.get_structure(0)
        ok_w, w = st.get_int("width")
        ok_h, h = st.get_int("height")
        self.width, self.height = (w if ok_w else 0), (h if ok_h else 0)
        self._ended = threading.Event()
        self._error = ""
        # its messages are taken as they are posted (no bus loop of its own: the end of the file
        # is an event to wait for); the handler is removed at the end, or it would keep this
        # writer and its pipeline alive
        self._pipe.get_bus().set_sync_handler(self._on_message)
        if self._pipe.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            err = self._error
            self._close()
            raise OSError(f"cannot write {path}: {err or 'the recording pipeline did not start'}")

    def write(self, buf: Gst.Buffer) -> bool:
        """Write one packet; False when the file no longer takes any (it failed: the packets
        would only pile up in memory)."""
        if self._error:
            return False
        base_ts = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else buf.pts
        if self._base is None:
            self._base = base_ts if base_ts != Gst.CLOCK_TIME_NONE else 0
            self._first_pts = buf.pts
        elif (buf.pts != Gst.CLOCK_TIME_NONE and self._first_pts != Gst.CLOCK_TIME_NONE
              and buf.pts < self._first_pts):
            # shown before the key frame the file starts with (an open GOP's leading pictures,
            # H.265's default): they need the GOP before it, which a decoder starting here skips;
            # with times before the file's start they also make mp4mux fail ("no PTS")
            return True
        # a buffer of its own that shares the memory: the packet itself goes on to the decoder
        # with its timestamps (Gst.Buffer.copy() is only a new reference)
        out = buf.copy_region(Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.TIMESTAMPS |
                              Gst.BufferCopyFlags.META | Gst.BufferCopyFlags.MEMORY, 0, buf.get_size())
        for attr in ("pts", "dts"):
            t = getattr(buf, attr)
            if t != Gst.CLOCK_TIME_NONE:
                setattr(out, attr, max(0, t - self._base))
        if out.pts != Gst.CLOCK_TIME_NONE:
            self._lo = out.pts if self._lo is None else min(self._lo, out.pts)
            dur = buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else 0
            self._hi = max(self._hi, out.pts + dur)
        self.packets += 1
        return self._src.emit("push-buffer", out) == Gst.FlowReturn.OK and not self._error

    @property
    def duration_ns(self) -> int:
        """From the first frame shown to the end of the last one written."""
        return 0 if self._lo is None else self._hi - self._lo

    def finish(self, timeout_s: float = 30.0) -> str:
        """End the file (its muxer writes the rest); returns the error, empty when it was written."""
        self._src.emit("end-of-stream")
        if not self._ended.wait(timeout_s):
            self._error = self._error or f"the recording did not finish within {timeout_s:.0f} s"
        self._close()
        err = self._error
        if not err and self.packets == 0:
            err = "nothing was recorded"
        if err and os.path.exists(self.path) and not _playable(self.path):
            os.unlink(self.path)  # a file with nothing to play would pass for a recording
        return err

    def _close(self) -> None:
        self._pipe.set_state(Gst.State.NULL)
        self._pipe.get_bus().set_sync_handler(None)

    def _on_message(self, _bus, msg):
        if msg.type == Gst.MessageType.ERROR and not self._error:
            err, debug = msg.parse_error()
            # a format the muxer refuses shows up as "Internal data stream error": say which
            self._error = self._format if "not-negotiated" in (debug or "") else _reason(err.message, debug)
            self._ended.set()
        elif msg.type == Gst.MessageType.EOS:
            self._ended.set()
        return Gst.BusSyncReply.DROP
