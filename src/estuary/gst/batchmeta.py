"""The one batch-metadata object that rides on each batched GstBuffer.

It is a ``GstCustomMeta`` (GStreamer >= 1.20) whose structure holds a GValue of the
``PyObject`` boxed type, so a Python :class:`~estuary.meta.core.NvDsBatchMeta` survives
queues, tees and element copies with correct reference counting. When GStreamer copies a
buffer (a writable copy after a tee, an encoder copying metas), the batch meta is deep-copied
and user meta copy callbacks run, as DeepStream's batch-meta transform does.
"""

from __future__ import annotations

import ctypes
import logging
import threading

from estuary.gst import capi
from estuary.gst import ensure_init

__all__ = ["META_NAME", "attach", "get", "register", "writable", "shallow_copy", "push_held", "PUSHES_HELD"]

META_NAME = b"EstuaryBatchMeta"
_FIELD = b"batch"
_log = logging.getLogger("estuary.meta")
_lock = threading.Lock()
_registered = False
_pyobject_gtype = 0


def _transform(transbuf, meta, buffer, type_quark, data, user_data):
    if type_quark != capi.META_TRANSFORM_COPY.value:
        return 0
    try:
        src = _read(meta)
        if src is None:
            return 0
        copy = getattr(src, "copy", None)
        _attach(transbuf, copy() if copy is not None else src)
        return 1
    except Exception as exc:  # noqa: BLE001 - a C callback must not raise; the meta is dropped
        from estuary.gst.element import format_traceback
        _log.error("copying the batch meta of a buffer failed; the copy has none:\n%s",
                   format_traceback(exc))
        return 0


_transform_cb = capi.CUSTOM_TRANSFORM(_transform)


def register() -> None:
    """Register the custom meta type (idempotent)."""
    global _registered, _pyobject_gtype
    if _registered:
        return
    with _lock:
        if _registered:
            return
        ensure_init()
        from gi.repository import GObject  # noqa: F401 - makes sure the PyObject GType exists
        _pyobject_gtype = capi.g_type_from_name(b"PyObject")
        tags = (ctypes.c_char_p * 1)(None)
        if not capi.gst_meta_register_custom(META_NAME, tags, _transform_cb, None, None):
            raise RuntimeError("could not register the Estuary batch meta")
        _registered = True


def _attach(buffer_addr: int, obj) -> None:
    meta = capi.gst_buffer_add_custom_meta(buffer_addr, META_NAME)
    if not meta:
        raise RuntimeError("gst_buffer_add_custom_meta failed (is the buffer writable?)")
    st = capi.gst_custom_meta_get_structure(meta)
    v = capi.GValue()
    capi.g_value_init(ctypes.byref(v), _pyobject_gtype)
    capi.g_value_set_boxed(ctypes.byref(v), id(obj))
    capi.gst_structure_take_value(st, _FIELD, ctypes.byref(v))


def attach(buffer, obj) -> None:
    """Attach ``obj`` to a writable buffer (a ``Gst.Buffer`` or its address)."""
    register()
    addr = capi.buffer_address(buffer)
    if not capi.gst_mini_object_is_writable(addr):
        raise RuntimeError("the batch meta can only be attached to a writable buffer")
    _attach(addr, obj)


def _read(meta):
    st = capi.gst_custom_meta_get_structure(meta)
    v = capi.gst_structure_get_value(st, _FIELD)
    if not v:
        return None
    p = capi.g_value_get_boxed(v)
    return ctypes.cast(p, ctypes.py_object).value if p else None


def get(buffer):
    """The object attached to a buffer (a ``Gst.Buffer`` or its address), or None."""
    if not _registered:
        register()
    addr = capi.buffer_address(buffer)
    meta = capi.gst_buffer_get_custom_meta(addr, META_NAME)
    return _read(meta) if meta else None


#: class attribute of Estuary elements that push through :func:`push_held`
PUSHES_HELD = "_estuary_pushes_held"
_tls = threading.local()


def _held() -> list:
    stack = getattr(_tls, "held", None)
    if stack is None:
        stack = _tls.held = []
    return stack


def push_held(push, buffer, *args):
    """``push(buffer, *args)`` (a pad's ``push``, an aggregator's ``finish_buffer``) from Python
    code that keeps ``buffer``'s PyGObject wrapper, one reference, while the push runs in this
    thread. The reference is noted, so that :func:`writable` downstream in the same thread does
    not take it for another holder: in mux → nvinfer → nvtracker → nvdsosd, every element
    upstream still holds one, and the OSD copied every batch (its metadata deep-copied) for
    nothing."""
    stack = _held()
    stack.append(hash(buffer))
    try:
        return push(buffer, *args)
    finally:
        stack.pop()


def writable(buffer, sinkpad=None):
    """``buffer`` when no one else holds it, else a copy whose batch meta is deep-copied and
    whose frames are written copy-on-write: what an element that draws on the pixels pushes,
    so that drawing on one branch of a tee stays out of the other branch.

    ``sinkpad``: the pad ``buffer`` arrived on. Python elements upstream that pushed it in this
    thread still hold one reference each through their PyGObject wrappers while the push runs;
    those do not count as other holders (Estuary's own elements note theirs, see
    :func:`push_held`; another element written in Python that feeds ``sinkpad`` is taken to
    hold one)."""
    addr = hash(buffer)
    refs = capi.buffer_refcount(addr)
    if refs > 1:
        refs -= _held().count(addr)
    if sinkpad is not None and refs > 1:
        peer = sinkpad.get_peer()
        up = peer.get_parent_element() if peer is not None else None
        if (up is not None and not type(up).__module__.startswith(("gi.", "__gi__"))
                and not getattr(up, PUSHES_HELD, False)):
            refs -= 1
    if refs <= 1:
        return buffer
    return shallow_copy(buffer)


def shallow_copy(buffer):
    """``gst_buffer_copy``: a new buffer sharing ``buffer``'s memory (metas copied). PyGObject's
    ``Buffer.copy()`` returns it with a stray extra reference (not writable); this does not."""
    from estuary.gst import Gst
    f = Gst.BufferCopyFlags
    return buffer.copy_region(f.FLAGS | f.TIMESTAMPS | f.META | f.MEMORY, 0, 2**64 - 1)
