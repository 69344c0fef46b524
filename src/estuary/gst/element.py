"""The anatomy shared by every Estuary element, and their registration.

An element is a GStreamer base class (``GstBase.BaseTransform``, ``GstBase.Aggregator``, ...)
plus :class:`ElementBase`, which gives it:

* properties declared once as :class:`Prop` rows, stored in a ``Settings`` object under a
  lock (``self.settings``), with range checks;
* every ``do_*`` virtual method guarded: a Python exception inside it becomes an ERROR
  message on the bus naming the element and the exception (with the traceback as debug
  text), and the vfunc returns its failure value (``FlowReturn.ERROR``, ``False``, ...),
  instead of PyGObject's print-and-continue;
* registration under the short ``es*`` name and the DeepStream alias, skipping an alias that
  a real DeepStream plugin already provides.
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading
import traceback
import weakref
from dataclasses import dataclass
from typing import Any

from estuary.errors import ConfigError
from estuary.gst import GLib, GObject, Gst, ensure_init

__all__ = ["ElementBase", "Prop", "register_element", "registered_elements", "post_error"]

_FLOW_VFUNCS = {"do_transform_ip", "do_transform", "do_aggregate", "do_create", "do_fill",
                "do_render", "do_chain", "do_prepare_output_buffer", "do_submit_input_buffer",
                "do_generate_output", "do_finish_buffer", "do_handle_frame", "do_alloc",
                "do_preroll", "do_render_list", "do_clip", "do_finish_buffer_list",
                "do_update_src_caps"}
_NONE_VFUNCS = {"do_transform_caps", "do_fixate_caps", "do_fixate_src_caps", "do_request_new_pad",
                "do_get_property", "do_create_new_pad", "do_get_caps", "do_fixate",
                "do_release_pad", "do_finalize", "do_get_next_time", "do_get_times",
                "do_before_transform", "do_set_property", "do_get_start_time",
                "do_pad_added", "do_pad_removed", "do_no_more_pads"}


def _failure_value(name: str):
    if name in _FLOW_VFUNCS:
        if name == "do_update_src_caps":
            return (Gst.FlowReturn.ERROR, None)
        return Gst.FlowReturn.ERROR
    if name == "do_change_state":
        return Gst.StateChangeReturn.FAILURE
    if name in _NONE_VFUNCS:
        return None
    return False


def format_traceback(exc: BaseException) -> str:
    """A plain traceback text. Unlike ``traceback.format_exception`` on Python 3.11 it does not
    parse source lines with ``ast`` (to draw ``^^^`` markers): doing that from a streaming thread
    while another thread also uses ``ast`` trips CPython < 3.11.5's "AST constructor recursion
    depth mismatch" bug."""
    import linecache
    lines = ["Traceback (most recent call last):\n"]
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}\n')
        src = linecache.getline(code.co_filename, lineno).strip()
        if src:
            lines.append(f"    {src}\n")
    lines.append(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}\n"
                 if type(exc).__module__ not in ("builtins", "__main__") else f"{type(exc).__name__}: {exc}\n")
    return "".join(lines)


def post_error(element: Gst.Element, exc: BaseException, where: str = "") -> None:
    """Post an ERROR message for ``exc`` from ``element`` (names both; traceback as debug).
    Both texts go through :func:`estuary.redact.redact`: an exception may quote a URI."""
    from estuary.redact import redact
    text = redact(f"{element.get_name()}: {type(exc).__name__}: {exc}")
    domain, code = Gst.StreamError.quark(), Gst.StreamError.FAILED
    from estuary.errors import ConfigError as _CE, ModelError, SourceError
    if isinstance(exc, (_CE, ModelError)):
        domain, code = Gst.LibraryError.quark(), Gst.LibraryError.SETTINGS
    elif isinstance(exc, (SourceError, FileNotFoundError)):
        domain, code = Gst.ResourceError.quark(), Gst.ResourceError.NOT_FOUND
    err = GLib.Error.new_literal(domain, text, int(code))
    tb = format_traceback(exc)
    debug = redact(f"{element.get_name()} ({type(element).__name__}){' in ' + where if where else ''}:\n{tb}")
    if isinstance(element, ElementBase):
        element.gst_error("%s\n%s", text, redact(tb))
    element.post_message(Gst.Message.new_error(element, err, debug))


