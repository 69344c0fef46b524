"""pybind11 bindings for gstnvdsmeta

Estuary's drop-in replacement for DeepStream's ``pyds`` module. Importing it also registers
Estuary's GStreamer elements under their ``es*`` names and their DeepStream names.
"""

from estuary.pyds import *  # noqa: F401,F403
from estuary.pyds import __all__, __version__  # noqa: F401
