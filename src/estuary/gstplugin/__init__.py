"""Estuary as a GStreamer plugin: ``GST_PLUGIN_PATH=$(estuary gst-plugin-path)`` makes
``gst-inspect-1.0`` list and describe every Estuary element and ``gst-launch-1.0`` run them,
through GStreamer's Python plugin loader (``gstreamer1.0-python3-plugin-loader``).

The loader imports ``python/estuary_elements.py`` in the plugin scanner (the registry then
remembers every element) and again in a process that creates one of them.
"""

from __future__ import annotations

import os

__all__ = ["plugin_path", "register_with_loader"]


def plugin_path() -> str:
    """The folder to put in ``GST_PLUGIN_PATH`` (it holds ``python/estuary_elements.py``)."""
    return os.path.dirname(os.path.abspath(__file__))


def register_with_loader() -> tuple:
    """Register every element into the loader's plugin; return the loader's
    ``__gstelementfactory__`` triple for one of them (the loader registers that one again)."""
    from estuary.gst import Gst, ensure_init
    ensure_init()
    _quiet_floating_critical()
    plugin = getattr(Gst, "__plugin__", None)  # set by the loader; None when imported elsewhere
    from estuary.elements import register_all
    from estuary.gst.element import registered_elements
    register_all(plugin=plugin)
    if plugin is not None:
        # rescan when Estuary's sources change (the loader itself only watches its python/ folders)
        package = os.path.dirname(plugin_path())
        plugin.add_dependency_simple(None, package, ".py",
                                     Gst.PluginDependencyFlags.RECURSE
                                     | Gst.PluginDependencyFlags.FILE_NAME_IS_SUFFIX)
    import sys
    env = sys.modules.get("estuary_gst_environment")
    if env is not None:
        env.keep_loader_path()
    name, cls = next(iter(registered_elements().items()))
    return name, int(cls.RANK), cls


_log_handler = None


def _quiet_floating_critical() -> None:
    """Silence one known-cosmetic message of the system's PyGObject (< 3.50), which the loader
    uses: every Python element instance makes gst_element_factory_create print "The created
    element should be floating, this is probably caused by faulty bindings" (the references
    are right: elements are finalized). Every other GStreamer message goes to GLib's handler."""
    global _log_handler
    import ctypes

    import gi
    if _log_handler is not None or gi.version_info >= (3, 50):
        return
    glib = ctypes.CDLL("libglib-2.0.so.0")
    handler_t = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
    default = glib.g_log_default_handler
    default.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]

    def handler(domain, level, message, _data):
        if message and b"should be floating" in message:
            return
        default(domain, level, message, None)

    _log_handler = handler_t(handler)
    glib.g_log_set_handler.argtypes = [ctypes.c_char_p, ctypes.c_int, handler_t, ctypes.c_void_p]
    glib.g_log_set_handler(b"GStreamer", 1 << 3, _log_handler, None)  # G_LOG_LEVEL_CRITICAL
