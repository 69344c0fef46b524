"""DeepStream's C shapes, installed on the plain metadata model (the pyds facade).

:mod:`estuary.meta` is plain Python: ``str`` text, ``list`` children, pointers that hold
objects. DeepStream's bindings show the same structs differently, and apps depend on it:
``char*`` fields read as int addresses (``pyds.get_string(addr)`` reads them), lists are
``GList`` nodes walked with ``.next`` and cast with ``Type.cast(node.data)``, structs have int
addresses (``pyds.get_ptr``), and ``alloc_*`` objects are owned "on the C side" until freed.

This module adds those shapes to the model's classes when ``pyds`` is imported, the way
gst-python's overrides wrap GStreamer's C API at the edge (see shared/notes/style.md):

- a :class:`~estuary.meta.struct.Text` field ``x`` stored as ``x_str`` gets a ``x`` property
  that reads as the address of a C copy of the text (made on first read, kept while the text
  is unchanged, freed as DeepStream frees it) and takes a str;
- an :class:`~estuary.meta.struct.Items` field gets its DeepStream name as a :class:`GList`
  view over the model's list;
- pointers and ``cast`` also take int addresses.

Internal code never reads these: it uses the plain attributes, so the streaming path pays for
no C string and takes no global lock.
"""

from __future__ import annotations

import functools
import sys
import threading
import weakref

from estuary.meta import core as _core
from estuary.meta.struct import (Embedded, Items, Pointer, Struct, Text, class_hooks, index_of,
                                 plain_name)
import estuary.pyds.cmem as cmem

__all__ = ["GList", "CBuffer", "install", "install_all", "free_strings", "free_owned"]


class GList:
    """A view of one node of a metadata list, shaped like GLib's ``GList``.

    ``data`` is the element (cast it with ``Type.cast``), ``next``/``prev`` are the neighbour
    nodes or None. Removing the current element while walking is safe: ``next`` then gives the
    element that followed it.
    """

    __slots__ = ("_list", "_i", "_item")

    def __init__(self, lst: list, i: int = 0):
        self._list, self._i, self._item = lst, i, lst[i]

    @property
    def data(self):
        """The element held by this node."""
        return self._item

    @data.setter
    def data(self, value):
        self._list[self._position()] = value
        self._item = value

    def _position(self) -> int:
        lst, i = self._list, self._i
        if i < len(lst) and lst[i] is self._item:
            return i
        return index_of(lst, self._item)

    @property
    def next(self) -> "GList | None":
        """The following node, or None at the end of the list."""
        try:
            j = self._position() + 1
        except ValueError:  # the current element was removed: its successor slid into its place
            j = self._i
        return GList(self._list, j) if j < len(self._list) else None

    @property
    def prev(self) -> "GList | None":
        """The preceding node, or None at the start of the list."""
        try:
            j = self._position() - 1
        except ValueError:
            j = self._i - 1
        return GList(self._list, j) if 0 <= j < len(self._list) else None

    def __iter__(self):
        node = self
        while node is not None:
            yield node._item
            node = node.next

    def __repr__(self) -> str:
        return f"<GList node {self._i} of {len(self._list)}: {type(self._item).__name__}>"

    @classmethod
    def cast(cls, x):
        """Return ``x`` unchanged (a GList view is already the list)."""
        return x


class CBuffer:
    """Text held in a C buffer the app owns (``msg_meta.ts = pyds.alloc_buffer(n)``, filled
    afterwards by ``generate_ts_rfc3339``): ``str()`` reads the buffer when the text is used."""

    __slots__ = ("addr",)

    def __init__(self, addr: int):
        self.addr = addr

    def __str__(self) -> str:
        try:
            return cmem.read_string(self.addr) or ""
        except Exception:  # noqa: BLE001 - a freed buffer reads as empty, as a NULL would
            return ""

    def __repr__(self) -> str:
        return f"CBuffer({self.addr:#x})"


