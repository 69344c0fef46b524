"""The pyds facade: names, enums, casts, strings, allocators, callbacks, timestamps."""

import ctypes
import re
import sys
import time
from datetime import datetime, timezone

import numpy as np
import pytest

import pyds
from estuary.errors import InvalidAddressError

# Every DeepStream 5.1 name of shared/spec/pyds-api.md (classes, functions, enum members).
NAMES_51 = """
GList NvDsBaseMeta NvDsMetaPool NvDsBatchMeta NvDsFrameMeta NvDsObjectMeta NvDsComp_BboxInfo
NvDsClassifierMeta NvDsLabelInfo NvDsDisplayMeta NvDsUserMeta NvDsMeta NvBbox_Coords
NvOSD_ColorParams NvOSD_FontParams NvOSD_TextParams NvOSD_Color_info NvOSD_RectParams
NvOSD_LineParams NvOSD_ArrowParams NvOSD_CircleParams NvOSD_FrameTextParams NvOSD_FrameRectParams
NvOSD_FrameLineParams NvOSD_FrameArrowParams NvOSD_FrameCircleParams NvOSD_MaskParams
NvDsPastFrameObjBatch NvDsPastFrameObjStream NvDsPastFrameObjList NvDsPastFrameObj
NvDsTargetMiscDataBatch NvDsTargetMiscDataStream NvDsTargetMiscDataObject NvDsTargetMiscDataFrame
NvDsAnalyticsObjInfo NvDsAnalyticsFrameMeta NvDsInferDims NvDsInferDimsCHW NvDsInferLayerInfo
NvDsInferNetworkInfo NvDsInferObjectDetectionInfo NvDsInferAttribute NvDsInferTensorMeta
NvDsInferSegmentationMeta NvOFFlowVector NvDsOpticalFlowMeta NvDsRect NvDsGeoLocation
NvDsCoordinate NvDsObjectSignature NvDsVehicleObject NvDsPersonObject NvDsFaceObject
NvDsEventMsgMeta NvDsEvent NvDsPayload NvBufSurfacePlaneParams NvBufSurfaceCreateParams
NvBufSurfaceMappedAddr NvBufSurfaceParams NvBufSurface RectDim
NvDsMetaType GstNvDsMetaType NvOSD_Mode NvOSD_Arrow_Head_Direction NvDsEventType NvDsObjectType
NvDsPayloadType NvDsInferDataType NvBufSurfaceMemType NvBufSurfaceLayout NvBufSurfaceMemMapFlags
NvBufSurfaceColorFormat ROI_STATUS_360D
NVDS_INVALID_META NVDS_BATCH_META NVDS_FRAME_META NVDS_OBJ_META NVDS_DISPLAY_META
NVDS_CLASSIFIER_META NVDS_LABEL_INFO_META NVDS_USER_META NVDS_PAYLOAD_META NVDS_EVENT_MSG_META
NVDS_OPTICAL_FLOW_META NVDS_LATENCY_MEASUREMENT_META NVDSINFER_TENSOR_OUTPUT_META
NVDSINFER_SEGMENTATION_META NVDS_CROP_IMAGE_META NVDS_TRACKER_PAST_FRAME_META
NVDS_AUDIO_BATCH_META NVDS_AUDIO_FRAME_META NVDS_RESERVED_META NVDS_GST_CUSTOM_META
NVDS_START_USER_META NVDS_FORCE32_META NVDS_GST_INVALID_META NVDS_BATCH_GST_META
NVDS_DECODER_GST_META NVDS_DEWARPER_GST_META NVDS_RESERVED_GST_META NVDS_GST_META_FORCE32
MODE_CPU MODE_GPU MODE_HW START_HEAD END_HEAD BOTH_HEAD
NVDS_EVENT_ENTRY NVDS_EVENT_EXIT NVDS_EVENT_MOVING NVDS_EVENT_STOPPED NVDS_EVENT_EMPTY
NVDS_EVENT_PARKED NVDS_EVENT_RESET NVDS_EVENT_RESERVED NVDS_EVENT_CUSTOM NVDS_EVENT_FORCE32
NVDS_OBJECT_TYPE_VEHICLE NVDS_OBJECT_TYPE_PERSON NVDS_OBJECT_TYPE_FACE NVDS_OBJECT_TYPE_BAG
NVDS_OBJECT_TYPE_BICYCLE NVDS_OBJECT_TYPE_ROADSIGN NVDS_OBJECT_TYPE_RESERVED
NVDS_OBJECT_TYPE_CUSTOM NVDS_OBJECT_TYPE_UNKNOWN NVDS_OBEJCT_TYPE_FORCE32
NVDS_PAYLOAD_DEEPSTREAM NVDS_PAYLOAD_DEEPSTREAM_MINIMAL NVDS_PAYLOAD_RESERVED NVDS_PAYLOAD_CUSTOM
NVDS_PAYLOAD_FORCE32 FLOAT HALF INT8 INT32
NVBUF_MEM_DEFAULT NVBUF_MEM_CUDA_PINNED NVBUF_MEM_CUDA_DEVICE NVBUF_MEM_CUDA_UNIFIED
NVBUF_MEM_SURFACE_ARRAY NVBUF_MEM_HANDLE NVBUF_MEM_SYSTEM NVBUF_LAYOUT_PITCH
NVBUF_LAYOUT_BLOCK_LINEAR NVBUF_MAP_READ NVBUF_MAP_WRITE NVBUF_MAP_READ_WRITE
NVBUF_COLOR_FORMAT_RGBA NVBUF_COLOR_FORMAT_NV12 NVBUF_COLOR_FORMAT_INVALID NVBUF_COLOR_FORMAT_LAST
ROI_ENTRY_360D ROI_EXIT_360D INSIDE_AISLE_360D
gst_buffer_get_nvds_batch_meta gst_buffer_add_nvds_meta nvds_create_batch_meta
nvds_destroy_batch_meta nvds_acquire_meta_lock nvds_release_meta_lock
nvds_acquire_frame_meta_from_pool nvds_acquire_obj_meta_from_pool
nvds_acquire_classifier_meta_from_pool nvds_acquire_display_meta_from_pool
nvds_acquire_label_info_meta_from_pool nvds_acquire_user_meta_from_pool
nvds_add_frame_meta_to_batch nvds_add_obj_meta_to_frame nvds_add_classifier_meta_to_object
nvds_add_display_meta_to_frame nvds_add_label_info_meta_to_classifier nvds_add_user_meta_to_batch
nvds_add_user_meta_to_frame nvds_add_user_meta_to_obj nvds_remove_frame_meta_from_batch
nvds_remove_obj_meta_from_frame nvds_remove_classifier_meta_from_obj
nvds_remove_display_meta_from_frame nvds_remove_label_info_meta_from_classifier
nvds_remove_user_meta_from_batch nvds_remove_user_meta_from_frame nvds_remove_user_meta_from_object
nvds_get_current_metadata_info nvds_batch_meta_copy_func nvds_batch_meta_release_func
nvds_get_nth_frame_meta nvds_clear_frame_meta_list nvds_clear_obj_meta_list
nvds_clear_display_meta_list nvds_clear_batch_user_meta_list nvds_clear_frame_user_meta_list
nvds_clear_obj_user_meta_list nvds_clear_meta_list nvds_copy_batch_user_meta_list
nvds_copy_frame_user_meta_list nvds_copy_display_meta_list nvds_copy_frame_meta_list
nvds_copy_obj_meta_list nvds_get_user_meta_type get_string free_buffer free_gbuffer alloc_buffer
alloc_char_buffer get_ptr memdup strdup strdup2str generate_ts_rfc3339 alloc_nvds_event_msg_meta
alloc_nvds_vehicle_object alloc_nvds_person_object alloc_nvds_face_object alloc_nvds_event
alloc_nvds_payload set_user_copyfunc set_user_releasefunc user_copyfunc user_releasefunc
register_user_copyfunc register_user_releasefunc unset_callback_funcs get_nvds_buf_surface
get_nvds_LayerInfo get_detections get_segmentation_masks get_optical_flow_vectors
glist_get_nvds_Surface_Params NvBufSurfaceCreate NvBufSurfaceDestroy NvBufSurfaceMap
NvBufSurfaceUnMap NvBufSurfaceCopy NvBufSurfaceSyncForCpu NvBufSurfaceSyncForDevice
NvBufSurfaceFromFd NvBufSurfaceMemSet NvBufSurfaceMapEglImage glist_get_nvds_batch_meta
glist_get_nvds_frame_meta glist_get_nvds_object_meta glist_get_nvds_user_meta
glist_get_nvds_classifier_meta glist_get_nvds_display_meta glist_get_nvds_label_info
glist_get_nvds_event_msg_meta glist_get_nvds_vehicle_object glist_get_nvds_person_object
glist_get_nvds_tensor_meta
""".split()

