"""A small ctypes layer over libgstreamer for what PyGObject cannot do without the
gst-python overrides: writable zero-copy maps, the custom-meta write path, buffer addresses.

Everything takes and returns plain int addresses (``hash(gst_buffer)`` is a ``GstBuffer*``).
"""

from __future__ import annotations

import ctypes
import os
import threading
from contextlib import contextmanager

import numpy as np

from estuary.errors import StreamError

__all__ = ["lib", "gobject", "MapInfo", "GST_MAP_READ", "GST_MAP_WRITE", "GST_MAP_CUDA",
           "map_memory", "map_buffer", "buffer_refcount", "buffer_n_memory"]

lib = ctypes.CDLL("libgstreamer-1.0.so.0")
gobject = ctypes.CDLL("libgobject-2.0.so.0")
glib = ctypes.CDLL("libglib-2.0.so.0")

GST_MAP_READ = 1
GST_MAP_WRITE = 2
GST_MAP_CUDA = 1 << 17

_vp, _sz, _u32 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32


class MapInfo(ctypes.Structure):
    """``GstMapInfo``."""

    _fields_ = [("memory", _vp), ("flags", ctypes.c_int), ("data", _vp), ("size", _sz),
                ("maxsize", _sz), ("user_data", _vp * 4), ("_gst_reserved", _vp * 4)]


class GValue(ctypes.Structure):
    """``GValue`` (type + two data words)."""

    _fields_ = [("g_type", _sz), ("data", ctypes.c_uint64 * 2)]


def _fn(library, name, restype, *argtypes):
    f = getattr(library, name)
    f.restype, f.argtypes = restype, list(argtypes)
    return f


CUSTOM_TRANSFORM = ctypes.CFUNCTYPE(ctypes.c_int, _vp, _vp, _vp, _u32, _vp, _vp)

gst_buffer_peek_memory = _fn(lib, "gst_buffer_peek_memory", _vp, _vp, ctypes.c_uint)
gst_buffer_n_memory = _fn(lib, "gst_buffer_n_memory", ctypes.c_uint, _vp)
gst_memory_map = _fn(lib, "gst_memory_map", ctypes.c_int, _vp, ctypes.POINTER(MapInfo), ctypes.c_int)
gst_memory_unmap = _fn(lib, "gst_memory_unmap", None, _vp, ctypes.POINTER(MapInfo))
gst_buffer_map = _fn(lib, "gst_buffer_map", ctypes.c_int, _vp, ctypes.POINTER(MapInfo), ctypes.c_int)
gst_buffer_map_range = _fn(lib, "gst_buffer_map_range", ctypes.c_int, _vp, ctypes.c_uint, ctypes.c_int,
                           ctypes.POINTER(MapInfo), ctypes.c_int)
gst_buffer_unmap = _fn(lib, "gst_buffer_unmap", None, _vp, ctypes.POINTER(MapInfo))
gst_buffer_get_size = _fn(lib, "gst_buffer_get_size", _sz, _vp)
gst_meta_register_custom = _fn(lib, "gst_meta_register_custom", _vp, ctypes.c_char_p,
                               ctypes.POINTER(ctypes.c_char_p), CUSTOM_TRANSFORM, _vp, _vp)
gst_buffer_add_custom_meta = _fn(lib, "gst_buffer_add_custom_meta", _vp, _vp, ctypes.c_char_p)
gst_buffer_get_custom_meta = _fn(lib, "gst_buffer_get_custom_meta", _vp, _vp, ctypes.c_char_p)
gst_custom_meta_get_structure = _fn(lib, "gst_custom_meta_get_structure", _vp, _vp)
gst_structure_get_value = _fn(lib, "gst_structure_get_value", _vp, _vp, ctypes.c_char_p)
gst_structure_take_value = _fn(lib, "gst_structure_take_value", None, _vp, ctypes.c_char_p,
                               ctypes.POINTER(GValue))
