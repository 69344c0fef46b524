"""NvBufSurface description structs: how a batch of frames lies in memory.

Estuary's :class:`~estuary.gst.batchsurface.BatchSurface` describes itself with these, so code
written against DeepStream's ``NvBufSurface`` reads the same numbers.
"""

from __future__ import annotations

import numpy as np

from estuary.meta.enums import (NvBufSurfaceColorFormat, NvBufSurfaceLayout, NvBufSurfaceMemType)
from estuary.meta.struct import Embedded, IntArray, Pointer, Scalar, Struct

__all__ = ["NvBufSurfacePlaneParams", "NvBufSurfaceCreateParams", "NvBufSurfaceMappedAddr",
           "NvBufSurfaceParams", "NvBufSurface"]


class NvBufSurfacePlaneParams(Struct):
    num_planes = Scalar(0)
    width = IntArray(4, np.uint32)
    height = IntArray(4, np.uint32)
    pitch = IntArray(4, np.uint32)
    offset = IntArray(4, np.uint32)
    psize = IntArray(4, np.uint32)
    bytesPerPix = IntArray(4, np.uint32)


class NvBufSurfaceCreateParams(Struct):
    gpuId = Scalar(0)
    width = Scalar(0)
    height = Scalar(0)
    size = Scalar(0)
    isContiguous = Scalar(False)
    colorFormat = Scalar(NvBufSurfaceColorFormat.NVBUF_COLOR_FORMAT_RGBA)
    layout = Scalar(NvBufSurfaceLayout.NVBUF_LAYOUT_PITCH)
    memType = Scalar(NvBufSurfaceMemType.NVBUF_MEM_DEFAULT)


class NvBufSurfaceMappedAddr(Struct):
    eglImage = Pointer()
    __slots__ = ("_addr",)

    def __init__(self, **fields):
        self._addr = [None] * 4
        super().__init__(**fields)

    @property
    def addr(self) -> list:
        """One handle per plane (None when not mapped)."""
        return self._addr


class NvBufSurfaceParams(Struct):
    width = Scalar(0)
    height = Scalar(0)
    pitch = Scalar(0)
    colorFormat = Scalar(NvBufSurfaceColorFormat.NVBUF_COLOR_FORMAT_INVALID)
    layout = Scalar(NvBufSurfaceLayout.NVBUF_LAYOUT_PITCH)
    bufferDesc = Scalar(0)
    dataSize = Scalar(0)
    dataPtr = Pointer()
    planeParams = Embedded(NvBufSurfacePlaneParams)
    mappedAddr = Embedded(NvBufSurfaceMappedAddr)


class NvBufSurface(Struct):
    gpuId = Scalar(0)
    batchSize = Scalar(0)
    numFilled = Scalar(0)
    isContiguous = Scalar(False)
    memType = Scalar(NvBufSurfaceMemType.NVBUF_MEM_DEFAULT)
    __slots__ = ("_surfaces",)

    def __init__(self, **fields):
        self._surfaces: list[NvBufSurfaceParams] = []
        super().__init__(**fields)

    @property
    def surfaceList(self) -> NvBufSurfaceParams | None:
        """The first surface's params (index the rest with :meth:`surface`)."""
        return self._surfaces[0] if self._surfaces else None

    def surface(self, i: int) -> NvBufSurfaceParams:
        """Params of surface ``i``."""
        return self._surfaces[i]

    @property
    def surfaces(self) -> list[NvBufSurfaceParams]:
        return self._surfaces