LATER = """NvDsVehicleObjectExt NvDsPersonObjectExt NvDsFaceObjectWithExt NvDsObjReid MODE_NONE
NVDS_OBJECT_TYPE_VEHICLE_EXT NVDS_TRACKER_BATCH_REID_META unmap_nvds_buf_surface
get_nvds_buf_surface_gpu gst_element_send_nvevent_new_stream_reset
gst_element_send_nvevent_interval_update configure_source_for_ntp_sync nvds_measure_buffer_latency
nvds_obj_enc_create_context nvds_obj_enc_process nvds_obj_enc_finish nvds_obj_enc_destroy_context
NvDsObjEncUsrArgs NvDsObjEncOutParams CustomDataStruct alloc_custom_struct""".split()


def test_every_51_name_is_exported():
    public = {n for n in dir(pyds) if not n.startswith("_")}
    missing = [n for n in NAMES_51 if n not in public]
    assert not missing, missing
    assert len(public) >= len(set(NAMES_51))


def test_later_names_exported():
    missing = [n for n in LATER if not hasattr(pyds, n)]
    assert not missing, missing


def test_module_identity():
    assert pyds.__doc__.startswith("pybind11 bindings for gstnvdsmeta")
    assert isinstance(pyds.__version__, str)


def test_enums_are_ints_with_c_values():
    assert int(pyds.NVBUF_MEM_CUDA_UNIFIED) == 3
    assert pyds.NvDsMetaType.NVDS_EVENT_MSG_META == 9
    assert pyds.NVDS_START_USER_META == 8193
    assert pyds.NvBufSurfaceColorFormat.NVBUF_COLOR_FORMAT_RGBA == 19
    assert pyds.NVDS_OBJECT_TYPE_UNKNOWN == 0x102
    assert pyds.NvDsInferDataType.FLOAT == 0
    assert pyds.NVDS_EVENT_MSG_META.name == "NVDS_EVENT_MSG_META"
    assert pyds.MODE_NONE == pyds.MODE_HW


