"""Declarative C-struct-like classes: the storage layer of the metadata model.

A metadata class lists its fields as specs (:class:`Scalar`, :class:`Embedded`, :class:`CStr`,
:class:`CharArray`, :class:`IntArray`, :class:`MetaList`, :class:`Pointer`); the
:class:`StructType` metaclass turns them into ``__slots__`` and descriptors with the exact
semantics of the DeepStream bindings (``char*`` fields read as int addresses, fixed char
arrays as str, embedded structs assigned by value, lists read as ``GList`` views).
"""

from __future__ import annotations

import weakref

import numpy as np

from estuary.meta import cmem

__all__ = [
    "Struct", "StructType", "GList", "Scalar", "Embedded", "CStr", "CharArray", "IntArray",
    "MetaList", "Pointer", "WeakPointer", "index_of",
]


def index_of(lst: list, item) -> int:
    """Index of ``item`` in ``lst`` by identity; raises ValueError if absent."""
    for k, v in enumerate(lst):
        if v is item:
            return k
    raise ValueError("item not in list")


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


class _Spec:
    lazy = False

    def init_value(self):
        raise NotImplementedError


class Scalar(_Spec):
    """A plain value field (numbers, enums, bools). Stored directly in a slot."""

    def __init__(self, default=0):
        self.default = default

    def init_value(self):
        return self.default


class Pointer(_Spec):
    """A ``void*`` / struct pointer: holds an object (the handle), None for NULL."""

    def init_value(self):
        return None


class WeakPointer(_Spec):
    """A back pointer (``base_meta.batch_meta``) that must not keep its target alive."""


class Embedded(_Spec):
    """A struct embedded by value; created on first access, assigned by copy."""

    lazy = True

    def __init__(self, cls):
        self.cls = cls


class CStr(_Spec):
    """A ``char*`` field: reads as an int address, takes a str on write.

    ``mode`` is "leak" (the old string is kept, as in the reference), "free" (the old string is
    freed first, like ``NvOSD_TextParams.display_text``) or "intern" (``font_name``).
    """

    def __init__(self, mode: str = "leak"):
        self.mode = mode

    def init_value(self):
        return 0


class CharArray(_Spec):
    """A fixed ``char[size]`` array: read and written as str, truncated to size-1 bytes."""

    def __init__(self, size: int = 128):
        self.size = size

    def init_value(self):
        return ""


class IntArray(_Spec):
    """A fixed int array exposed as a numpy view; assigning the field is a silent no-op."""

    lazy = True

    def __init__(self, n: int = 4, dtype=np.int64):
        self.n, self.dtype = n, dtype


class MetaList(_Spec):
    """A GList of metadata: a Python list inside, a :class:`GList` view (or None) outside."""

    def init_value(self):
        return []


class _SlotDesc:
    __slots__ = ("member",)

    def __init__(self, spec=None):
        pass

    def bind(self, cls, slot):
        self.member = cls.__dict__[slot]


class _EmbeddedDesc(_SlotDesc):
    __slots__ = ("cls",)

    def __init__(self, spec):
        self.cls = spec.cls

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        try:
            return self.member.__get__(obj, owner)
        except AttributeError:
            v = self.cls()
            self.member.__set__(obj, v)
            return v

    def __set__(self, obj, value):
        if not isinstance(value, self.cls):
            raise TypeError(f"expected {self.cls.__name__}, got {type(value).__name__}")
        self.member.__set__(obj, value._memcpy())


class _CStrDesc(_SlotDesc):
    __slots__ = ("mode", "slot")

    def __init__(self, spec):
        self.mode = spec.mode

    def bind(self, cls, slot):
        super().bind(cls, slot)
        self.slot = slot

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return self.member.__get__(obj, owner)

    def __set__(self, obj, value):
        if value is None:
            addr = 0
        elif self.mode == "intern":
            addr = cmem.intern_string(value)
        else:
            addr = cmem.new_string(value)
            cmem.set_owner(addr, obj, self.slot)
        if self.mode == "free":
            cmem.free_if_owner(self.member.__get__(obj), obj, self.slot)
        self.member.__set__(obj, addr)


class _CharArrayDesc(_SlotDesc):
    __slots__ = ("limit",)

    def __init__(self, spec):
        self.limit = spec.size - 1

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return self.member.__get__(obj, owner)

    def __set__(self, obj, value):
        if not isinstance(value, str):
            raise TypeError(f"a char array field takes a str, not {type(value).__name__}")
        data = value.encode("utf-8")
        if len(data) > self.limit:
            value = data[: self.limit].decode("utf-8", errors="ignore")
        self.member.__set__(obj, value)


