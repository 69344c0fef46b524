"""pybind11 bindings for gstnvdsmeta — Estuary's ``pyds``-compatible facade.

The one place that emulates DeepStream's C shapes. The classes are the plain metadata model's
own classes (:mod:`estuary.meta`) under their DeepStream names; importing this module installs
the C faces on them (:mod:`estuary.pyds.facade`: ``char*`` fields as int addresses, lists as
GList nodes, int addresses for structs), and the functions below keep the DeepStream shapes
exactly (``hash(gst_buffer)`` addressing, ``alloc_*`` ownership, one global pair of user-meta
callbacks). Import it as ``import pyds``.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import os as _os
import time as _time

import numpy as _np

from estuary.errors import InvalidAddressError, MetaError, SurfaceError
from estuary.meta import core as _core
from estuary.meta.analytics import NvDsAnalyticsFrameMeta, NvDsAnalyticsObjInfo
from estuary.meta.core import (NvDsBaseMeta, NvDsBatchMeta, NvDsClassifierMeta,
                               NvDsComp_BboxInfo, NvDsDisplayMeta, NvDsFrameMeta, NvDsLabelInfo,
                               NvDsMeta, NvDsMetaPool, NvDsObjectMeta, NvDsUserMeta)
from estuary.meta.enums import *  # noqa: F401,F403 - the enums and their exported values
from estuary.meta.enums import exported as _exported
from estuary.meta.infer import (NvDsInferAttribute, NvDsInferDims, NvDsInferDimsCHW,
                                NvDsInferLayerInfo, NvDsInferNetworkInfo,
                                NvDsInferObjectDetectionInfo, NvDsInferSegmentationMeta,
                                NvDsInferTensorMeta)
from estuary.meta.opticalflow import NvDsOpticalFlowMeta, NvOFFlowVector
from estuary.meta.osd import (NvBbox_Coords, NvOSD_ArrowParams, NvOSD_CircleParams,
                              NvOSD_Color_info, NvOSD_ColorParams, NvOSD_FontParams,
                              NvOSD_FrameArrowParams, NvOSD_FrameCircleParams,
                              NvOSD_FrameLineParams, NvOSD_FrameRectParams, NvOSD_FrameTextParams,
                              NvOSD_LineParams, NvOSD_MaskParams, NvOSD_RectParams,
                              NvOSD_TextParams)
from estuary.meta.schema import (NvDsCoordinate, NvDsEvent, NvDsEventMsgMeta, NvDsFaceObject,
                                 NvDsFaceObjectWithExt, NvDsGeoLocation, NvDsObjectSignature,
                                 NvDsPayload, NvDsPersonObject, NvDsPersonObjectExt, NvDsRect,
                                 NvDsVehicleObject, NvDsVehicleObjectExt)
from estuary.meta.struct import CharArray, Scalar, Struct, Text
from estuary.pyds import cmem as _cmem
from estuary.pyds import facade as _facade
from estuary.pyds.facade import GList
from estuary.meta.tracker import (NvDsObjReid, NvDsPastFrameObj, NvDsPastFrameObjBatch,
                                  NvDsPastFrameObjList, NvDsPastFrameObjStream,
                                  NvDsTargetMiscDataBatch, NvDsTargetMiscDataFrame,
                                  NvDsTargetMiscDataObject, NvDsTargetMiscDataStream)
from estuary.surface.nvbuf import (NvBufSurface, NvBufSurfaceCreateParams,
                                   NvBufSurfaceMappedAddr, NvBufSurfaceParams,
                                   NvBufSurfacePlaneParams)

__version__ = "1.1.0"

globals().update(_exported())


# -- 11. other classes ----------------------------------------------------------------------

class RectDim(Struct):
    """360-D region."""

    left = Scalar(0.0)
    top = Scalar(0.0)
    width = Scalar(0.0)
    height = Scalar(0.0)
    class_id = Scalar(0)
    tracking_id = Scalar(0)
    gie_unique_id = Scalar(0)
    roi_status = Scalar(0)
    text = Scalar(None)


class NvDsObjEncUsrArgs(Struct):
    """7.1 object-encoder arguments."""

    saveImg = Scalar(False)
    attachUsrMeta = Scalar(False)
    scaleImg = Scalar(False)
    scaledWidth = Scalar(0)
    scaledHeight = Scalar(0)
    fileNameImg = CharArray(1024)
    objNum = Scalar(0)
    quality = Scalar(80)
    isFrame = Scalar(False)
    calcEncodeTime = Scalar(False)


class NvDsObjEncOutParams(Struct):
    """7.1 object-encoder output: ``outBuffer()`` is the JPEG as uint8."""

    __slots__ = ("_jpeg",)

    def __init__(self, jpeg: bytes = b"", **fields):
        self._jpeg = jpeg
        super().__init__(**fields)

    def outBuffer(self):
        return _np.frombuffer(self._jpeg, _np.uint8)


class CustomDataStruct(Struct):
    """7.1 sample struct for custom user meta."""

    structId = Scalar(0)
    message = Text("free")
    sampleInt = Scalar(0)


# -- 12.1 batch meta access ------------------------------------------------------------------

def gst_buffer_get_nvds_batch_meta(buffer: int):
    """The batch meta on the GstBuffer at address ``buffer`` (``hash(gst_buffer)``), or None."""
    from estuary.gst import batchmeta
    return batchmeta.get(buffer)


def gst_buffer_add_nvds_meta(buffer, meta_data, user_data=None, copy_func=None, release_func=None):
    """Attach ``meta_data`` (normally an NvDsBatchMeta) to a writable buffer."""
    from estuary.gst import batchmeta
    batchmeta.attach(buffer, meta_data)
    meta = NvDsMeta(meta_data=meta_data, user_data=user_data)
    meta.meta_type = GstNvDsMetaType.NVDS_BATCH_GST_META
    return meta


def nvds_create_batch_meta(max_batch_size: int) -> NvDsBatchMeta:
    return NvDsBatchMeta(max_batch_size)


def nvds_destroy_batch_meta(batch_meta: NvDsBatchMeta) -> None:
    batch_meta.release()


def nvds_acquire_meta_lock(batch_meta: NvDsBatchMeta) -> None:
    batch_meta.meta_mutex.acquire()


def nvds_release_meta_lock(batch_meta: NvDsBatchMeta) -> None:
    batch_meta.meta_mutex.release()


# -- 12.2 acquire ------------------------------------------------------------------------------

def nvds_acquire_frame_meta_from_pool(batch_meta) -> NvDsFrameMeta:
    return batch_meta.acquire_frame()


def nvds_acquire_obj_meta_from_pool(batch_meta) -> NvDsObjectMeta:
    return batch_meta.acquire_object()


def nvds_acquire_classifier_meta_from_pool(batch_meta) -> NvDsClassifierMeta:
    return batch_meta.acquire_classifier()


def nvds_acquire_display_meta_from_pool(batch_meta) -> NvDsDisplayMeta:
    return batch_meta.acquire_display()


def nvds_acquire_label_info_meta_from_pool(batch_meta) -> NvDsLabelInfo:
    return batch_meta.acquire_label_info()


def nvds_acquire_user_meta_from_pool(batch_meta) -> NvDsUserMeta:
    return batch_meta.acquire_user()


# -- 12.3 add ----------------------------------------------------------------------------------

def nvds_add_frame_meta_to_batch(batch_meta, frame_meta) -> None:
    batch_meta.add_frame(frame_meta)


def nvds_add_obj_meta_to_frame(frame_meta, obj_meta, obj_parent=None) -> None:
    frame_meta.add_object(obj_meta, obj_parent)


def nvds_add_classifier_meta_to_object(obj_meta, classifier_meta) -> None:
    obj_meta._classifiers.append(classifier_meta)


def nvds_add_display_meta_to_frame(frame_meta, display_meta) -> None:
    frame_meta.add_display_meta(display_meta)


def nvds_add_label_info_meta_to_classifier(classifier_meta, label_info_meta) -> None:
    classifier_meta._labels.append(label_info_meta)


def nvds_add_user_meta_to_batch(batch_meta, user_meta) -> None:
    batch_meta.add_user_meta(user_meta)


def nvds_add_user_meta_to_frame(frame_meta, user_meta) -> None:
    frame_meta.add_user_meta(user_meta)


def nvds_add_user_meta_to_obj(obj_meta, user_meta) -> None:
    obj_meta._user_meta.append(user_meta)


# -- 12.4 remove -------------------------------------------------------------------------------

def _remove(lst, item, what, where, pool):
    _core._detach(lst, item, what, where)
    if isinstance(item, NvDsUserMeta):
        _core.release_user_meta(item)
    _core._give_back(item, pool)


def nvds_remove_frame_meta_from_batch(batch_meta, frame_meta) -> None:
    _core._detach(batch_meta._frames, frame_meta, "frame", "batch")
    _core._release_frame(frame_meta)
    _core._give_back(frame_meta, "frame_meta_pool")


def nvds_remove_obj_meta_from_frame(frame_meta, obj_meta) -> None:
    frame_meta.remove_object(obj_meta)


def nvds_remove_classifier_meta_from_obj(obj_meta, classifier_meta) -> None:
    _remove(obj_meta._classifiers, classifier_meta, "classifier", "object",
            "classifier_meta_pool")


def nvds_remove_display_meta_from_frame(frame_meta, display_meta) -> None:
    _remove(frame_meta._display_metas, display_meta, "display", "frame", "display_meta_pool")


def nvds_remove_label_info_meta_from_classifier(classifier_meta, label_info_meta) -> None:
    _remove(classifier_meta._labels, label_info_meta, "label info", "classifier",
            "label_info_meta_pool")


def nvds_remove_user_meta_from_batch(batch_meta, user_meta) -> None:
    _remove(batch_meta._user_meta, user_meta, "user", "batch", "user_meta_pool")


def nvds_remove_user_meta_from_frame(frame_meta, user_meta) -> None:
    _remove(frame_meta._user_meta, user_meta, "user", "frame", "user_meta_pool")


def nvds_remove_user_meta_from_object(obj_meta, user_meta) -> None:
    _remove(obj_meta._user_meta, user_meta, "user", "object", "user_meta_pool")


# -- 12.5 list utilities -----------------------------------------------------------------------

def nvds_get_current_metadata_info(batch_meta) -> bool:
    """Log pool usage of a batch (debug); returns True."""
    import logging
    log = logging.getLogger("estuary.meta")
    for name in ("frame_meta_pool", "obj_meta_pool", "classifier_meta_pool", "display_meta_pool",
                 "user_meta_pool", "label_info_meta_pool"):
        p = getattr(batch_meta, name)
        log.info("%s: %d in use, %d free, capacity %d", name, p.num_full_elements,
                 p.num_empty_elements, p.max_elements_in_pool)
    return True


def nvds_batch_meta_copy_func(data, user_meta=None):
    """Deep copy of a batch meta (what a buffer copy does)."""
    return NvDsBatchMeta.cast(data).copy()


def nvds_batch_meta_release_func(data, user_data=None) -> None:
    NvDsBatchMeta.cast(data).release()


def nvds_get_nth_frame_meta(frame_meta_list, index: int):
    node = frame_meta_list
    for _ in range(int(index)):
        if node is None:
            break
        node = node.next
    return None if node is None else node.data


def _clear(owner, attr, remover):
    lst = getattr(owner, attr)
    for item in list(lst):
        remover(owner, item)
    return None


def nvds_clear_frame_meta_list(batch_meta, meta_list=None):
    return _clear(batch_meta, "_frames", nvds_remove_frame_meta_from_batch)


def nvds_clear_obj_meta_list(frame_meta, meta_list=None):
    return _clear(frame_meta, "objects", nvds_remove_obj_meta_from_frame)


def nvds_clear_display_meta_list(frame_meta, meta_list=None):
    return _clear(frame_meta, "_display_metas", nvds_remove_display_meta_from_frame)


def nvds_clear_batch_user_meta_list(batch_meta, meta_list=None):
    return _clear(batch_meta, "_user_meta", nvds_remove_user_meta_from_batch)


def nvds_clear_frame_user_meta_list(frame_meta, meta_list=None):
    return _clear(frame_meta, "_user_meta", nvds_remove_user_meta_from_frame)


def nvds_clear_obj_user_meta_list(object_meta, meta_list=None):
    return _clear(object_meta, "_user_meta", nvds_remove_user_meta_from_object)


def nvds_clear_classifier_meta_list(obj_meta, meta_list=None):
    return _clear(obj_meta, "_classifiers", nvds_remove_classifier_meta_from_obj)


def nvds_clear_label_info_meta_list(classifier_meta, meta_list=None):
    return _clear(classifier_meta, "_labels", nvds_remove_label_info_meta_from_classifier)


def nvds_clear_meta_list(batch_meta, meta_list, meta_pool):
    """Give every element of ``meta_list`` back to ``meta_pool``; returns None (empty list)."""
    for item in (list(meta_list) if meta_list is not None else []):
        if isinstance(item, NvDsUserMeta):
            _core.release_user_meta(item)
        meta_pool.give_back(item)
    return None


def _items(glist):
    return [] if glist is None else list(glist)


def nvds_copy_batch_user_meta_list(src_user_meta_list, dst_batch_meta) -> None:
    _core.copy_user_meta_list(_items(src_user_meta_list), dst_batch_meta,
                              dst_batch_meta._user_meta)


def nvds_copy_frame_user_meta_list(src_user_meta_list, dst_frame_meta) -> None:
    _core.copy_user_meta_list(_items(src_user_meta_list), dst_frame_meta.batch_meta,
                              dst_frame_meta._user_meta)


def nvds_copy_display_meta_list(src_display_meta_list, dst_frame_meta) -> None:
    for d in _items(src_display_meta_list):
        dst_frame_meta._display_metas.append(_core.copy_display_meta(d, dst_frame_meta.batch_meta))


def nvds_copy_frame_meta_list(src_frame_meta_list, dst_batch_meta) -> None:
    _core.copy_frame_list(_items(src_frame_meta_list), dst_batch_meta)


def nvds_copy_obj_meta_list(src_obj_meta_list, dst_object_meta) -> None:
    """Copy objects into a frame (the second argument is the destination frame)."""
    _core.copy_objects(_items(src_obj_meta_list), dst_object_meta, dst_object_meta.batch_meta)


# -- 12.6 user meta type -----------------------------------------------------------------------

def nvds_get_user_meta_type(meta_descriptor: str) -> NvDsMetaType:
    """A stable meta type for a descriptor string: its quark + NVDS_START_USER_META."""
    from estuary.meta.enums import user_meta_type
    return user_meta_type(meta_descriptor)


# -- 12.7 strings and raw memory ---------------------------------------------------------------

def get_string(ptr: int) -> str | None:
    """The str at a C string address (None for 0); raises for a freed or unknown address."""
    return _cmem.read_string(ptr)


def free_buffer(buffer) -> None:
    """Free a C buffer or string (no-op for 0 or an already freed address)."""
    _cmem.free(buffer)


def free_gbuffer(buffer) -> None:
    """Free what a handle points to (e.g. ``extMsg``); no-op for None."""
    if buffer is None:
        return
    if isinstance(buffer, int):
        _cmem.free(buffer)
    else:
        _facade.free_owned(buffer)


def alloc_buffer(size: int) -> int:
    """``size`` zeroed bytes on the C side; returns the address."""
    return _cmem.alloc(size)


alloc_char_buffer = alloc_buffer


def get_ptr(ptr) -> int:
    """The int address of a handle or bound object."""
    return _cmem.address_of(ptr)


def memdup(ptr: int, size: int) -> int:
    """A new C copy of ``size`` bytes at ``ptr`` (or of the struct at ``ptr``)."""
    return _cmem.memdup(ptr, size)


def strdup(ptr: int) -> int:
    """A new C copy of the string at ``ptr``; 0 for 0."""
    if not ptr:
        return 0
    return _cmem.new_string(_cmem.read_string(ptr))


def strdup2str(ptr: int) -> str:
    """A Python copy of the string at ``ptr``; "" for 0."""
    return _cmem.read_string(ptr) or "" if ptr else ""


def generate_ts_rfc3339(buffer: int, size: int) -> None:
    """Write the current UTC time as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` into the buffer at ``buffer``."""
    cap = _cmem.buffer_size(buffer)
    now = _time.time()
    t = _dt.datetime.fromtimestamp(now, _dt.timezone.utc)
    date = t.strftime("%Y-%m-%dT%H:%M:%S").encode()[: max(int(size), 0)]
    text = date + b".%03dZ" % (int(now * 1000) % 1000) + b"\0"
    if len(text) > cap:
        raise MetaError(f"generate_ts_rfc3339 needs {len(text)} bytes, the buffer has {cap}")
    ctypes.memmove(buffer, text, len(text))


# -- 12.8 allocators ---------------------------------------------------------------------------

def _alloc(cls):
    obj = cls()
    _cmem.own(obj)
    return obj


def alloc_nvds_event_msg_meta(user_meta=None) -> NvDsEventMsgMeta:
    """A C-owned event message. With ``user_meta`` (6.4 form), copy/release are installed."""
    meta = _alloc(NvDsEventMsgMeta)
    if user_meta is not None:
        user_meta.copy_func = _event_msg_copy
        user_meta.release_func = _event_msg_release
    return meta


def alloc_nvds_vehicle_object() -> NvDsVehicleObject:
    return _alloc(NvDsVehicleObject)


def alloc_nvds_person_object() -> NvDsPersonObject:
    return _alloc(NvDsPersonObject)


def alloc_nvds_face_object() -> NvDsFaceObject:
    return _alloc(NvDsFaceObject)


def alloc_nvds_event() -> NvDsEvent:
    return _alloc(NvDsEvent)


def alloc_nvds_payload() -> NvDsPayload:
    return _alloc(NvDsPayload)


def alloc_custom_struct(user_meta) -> CustomDataStruct:
    data = _alloc(CustomDataStruct)
    user_meta.copy_func = _deep_struct_copy
    user_meta.release_func = _struct_release
    return data


def _deep_struct_copy(user_meta, user_data=None):
    """Copy of a C-owned struct with its own copies of every string (the C copy functions)."""
    src = user_meta.user_meta_data
    dst = src._memcpy()
    for name, slot, spec in src._fields:
        if isinstance(spec, Text) and spec.mode == "buffer":
            value = object.__getattribute__(src, slot)
            if isinstance(value, _facade.CBuffer) and _cmem.is_live(value.addr):
                copy = _cmem.memdup(value.addr, _cmem.buffer_size(value.addr))
                object.__setattr__(dst, slot, _facade.CBuffer(copy))
        elif name == "extMsg" and src.extMsg is not None and isinstance(src.extMsg, Struct):
            tmp = NvDsUserMeta()
            tmp.user_meta_data = src.extMsg
            object.__setattr__(dst, "extMsg", _deep_struct_copy(tmp))
    _cmem.own(dst)
    return dst


def _event_msg_copy(user_meta, user_data=None):
    return _deep_struct_copy(user_meta)


def _struct_release(user_meta, user_data=None):
    data = user_meta.user_meta_data
    if data is not None:
        _facade.free_owned(data)


_event_msg_release = _struct_release


# -- 12.9 callbacks ----------------------------------------------------------------------------

_callbacks = {"copy": None, "release": None}


def _copy_trampoline(user_meta, user_data=None):
    func = _callbacks["copy"]
    if func is None:
        return user_meta.user_meta_data
    return func(user_meta, user_data)


def _release_trampoline(user_meta, user_data=None):
    func = _callbacks["release"]
    if func is not None:
        func(user_meta, user_data)


def set_user_copyfunc(meta, func) -> None:
    """Install the copy callback on ``meta``. One callback serves every meta (last one wins)."""
    _callbacks["copy"] = func
    meta.copy_func = _copy_trampoline


def set_user_releasefunc(meta, func) -> None:
    """Install the release callback on ``meta``. One callback serves every meta (last one wins)."""
    _callbacks["release"] = func
    meta.release_func = _release_trampoline


def user_copyfunc(meta, func) -> None:
    set_user_copyfunc(meta, func)


def user_releasefunc(meta, func) -> None:
    set_user_releasefunc(meta, func)


def register_user_copyfunc(func) -> None:
    """5.1: register the global copy callback."""
    _callbacks["copy"] = func


def register_user_releasefunc(func) -> None:
    """5.1: register the global release callback."""
    _callbacks["release"] = func


def unset_callback_funcs() -> None:
    """Drop the stored callbacks (call before the application exits)."""
    _callbacks["copy"] = None
    _callbacks["release"] = None


# -- 12.10 image and tensor access -------------------------------------------------------------

def _batch_surface(gst_buffer: int):
    batch = gst_buffer_get_nvds_batch_meta(gst_buffer)
    if batch is None or batch.surface is None:
        raise SurfaceError("this buffer carries no Estuary batch surface: probe a pad downstream "
                           "of nvstreammux/esmux (and of nvvideoconvert for RGBA)")
    return batch.surface


def get_nvds_buf_surface(gst_buffer: int, batchID: int):
    """Frame ``batchID`` as a writable zero-copy (H, W, 4) RGBA uint8 array (or (H, W, 3) RGB)."""
    return _batch_surface(gst_buffer).map_frame(int(batchID))


def unmap_nvds_buf_surface(gst_buffer: int, batchID: int) -> None:
    """Release the mapping made by :func:`get_nvds_buf_surface` (no-op if not mapped)."""
    batch = gst_buffer_get_nvds_batch_meta(gst_buffer)
    if batch is not None and batch.surface is not None:
        batch.surface.unmap_frame(int(batchID))


def get_nvds_buf_surface_gpu(gst_buffer: int, batchID: int):
    """(dtype, shape, strides, data_ptr capsule, size) of a frame in GPU memory."""
    return _batch_surface(gst_buffer).gpu_frame_tuple(int(batchID))


def get_nvds_LayerInfo(data, j: int) -> NvDsInferLayerInfo:
    """Layer ``j`` of tensor meta ``data``, with its ``buffer`` set to the host tensor."""
    meta = NvDsInferTensorMeta.cast(data)
    layer = meta._layers[j]
    layer.buffer = meta.out_buf_ptrs_host[j]
    return layer


def get_detections(data, i: int) -> float:
    """Element ``i`` of a layer buffer, read as float32."""
    i = int(i)
    if isinstance(data, _np.ndarray):
        flat = data.reshape(-1)
        if flat.dtype != _np.float32:
            flat = flat.view(_np.uint8)[: flat.nbytes - flat.nbytes % 4].view(_np.float32)
        if not 0 <= i < flat.size:
            raise IndexError(f"get_detections: index {i} outside the layer's {flat.size} floats")
        return float(flat[i])
    if isinstance(data, int) and not isinstance(data, bool):
        if i < 0:
            raise IndexError(f"get_detections: negative index {i}")
        _cmem.check_range(data + 4 * i, 4)
        return ctypes.c_float.from_address(data + 4 * i).value
    raise InvalidAddressError(f"get_detections needs a layer buffer, got {type(data).__name__}")


def get_segmentation_masks(data) -> _np.ndarray:
    """The (height, width) int32 class map of a segmentation meta (a copy)."""
    meta = NvDsInferSegmentationMeta.cast(data)
    return _np.array(meta.class_map, dtype=_np.int32, copy=True).reshape(meta.height, meta.width)


def get_optical_flow_vectors(of_meta) -> _np.ndarray:
    """The flow grid as float32 1-D (rows × cols × 2, interleaved x, y), a new copy."""
    meta = NvDsOpticalFlowMeta.cast(of_meta)
    return _np.asarray(meta.data).reshape(-1).astype(_np.float32)


def glist_get_nvds_Surface_Params(data) -> NvBufSurfaceParams:
    return NvBufSurfaceParams.cast(data)


# -- 12.11 NvBufSurface C API (CPU port) -------------------------------------------------------

def _nvbuf_unsupported(name):
    def f(*args, **kwargs):
        raise NotImplementedError(
            f"{name}: Estuary manages surfaces itself; use get_nvds_buf_surface in a probe")
    f.__name__ = name
    return f


for _n in ("NvBufSurfaceCreate", "NvBufSurfaceDestroy", "NvBufSurfaceMap", "NvBufSurfaceUnMap",
           "NvBufSurfaceCopy", "NvBufSurfaceFromFd", "NvBufSurfaceMemSet",
           "NvBufSurfaceMapEglImage"):
    globals()[_n] = _nvbuf_unsupported(_n)


def NvBufSurfaceSyncForCpu(surf, index=-1, plane=-1) -> int:
    """CPU surfaces are always in sync: returns 0."""
    return 0


def NvBufSurfaceSyncForDevice(surf, index=-1, plane=-1) -> int:
    """CPU surfaces are always in sync: returns 0."""
    return 0


# -- 12.12 deprecated cast functions -----------------------------------------------------------

def _caster(cls):
    def cast(data):
        return cls.cast(data)
    cast.__doc__ = f"Deprecated: same as {cls.__name__}.cast(data)."
    return cast


glist_get_nvds_batch_meta = _caster(NvDsBatchMeta)
glist_get_nvds_frame_meta = _caster(NvDsFrameMeta)
glist_get_nvds_object_meta = _caster(NvDsObjectMeta)
glist_get_nvds_user_meta = _caster(NvDsUserMeta)
glist_get_nvds_classifier_meta = _caster(NvDsClassifierMeta)
glist_get_nvds_display_meta = _caster(NvDsDisplayMeta)
glist_get_nvds_label_info = _caster(NvDsLabelInfo)
glist_get_nvds_event_msg_meta = _caster(NvDsEventMsgMeta)
glist_get_nvds_vehicle_object = _caster(NvDsVehicleObject)
glist_get_nvds_person_object = _caster(NvDsPersonObject)
glist_get_nvds_tensor_meta = _caster(NvDsInferTensorMeta)


# -- 12.13 later utilities ---------------------------------------------------------------------

def _element_at(addr: int):
    from estuary.gst.addresses import element_at
    return element_at(addr)


def gst_element_send_nvevent_new_stream_reset(gst_element: int, source_id: int) -> bool:
    """Send a stream-reset event for one source downstream from an element."""
    from estuary.gst.events import STREAM_RESET, stream_event
    return _element_at(gst_element).send_event(stream_event(STREAM_RESET, source_id))


gst_nvevent_new_stream_reset = gst_element_send_nvevent_new_stream_reset


def gst_element_send_nvevent_interval_update(gst_element: int, stream_id: str, interval: int) -> bool:
    """Change an inference element's ``interval`` at run time."""
    from estuary.gst import Gst
    el = _element_at(gst_element)
    st = Gst.Structure.new_empty("nv-infer-interval-update")
    st.set_value("stream-id", str(stream_id))
    st.set_value("interval", int(interval))
    return el.send_event(Gst.Event.new_custom(Gst.EventType.CUSTOM_DOWNSTREAM, st))


def configure_source_for_ntp_sync(src_elem: int) -> None:
    """Ask an RTSP source to attach NTP timestamps (sets ``ntp-sync`` where it exists)."""
    el = _element_at(src_elem)
    for name in ("ntp-sync", "add-reference-timestamp-meta"):
        if el.find_property(name) is not None:
            el.set_property(name, True)


def nvds_measure_buffer_latency(gst_buffer: int) -> int:
    """With NVDS_ENABLE_LATENCY_MEASUREMENT=1, print per-source latency; returns #sources."""
    if _os.environ.get("NVDS_ENABLE_LATENCY_MEASUREMENT") != "1":
        return 0
    batch = gst_buffer_get_nvds_batch_meta(gst_buffer)
    if batch is None:
        return 0
    nvds_measure_buffer_latency.count = getattr(nvds_measure_buffer_latency, "count", 0) + 1
    print(f"************BATCH-NUM = {nvds_measure_buffer_latency.count}**************")
    now = _time.time()
    for f in batch.frames:
        t0 = f.ntp_timestamp / 1e9 if f.ntp_timestamp else now
        print(f"Source id = {f.source_id} Frame_num = {f.frame_num} "
              f"Frame latency = {(now - t0) * 1000.0:.3f} (ms) ")
    return batch.num_frames_in_batch


def nvds_obj_enc_create_context(gpu_id: int = 0):
    from estuary.pyds.objenc import ObjEncContext
    return ObjEncContext()


def nvds_obj_enc_process(ctx, args, gst_buffer: int, obj_meta, frame_meta) -> bool:
    return ctx.process(args, gst_buffer, obj_meta, frame_meta)


def nvds_obj_enc_finish(ctx) -> None:
    ctx.finish()


def nvds_obj_enc_destroy_context(ctx) -> None:
    ctx.destroy()


_facade.install_all()


def _register_elements() -> None:
    try:
        import estuary.elements as _elements
    except ImportError:  # elements need GStreamer; the metadata API does not
        return
    _elements.register_all()


_register_elements()

__all__ = sorted(n for n in globals() if not n.startswith("_") and n not in (
    "annotations", "ctypes", "user_meta_type", "InvalidAddressError", "MetaError", "SurfaceError", "Scalar", "Text",
    "CharArray", "Struct"))