# -- C strings made on demand ------------------------------------------------------------------
# id(struct) -> (weakref to struct, {field name: (text object, address)}). The C copy of a text
# is made when an app first reads the field, and reused while the field holds the same str
# object, so repeated reads give the same address; it is freed when DeepStream would free it
# (display_text reassigned, metadata released) or when the struct goes away.
_lock = threading.Lock()
_strings: dict[int, tuple[weakref.ref, dict[str, tuple[object, int]]]] = {}


def _forget(key: int) -> None:
    with _lock:
        entry = _strings.pop(key, None)
    if entry is not None:
        for _value, addr in entry[1].values():
            cmem.free(addr)


def _dead(key: int, _ref) -> None:
    if sys.is_finalizing():  # the interpreter is going away: nothing left to free into
        return
    _forget(key)


def _entry(struct) -> dict[str, tuple[object, int]]:
    key = id(struct)
    entry = _strings.get(key)
    if entry is None or entry[0]() is not struct:
        if entry is not None:  # a dead struct's id was reused
            _forget(key)
        entry = (weakref.ref(struct, functools.partial(_dead, key)), {})
        with _lock:
            _strings[key] = entry
    return entry[1]


def _cached(struct) -> dict[str, tuple[object, int]] | None:
    """The C strings made for ``struct`` (None if none were, or only for a dead struct of the
    same id)."""
    entry = _strings.get(id(struct))
    return entry[1] if entry is not None and entry[0]() is struct else None


def _free_cached(struct, name: str) -> None:
    old = (_cached(struct) or {}).pop(name, None)
    if old is not None:
        cmem.free(old[1])


class _TextFace:
    """``char*`` face of a text field: reads an address, takes a str (or None)."""

    __slots__ = ("name", "member", "mode")

    def __init__(self, name: str, member, mode: str):
        self.name, self.member, self.mode = name, member, mode

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = self.member.__get__(obj, owner)
        if value is None:
            return 0
        if isinstance(value, CBuffer):
            return value.addr
        if self.mode == "intern":
            return cmem.intern_string(value)
        cache = _entry(obj)
        hit = cache.get(self.name)
        if hit is not None and hit[0] is value:
            return hit[1]
        addr = cmem.new_string(value)
        cache[self.name] = (value, addr)
        if hit is not None and self.mode == "free":
            cmem.free(hit[1])
        return addr

    def __set__(self, obj, value):
        if self.mode == "buffer" and isinstance(value, int) and not isinstance(value, bool):
            self.member.__set__(obj, CBuffer(value) if value else None)
            return
        if value is not None and not isinstance(value, str):
            raise TypeError(
                f"a char* field takes a str, not {type(value).__name__}; to copy a string field, "
                "read it with pyds.get_string(addr) first")
        if self.mode == "free":  # DeepStream frees the previous string on assignment
            _free_cached(obj, self.name)
        self.member.__set__(obj, value)


class _ListFace:
    """``GList`` face of a list field."""

    __slots__ = ("plain",)

    def __init__(self, plain: str):
        self.plain = plain

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return _glist(getattr(obj, self.plain))

    def __set__(self, obj, value):
        getattr(obj, self.plain)[:] = [] if value is None else list(value)


class _PointerFace:
    """A pointer that also takes an int address (of a struct registered by pyds)."""

    __slots__ = ("member",)

    def __init__(self, member):
        self.member = member

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return self.member.__get__(obj, owner)

    def __set__(self, obj, value):
        if isinstance(value, int) and not isinstance(value, bool):
            value = cmem.object_at(value) if value else None
        self.member.__set__(obj, value)


def _cast(cls, x):
    """A non-owning view of ``x`` (a handle, a bound object or an int address)."""
    if x is None:
        return None
    if isinstance(x, int) and not isinstance(x, bool):
        return cmem.object_at(x) if x else None
    return x