gst_mini_object_is_writable = _fn(lib, "gst_mini_object_is_writable", ctypes.c_int, _vp)
#: GstMiniObjectNotify(user_data, object): called when a (non-pooled) buffer is finalized
MINI_OBJECT_NOTIFY = ctypes.CFUNCTYPE(None, _vp, _vp)
gst_mini_object_weak_ref = _fn(lib, "gst_mini_object_weak_ref", None, _vp, MINI_OBJECT_NOTIFY, _vp)
g_value_init = _fn(gobject, "g_value_init", _vp, ctypes.POINTER(GValue), _sz)
g_value_set_boxed = _fn(gobject, "g_value_set_boxed", None, ctypes.POINTER(GValue), _vp)
g_value_get_boxed = _fn(gobject, "g_value_get_boxed", _vp, _vp)
g_type_from_name = _fn(gobject, "g_type_from_name", _sz, ctypes.c_char_p)
META_TRANSFORM_COPY = ctypes.c_uint32.in_dll(lib, "_gst_meta_transform_copy")
g_type_class_ref = _fn(gobject, "g_type_class_ref", _vp, _sz)
gst_caps_from_string = _fn(lib, "gst_caps_from_string", _vp, ctypes.c_char_p)
gst_caps_unref = _fn(lib, "gst_caps_unref", None, _vp)
gst_pad_template_new = _fn(lib, "gst_pad_template_new", _vp, ctypes.c_char_p, ctypes.c_int,
                           ctypes.c_int, _vp)
gst_pad_template_new_with_gtype = _fn(lib, "gst_pad_template_new_with_gtype", _vp, ctypes.c_char_p,
                                      ctypes.c_int, ctypes.c_int, _vp, _sz)
gst_element_class_add_pad_template = _fn(lib, "gst_element_class_add_pad_template", None, _vp, _vp)
gst_element_class_set_metadata = _fn(lib, "gst_element_class_set_metadata", None, _vp,
                                     ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                     ctypes.c_char_p)


def gtype_of(py_gtype) -> int:
    """The numeric GType of a PyGObject ``GType`` object (or of a class that has one)."""
    py_gtype = getattr(py_gtype, "__gtype__", py_gtype)
    return g_type_from_name(py_gtype.name.encode())


def install_class_metadata(py_gtype, metadata, templates) -> None:
    """Set element metadata and add pad templates to a GstElementClass, without gst-python.

    ``metadata`` is (long name, classification, description, author); ``templates`` rows are
    (name, direction, presence, caps string, pad GType or None) with Gst enum values.
    """
    klass = g_type_class_ref(gtype_of(py_gtype))
    gst_element_class_set_metadata(klass, *(m.encode() for m in metadata))
    for name, direction, presence, caps_str, pad_type in templates:
        caps = gst_caps_from_string(caps_str.encode())
        if not caps:
            raise ValueError(f"invalid caps in pad template {name}: {caps_str!r}")
        if pad_type is not None:
            templ = gst_pad_template_new_with_gtype(name.encode(), int(direction), int(presence),
                                                    caps, gtype_of(pad_type))
        else:
            templ = gst_pad_template_new(name.encode(), int(direction), int(presence), caps)
        gst_caps_unref(caps)
        gst_element_class_add_pad_template(klass, templ)


class _MiniObject(ctypes.Structure):
    _fields_ = [("type", _sz), ("refcount", ctypes.c_int), ("lockstate", ctypes.c_int),
                ("flags", ctypes.c_uint)]


gst_buffer_get_type = _fn(lib, "gst_buffer_get_type", _sz)
_mem_fd: int | None = None
_mem_pid = 0
_mem_lock = threading.Lock()


def _peek_word(addr: int) -> int | None:
    """The machine word at ``addr``, or None where the address is not readable.

    Read through ``/proc/self/mem`` so that an unmapped address gives EIO instead of a
    segfault: pyds hands ints from user code to C, and a wrong int must be an error.
    """
    global _mem_fd, _mem_pid
    with _mem_lock:
        # /proc/self/mem stays bound to the process that opened it: reopen after a fork
        if _mem_fd is None or _mem_pid != os.getpid():
            _mem_fd, _mem_pid = os.open("/proc/self/mem", os.O_RDONLY | os.O_CLOEXEC), os.getpid()
    try:
        raw = os.pread(_mem_fd, ctypes.sizeof(_sz), addr)
    except (OSError, OverflowError, ValueError):
        return None
    return int.from_bytes(raw, "little") if len(raw) == ctypes.sizeof(_sz) else None


def _gst_buffer_class():
    try:
        import gi
        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
        return Gst.Buffer
    except (ImportError, ValueError):  # no GStreamer bindings: every buffer is checked
        return None


_GstBuffer = _gst_buffer_class()