def _guard(name, func):
    fail = _failure_value(name)

    @functools.wraps(func)
    def guarded(self, *args):
        if self._debug_categories and self.gst_enabled(Gst.DebugLevel.TRACE):
            self.gst_log_at(Gst.DebugLevel.TRACE, "%s", name)
        try:
            return func(self, *args)
        except Exception as exc:  # noqa: BLE001 - every error must reach the bus
            try:
                post_error(self, exc, name)
            except Exception as exc2:  # noqa: BLE001
                logging.getLogger("estuary").error("could not post an element error: %s", exc2)
            return fail

    if name not in ("do_change_state",):
        guarded.__estuary_guarded__ = True
        return guarded

    @functools.wraps(func)
    def change_state(self, transition):
        # state changes at DEBUG: the first thing to look at when a pipeline will not start
        self.gst_debug("state change %s", transition.value_nick)
        return guarded(self, transition)

    change_state.__estuary_guarded__ = True
    return change_state


@dataclass(frozen=True)
class Prop:
    """One GObject property: its name, Python type, default and range."""

    name: str
    type: type
    default: Any
    blurb: str = ""
    minimum: Any = None
    maximum: Any = None
    attr: str = ""
    readable_only: bool = False
    #: GType given by DeepStream's property table (``gst/dsprops.py``): uint, int64, an enum
    #: name...; empty: derived from ``type`` and the range
    gtype_name: str = ""

    def pspec(self):
        flags = GObject.ParamFlags.READABLE
        if not self.readable_only:
            flags |= GObject.ParamFlags.WRITABLE
        nick = self.name
        if self.gtype_name:
            from estuary.gst import dsprops
            if self.gtype_name in dsprops.ENUMS:
                from estuary.gst.dscompat import enum_gtype
                return (enum_gtype(self.gtype_name), nick, self.blurb, self.default, flags)
            if self.gtype_name == "pointer":
                return (GObject.TYPE_POINTER, nick, self.blurb, flags)
            gtype = {"int": GObject.TYPE_INT, "uint": GObject.TYPE_UINT, "int64": GObject.TYPE_INT64,
                     "uint64": GObject.TYPE_UINT64}[self.gtype_name]
            return (gtype, nick, self.blurb, self.minimum, self.maximum, self.default, flags)
        if self.type is bool:
            return (bool, nick, self.blurb, self.default, flags)
        if self.type is str:
            return (str, nick, self.blurb, self.default, flags)
        if self.type is float:
            lo = -1e308 if self.minimum is None else self.minimum
            hi = 1e308 if self.maximum is None else self.maximum
            return (float, nick, self.blurb, lo, hi, self.default, flags)
        if self.type is int:
            lo = -(2**31) if self.minimum is None else self.minimum
            hi = 2**31 - 1 if self.maximum is None else self.maximum
            gtype = GObject.TYPE_INT if lo < 0 or hi <= 2**31 - 1 else GObject.TYPE_UINT64
            if hi > 2**32 - 1 or lo < -(2**31):
                gtype = GObject.TYPE_INT64 if lo < 0 else GObject.TYPE_UINT64
            elif lo >= 0 and hi > 2**31 - 1:
                gtype = GObject.TYPE_UINT
            return (gtype, nick, self.blurb, lo, hi, self.default, flags)
        raise TypeError(f"unsupported property type {self.type}")

    @property
    def key(self) -> str:
        return self.attr or self.name.replace("-", "_")


class Settings:
    """Property values of one element instance (read them under ``lock`` when it matters)."""

    def __init__(self, props):
        self.lock = threading.Lock()
        for p in props:
            setattr(self, p.key, p.default)

    def snapshot(self) -> dict:
        with self.lock:
            return {k: v for k, v in vars(self).items() if k != "lock"}


#: every Estuary element alive, for the stop at interpreter exit
_ELEMENTS: "weakref.WeakSet" = weakref.WeakSet()


