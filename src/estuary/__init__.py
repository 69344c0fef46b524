"""Estuary: real-time video analytics on GStreamer, with DeepStream's Python programming model.

``import estuary`` (or ``import pyds``) registers Estuary's elements with GStreamer.
"""

from __future__ import annotations

__version__ = "0.1.0"

# First of all, before anything can load GStreamer: keep C++ exceptions catchable (see native.py)
from estuary.native import ensure_unwinder  # noqa: E402

ensure_unwinder()

from estuary.errors import (BrokerError, ConfigError, ElementError, EstuaryError, MetaError,  # noqa: E402
                            ModelError, SourceError, StreamError, SurfaceError)
from estuary.meta.core import (NvDsBatchMeta, NvDsFrameMeta, NvDsObjectMeta,  # noqa: E402
                               NvDsUserMeta)

__all__ = ["__version__", "EstuaryError", "ConfigError", "ModelError", "SourceError",
           "StreamError", "BrokerError", "MetaError", "SurfaceError", "ElementError",
           "NvDsBatchMeta", "NvDsFrameMeta", "NvDsObjectMeta", "NvDsUserMeta", "register_elements"]


def register_elements() -> dict:
    """Register Estuary's GStreamer elements (done on import; idempotent)."""
    from estuary.elements import register_all
    return register_all()


try:
    register_elements()
except ImportError:  # GStreamer bindings missing: the metadata model still works
    pass