def buffer_address(buffer, what: str = "gst_buffer") -> int:
    """The ``GstBuffer*`` of a ``Gst.Buffer`` or of an int address, checked before any C call.

    An int that does not point at a live GstBuffer (0, None, a stale or made-up address, another
    object's address) raises :class:`~estuary.errors.InvalidAddressError` naming it, where C
    would crash the process.
    """
    from estuary.errors import InvalidAddressError
    if buffer is None:
        raise InvalidAddressError(f"{what} is None: pass hash(gst_buffer) of a Gst.Buffer")
    if isinstance(buffer, bool) or not isinstance(buffer, int):
        if type(buffer) is _GstBuffer:
            # a PyGObject wrapper holds a reference: its address is a live GstBuffer (no need
            # for the /proc/self/mem read below, a system call on every batch meta look-up)
            return hash(buffer)
        if type(buffer).__name__ != "Buffer":
            raise InvalidAddressError(
                f"{what} must be hash(gst_buffer) (an int) or a Gst.Buffer, "
                f"not {type(buffer).__name__}")
        buffer = hash(buffer)
    addr = int(buffer)
    if addr <= 0 or addr % ctypes.alignment(_MiniObject) or _peek_word(addr) != gst_buffer_get_type():
        raise InvalidAddressError(
            f"{what} {addr:#x} is not the address of a live GstBuffer "
            "(pass hash(gst_buffer) inside the probe that received it)")
    return addr


def buffer_refcount(addr: int) -> int:
    """Reference count of the GstBuffer at ``addr``."""
    return _MiniObject.from_address(addr).refcount


def buffer_n_memory(addr: int) -> int:
    """Number of memories in the GstBuffer at ``addr``."""
    return gst_buffer_n_memory(addr)


@contextmanager
def map_memory(buffer_addr: int, index: int = 0, write: bool = True, flags: int = 0):
    """Map memory ``index`` of a buffer; yields the ``MapInfo`` (``data`` is the pointer).

    Writes go only into memory that is this buffer's alone. Memory shared with another buffer
    (a copy made for a tee branch, a read-only memory) is copied first and the copy replaces it
    in this buffer: GStreamer's copy on write, done by ``gst_buffer_map_range``. That needs a
    writable buffer; a buffer that others hold too is refused (copy the buffer first).
    """
    mem = gst_buffer_peek_memory(buffer_addr, index)
    if not mem:
        raise StreamError(f"buffer {buffer_addr:#x} has no memory {index}")
    info = MapInfo()
    mode = GST_MAP_READ | (GST_MAP_WRITE if write else 0) | flags
    if write and not (flags & GST_MAP_CUDA) and not memory_writable(mem):
        if not gst_mini_object_is_writable(buffer_addr):
            raise StreamError(f"memory {index} of buffer {buffer_addr:#x} is shared and the buffer is "
                              "not writable: copy the buffer before writing its pixels")
        if not gst_buffer_map_range(buffer_addr, index, 1, ctypes.byref(info), mode):
            raise StreamError(f"cannot map memory {index} of buffer {buffer_addr:#x} for writing")
        try:
            yield info
        finally:
            gst_buffer_unmap(buffer_addr, ctypes.byref(info))
        return
    if not gst_memory_map(mem, ctypes.byref(info), mode):
        raise StreamError(f"cannot map memory {index} of buffer {buffer_addr:#x} "
                          f"for {'writing' if write else 'reading'}")
    try:
        yield info
    finally:
        gst_memory_unmap(mem, ctypes.byref(info))


_GST_MEMORY_FLAG_READONLY = 1 << 1  # GST_MINI_OBJECT_FLAG_LOCK_READONLY


def memory_writable(mem: int) -> bool:
    """``gst_memory_is_writable`` (a macro): not read-only and not shared by several buffers."""
    if _MiniObject.from_address(mem).flags & _GST_MEMORY_FLAG_READONLY:
        return False
    return bool(gst_mini_object_is_writable(mem))


@contextmanager
def map_buffer(buffer_addr: int, write: bool = False, flags: int = 0):
    """Map a whole buffer (merging its memories if it has several); yields the ``MapInfo``."""
    info = MapInfo()
    mode = GST_MAP_READ | (GST_MAP_WRITE if write else 0) | flags
    if not gst_buffer_map(buffer_addr, ctypes.byref(info), mode):
        raise StreamError(f"cannot map buffer {buffer_addr:#x}")
    try:
        yield info
    finally:
        gst_buffer_unmap(buffer_addr, ctypes.byref(info))


def as_array(info: MapInfo, dtype=np.uint8) -> np.ndarray:
    """A numpy view of mapped data (valid only while mapped)."""
    n = info.size // np.dtype(dtype).itemsize
    if n == 0:
        return np.zeros(0, dtype)
    raw = (ctypes.c_char * info.size).from_address(info.data)
    return np.frombuffer(raw, dtype=dtype, count=n)