def test_user_meta_type_is_stable_and_comparable():
    a = pyds.nvds_get_user_meta_type("NVIDIA.DSANALYTICSOBJ.USER_META")
    b = pyds.nvds_get_user_meta_type("NVIDIA.DSANALYTICSFRAME.USER_META")
    assert a == pyds.nvds_get_user_meta_type("NVIDIA.DSANALYTICSOBJ.USER_META")
    assert a != b and a >= 8193 and b >= 8193
    assert isinstance(a, pyds.NvDsMetaType)
    um = pyds.NvDsUserMeta()
    um.base_meta.meta_type = a
    assert um.base_meta.meta_type == pyds.nvds_get_user_meta_type("NVIDIA.DSANALYTICSOBJ.USER_META")


def sample_style_batch():
    batch = pyds.nvds_create_batch_meta(2)
    for i in range(2):
        fm = pyds.nvds_acquire_frame_meta_from_pool(batch)
        fm.batch_id = i
        fm.source_id = i
        pyds.nvds_add_frame_meta_to_batch(batch, fm)
        for k in range(3):
            om = pyds.nvds_acquire_obj_meta_from_pool(batch)
            om.class_id = k
            pyds.nvds_add_obj_meta_to_frame(fm, om, None)
    return batch


def test_list_walk_with_cast_like_the_samples():
    batch = sample_style_batch()
    counts = []
    l_frame = batch.frame_meta_list
    while l_frame is not None:
        try:
            frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
        except StopIteration:
            break
        l_obj = frame_meta.obj_meta_list
        n = 0
        while l_obj is not None:
            obj = pyds.NvDsObjectMeta.cast(l_obj.data)
            assert obj.class_id == n
            n += 1
            l_obj = l_obj.next
        counts.append((frame_meta.source_id, n, frame_meta.num_obj_meta))
        l_frame = l_frame.next
    assert counts == [(0, 3, 3), (1, 3, 3)]
    assert pyds.glist_get_nvds_frame_meta(batch.frame_meta_list.data).source_id == 0
    assert pyds.nvds_get_nth_frame_meta(batch.frame_meta_list, 1).source_id == 1


