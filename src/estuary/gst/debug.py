"""GStreamer debug categories for Python elements, so ``GST_DEBUG=nvinfer:5`` shows what an
Estuary element does, in GStreamer's own log format, next to the C elements' lines.

PyGObject cannot create a ``GstDebugCategory`` (``GST_DEBUG_CATEGORY_INIT`` is a macro over the
non-introspected ``_gst_debug_category_new``), so this goes through ctypes. The threshold is read
straight from the category struct, so a disabled log line costs one attribute read.
"""

from __future__ import annotations

import ctypes
import sys

from estuary.gst import Gst
from estuary.gst.capi import lib

__all__ = ["DebugCategory", "category", "object_address"]

_vp = ctypes.c_void_p
_new = lib._gst_debug_category_new
_new.restype, _new.argtypes = _vp, [ctypes.c_char_p, ctypes.c_uint, ctypes.c_char_p]
_log = lib.gst_debug_log_literal  # GStreamer >= 1.20
_log.restype, _log.argtypes = None, [_vp, ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p,
                                     ctypes.c_int, _vp, ctypes.c_char_p]

# GstDebugColorFlags: GST_DEBUG_FG_CYAN (element categories in C plugins use colours too)
_FG_CYAN = 0x0006


class _Category(ctypes.Structure):
    """The public head of ``GstDebugCategory``: ``threshold`` is what GST_DEBUG sets."""

    _fields_ = [("threshold", ctypes.c_int), ("color", ctypes.c_uint),
                ("name", ctypes.c_char_p), ("description", ctypes.c_char_p)]


def object_address(obj) -> int | None:
    """The C ``GObject*`` of a PyGObject object (None for anything else)."""
    cap = getattr(obj, "__gpointer__", None)
    from estuary import capsule
    return capsule.address(cap) if cap is not None else None


class DebugCategory:
    """One GStreamer debug category (``gst-launch-1.0 --gst-debug-help`` lists it)."""

    def __init__(self, name: str, description: str = ""):
        self.name = name
        self._ptr = _new(name.encode(), _FG_CYAN, description.encode())
        self._head = _Category.from_address(self._ptr)

    @property
    def threshold(self) -> int:
        return self._head.threshold

    def enabled(self, level: Gst.DebugLevel | int) -> bool:
        return int(level) <= self._head.threshold

    def log(self, level: Gst.DebugLevel | int, obj, message: str, *args, depth: int = 1) -> None:
        """Log ``message % args`` at ``level`` about ``obj`` (a GObject or None)."""
        if int(level) > self._head.threshold:
            return
        text = message % args if args else message
        frame = sys._getframe(depth)
        code = frame.f_code
        _log(self._ptr, int(level), code.co_filename.encode(), code.co_name.encode(), frame.f_lineno,
             object_address(obj) if obj is not None else None, text.encode("utf-8", "replace"))


_categories: dict[str, DebugCategory] = {}


def category(name: str, description: str = "") -> DebugCategory:
    """The category ``name``, made once per process (GStreamer keeps categories for good)."""
    cat = _categories.get(name)
    if cat is None:
        cat = _categories[name] = DebugCategory(name, description)
    return cat
