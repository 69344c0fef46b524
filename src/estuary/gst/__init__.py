"""GStreamer glue: initialisation, ctypes access to buffers, the batch meta on buffers,
and the base of Estuary's elements."""

from __future__ import annotations

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, GObject, Gst, GstBase, GstVideo  # noqa: E402

__all__ = ["Gst", "GstBase", "GstVideo", "GLib", "GObject", "ensure_init", "is_inside", "ancestor_named",
           "all_elements", "leaf_sinks"]


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


def all_elements(bin_) -> list:
    """Every element inside ``bin_``, at any depth."""
    out = []
    it = bin_.iterate_recurse()
    while True:
        res, el = it.next()
        if res == Gst.IteratorResult.OK:
            out.append(el)
        elif res == Gst.IteratorResult.RESYNC:
            it.resync()
            out.clear()
        else:
            return out


def leaf_sinks(bin_) -> list:
    """The elements of ``bin_`` (at any depth) that end a branch: a sink pad and no src pad."""
    return [el for el in all_elements(bin_)
            if el.get_static_pad("sink") is not None and not el.srcpads and not isinstance(el, Gst.Bin)]
