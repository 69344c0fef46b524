"""Enumerations of the DeepStream metadata API, with their C values.

Each is an int enum that also accepts values outside its members (as pybind enums do for
``nvds_get_user_meta_type`` results), and every member is exported at module level by
:func:`exported` (pybind's ``export_values``).
"""

from __future__ import annotations

import enum

__all__ = [
    "OpenIntEnum", "NvDsMetaType", "GstNvDsMetaType", "NvOSD_Mode", "NvOSD_Arrow_Head_Direction",
    "NvDsEventType", "NvDsObjectType", "NvDsPayloadType", "NvDsInferDataType",
    "NvBufSurfaceMemType", "NvBufSurfaceLayout", "NvBufSurfaceMemMapFlags",
    "NvBufSurfaceColorFormat", "ROI_STATUS_360D", "ALL_ENUMS", "exported",
    "MAX_ELEMENTS_IN_DISPLAY_META", "MAX_LABEL_SIZE", "MAX_USER_FIELDS", "MAX_RESERVED_FIELDS",
    "NVDSINFER_MAX_DIMS", "NVBUF_MAX_PLANES", "UNTRACKED_OBJECT_ID", "user_meta_type",
]

MAX_ELEMENTS_IN_DISPLAY_META = 16
MAX_LABEL_SIZE = 128
MAX_USER_FIELDS = 4
MAX_RESERVED_FIELDS = 4
NVDSINFER_MAX_DIMS = 8
NVBUF_MAX_PLANES = 4
UNTRACKED_OBJECT_ID = 0xFFFFFFFFFFFFFFFF


class OpenIntEnum(enum.IntEnum):
    """An IntEnum that also represents values that have no member (named ``<Enum>.<value>``)."""

    @classmethod
    def _missing_(cls, value):
        if not isinstance(value, int):
            return None
        pseudo = int.__new__(cls, value)
        pseudo._name_ = str(value)
        pseudo._value_ = value
        return pseudo


class NvDsMetaType(OpenIntEnum):
    NVDS_INVALID_META = -1
    NVDS_BATCH_META = 1
    NVDS_FRAME_META = 2
    NVDS_OBJ_META = 3
    NVDS_DISPLAY_META = 4
    NVDS_CLASSIFIER_META = 5
    NVDS_LABEL_INFO_META = 6
    NVDS_USER_META = 7
    NVDS_PAYLOAD_META = 8
    NVDS_EVENT_MSG_META = 9
    NVDS_OPTICAL_FLOW_META = 10
    NVDS_LATENCY_MEASUREMENT_META = 11
    NVDSINFER_TENSOR_OUTPUT_META = 12
    NVDSINFER_SEGMENTATION_META = 13
    NVDS_CROP_IMAGE_META = 14
    NVDS_TRACKER_PAST_FRAME_META = 15
    NVDS_AUDIO_BATCH_META = 16
    NVDS_AUDIO_FRAME_META = 17
    # 7.1 additions, placed after the 5.1 values so that 5.1 numbers stay as they were.
    NVDS_TRACKER_BATCH_REID_META = 18
    NVDS_TRACKER_OBJ_REID_META = 19
    NVDS_RESERVED_META = 4095
    NVDS_GST_CUSTOM_META = 4096
    NVDS_START_USER_META = 8193
    NVDS_FORCE32_META = 0x7FFFFFFF


class GstNvDsMetaType(OpenIntEnum):
    NVDS_GST_INVALID_META = -1
    NVDS_BATCH_GST_META = 4097
    NVDS_DECODER_GST_META = 4098
    NVDS_DEWARPER_GST_META = 4099
    NVDS_RESERVED_GST_META = 8192
    NVDS_GST_META_FORCE32 = 0x7FFFFFFF


class NvOSD_Mode(OpenIntEnum):
    MODE_CPU = 0
    MODE_GPU = 1
    MODE_HW = 2
    MODE_NONE = 2  # 6.2 name for the third value (alias of MODE_HW)


class NvOSD_Arrow_Head_Direction(OpenIntEnum):
    START_HEAD = 0
    END_HEAD = 1
    BOTH_HEAD = 2


class NvDsEventType(OpenIntEnum):
    NVDS_EVENT_ENTRY = 0
    NVDS_EVENT_EXIT = 1
    NVDS_EVENT_MOVING = 2
    NVDS_EVENT_STOPPED = 3
    NVDS_EVENT_EMPTY = 4
    NVDS_EVENT_PARKED = 5
    NVDS_EVENT_RESET = 6
    NVDS_EVENT_RESERVED = 0x100
    NVDS_EVENT_CUSTOM = 0x101
    NVDS_EVENT_FORCE32 = 0x7FFFFFFF