def stop_pipelines_at_exit(timeout: float = 10.0) -> list[str]:
    """Set every pipeline (top-level bin) that holds an Estuary element and is not in NULL to
    NULL; return their names. Registered with :mod:`atexit`.

    Why: an app that exits while its pipeline plays (``sys.exit`` from a handler, an uncaught
    exception, no ``set_state(NULL)`` at the end) leaves threads inside OpenCV, OpenVINO or ONNX
    Runtime calls with the GIL released. When such a call returns during interpreter shutdown,
    CPython ends the thread with ``pthread_exit``, whose unwinding through the library's C++
    frames calls ``std::terminate``: the process aborts ("terminate called without an active
    exception", exit status 134). ``atexit`` functions run before that point, while the threads
    still run normally; stopping the pipeline there joins them. Each stop runs on a helper
    thread, waited for ``timeout`` seconds, so that a pipeline that cannot stop does not hang
    the exit (it is named in a warning)."""
    tops: dict[int, Any] = {}
    for el in list(_ELEMENTS):
        top = el
        while (parent := top.get_parent()) is not None:
            top = parent
        tops[hash(top)] = top
    stopped = []
    for top in tops.values():
        _ret, state, pending = top.get_state(0)
        if state == Gst.State.NULL and pending in (Gst.State.VOID_PENDING, Gst.State.NULL):
            continue
        t = threading.Thread(target=top.set_state, args=(Gst.State.NULL,),
                             name="estuary-exit-stop", daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            logging.getLogger("estuary").warning(
                "%s did not stop within %.0f s at exit (set the pipeline to NULL before exiting)",
                top.get_name(), timeout)
        else:
            stopped.append(top.get_name())
    return stopped


atexit.register(stop_pipelines_at_exit)


class ElementBase:
    """Mixin for Estuary elements (put it before the GStreamer base class)."""

    FACTORY: str = ""
    ALIASES: tuple[str, ...] = ()
    #: (long name, classification, description, author)
    METADATA: tuple[str, str, str, str] = ("", "", "", "Estuary")
    #: rows of (name, Gst.PadDirection, Gst.PadPresence, caps string, pad GType or None)
    PAD_TEMPLATES: tuple = ()
    RANK = Gst.Rank.NONE
    PROPS: tuple[Prop, ...] = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, value in list(cls.__dict__.items()):
            if name.startswith("do_") and callable(value) and name not in (
                    "do_get_property", "do_set_property") and not getattr(
                    value, "__estuary_guarded__", False):
                setattr(cls, name, _guard(name, value))
        props = {}
        for klass in reversed(cls.__mro__):
            for p in klass.__dict__.get("PROPS", ()):
                props[p.name] = p
        if "PROPS" in cls.__dict__ or "ALIASES" in cls.__dict__:
            from estuary.gst.dscompat import with_deepstream_props
            props = with_deepstream_props(cls, props)
        cls._all_props = tuple(props.values())
        if "PROPS" in cls.__dict__ and props:
            cls.__gproperties__ = {p.name: p.pspec() for p in props.values()}

    def init_settings(self) -> None:
        """Create ``self.settings`` with every property's default (call from ``__init__``)."""
        self.settings = Settings(self._all_props)
        _ELEMENTS.add(self)

    def do_get_property(self, pspec):
        p = self._prop(pspec.name)
        with self.settings.lock:
            return getattr(self.settings, p.key)

    def do_set_property(self, pspec, value):
        p = self._prop(pspec.name)
        if p.gtype_name and isinstance(value, int) and not isinstance(value, bool):
            value = int(value)  # a GEnum value arrives as its Python enum class; store the number
        value = self.validate_property(p, value)
        with self.settings.lock:
            setattr(self.settings, p.key, value)
        self.gst_debug("property %s = %r", p.name, value)
        self.property_changed(p.key, value)

    def _prop(self, name: str) -> Prop:
        for p in self._all_props:
            if p.name == name:
                return p
        raise ConfigError(f"{self.get_name()} has no property {name!r}")

    def validate_property(self, prop: Prop, value):
        """Check a property value; return the value to store."""
        return value

    def property_changed(self, key: str, value) -> None:
        """Hook: a property was set."""

    def post_error(self, exc: BaseException, where: str = "") -> None:
        """Post an ERROR message for ``exc`` on the bus."""
        post_error(self, exc, where)

    def post_warning(self, text: str) -> None:
        """A WARNING on the bus, "<element>: ``text``" (and in the GStreamer log): the pipeline
        goes on."""
        msg = f"{self.get_name()}: {text}"
        self.gst_warning("%s", text)
        err = GLib.Error.new_literal(Gst.CoreError.quark(), msg, int(Gst.CoreError.FAILED))
        self.post_message(Gst.Message.new_warning(self, err, msg))

    def post_element_message(self, name: str, **fields) -> None:
        """Post an application-visible ELEMENT message with a structure ``name``; text fields
        are redacted (a ``uri`` field shows ``rtsp://user:***@host/...``)."""
        from estuary.redact import redact
        st = Gst.Structure.new_empty(name)
        for k, v in fields.items():
            st.set_value(k, redact(v) if isinstance(v, str) else v)
        self.gst_info("message %s", st.to_string())
        self.post_message(Gst.Message.new_element(self, st))

    # -- GStreamer debug log (GST_DEBUG=<factory or DeepStream name>:<level>) ------------------
    _debug_categories: tuple = ()

    def gst_enabled(self, level) -> bool:
        """Whether a line at ``level`` would be logged (to skip costly arguments)."""
        lv = int(level)  # (a loop, not any() over a generator: this runs per buffer and element)
        for cat in self._debug_categories:
            if cat.enabled(lv):
                return True
        return False

    def gst_log_at(self, level, message: str, *args, depth: int = 2) -> None:
        """Log to the first of this element's debug categories (es* name, DeepStream name)
        that is enabled at ``level``."""
        for cat in self._debug_categories:
            if cat.enabled(level):
                cat.log(level, self, message, *args, depth=depth)
                return

    def gst_error(self, message: str, *args) -> None:
        self.gst_log_at(Gst.DebugLevel.ERROR, message, *args, depth=3)

    def gst_warning(self, message: str, *args) -> None:
        self.gst_log_at(Gst.DebugLevel.WARNING, message, *args, depth=3)

    def gst_info(self, message: str, *args) -> None:
        self.gst_log_at(Gst.DebugLevel.INFO, message, *args, depth=3)

    def gst_debug(self, message: str, *args) -> None:
        self.gst_log_at(Gst.DebugLevel.DEBUG, message, *args, depth=3)

    def gst_log(self, message: str, *args) -> None:
        """Per-buffer detail (level 6, LOG)."""
        self.gst_log_at(Gst.DebugLevel.LOG, message, *args, depth=3)


_registered: dict[str, type] = {}


def _is_estuary_factory(factory, cls) -> bool:
    """True for a factory that is this class already, or one that GStreamer's Python plugin
    loader registered from Estuary's plugin file (found in the registry, not loaded yet)."""
    if factory.get_element_type() == cls.__gtype__:
        return True
    return factory.get_plugin_name() == "python" and factory.get_metadata("author") == cls.METADATA[3]


def _debug_categories(cls) -> tuple:
    from estuary.gst.debug import category
    what = cls.METADATA[0] or cls.__name__
    return tuple(category(n, f"{what} ({cls.__name__})") for n in (cls.FACTORY, *cls.ALIASES) if n)


def register_element(cls, rank=None, plugin=None) -> list[str]:
    """Register ``cls`` under its ``FACTORY`` name and its ``ALIASES``; return the names used.

    An alias is skipped when a factory of that name already exists from another plugin
    (a real DeepStream installation wins). ``plugin`` is the ``Gst.Plugin`` to register into
    (GStreamer's Python plugin loader passes its own, so that the registry remembers the
    elements for ``gst-inspect-1.0``/``gst-launch-1.0``); None registers them in this process only.
    Each name is also a GStreamer debug category (``GST_DEBUG=nvinfer:5``).
    """
    ensure_init()
    names = []
    rank = cls.RANK if rank is None else rank
    if not cls.__dict__.get("_estuary_class_ready", False):
        from estuary.gst.capi import install_class_metadata
        install_class_metadata(cls.__gtype__, cls.METADATA, cls.PAD_TEMPLATES)
        cls._debug_categories = _debug_categories(cls)
        cls._estuary_class_ready = True
    for i, name in enumerate((cls.FACTORY, *cls.ALIASES)):
        if not name:
            continue
        existing = Gst.ElementFactory.find(name)
        if existing is not None:
            ours = _is_estuary_factory(existing, cls)
            if ours and plugin is None and existing.get_element_type() == cls.__gtype__:
                names.append(name)
                continue
            if not ours and i > 0:
                logging.getLogger("estuary").debug(
                    "not registering alias %s: a real %s plugin is installed", name, name)
                continue
        if not Gst.Element.register(plugin, name, int(rank), cls.__gtype__):
            raise RuntimeError(f"could not register element {name}")
        _registered[name] = cls
        names.append(name)
    return names


def registered_elements() -> dict[str, type]:
    """Names registered by Estuary in this process → element class."""
    return dict(_registered)
