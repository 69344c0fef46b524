"""Python capsules around C pointers (what pybind's ``pyds`` hands out for ``void*``, what PyGObject
takes for ``gpointer``), through CPython's own API. One definition of the ctypes signatures:
they are set on ``ctypes.pythonapi``'s shared function objects, so two copies must never differ."""

from __future__ import annotations

import ctypes

__all__ = ["new", "address"]

_new = ctypes.pythonapi.PyCapsule_New
_new.restype, _new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_pointer.restype, _pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]


def new(address: int):
    """A capsule (no name, no destructor) holding ``address``; it owns nothing."""
    return _new(address, None, None)


def address(capsule) -> int | None:
    """The pointer a (nameless) capsule holds."""
    return _pointer(capsule, None)
