"""GStreamer glue: initialisation, ctypes access to buffers, the batch meta on buffers,
and the base of Estuary's elements."""

from __future__ import annotations

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, GObject, Gst, GstBase, GstVideo  # noqa: E402

__all__ = ["Gst", "GstBase", "GstVideo", "GLib", "GObject", "ensure_init", "is_inside", "ancestor_named"]


def ensure_init() -> None:
    """Initialise GStreamer once (a no-op if the application already did)."""
    if not Gst.is_initialized():
        Gst.init(None)


def is_inside(element, ancestor) -> bool:
    """True when ``element`` is ``ancestor`` or sits (at any depth) inside it."""
    el = element
    while el is not None:
        if el == ancestor:
            return True
        el = el.get_parent()
    return False


def ancestor_named(element, prefix: str):
    """The nearest of ``element`` and its parents whose name starts with ``prefix`` (or None)."""
    el = element
    while el is not None:
        if el.get_name().startswith(prefix):
            return el
        el = el.get_parent()
    return None
