"""Estuary's GStreamer elements. :func:`register_all` makes them available to
``Gst.ElementFactory.make`` and ``Gst.parse_launch`` under their ``es*`` and DeepStream names."""

from __future__ import annotations

import importlib
import logging
import os

__all__ = ["register_all", "ELEMENT_MODULES"]

#: module → element classes it defines, registered in this order.
ELEMENT_MODULES: dict[str, tuple[str, ...]] = {
    "mux": ("EsMux",),
    "convert": ("EsConvert",),
    "tiler": ("EsTiler",),
    "demux": ("EsDemux",),
    "decoder": ("EsDecoder", "EsCudaSurfaces"),
    "urisrc": ("EsUriSrcBin",),
    "infer": ("EsInfer", "EsInferServer"),
    "postprocess": ("EsPostprocess",),
    "tracker": ("EsTracker",),
    "osd": ("EsOsd",),
    "analytics": ("EsAnalytics",),
    "messaging": ("EsMsgConv", "EsMsgBroker"),
    "flow": ("EsOpticalFlow", "EsFlowVisual", "EsSegVisual"),
    "preprocess": ("EsPreprocess",),
    "sinks": ("EsDisplaySink", "EsTransformPassthrough"),
    "encoders": ("EsH264Enc", "EsH265Enc", "EsJpegEnc"),
    "logger": ("EsDsLogger",),
}

_done = False


def register_all(plugin=None) -> dict[str, list[str]]:
    """Register every element (idempotent). Returns class name → names registered.

    ``plugin``: the ``Gst.Plugin`` to register into (see :mod:`estuary.gstplugin`); None
    registers them for this process."""
    global _done
    from estuary.gst import Gst, ensure_init
    from estuary.gst.element import register_element
    ensure_init()
    if plugin is None:
        # inside GStreamer's Python plugin loader (gst-launch-1.0 ...): into its plugin, never
        # beside it; a feature of the registry replaced while the loader loads it breaks GStreamer
        plugin = getattr(Gst, "__plugin__", None)
    rank = None
    if plugin is not None and os.environ.get("ESTUARY_AUTOPLUG") != "1":
        # the plugin's registry is shared by every GStreamer program of the user (media players
        # too): there, nothing of Estuary is autoplugged unless asked for
        rank = int(Gst.Rank.NONE)
    out: dict[str, list[str]] = {}
    for mod_name, classes in ELEMENT_MODULES.items():
        try:
            mod = importlib.import_module(f"estuary.elements.{mod_name}")
        except ImportError as exc:  # an optional backend is missing: hide this element only
            logging.getLogger("estuary").warning("elements of %s unavailable: %s", mod_name, exc)
            continue
        for cls_name in classes:
            cls = getattr(mod, cls_name)
            out[cls_name] = register_element(cls, rank=rank, plugin=plugin)
    _done = True
    return out
