"""Optical-flow output (``nvof``)."""

from __future__ import annotations

from estuary.meta.struct import Pointer, Scalar, Struct

__all__ = ["NvOFFlowVector", "NvDsOpticalFlowMeta"]


class NvOFFlowVector(Struct):
    """One motion vector in S10.5 fixed point (1/32 pixel)."""

    flowx = Scalar(0)
    flowy = Scalar(0)


class NvDsOpticalFlowMeta(Struct):
    """A rows×cols grid of motion vectors; ``data`` is an int16 array (rows, cols, 2)."""

    rows = Scalar(0)
    cols = Scalar(0)
    mv_size = Scalar(0)
    frame_num = Scalar(0)
    data = Pointer()
    priv = Pointer()
    reserved = Pointer()
