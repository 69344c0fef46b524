"""Tracker past-frame structs, under their 5.1 names and their 6.4 (``NvDsTargetMiscData*``) names."""

from __future__ import annotations

from estuary.meta.osd import NvOSD_RectParams
from estuary.meta.struct import CharArray, Embedded, Scalar, Struct

__all__ = [
    "NvDsPastFrameObj", "NvDsPastFrameObjList", "NvDsPastFrameObjStream", "NvDsPastFrameObjBatch",
    "NvDsTargetMiscDataFrame", "NvDsTargetMiscDataObject", "NvDsTargetMiscDataStream",
    "NvDsTargetMiscDataBatch", "NvDsObjReid",
]


class _Container(Struct):
    __slots__ = ("_items",)

    def __init__(self, **fields):
        self._items = []
        super().__init__(**fields)

    def list(self):
        """The children (non-owning views)."""
        return iter(self._items[: self._count()])

    def append(self, item) -> None:
        """Add a child and update the counters."""
        self._items.append(item)
        self._grow()

    def _count(self) -> int:
        return len(self._items)

    def _grow(self) -> None:
        pass

    @property
    def items(self) -> list:
        return self._items


class NvDsPastFrameObj(Struct):
    """One past frame of one object."""

    frameNum = Scalar(0)
    tBbox = Embedded(NvOSD_RectParams)
    confidence = Scalar(0.0)
    age = Scalar(0)


class NvDsPastFrameObjList(_Container):
    """The past frames of one object."""

    numObj = Scalar(0)
    uniqueId = Scalar(0)
    classId = Scalar(0)
    objLabel = CharArray(128)

    def _count(self):
        return self.numObj

    def _grow(self):
        self.numObj = len(self._items)


class NvDsPastFrameObjStream(_Container):
    """The past-frame objects of one stream."""

    streamID = Scalar(0)
    surfaceStreamID = Scalar(0)
    numAllocated = Scalar(0)
    numFilled = Scalar(0)

    def _count(self):
        return self.numFilled

    def _grow(self):
        self.numFilled = len(self._items)
        self.numAllocated = max(self.numAllocated, self.numFilled)


class NvDsPastFrameObjBatch(_Container):
    """Past-frame data of a batch, one entry per stream."""

    numAllocated = Scalar(0)
    numFilled = Scalar(0)

    def _count(self):
        return self.numFilled

    def _grow(self):
        self.numFilled = len(self._items)
        self.numAllocated = max(self.numAllocated, self.numFilled)


NvDsTargetMiscDataFrame = NvDsPastFrameObj
NvDsTargetMiscDataObject = NvDsPastFrameObjList
NvDsTargetMiscDataStream = NvDsPastFrameObjStream
NvDsTargetMiscDataBatch = NvDsPastFrameObjBatch


class NvDsObjReid(Struct):
    """7.1: a re-identification feature vector."""

    featureSize = Scalar(0)
    __slots__ = ("_vector",)

    def __init__(self, **fields):
        self._vector = None
        super().__init__(**fields)

    def get_host_reid_vector(self):
        """The feature as a float32 array of ``featureSize``."""
        import numpy as np
        if self._vector is None:
            self._vector = np.zeros(self.featureSize, np.float32)
        return self._vector