def test_cast_accepts_int_address():
    batch = sample_style_batch()
    fm = batch.frames[0]
    addr = pyds.get_ptr(fm)
    assert isinstance(addr, int)
    assert pyds.NvDsFrameMeta.cast(addr) is fm
    with pytest.raises(InvalidAddressError):
        pyds.NvDsFrameMeta.cast(0xDEADBEEF)


def test_remove_and_clear_give_back_to_pool():
    batch = sample_style_batch()
    fm = batch.frames[0]
    pyds.nvds_clear_obj_meta_list(fm, fm.obj_meta_list)
    assert fm.obj_meta_list is None and fm.num_obj_meta == 0
    assert batch.obj_meta_pool.num_empty_elements == 3
    pyds.nvds_remove_frame_meta_from_batch(batch, batch.frames[1])
    assert batch.num_frames_in_batch == 1


def test_classifier_and_label_info():
    batch = sample_style_batch()
    om = batch.frames[0].objects[0]
    cm = pyds.nvds_acquire_classifier_meta_from_pool(batch)
    cm.unique_component_id = 2
    li = pyds.nvds_acquire_label_info_meta_from_pool(batch)
    li.result_label = "sedan"
    li.result_prob = 0.9
    pyds.nvds_add_label_info_meta_to_classifier(cm, li)
    pyds.nvds_add_classifier_meta_to_object(om, cm)
    c = pyds.NvDsClassifierMeta.cast(om.classifier_meta_list.data)
    lab = pyds.NvDsLabelInfo.cast(c.label_info_list.data)
    assert (c.num_labels, lab.result_label, lab.result_prob) == (1, "sedan", 0.9)


def test_string_fields_read_as_addresses():
    meta = pyds.alloc_nvds_event_msg_meta()
    meta.sensorStr = "sensor-0"
    addr = meta.sensorStr
    assert isinstance(addr, int) and addr != 0
    assert pyds.get_string(addr) == "sensor-0"
    with pytest.raises(TypeError):
        meta.objectId = meta.sensorStr  # the FAQ's mistake: int into a char* field
    meta.objectId = pyds.get_string(meta.sensorStr)
    assert pyds.get_string(meta.objectId) == "sensor-0"
    assert meta.objectId != addr


def test_free_then_read_raises_and_double_free_is_safe():
    meta = pyds.alloc_nvds_event_msg_meta()
    meta.sensorStr = "x"
    addr = meta.sensorStr
    pyds.free_buffer(addr)
    with pytest.raises(InvalidAddressError):
        pyds.get_string(addr)
    pyds.free_buffer(addr)  # double free: no-op
    pyds.free_buffer(0)


def test_display_text_frees_previous_string():
    tp = pyds.NvOSD_TextParams()
    tp.display_text = "one"
    first = tp.display_text
    tp.display_text = "two"
    with pytest.raises(InvalidAddressError):
        pyds.get_string(first)
    assert pyds.get_string(tp.display_text) == "two"
    # the ssd-parser pattern: free it by hand, then assign again
    pyds.free_buffer(tp.display_text)
    tp.display_text = "three"
    assert pyds.get_string(tp.display_text) == "three"


def test_leaky_string_keeps_previous():
    v = pyds.alloc_nvds_vehicle_object()
    v.make = "a"
    first = v.make
    v.make = "b"
    assert pyds.get_string(first) == "a"  # leaks, as in the reference


def test_font_name_is_interned():
    f1, f2 = pyds.NvOSD_FontParams(), pyds.NvOSD_FontParams()
    f1.font_name = "Serif"
    f2.font_name = "Serif"
    assert f1.font_name == f2.font_name
    assert pyds.get_string(f1.font_name) == "Serif"


def test_fixed_char_arrays_read_as_str():
    batch = sample_style_batch()
    om = batch.frames[0].objects[0]
    om.obj_label = "person"
    assert om.obj_label == "person"
    om.obj_label = "car"
    assert om.obj_label == "car"


