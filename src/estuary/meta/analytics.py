"""Analytics output (``nvdsanalytics``): per-object and per-frame results.

Fields read as Python containers that are **copies**, as in the reference bindings.
"""

from __future__ import annotations

import copy

from estuary.meta.struct import Scalar, Struct

__all__ = ["NvDsAnalyticsObjInfo", "NvDsAnalyticsFrameMeta", "OBJ_DESCRIPTOR", "FRAME_DESCRIPTOR"]

OBJ_DESCRIPTOR = "NVIDIA.DSANALYTICSOBJ.USER_META"
FRAME_DESCRIPTOR = "NVIDIA.DSANALYTICSFRAME.USER_META"


class _CopyOut:
    """A field whose value is handed out as a copy (editing it does not change the meta)."""

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return copy.copy(getattr(obj, self.slot))

    def __set__(self, obj, value):
        setattr(obj, self.slot, copy.copy(value))


class NvDsAnalyticsObjInfo(Struct):
    """ROI, overcrowding, line-crossing and direction status of one object."""

    __slots__ = ("_roiStatus", "_ocStatus", "_lcStatus")
    dirStatus = Scalar("")
    objStatus = Scalar("")
    unique_id = Scalar(0)
    roiStatus = _CopyOut()
    ocStatus = _CopyOut()
    lcStatus = _CopyOut()

    def __init__(self, **fields):
        self._roiStatus, self._ocStatus, self._lcStatus = [], [], []
        super().__init__(**fields)


class NvDsAnalyticsFrameMeta(Struct):
    """Per-frame counts: objects in ROIs, line crossings, overcrowding, objects per class."""

    __slots__ = ("_ocStatus", "_objInROIcnt", "_objLCCurrCnt", "_objLCCumCnt", "_objCnt")
    unique_id = Scalar(0)
    ocStatus = _CopyOut()
    objInROIcnt = _CopyOut()
    objLCCurrCnt = _CopyOut()
    objLCCumCnt = _CopyOut()
    objCnt = _CopyOut()

    def __init__(self, **fields):
        self._ocStatus, self._objInROIcnt, self._objLCCurrCnt = {}, {}, {}
        self._objLCCumCnt, self._objCnt = {}, {}
        super().__init__(**fields)
