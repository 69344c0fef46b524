"""Estuary's elements for GStreamer's Python plugin loader (Debian/Ubuntu package
gstreamer1.0-python3-plugin-loader). With ``GST_PLUGIN_PATH`` set to the folder above this one
(``estuary gst-plugin-path`` prints it), gst-inspect-1.0 and gst-launch-1.0 see every element.
Only imports and registers: the loader imports this file by name and reads
``__gstelementfactory__``; the work is in :mod:`estuary.gstplugin`."""

import os
import sys

_folder = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # estuary/gstplugin/
sys.path.insert(0, _folder)
import estuary_gst_environment  # noqa: E402 - standard library only: runs before Estuary is imported

sys.path.remove(_folder)
estuary_gst_environment.activate(os.path.dirname(os.path.dirname(_folder)))  # the folder holding estuary/
from estuary.gstplugin import register_with_loader  # noqa: E402

__gstelementfactory__ = register_with_loader()
