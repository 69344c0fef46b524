"""The metadata model: batch → frames → objects → classifier results, user meta, display meta.

:mod:`estuary.meta.arrays` views a frame's objects as a struct of arrays (and converts to and
from ``supervision.Detections``)."""

from estuary.meta.arrays import FrameObjects, from_supervision, to_supervision

__all__ = ["FrameObjects", "to_supervision", "from_supervision"]
