"""From ``hash(element)`` (the C ``GstElement*``) back to the Python element."""

from __future__ import annotations

import gc
import weakref

from estuary.errors import InvalidAddressError

__all__ = ["remember", "element_at"]

_known: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()


def remember(element) -> None:
    """Register an element so that :func:`element_at` finds it quickly."""
    _known[hash(element)] = element


def element_at(addr: int):
    """The live ``Gst.Element`` whose address is ``addr``; raises if none is known."""
    from estuary.gst import Gst
    if not isinstance(addr, int):
        return addr
    el = _known.get(addr)
    if el is not None:
        return el
    for obj in gc.get_objects():
        if isinstance(obj, Gst.Element) and hash(obj) == addr:
            _known[addr] = obj
            return obj
    raise InvalidAddressError(f"no live GStreamer element at address {addr:#x}")