def test_color_set_and_nested_structs():
    om = pyds.NvDsObjectMeta()
    om.rect_params.border_color.set(1.0, 0.5, 0.0, 1.0)
    assert (om.rect_params.border_color.red, om.rect_params.border_color.green) == (1.0, 0.5)
    om.text_params.font_params.font_color.set(red=0.1, green=0.2, blue=0.3, alpha=0.4)
    assert om.text_params.font_params.font_color.alpha == 0.4
    r = pyds.NvOSD_RectParams()
    r.left = 5
    om.rect_params = r  # by value
    r.left = 7
    assert om.rect_params.left == 5


def test_alloc_buffer_memdup_strdup():
    addr = pyds.alloc_buffer(33)
    ctypes.memmove(addr, b"hello\0", 6)
    assert pyds.get_string(addr) == "hello"
    dup = pyds.memdup(addr, 33)
    assert dup != addr and pyds.get_string(dup) == "hello"
    s = pyds.strdup(addr)
    assert pyds.strdup2str(s) == "hello"
    assert pyds.strdup(0) == 0 and pyds.memdup(0, 4) == 0 and pyds.strdup2str(0) == ""


def test_generate_ts_rfc3339_format():
    buf = pyds.alloc_buffer(33)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    pyds.generate_ts_rfc3339(buf, 32)
    ts = pyds.get_string(buf)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts), ts
    assert len(ts) == 24
    parsed = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs((parsed - before).total_seconds()) < 5


def test_allocated_objects_outlive_python_references():
    meta = pyds.alloc_nvds_event_msg_meta()
    meta.sensorId = 7
    addr = pyds.get_ptr(meta)
    del meta
    import gc
    gc.collect()
    assert pyds.NvDsEventMsgMeta.cast(addr).sensorId == 7  # C-owned: still alive
    pyds.free_gbuffer(pyds.NvDsEventMsgMeta.cast(addr))
    gc.collect()
    with pytest.raises(InvalidAddressError):
        pyds.NvDsEventMsgMeta.cast(addr)


def test_constructed_objects_are_python_owned():
    meta = pyds.NvDsEventMsgMeta()
    addr = pyds.get_ptr(meta)
    del meta
    import gc
    gc.collect()
    with pytest.raises(InvalidAddressError):
        pyds.NvDsEventMsgMeta.cast(addr)


def test4_style_callbacks_copy_and_release():
    """deepstream-test4 (5.1): event msg meta as user meta with global copy/release callbacks."""
    calls = []

    def meta_copy_func(data, user_data):
        user_meta = pyds.NvDsUserMeta.cast(data)
        src = pyds.NvDsEventMsgMeta.cast(user_meta.user_meta_data)
        dst_addr = pyds.memdup(pyds.get_ptr(src), sys.getsizeof(pyds.NvDsEventMsgMeta))
        dst = pyds.NvDsEventMsgMeta.cast(dst_addr)
        dst.ts = pyds.memdup(src.ts, 33)
        dst.sensorStr = pyds.get_string(src.sensorStr)
        if src.objType == pyds.NvDsObjectType.NVDS_OBJECT_TYPE_VEHICLE:
            sv = pyds.NvDsVehicleObject.cast(src.extMsg)
            v = pyds.alloc_nvds_vehicle_object()
            v.make = pyds.get_string(sv.make)
            dst.extMsg = v
        calls.append("copy")
        return dst

    def meta_free_func(data, user_data):
        user_meta = pyds.NvDsUserMeta.cast(data)
        src = pyds.NvDsEventMsgMeta.cast(user_meta.user_meta_data)
        pyds.free_buffer(src.ts)
        pyds.free_buffer(src.sensorStr)
        if src.objType == pyds.NvDsObjectType.NVDS_OBJECT_TYPE_VEHICLE:
            v = pyds.NvDsVehicleObject.cast(src.extMsg)
            pyds.free_buffer(v.make)
        pyds.free_gbuffer(src.extMsg)
        user_meta.user_meta_data = None
        calls.append("release")

    pyds.register_user_copyfunc(meta_copy_func)
    pyds.register_user_releasefunc(meta_free_func)
    try:
        batch = sample_style_batch()
        frame = batch.frames[0]
        msg = pyds.alloc_nvds_event_msg_meta()
        msg.ts = pyds.alloc_buffer(33)
        pyds.generate_ts_rfc3339(msg.ts, 32)
        msg.sensorStr = "sensor-0"
        msg.objType = pyds.NvDsObjectType.NVDS_OBJECT_TYPE_VEHICLE
        v = pyds.alloc_nvds_vehicle_object()
        v.make = "Bugatti"
        msg.extMsg = v
        msg.extMsgSize = sys.getsizeof(pyds.NvDsVehicleObject)
        um = pyds.nvds_acquire_user_meta_from_pool(batch)
        um.user_meta_data = msg
        um.base_meta.meta_type = pyds.NvDsMetaType.NVDS_EVENT_MSG_META
        pyds.user_copyfunc(um, meta_copy_func)
        pyds.user_releasefunc(um, meta_free_func)
        pyds.nvds_add_user_meta_to_frame(frame, um)
        ts = msg.ts
        copy = batch.copy()
        cm = pyds.NvDsEventMsgMeta.cast(copy.frames[0].user_meta[0].user_meta_data)
        assert cm is not msg
        assert pyds.get_string(cm.sensorStr) == "sensor-0"
        assert pyds.get_string(pyds.NvDsVehicleObject.cast(cm.extMsg).make) == "Bugatti"
        assert pyds.get_string(cm.ts) == pyds.get_string(ts)
        batch.release()
        assert calls == ["copy", "release"]
        with pytest.raises(InvalidAddressError):
            pyds.get_string(ts)  # released
        assert pyds.get_string(cm.sensorStr) == "sensor-0"  # the copy is independent
        copy.release()
        assert calls == ["copy", "release", "release"]
    finally:
        pyds.unset_callback_funcs()


