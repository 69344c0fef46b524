"""Output sinks: ``nveglglessink`` / ``nvegltransform`` aliases that work headless, and helpers
for file, RTSP and JPEG-snapshot outputs."""

from __future__ import annotations

import logging
import os

from estuary.gst import Gst, GstBase
from estuary.gst.element import ElementBase, Prop

__all__ = ["EsDisplaySink", "EsTransformPassthrough", "has_display", "encoder_name"]

log = logging.getLogger("estuary")


def has_display() -> bool:
    """True when a window can be opened (X11 or Wayland)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def encoder_name() -> str:
    """The H.264 encoder to use: NVENC when GStreamer's nvcodec registered it, else x264."""
    for name in ("nvh264enc", "x264enc", "openh264enc"):
        if Gst.ElementFactory.find(name) is not None:
            return name
    raise RuntimeError("no H.264 encoder: install gstreamer1.0-plugins-ugly (x264enc)")


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
        if has_display():
            self._sink = Gst.ElementFactory.make("autovideosink", None)
            self._pre = [self._conv, Gst.ElementFactory.make("videoconvert", None)]
        else:
            self._sink = Gst.ElementFactory.make("fakesink", None)
            self._pre = []
            log.warning("no display (DISPLAY/WAYLAND_DISPLAY unset): %s discards the video; "
                        "write a file with `estuary run ... --output out.mp4` instead", self.get_name())
        chain = self._pre + [self._sink]
        for e in chain:
            self.add(e)
        for a, b in zip(chain, chain[1:]):
            a.link(b)
        self.add_pad(Gst.GhostPad.new_from_template("sink", chain[0].get_static_pad("sink"),
                                                    self.get_pad_template("sink")))

    def property_changed(self, key, value):
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