class NvDsObjectType(OpenIntEnum):
    NVDS_OBJECT_TYPE_VEHICLE = 0
    NVDS_OBJECT_TYPE_PERSON = 1
    NVDS_OBJECT_TYPE_FACE = 2
    NVDS_OBJECT_TYPE_BAG = 3
    NVDS_OBJECT_TYPE_BICYCLE = 4
    NVDS_OBJECT_TYPE_ROADSIGN = 5
    NVDS_OBJECT_TYPE_VEHICLE_EXT = 6
    NVDS_OBJECT_TYPE_PERSON_EXT = 7
    NVDS_OBJECT_TYPE_FACE_EXT = 8
    NVDS_OBJECT_TYPE_RESERVED = 0x100
    NVDS_OBJECT_TYPE_CUSTOM = 0x101
    NVDS_OBJECT_TYPE_UNKNOWN = 0x102
    NVDS_OBEJCT_TYPE_FORCE32 = 0x7FFFFFFF


class NvDsPayloadType(OpenIntEnum):
    NVDS_PAYLOAD_DEEPSTREAM = 0
    NVDS_PAYLOAD_DEEPSTREAM_MINIMAL = 1
    NVDS_PAYLOAD_RESERVED = 0x100
    NVDS_PAYLOAD_CUSTOM = 0x101
    NVDS_PAYLOAD_FORCE32 = 0x7FFFFFFF


class NvDsInferDataType(OpenIntEnum):
    FLOAT = 0
    HALF = 1
    INT8 = 2
    INT32 = 3


class NvBufSurfaceMemType(OpenIntEnum):
    NVBUF_MEM_DEFAULT = 0
    NVBUF_MEM_CUDA_PINNED = 1
    NVBUF_MEM_CUDA_DEVICE = 2
    NVBUF_MEM_CUDA_UNIFIED = 3
    NVBUF_MEM_SURFACE_ARRAY = 4
    NVBUF_MEM_HANDLE = 5
    NVBUF_MEM_SYSTEM = 6


class NvBufSurfaceLayout(OpenIntEnum):
    NVBUF_LAYOUT_PITCH = 0
    NVBUF_LAYOUT_BLOCK_LINEAR = 1


class NvBufSurfaceMemMapFlags(OpenIntEnum):
    NVBUF_MAP_READ = 0
    NVBUF_MAP_WRITE = 1
    NVBUF_MAP_READ_WRITE = 2


_COLOR_FORMATS = (
    "INVALID GRAY8 YUV420 YVU420 YUV420_ER YVU420_ER NV12 NV12_ER NV21 NV21_ER "
    "UYVY UYVY_ER VYUY VYUY_ER YUYV YUYV_ER YVYU YVYU_ER YUV444 "
    "RGBA BGRA ARGB ABGR RGBx BGRx xRGB xBGR RGB BGR "
    "NV12_10LE NV12_12LE YUV420_709 YUV420_709_ER NV12_709 NV12_709_ER YUV420_2020 NV12_2020 "
    "NV12_10LE_ER NV12_10LE_709 NV12_10LE_709_ER NV12_10LE_2020 SIGNED_R16G16 LAST").split()

NvBufSurfaceColorFormat = OpenIntEnum(
    "NvBufSurfaceColorFormat", [("NVBUF_COLOR_FORMAT_" + n, i) for i, n in enumerate(_COLOR_FORMATS)])
NvBufSurfaceColorFormat.__module__ = __name__


class ROI_STATUS_360D(OpenIntEnum):
    ROI_ENTRY_360D = 0x01
    ROI_EXIT_360D = 0x02
    INSIDE_AISLE_360D = 0x04


ALL_ENUMS = (NvDsMetaType, GstNvDsMetaType, NvOSD_Mode, NvOSD_Arrow_Head_Direction, NvDsEventType,
             NvDsObjectType, NvDsPayloadType, NvDsInferDataType, NvBufSurfaceMemType,
             NvBufSurfaceLayout, NvBufSurfaceMemMapFlags, NvBufSurfaceColorFormat, ROI_STATUS_360D)


_quarks: dict[str, int] = {}


def user_meta_type(descriptor: str) -> NvDsMetaType:
    """A stable meta type for a descriptor string: its quark + NVDS_START_USER_META."""
    q = _quarks.setdefault(descriptor, len(_quarks) + 1)
    return NvDsMetaType(q + int(NvDsMetaType.NVDS_START_USER_META))


def exported() -> dict:
    """Every enum member by name, as pybind's ``export_values`` puts them on the module."""
    out = {}
    for e in ALL_ENUMS:
        for name, member in e.__members__.items():
            out[name] = member
    return out