def test_single_callback_set_per_application():
    seen = []
    b = pyds.nvds_create_batch_meta(1)
    u1, u2 = pyds.nvds_acquire_user_meta_from_pool(b), pyds.nvds_acquire_user_meta_from_pool(b)
    pyds.set_user_releasefunc(u1, lambda d, ud: seen.append("first"))
    pyds.set_user_releasefunc(u2, lambda d, ud: seen.append("second"))
    pyds.nvds_add_user_meta_to_batch(b, u1)
    pyds.nvds_add_user_meta_to_batch(b, u2)
    b.release()
    assert seen == ["second", "second"]  # the last registered serves every meta
    pyds.unset_callback_funcs()


def test_unset_callbacks_drops_them():
    seen = []
    b = pyds.nvds_create_batch_meta(1)
    u = pyds.nvds_acquire_user_meta_from_pool(b)
    pyds.set_user_releasefunc(u, lambda d, ud: seen.append(1))
    pyds.nvds_add_user_meta_to_batch(b, u)
    pyds.unset_callback_funcs()
    b.release()
    assert seen == []


def test_event_msg_meta_64_alloc_installs_copy_release():
    b = pyds.nvds_create_batch_meta(1)
    um = pyds.nvds_acquire_user_meta_from_pool(b)
    msg = pyds.alloc_nvds_event_msg_meta(um)
    msg.sensorStr = "cam"
    msg.ts = pyds.alloc_buffer(33)
    pyds.generate_ts_rfc3339(msg.ts, 32)
    um.user_meta_data = msg
    um.base_meta.meta_type = pyds.NVDS_EVENT_MSG_META
    fm = pyds.nvds_acquire_frame_meta_from_pool(b)
    pyds.nvds_add_frame_meta_to_batch(b, fm)
    pyds.nvds_add_user_meta_to_frame(fm, um)
    c = b.copy()
    cmsg = c.frames[0].user_meta[0].user_meta_data
    assert cmsg is not msg and pyds.get_string(cmsg.sensorStr) == "cam"
    s, t = msg.sensorStr, msg.ts
    b.release()
    with pytest.raises(InvalidAddressError):
        pyds.get_string(s)
    with pytest.raises(InvalidAddressError):
        pyds.get_string(t)
    assert pyds.get_string(cmsg.sensorStr) == "cam"
    c.release()


def test_release_frees_event_strings_even_without_callbacks():
    """Estuary fixes DeepStream's leak of event-message strings."""
    from estuary.pyds import cmem
    before = cmem.live_buffers()
    for _ in range(50):
        b = pyds.nvds_create_batch_meta(1)
        um = pyds.nvds_acquire_user_meta_from_pool(b)
        msg = pyds.alloc_nvds_event_msg_meta()
        msg.sensorStr = "x" * 100
        msg.objectId = "42"
        um.user_meta_data = msg
        pyds.nvds_add_user_meta_to_batch(b, um)
        b.release()
    assert cmem.live_buffers() - before < 5