def install(cls: type) -> None:
    """Add DeepStream's C shapes to one model class (idempotent)."""
    if cls.__dict__.get("_pyds_faces"):
        return
    for name, slot, spec in cls.__dict__.get("_own_fields", ()):
        if isinstance(spec, Text):
            plain_desc = cls.__dict__[plain_name(name, spec)]
            setattr(cls, name, _TextFace(name, plain_desc.member, spec.mode))
        elif isinstance(spec, Items):
            setattr(cls, name, _ListFace(plain_name(name, spec)))
        elif isinstance(spec, Pointer):
            member = cls.__dict__[slot]
            if not isinstance(member, _PointerFace):
                setattr(cls, name, _PointerFace(member))
    type.__setattr__(cls, "_pyds_faces", True)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def install_all() -> None:
    """Install the faces on every model class defined so far, and the C-side hooks."""
    if "cast" not in Struct.__dict__ or Struct.__dict__["cast"].__func__ is not _cast:
        Struct.cast = classmethod(_cast)
    for cls in [Struct, *_subclasses(Struct)]:
        install(cls)
    pool = _core.NvDsMetaPool
    if "empty_list" not in pool.__dict__:
        pool.empty_list = property(lambda self: _glist(self._empty),
                                   doc="GList view of the free elements.")
        pool.full_list = property(lambda self: _glist(list(self._full.values())),
                                  doc="GList view of the acquired elements.")
    if _on_release not in _core.release_hooks:
        _core.release_hooks.append(_on_release)
    if install not in class_hooks:  # classes defined later get the faces too
        class_hooks.append(install)


def _glist(items: list) -> GList | None:
    return GList(items, 0) if items else None


# -- ownership ----------------------------------------------------------------------------------

def free_strings(struct) -> None:
    """Free the C strings made for a struct and the structs embedded in it (e.g. an object's
    ``text_params.display_text``): the batch owns them and frees them when it is released."""
    if not _strings:  # no app has read a char* field: nothing was made (the common case)
        return
    if _cached(struct) is not None:
        _forget(id(struct))
    for slot in _text_slots(type(struct)):
        try:
            inner = object.__getattribute__(struct, slot)
        except AttributeError:
            continue  # never touched: nothing allocated
        if inner is not None:
            free_strings(inner)
    if isinstance(struct, _core.NvDsDisplayMeta):
        try:
            texts = object.__getattribute__(struct, "_texts")
        except AttributeError:
            texts = ()
        for t in texts:
            free_strings(t)


@functools.lru_cache(maxsize=None)
def _text_slots(cls: type) -> tuple[str, ...]:
    """Slots of ``cls``'s embedded structs that hold text fields, directly or deeper down."""
    return tuple(slot for _name, slot, spec in getattr(cls, "_fields", ())
                 if isinstance(spec, Embedded) and _has_text(spec.cls))


@functools.lru_cache(maxsize=None)
def _has_text(cls: type) -> bool:
    return any(isinstance(spec, Text) or (isinstance(spec, Embedded) and _has_text(spec.cls))
               for _name, _slot, spec in getattr(cls, "_fields", ()))


def free_owned(obj) -> None:
    """Free a C-owned struct, the C strings and buffers it holds and the C-owned structs it
    points to."""
    if not cmem.is_owned(obj):
        return
    cmem.disown(obj)
    for _name, slot, spec in getattr(obj, "_fields", ()):
        if isinstance(spec, Text) and spec.mode == "buffer":
            value = object.__getattribute__(obj, slot)
            if isinstance(value, CBuffer) and cmem.is_live(value.addr):
                cmem.free(value.addr)  # the timestamp buffer, as the samples' release functions do
    free_strings(obj)
    for _name, slot, spec in getattr(obj, "_fields", ()):
        if isinstance(spec, Pointer):
            target = object.__getattribute__(obj, slot)
            if target is not None and cmem.is_owned(target):
                free_owned(target)


def _on_release(struct) -> None:
    if cmem.is_owned(struct):
        free_owned(struct)
    else:
        free_strings(struct)
