"""Native libraries in one process: keep C++ exceptions working beside GStreamer.

Why this exists: Debian's libgstreamer links ``libunwind.so.8`` (for its backtraces), and GObject
introspection opens GStreamer with ``RTLD_GLOBAL``. libunwind exports the ``_Unwind_*`` ABI
too. When the global scope offers libunwind's ``_Unwind_Resume`` ahead of libgcc_s's (which
happens when something, e.g. ``cv2``, loaded libgcc_s locally before GStreamer was loaded), a
C++ library loaded afterwards (onnxruntime, OpenVINO) binds its unwinding to libunwind while its
``throw`` goes through libgcc_s: the first C++ exception — a corrupt ONNX file, say — aborts or
segfaults the process instead of raising. Verified with ``LD_DEBUG=bindings``: onnxruntime's
``_Unwind_Resume`` bound to libunwind.so.8 in the crashing order, to libgcc_s otherwise.

The remedy, at the root: (1) put libgcc_s in the global scope before anything loads GStreamer
(:func:`ensure_unwinder`, called first thing by ``import estuary``/``import pyds``), so it
precedes libunwind; (2) where GStreamer was loaded first by the application in the bad order,
import C++ extension modules with ``RTLD_DEEPBIND`` (:func:`import_cxx`) so they resolve the
unwinder from their own dependencies (libgcc_s) first.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import sys
import threading
from types import ModuleType

__all__ = ["ensure_unwinder", "unwinder_is_sane", "import_cxx", "cxx_throw_safe"]

_lock = threading.Lock()
_gcc_s = None


def ensure_unwinder() -> None:
    """Load libgcc_s with RTLD_GLOBAL (idempotent; a no-op where it does not exist)."""
    global _gcc_s
    if _gcc_s is not None:
        return
    try:
        _gcc_s = ctypes.CDLL("libgcc_s.so.1", mode=os.RTLD_GLOBAL)
    except OSError:  # not a glibc/gcc system: nothing to order
        _gcc_s = False


def unwinder_is_sane() -> bool:
    """True when the global scope resolves ``_Unwind_Resume`` to libgcc_s's."""
    ensure_unwinder()
    if not _gcc_s:
        return True
    try:
        glob = ctypes.cast(ctypes.CDLL(None)._Unwind_Resume, ctypes.c_void_p).value
    except AttributeError:  # nothing global exports it: C++ libraries bind their own
        return True
    return glob == ctypes.cast(_gcc_s._Unwind_Resume, ctypes.c_void_p).value


def import_cxx(name: str) -> ModuleType:
    """Import a module backed by a C++ extension so that its exceptions can be caught.

    Like ``importlib.import_module``; when the process is in the bad state described above and
    the module is not loaded yet, its shared objects are opened with ``RTLD_DEEPBIND``.
    """
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    if unwinder_is_sane() or not hasattr(os, "RTLD_DEEPBIND"):
        return importlib.import_module(name)
    with _lock:
        flags = sys.getdlopenflags()
        sys.setdlopenflags(os.RTLD_NOW | os.RTLD_DEEPBIND)
        try:
            return importlib.import_module(name)
        finally:
            sys.setdlopenflags(flags)


class _DlPhdrInfo(ctypes.Structure):
    _fields_ = [("dlpi_addr", ctypes.c_void_p), ("dlpi_name", ctypes.c_char_p)]


def _loaded_in_order() -> list[str]:
    """Paths of the shared objects of this process, in the order they were loaded."""
    names: list[str] = []
    cb_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(_DlPhdrInfo), ctypes.c_size_t, ctypes.c_void_p)

    def cb(info, _size, _data):
        names.append((info.contents.dlpi_name or b"").decode(errors="replace"))
        return 0

    libc = ctypes.CDLL(None)
    libc.dl_iterate_phdr(cb_type(cb), None)
    return names


def cxx_throw_safe() -> tuple[bool, str]:
    """Whether C++ exceptions thrown in libraries loaded from now on (OpenVINO) can be caught.

    Stricter than :func:`unwinder_is_sane` about what breaks: libunwind ahead of libgcc_s in the
    global scope is harmless on its own (GStreamer loaded before ``import estuary``, as in
    DeepStream's samples: OpenVINO works). Unsafe when GStreamer's libunwind provides the process-wide ``_Unwind_*`` symbols while a C++
    runtime loaded before it already bound some of them to libgcc's (an application that imported
    numpy or OpenCV before GStreamer and Estuary): the two unwinders mix and a throw aborts.
    Returns (safe, why not)."""
    if not sys.platform.startswith("linux"):
        return True, ""
    try:
        libc = ctypes.CDLL(None)
        glob = ctypes.cast(libc._Unwind_RaiseException, ctypes.c_void_p).value
    except AttributeError:  # no unwinder loaded globally yet: whoever comes first is consistent
        return True, ""
    try:
        gcc = ctypes.cast(ctypes.CDLL("libgcc_s.so.1")._Unwind_RaiseException, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return True, ""
    if glob == gcc:
        return True, ""
    order = _loaded_in_order()
    unwind = next((i for i, n in enumerate(order) if "libunwind" in n), None)
    cxx = next((i for i, n in enumerate(order) if "libstdc++" in n), None)
    if unwind is None or cxx is None or cxx > unwind:
        return True, ""
    return False, ("a C++ library was loaded before GStreamer and Estuary (e.g. numpy or cv2 imported "
                   "before gi's Gst and pyds/estuary), so GStreamer's libunwind and libgcc's unwinder are "
                   "mixed and a C++ exception would abort the process; import pyds (or estuary) first, "
                   "or run with LD_PRELOAD=libgcc_s.so.1")
