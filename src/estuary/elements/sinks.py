"""Output sinks: ``nveglglessink`` / ``nvegltransform`` aliases that work headless, and helpers
for file, RTSP and JPEG-snapshot outputs."""

from __future__ import annotations

import logging
import os

from estuary.gst import Gst, GstBase
from estuary.gst.element import ElementBase, Prop
# the recording that survives its writer (fragmented MP4, unbuffered): see estuary.mp4
from estuary.mp4 import RECORDING_FILESINK, RECORDING_FRAGMENT_MS, RECORDING_MUX

__all__ = ["EsDisplaySink", "EsTransformPassthrough", "has_display", "encoder_name", "recording_elements",
           "RECORDING_MUX", "RECORDING_FILESINK", "display_output", "OUTPUT_ENV"]

log = logging.getLogger("estuary")

#: where display sinks write their video instead (an MP4 path); ``estuary run --output`` sets it
OUTPUT_ENV = "ESTUARY_DISPLAY_OUTPUT"
_outputs_taken: list[str] = []


def display_output() -> str | None:
    """The MP4 path for the next display sink from ``$ESTUARY_DISPLAY_OUTPUT`` (None: unset). A
    second display sink in the process gets ``name-1.mp4``, a third ``name-2.mp4``, ..."""
    path = os.environ.get(OUTPUT_ENV)
    if not path:
        return None
    n = sum(1 for p in _outputs_taken if p == path)
    _outputs_taken.append(path)
    if n == 0:
        return path
    stem, ext = os.path.splitext(path)
    return f"{stem}-{n}{ext or '.mp4'}"


def has_display() -> bool:
    """True when a window can be opened (X11 or Wayland)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def encoder_name() -> str:
    """The H.264 encoder to use: NVENC when GStreamer's nvcodec registered it, else x264."""
    for name in ("nvh264enc", "x264enc", "openh264enc"):
        if Gst.ElementFactory.find(name) is not None:
            return name
    raise RuntimeError("no H.264 encoder: install gstreamer1.0-plugins-ugly (x264enc)")


def recording_elements() -> tuple:
    """``(mp4mux, filesink)`` set up as :data:`RECORDING_MUX` ! :data:`RECORDING_FILESINK`: an
    MP4 recording that plays up to its last second when the process dies before EOS (killed,
    crashed; not when the host loses power: nothing is synced to the disk)."""
    mux = Gst.ElementFactory.make("mp4mux", None)
    mux.set_property("fragment-duration", RECORDING_FRAGMENT_MS)
    sink = Gst.ElementFactory.make("filesink", None)
    sink.set_property("buffer-mode", 2)  # unbuffered
    return mux, sink


class EsDisplaySink(ElementBase, Gst.Bin):
    """A screen sink (``autovideosink``) when a display exists; else discards frames, saying so once."""

    __gtype_name__ = "EstuaryDisplaySink"
    FACTORY = "esdisplaysink"
    ALIASES = ("nveglglessink", "nv3dsink")
    METADATA = ("Estuary display sink", "Sink/Video", "Shows video, or discards it when headless",
                "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS,
                      "video/x-raw(memory:NVMM); video/x-raw", None),)
    PROPS = (Prop("sync", bool, True, "Sync on the clock"), Prop("qos", bool, True, "QoS events"),
             Prop("window-x", int, 0, "Accepted", 0, 16384), Prop("window-y", int, 0, "Accepted", 0, 16384),
             Prop("window-width", int, 0, "Accepted", 0, 16384),
             Prop("window-height", int, 0, "Accepted", 0, 16384))

    def __init__(self):
        super().__init__()
        self.init_settings()
        self._conv = Gst.ElementFactory.make("esconvert", None)
        self.output = display_output()
        self._discarding = False
        if self.output is not None:
            self._pre, self._sink = self._file_branch(self.output)
        elif has_display():
            self._sink = Gst.ElementFactory.make("autovideosink", None)
            self._pre = [self._conv, Gst.ElementFactory.make("videoconvert", None)]
        else:
            self._sink = Gst.ElementFactory.make("fakesink", None)
            self._pre = []
            self._discarding = True  # said at start, once the application has named this sink
        chain = self._pre + [self._sink]
        for e in chain:
            self.add(e)
        for a, b in zip(chain, chain[1:]):
            a.link(b)
        self.add_pad(Gst.GhostPad.new_from_template("sink", chain[0].get_static_pad("sink"),
                                                    self.get_pad_template("sink")))

    def _file_branch(self, path: str):
        """convert → H.264 → MP4 → ``path``, a recording that plays even when the application is
        killed before EOS (:func:`recording_elements`)."""
        enc = Gst.ElementFactory.make(encoder_name(), None)
        if enc.find_property("speed-preset") is not None:
            enc.set_property("speed-preset", "ultrafast")
        caps = Gst.ElementFactory.make("capsfilter", None)
        caps.set_property("caps", Gst.Caps.from_string("video/x-raw,format=I420"))
        mux, sink = recording_elements()
        sink.set_property("location", path)
        sink.set_property("sync", False)
        pre = [self._conv, Gst.ElementFactory.make("videoconvert", None), caps, enc,
               Gst.ElementFactory.make("h264parse", None), mux]
        return pre, sink

    def do_change_state(self, transition):
        if transition == Gst.StateChange.NULL_TO_READY:
            factory = self.get_factory()
            what = f"{self.get_name()} ({factory.get_name() if factory else self.FACTORY})"
            if self._discarding:
                log.warning("no display (DISPLAY/WAYLAND_DISPLAY unset): %s discards the video; to write "
                            "it to an MP4 file set %s=out.mp4 (with `estuary run <app>`: --output out.mp4)",
                            what, OUTPUT_ENV)
            elif self.output is not None:
                log.info("%s writes the video to %s", what, self.output)
        return Gst.Bin.do_change_state(self, transition)

    def property_changed(self, key, value):
        if self.output is not None:
            return  # a file is written as fast as it comes
        if key in ("sync", "qos") and self._sink.find_property(key) is not None:
            self._sink.set_property(key, value)


class EsTransformPassthrough(ElementBase, GstBase.BaseTransform):
    """``nvegltransform``: a Jetson-only converter; a passthrough here."""

    __gtype_name__ = "EstuaryEglTransform"
    FACTORY = "esegltransform"
    ALIASES = ("nvegltransform",)
    METADATA = ("Estuary EGL transform", "Filter/Video", "Passthrough (Jetson EGL transform)", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, "ANY", None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, "ANY", None))

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.set_passthrough(True)
