"""GStreamer glue: initialisation, ctypes access to buffers, the batch meta on buffers,
and the base of Estuary's elements."""

from __future__ import annotations

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, GObject, Gst, GstBase, GstVideo  # noqa: E402

__all__ = ["Gst", "GstBase", "GstVideo", "GLib", "GObject", "ensure_init"]


def ensure_init() -> None:
    """Initialise GStreamer once (a no-op if the application already did)."""
    if not Gst.is_initialized():
        Gst.init(None)