class _IntArrayDesc(_SlotDesc):
    __slots__ = ("n", "dtype")

    def __init__(self, spec):
        self.n, self.dtype = spec.n, spec.dtype

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        try:
            return self.member.__get__(obj, owner)
        except AttributeError:
            v = np.zeros(self.n, self.dtype)
            self.member.__set__(obj, v)
            return v

    def __set__(self, obj, value):
        """Assigning the whole array is a no-op, as in the reference bindings."""


class _ListDesc(_SlotDesc):
    __slots__ = ()

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        lst = self.member.__get__(obj, owner)
        return GList(lst, 0) if lst else None

    def __set__(self, obj, value):
        lst = self.member.__get__(obj)
        items = [] if value is None else list(value)
        lst[:] = items


class _PointerDesc(_SlotDesc):
    __slots__ = ()

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return self.member.__get__(obj, owner)

    def __set__(self, obj, value):
        if isinstance(value, int) and not isinstance(value, bool):
            value = cmem.object_at(value) if value else None
        self.member.__set__(obj, value)


class _WeakDesc(_SlotDesc):
    __slots__ = ()

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        try:
            ref = self.member.__get__(obj, owner)
        except AttributeError:
            return None
        return ref() if ref is not None else None

    def __set__(self, obj, value):
        self.member.__set__(obj, weakref.ref(value) if value is not None else None)


_DESCRIPTORS = {Embedded: _EmbeddedDesc, CStr: _CStrDesc, CharArray: _CharArrayDesc,
                IntArray: _IntArrayDesc, MetaList: _ListDesc, Pointer: _PointerDesc,
                WeakPointer: _WeakDesc}


class StructType(type):
    """Metaclass that turns field specs into slots and descriptors."""

    def __new__(mcls, name, bases, ns):
        specs = {k: v for k, v in ns.items() if isinstance(v, _Spec)}
        slots = list(ns.get("__slots__", ()))
        own_fields = []
        for k, spec in specs.items():
            del ns[k]
            slot = k if isinstance(spec, Scalar) else "_" + k
            slots.append(slot)
            own_fields.append((k, slot, spec))
        ns["__slots__"] = tuple(slots)
        cls = super().__new__(mcls, name, bases, ns)
        fields = []
        for b in reversed(cls.__mro__[1:]):
            fields.extend(b.__dict__.get("_own_fields", ()))
        for k, slot, spec in own_fields:
            desc_cls = _DESCRIPTORS.get(type(spec))
            if desc_cls is not None:
                desc = desc_cls(spec)
                desc.bind(cls, slot)
                setattr(cls, k, desc)
        cls._own_fields = tuple(own_fields)
        fields.extend(own_fields)
        cls._fields = tuple(fields)
        cls._init = tuple((slot, spec) for _, slot, spec in fields
                          if not spec.lazy and not isinstance(spec, WeakPointer))
        return cls


class Struct(metaclass=StructType):
    """Base of every metadata struct: zero-initialised fields, ``cast``, value copy."""

    __slots__ = ("__weakref__",)

    def __init__(self, **fields):
        for slot, spec in self._init:
            object.__setattr__(self, slot, spec.init_value())
        for k, v in fields.items():
            setattr(self, k, v)

    @classmethod
    def cast(cls, x):
        """A non-owning view of ``x`` (a handle, a bound object or an int address)."""
        if x is None:
            return None
        if isinstance(x, int) and not isinstance(x, bool):
            return cmem.object_at(x) if x else None
        return x

    def _memcpy(self):
        """A value copy, as C's memcpy of the struct: embedded structs copied, pointers shared."""
        new = object.__new__(type(self))
        for k, slot, spec in self._fields:
            try:
                v = object.__getattribute__(self, slot)
            except AttributeError:
                continue
            if isinstance(spec, Embedded):
                v = v._memcpy()
            elif isinstance(spec, IntArray):
                v = v.copy()
            elif isinstance(spec, MetaList):
                v = list(v)
            object.__setattr__(new, slot, v)
        return new

    def _reset(self):
        """Zero every field again (pool reuse)."""
        for _, slot, spec in self._fields:
            if spec.lazy or isinstance(spec, WeakPointer):
                try:
                    object.__delattr__(self, slot)
                except AttributeError:
                    pass
        Struct.__init__(self)

    def __repr__(self) -> str:
        parts = []
        for k, slot, spec in self._fields:
            if isinstance(spec, (Scalar, CharArray)):
                parts.append(f"{k}={getattr(self, k)!r}")
        return f"{type(self).__name__}({', '.join(parts[:8])}{', ...' if len(parts) > 8 else ''})"
