"""The "C side": raw buffers, C strings and the address registry.

DeepStream's bindings hand Python plain int addresses for ``char*`` fields and raw buffers.
Estuary keeps every such buffer in a registry keyed by its real address (the buffers are real
ctypes memory, so ``ctypes.string_at`` or numpy can read them), which makes a freed or
unknown address raise :class:`~estuary.errors.InvalidAddressError` instead of crashing,
and makes ``free`` idempotent.

Metadata objects get addresses too: :func:`address_of` registers an object weakly under
``id(obj)``; objects made by the ``alloc_*`` allocators are held strongly ("C-owned") until
freed or released with the metadata that holds them.
"""

from __future__ import annotations

import collections
import ctypes
import threading
import weakref

from estuary.errors import InvalidAddressError

__all__ = [
    "alloc", "free", "is_live", "read_string", "new_string", "intern_string", "memdup",
    "address_of", "object_at", "own", "disown", "is_owned", "buffer_size", "live_buffers",
]

_lock = threading.Lock()
_buffers: dict[int, ctypes.Array] = {}
_interned: dict[str, int] = {}
_objects: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()
_owned: dict[int, object] = {}
# field-owned strings: address -> (id(struct), slot); lets a struct free only its own strings
_string_owner: dict[int, tuple[int, str]] = {}
# freed buffers stay allocated (but dead) for a while, so that a stale address is not soon
# reused by a new buffer and a late double free cannot hit an unrelated string
_quarantine: "collections.deque" = collections.deque(maxlen=4096)


def alloc(size: int) -> int:
    """Allocate ``size`` zeroed bytes and return their address (never garbage-collected)."""
    if size < 0:
        raise ValueError(f"cannot allocate a negative size ({size})")
    buf = (ctypes.c_char * max(int(size), 1))()
    addr = ctypes.addressof(buf)
    with _lock:
        _buffers[addr] = buf
    return addr


def free(addr) -> None:
    """Free a buffer, string or C-owned object. 0/None and unknown addresses are no-ops."""
    if not addr:
        return
    if not isinstance(addr, int):
        addr = address_of(addr)
    with _lock:
        buf = _buffers.pop(addr, None)
        if buf is None:
            _owned.pop(addr, None)
        else:
            _string_owner.pop(addr, None)
            _quarantine.append(buf)


def set_owner(addr: int, struct, slot: str) -> None:
    """Record that ``struct.slot`` holds the string at ``addr``."""
    if addr:
        _string_owner[addr] = (id(struct), slot)


def free_if_owner(addr: int, struct, slot: str) -> None:
    """Free ``addr`` only if it is still the string that ``struct.slot`` was given."""
    if addr and _string_owner.get(addr) == (id(struct), slot):
        free(addr)


def is_live(addr: int) -> bool:
    """True if ``addr`` is a live buffer allocated here."""
    return addr in _buffers


def buffer_size(addr: int) -> int:
    """Size in bytes of the live buffer at ``addr``."""
    try:
        return len(_buffers[addr])
    except KeyError:
        raise InvalidAddressError(f"no live C buffer at address {addr:#x}") from None


def check_range(addr: int, nbytes: int) -> None:
    """Raise unless ``nbytes`` bytes from ``addr`` lie inside one live buffer allocated here.

    The guard for int addresses that user code passes to readers of raw memory.
    """
    if not isinstance(addr, int) or isinstance(addr, bool):
        raise InvalidAddressError(f"an address must be an int, not {type(addr).__name__}")
    with _lock:
        for start, buf in _buffers.items():
            if start <= addr and addr + nbytes <= start + len(buf):
                return
    raise InvalidAddressError(
        f"no live C buffer holds {nbytes} bytes at address {addr:#x} (freed, out of bounds, "
        "or never allocated by pyds)")


def live_buffers() -> int:
    """Number of live buffers (for leak tests)."""
    return len(_buffers)


def new_string(text: str) -> int:
    """Copy ``text`` into a new NUL-terminated C buffer and return its address."""
    if not isinstance(text, str):
        raise TypeError(
            f"a char* field takes a str, not {type(text).__name__}; to copy a string field, "
            "read it with pyds.get_string(addr) first")
    data = text.encode("utf-8")
    addr = alloc(len(data) + 1)
    ctypes.memmove(addr, data, len(data))
    return addr


def intern_string(text: str) -> int:
    """Return the address of a process-lifetime copy of ``text`` (same text, same address)."""
    with _lock:
        addr = _interned.get(text)
    if addr is None:
        addr = new_string(text)
        with _lock:
            addr = _interned.setdefault(text, addr)
    return addr


def read_string(addr: int) -> str | None:
    """Decode the NUL-terminated string at ``addr``; None for 0."""
    if not addr:
        return None
    if not isinstance(addr, int) or isinstance(addr, bool):
        raise InvalidAddressError(
            f"get_string takes the int address of a C string (a char* field), "
            f"not {type(addr).__name__} {addr!r}")
    buf = _buffers.get(addr)
    if buf is None:
        raise InvalidAddressError(
            f"no live C string at address {addr:#x} (freed, or never allocated by pyds)")
    raw = bytes(buf)
    end = raw.find(b"\0")
    return (raw if end < 0 else raw[:end]).decode("utf-8", errors="replace")


def memdup(addr: int, size: int) -> int:
    """Copy ``size`` bytes from ``addr`` into a new buffer (or copy the object at ``addr``)."""
    if not addr:
        return 0
    buf = _buffers.get(addr)
    if buf is not None:
        new = alloc(size)
        ctypes.memmove(new, addr, min(int(size), len(buf)))
        return new
    obj = object_at(addr)
    clone = getattr(obj, "_memcpy", None)
    if clone is None:
        raise InvalidAddressError(f"cannot memdup the object at {addr:#x}: {type(obj).__name__}")
    copy = clone()
    own(copy)
    return address_of(copy)


def address_of(obj) -> int:
    """The int address of a metadata object (``id(obj)``), registered for :func:`object_at`."""
    if obj is None:
        return 0
    if isinstance(obj, int):
        return obj
    addr = id(obj)
    try:
        _objects[addr] = obj
    except TypeError:  # not weak-referenceable: keep it alive while someone holds the address
        with _lock:
            _owned[addr] = obj
    return addr


def object_at(addr: int):
    """The metadata object registered at ``addr``; raises for an unknown address."""
    obj = _owned.get(addr)
    if obj is None:
        obj = _objects.get(addr)
    if obj is None:
        raise InvalidAddressError(f"no live metadata object at address {addr:#x}")
    return obj


def own(obj) -> None:
    """Hold ``obj`` strongly, as C-allocated memory, until :func:`disown` / :func:`free`."""
    with _lock:
        _owned[id(obj)] = obj


def disown(obj) -> None:
    """Release a C-owned object (no-op if it is not owned)."""
    with _lock:
        _owned.pop(id(obj), None)


def is_owned(obj) -> bool:
    """True while ``obj`` is held as C-allocated memory."""
    return id(obj) in _owned
