"""Declarative typed structs: the storage layer of the metadata model.

A metadata class lists its fields as specs (:class:`Scalar`, :class:`Embedded`, :class:`Text`,
:class:`CharArray`, :class:`IntArray`, :class:`Items`, :class:`Pointer`); the
:class:`StructType` metaclass turns them into ``__slots__`` and descriptors. Everything here is
plain Python: strings are ``str``, lists are ``list``, pointers hold objects.

DeepStream's C shapes (``char*`` fields read as int addresses, ``GList`` views, int addresses
for structs, ``alloc_*`` ownership) are not here: :mod:`estuary.pyds` installs them on these
classes as a facade, the way gst-python's overrides wrap a C API. The specs record what the
facade needs: a :class:`Text` field is a ``char*`` in DeepStream (its str lives at
``<name>_str`` here); an :class:`Items` field is a ``GList`` (its list lives at a Pythonic
name such as ``objects``).
"""

from __future__ import annotations

import weakref

import numpy as np

__all__ = [
    "Struct", "StructType", "Scalar", "Embedded", "Text", "CharArray", "IntArray",
    "Items", "Pointer", "WeakPointer", "index_of", "plain_name", "class_hooks",
]

#: Called with each struct class when it is created: the pyds facade adds DeepStream's C shapes
#: to classes defined after ``import pyds`` too.
class_hooks: list = []


def index_of(lst: list, item) -> int:
    """Index of ``item`` in ``lst`` by identity; raises ValueError if absent."""
    for k, v in enumerate(lst):
        if v is item:
            return k
    raise ValueError("item not in list")


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


class Text(_Spec):
    """A string field (``char*`` in DeepStream): a ``str`` or None at ``<name>_str``.

    ``mode`` tells the pyds facade how DeepStream treats the C string: "leak" (assigning keeps
    the old string), "free" (assigning frees the previous one, like
    ``NvOSD_TextParams.display_text``), "intern" (``font_name``) or "buffer" (``ts``: the app
    assigns the address of a buffer that it fills afterwards).
    """

    def __init__(self, mode: str = "leak"):
        self.mode = mode

    def init_value(self):
        return None


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


class Items(_Spec):
    """A list of metadata (a ``GList`` in DeepStream): a plain list at ``plain`` (a Pythonic
    name such as ``objects``; ``<name>_items`` by default). The pyds facade shows it under the
    DeepStream name as a ``GList`` view."""

    def __init__(self, plain: str | None = None):
        self.plain = plain

    def init_value(self):
        return []


def plain_name(name: str, spec: _Spec) -> str:
    """The attribute that holds field ``name``'s plain value in the model."""
    if isinstance(spec, Text):
        return name + "_str"
    if isinstance(spec, Items):
        return spec.plain or name + "_items"
    return name


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
            # made on first access, without __init__'s keyword handling: an object meta makes
            # about nine of these, so this path is a large part of writing one
            cls = self.cls
            v = cls.__new__(cls)
            cls._zero_fields(v)
            self.member.__set__(obj, v)
            return v

    def __set__(self, obj, value):
        if not isinstance(value, self.cls):
            raise TypeError(f"expected {self.cls.__name__}, got {type(value).__name__}")
        self.member.__set__(obj, value._memcpy())


class _TextDesc(_SlotDesc):
    __slots__ = ()

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return self.member.__get__(obj, owner)

    def __set__(self, obj, value):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"a text field takes a str or None, not {type(value).__name__}")
        self.member.__set__(obj, value)


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
        return self.member.__get__(obj, owner)

    def __set__(self, obj, value):
        lst = self.member.__get__(obj)
        lst[:] = [] if value is None else list(value)


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


_DESCRIPTORS = {Embedded: _EmbeddedDesc, Text: _TextDesc, CharArray: _CharArrayDesc,
                IntArray: _IntArrayDesc, Items: _ListDesc, WeakPointer: _WeakDesc}


class StructType(type):
    """Metaclass that turns field specs into slots and descriptors.

    ``cls._fields`` lists ``(name, slot, spec)`` for every field (inherited ones first), where
    ``name`` is the DeepStream name and ``slot`` the storage slot.
    """

    def __new__(mcls, name, bases, ns):
        specs = {k: v for k, v in ns.items() if isinstance(v, _Spec)}
        slots = list(ns.get("__slots__", ()))
        own_fields = []
        for k, spec in specs.items():
            del ns[k]
            attr = plain_name(k, spec)
            # scalars and pointers are bare slots; the others get a descriptor over "_<attr>"
            slot = attr if isinstance(spec, (Scalar, Pointer)) else "_" + attr
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
                setattr(cls, plain_name(k, spec), desc)
        cls._own_fields = tuple(own_fields)
        fields.extend(own_fields)
        cls._fields = tuple(fields)
        cls._init = tuple((slot, spec) for _, slot, spec in fields
                          if not spec.lazy and not isinstance(spec, WeakPointer))
        cls._zero_fields = staticmethod(_make_zero(cls._init))
        for hook in class_hooks:
            hook(cls)
        return cls


def _make_zero(init) -> "callable":
    """A function that sets every eager field of a new struct to its zero value.

    Generated (as ``dataclasses`` generates ``__init__``) because a loop over the field specs
    was the largest cost of writing metadata: every object meta makes about seven structs
    (rect, colours, text, font), and the loop cost ~20 µs per object, the generated assignments
    about a fifth of that.
    """
    env: dict = {}
    lines = ["def zero(o):"]
    for i, (slot, spec) in enumerate(init):
        if isinstance(spec, Items):
            lines.append(f"    o.{slot} = []")  # a fresh list per struct
        else:
            env[f"d{i}"] = spec.init_value()  # immutable defaults (numbers, enums, None, "")
            lines.append(f"    o.{slot} = d{i}")
    if len(lines) == 1:
        lines.append("    pass")
    exec("\n".join(lines), env)  # noqa: S102 - the source is made from slot names, not input
    return env["zero"]


class Struct(metaclass=StructType):
    """Base of every metadata struct: zero-initialised fields, value copy.

    Keyword arguments set fields by their plain names (``display_text_str="car"``).
    """

    __slots__ = ("__weakref__",)

    def __init__(self, **fields):
        self._zero_fields(self)
        if fields:
            for k, v in fields.items():
                setattr(self, k, v)

    @classmethod
    def cast(cls, x):
        """``x`` itself: the model has no addresses (the pyds facade also takes int addresses)."""
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
            elif isinstance(spec, Items):
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
            if isinstance(spec, (Scalar, CharArray, Text)):
                try:
                    v = object.__getattribute__(self, slot)
                except AttributeError:
                    continue
                parts.append(f"{plain_name(k, spec)}={v!r}")
        return f"{type(self).__name__}({', '.join(parts[:8])}{', ...' if len(parts) > 8 else ''})"
