"""DeepStream 7.1's property table (``gst/dsprops.py``) applied to an element class: called by
``ElementBase`` when a class with DeepStream aliases is created, and by ``Prop.pspec`` for the
GEnum types DeepStream's properties use."""

from __future__ import annotations

import ctypes
from dataclasses import replace

from estuary.gst import GObject, capi, dsprops
from estuary.gst.element import Prop

__all__ = ["with_deepstream_props", "enum_gtype"]


def with_deepstream_props(cls, props: dict[str, Prop]) -> dict[str, Prop]:
    """``props`` with DeepStream 7.1's properties of the class's aliases (``gst/dsprops.py``):
    a property the element declares takes DeepStream's GType, and its default unless
    ``dsprops.DEVIATIONS`` says why not; one it does not declare is added, validated by type
    and range, and documented as having no effect here. Properties a GStreamer base class
    already has (``sync``, ``qos``...) are left to it."""
    inherited = set()
    for base in cls.__mro__[1:]:
        if isinstance(base, type) and issubclass(base, GObject.Object):
            try:
                inherited |= {p.name for p in GObject.list_properties(base)}
            except TypeError:
                pass
    out = dict(props)
    for alias in cls.ALIASES:
        for row in dsprops.properties_for(alias).values():
            if row.name in inherited:
                continue
            gtype = "" if row.type in ("bool", "string") else row.type
            mine = out.get(row.name)
            if mine is not None:
                if (mine.type is bool) != (row.type == "bool") or (mine.type is str) != (row.type == "string"):
                    continue  # not the same kind of value: left for the property test to report
                if (alias, row.name) in dsprops.DEVIATIONS or row.default is None:
                    default = mine.default
                else:
                    default = row.default
                if row.type == "string":
                    out[row.name] = replace(mine, default="" if default is None else default)
                    continue
                if row.type == "bool":
                    out[row.name] = replace(mine, default=default)
                    continue
                # the element's own range stays (it may accept more, e.g. the tiler's rows=0 for
                # "automatic") unless the GType cannot hold it or it excludes the default
                tlo, thi = dsprops.type_range(row.type)
                lo, hi = mine.minimum, mine.maximum
                if lo is None or lo < tlo or lo > default:
                    lo = row.minimum if row.minimum is not None else tlo
                if hi is None or hi > thi or hi < default:
                    hi = row.maximum if row.maximum is not None else thi
                out[row.name] = replace(mine, default=default, minimum=lo, maximum=hi, gtype_name=gtype)
                continue
            pytype = {"bool": bool, "string": str, "pointer": object}.get(row.type, int)
            default = row.default
            if default is None:
                default = {bool: False, str: "", object: None}.get(pytype, max(0, row.minimum or 0))
            out[row.name] = Prop(row.name, pytype, default,
                                 f"DeepStream compatibility: accepted and validated, no effect here "
                                 f"({row.note or 'not implemented'})",
                                 row.minimum, row.maximum, gtype_name=gtype)
    return out


_ENUM_TYPES: dict[str, object] = {}


def enum_gtype(name: str):
    """The GEnum type ``name`` with DeepStream's values (registered once; reused if a real
    DeepStream plugin registered it already)."""
    if name in _ENUM_TYPES:
        return _ENUM_TYPES[name]

    class GEnumValue(ctypes.Structure):
        _fields_ = [("value", ctypes.c_int), ("value_name", ctypes.c_char_p), ("value_nick", ctypes.c_char_p)]

    if not capi.g_type_from_name(name.encode()):
        rows = dsprops.ENUMS[name]
        values = (GEnumValue * (len(rows) + 1))(*[(v, n.encode(), k.encode()) for v, n, k in rows], (0, None, None))
        register = capi._fn(capi.gobject, "g_enum_register_static", ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p)
        _ENUM_TYPES[name + "#values"] = values  # GLib keeps the pointer: keep the array alive
        register(name.encode(), ctypes.addressof(values))
    _ENUM_TYPES[name] = GObject.type_from_name(name)
    return _ENUM_TYPES[name]
