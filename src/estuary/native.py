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

__all__ = ["ensure_unwinder", "unwinder_is_sane", "import_cxx"]

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
