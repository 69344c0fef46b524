"""Optical flow (nvof) and the flow / segmentation visualisers."""

import cv2
import numpy as np

import pyds
from estuary.flow import FlowEstimator, flow_to_vectors, visualize
from estuary.gst import Gst

from conftest import run_pipeline


def texture(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.integers(0, 255, (h, w), dtype=np.uint8), (5, 5), 1.5)
    return cv2.cvtColor(t, cv2.COLOR_GRAY2RGBA)


def test_flow_estimator_translation():
    est = FlowEstimator(block=4)
    base = texture()
    assert est(0, base) is None
    flow = est(0, np.roll(base, shift=(-2, 3), axis=(0, 1)))
    inner = flow[4:-4, 4:-4]
    assert abs(np.median(inner[..., 0]) - 3) < 0.5 and abs(np.median(inner[..., 1]) + 2) < 0.5
    v = flow_to_vectors(flow)
    assert v.dtype == np.int16 and abs(int(np.median(v[4:-4, 4:-4, 0])) - 96) <= 16  # S10.5: 3 px = 96


def test_nvof_in_pipeline_reads_like_the_sample():
    frames = [np.roll(texture(), shift=(0, 2 * k), axis=(0, 1)) for k in range(6)]
    p = Gst.parse_launch(
        "appsrc name=src format=time caps=video/x-raw,format=RGBA,width=128,height=96,framerate=10/1 ! m.sink_0 "
        "nvstreammux name=m batch-size=1 width=128 height=96 ! nvof ! queue ! nvofvisual name=vis ! fakesink name=sink")
    src = p.get_by_name("src")
    got = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            l_user = f.frame_user_meta_list
            while l_user is not None:
                um = pyds.NvDsUserMeta.cast(l_user.data)
                if um.base_meta.meta_type == pyds.NvDsMetaType.NVDS_OPTICAL_FLOW_META:
                    of = pyds.NvDsOpticalFlowMeta.cast(um.user_meta_data)
                    v = pyds.get_optical_flow_vectors(of).reshape(of.rows, of.cols, 2)
                    got.append((of.rows, of.cols, float(np.median(v[4:-4, 4:-4, 0])) / 32.0,
                                float(np.median(v[4:-4, 4:-4, 1])) / 32.0,
                                np.array(pyds.get_nvds_buf_surface(hash(info.get_buffer()), f.batch_id))))
                l_user = l_user.next
        return Gst.PadProbeReturn.OK

    p.get_by_name("vis").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    p.set_state(Gst.State.PLAYING)
    for k, fr in enumerate(frames):
        buf = Gst.Buffer.new_wrapped(fr.tobytes())
        buf.pts = k * Gst.SECOND // 10
        buf.duration = Gst.SECOND // 10
        src.emit("push-buffer", buf)
    src.emit("end-of-stream")
    msg = p.get_bus().timed_pop_filtered(20 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert msg.type == Gst.MessageType.EOS
    assert len(got) == 5
    for rows, cols, fx, fy, img in got:
        assert (rows, cols) == (24, 32) and abs(fx - 2) < 0.5 and abs(fy) < 0.5
        # nvofvisual painted the flow colours: rightward flow has hue 0 (red) wherever it is visible
        hsv = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2HSV)
        hue = hsv[..., 0][hsv[..., 2] > 60].astype(int)
        assert hue.size > 0.5 * hsv[..., 0].size and np.median(np.minimum(hue, 180 - hue)) < 10


def test_visualize_directions():
    v = np.zeros((2, 2, 2), np.float32)
    v[0, 0] = (32, 0)
    v[1, 1] = (0, 32)
    rgb = visualize(v)
    assert tuple(rgb[0, 0]) != tuple(rgb[1, 1]) and rgb[0, 1].max() == 0


def test_segvisual_colours_the_class_map():
    from estuary.elements.flow import SEG_PALETTE
    from estuary.meta.infer import NvDsInferSegmentationMeta
    p = Gst.parse_launch("videotestsrc num-buffers=2 pattern=black ! video/x-raw,width=64,height=32 ! m.sink_0 "
                         "nvstreammux name=m batch-size=1 width=64 height=32 ! identity name=add ! "
                         "nvsegvisual name=seg ! fakesink name=sink")

    def add(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            seg = NvDsInferSegmentationMeta(classes=3, width=4, height=2)
            seg.class_map = np.array([[0, 0, 1, 1], [2, 2, -1, -1]], np.int32)
            um = pyds.nvds_acquire_user_meta_from_pool(bm)
            um.base_meta.meta_type = pyds.NVDSINFER_SEGMENTATION_META
            um.user_meta_data = seg
            pyds.nvds_add_user_meta_to_frame(f, um)
        return Gst.PadProbeReturn.OK

    shots = []

    def read(pad, info):
        shots.append(np.array(pyds.get_nvds_buf_surface(hash(info.get_buffer()), 0)))
        return Gst.PadProbeReturn.OK

    p.get_by_name("add").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, add)
    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, read)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    img = shots[0]
    assert tuple(img[5, 5, :3]) == tuple(SEG_PALETTE[0]) and tuple(img[5, 40, :3]) == tuple(SEG_PALETTE[1])
    assert tuple(img[25, 5, :3]) == tuple(SEG_PALETTE[2]) and tuple(img[25, 60, :3]) == (0, 0, 0)