def test_tensor_meta_layer_info_and_detections():
    out = np.arange(12, dtype=np.float32).reshape(3, 4)
    tm = pyds.NvDsInferTensorMeta.from_outputs({"boxes": out, "scores": np.ones(3, np.float32)},
                                               unique_id=1, network=(300, 300, 3))
    assert tm.num_output_layers == 2
    copy = tm.output_layers_info(0)
    assert copy.buffer is None and copy.layerName == "boxes"
    layer = pyds.get_nvds_LayerInfo(tm, 0)
    assert layer.layerName == "boxes" and layer.dataType == pyds.NvDsInferDataType.FLOAT
    assert list(layer.dims.d[: layer.dims.numDims]) == [3, 4]
    assert pyds.get_detections(layer.buffer, 5) == 5.0
    assert tm.network_info.width == 300


def test_segmentation_and_optical_flow_helpers():
    seg = pyds.NvDsInferSegmentationMeta(classes=3, width=4, height=2)
    seg.class_map = np.array([[0, 1, 2, -1], [2, 2, 1, 0]], np.int32)
    m = pyds.get_segmentation_masks(seg)
    assert m.shape == (2, 4) and m.dtype == np.int32 and m[1, 0] == 2
    m[0, 0] = 9
    assert seg.class_map[0, 0] == 0  # a copy
    of = pyds.NvDsOpticalFlowMeta(rows=2, cols=3)
    of.data = np.arange(12, dtype=np.int16).reshape(2, 3, 2)
    v = pyds.get_optical_flow_vectors(of)
    assert v.dtype == np.float32 and v.shape == (12,) and v[5] == 5.0


def test_past_frame_classes_and_aliases():
    assert pyds.NvDsTargetMiscDataBatch is pyds.NvDsPastFrameObjBatch
    batch = pyds.NvDsPastFrameObjBatch()
    stream = pyds.NvDsPastFrameObjStream(streamID=3)
    obj = pyds.NvDsPastFrameObjList(uniqueId=11, classId=2)
    obj.objLabel = "car"
    for k in range(2):
        pf = pyds.NvDsPastFrameObj(frameNum=k, confidence=0.5)
        pf.tBbox.left = float(k)
        obj.append(pf)
    stream.append(obj)
    batch.append(stream)
    rows = []
    for s in pyds.NvDsPastFrameObjBatch.list(batch):
        for o in pyds.NvDsPastFrameObjStream.list(s):
            for f in pyds.NvDsPastFrameObjList.list(o):
                rows.append((s.streamID, o.uniqueId, o.objLabel, f.frameNum, f.tBbox.left))
    assert rows == [(3, 11, "car", 0, 0.0), (3, 11, "car", 1, 1.0)]
    assert (batch.numFilled, stream.numFilled, obj.numObj) == (1, 1, 2)


def test_analytics_fields_are_copies():
    fm = pyds.NvDsAnalyticsFrameMeta()
    fm.objInROIcnt = {"RF": 2}
    d = fm.objInROIcnt
    d["RF"] = 99
    assert fm.objInROIcnt == {"RF": 2}


def test_mask_params():
    mp = pyds.NvOSD_MaskParams(width=4, height=2)
    arr = mp.alloc_mask_array()
    arr[3] = 1.5
    assert mp.size == 32 and mp.get_mask_array()[3] == 1.5


def test_meta_lock_is_recursive():
    b = pyds.nvds_create_batch_meta(1)
    pyds.nvds_acquire_meta_lock(b)
    pyds.nvds_acquire_meta_lock(b)
    pyds.nvds_release_meta_lock(b)
    pyds.nvds_release_meta_lock(b)


def test_pyds_command_line_count():
    import subprocess
    out = subprocess.run([sys.executable, "-c", "import pyds; print(len([n for n in dir(pyds) "
                          "if not n.startswith('_')]))"], capture_output=True, text=True, check=True)
    assert int(out.stdout.strip()) >= len(set(NAMES_51))
    assert "CRITICAL" not in out.stderr
