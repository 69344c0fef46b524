#!/usr/bin/env python3
"""deepstream-segmentation: semantic segmentation of a JPEG; the class map is coloured in Python
and saved, and nvsegvisual shows it."""

import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # Estuary: '../' in DeepStream

import gi
gi.require_version('Gst', '1.0')
from gi.repository import GObject, Gst

import cv2
import numpy as np

from common.bus_call import bus_call

import pyds

COLORS = [[128, 128, 64], [0, 0, 128], [0, 128, 128], [128, 0, 0], [128, 0, 128], [128, 128, 0], [0, 128, 0],
          [0, 0, 64], [0, 0, 192], [0, 128, 64], [0, 128, 192], [128, 0, 64], [128, 0, 192], [128, 128, 128]]
folder_name = "out"


def map_mask_as_display_bgr(mask):
    m_list = list(set(mask.flatten()))
    shp = mask.shape
    bgr = np.zeros((shp[0], shp[1], 3))
    for idx in m_list:
        bgr[mask == idx] = COLORS[idx] if 0 <= idx < len(COLORS) else [0, 0, 0]
    return bgr


def seg_src_pad_buffer_probe(pad, info, u_data):
    gst_buffer = info.get_buffer()
    if not gst_buffer:
        print("Unable to get GstBuffer ")
        return
    batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(gst_buffer))
    l_frame = batch_meta.frame_meta_list
    while l_frame is not None:
        try:
            frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
        except StopIteration:
            break
        frame_number = frame_meta.frame_num
        l_user = frame_meta.frame_user_meta_list
        while l_user is not None:
            try:
                seg_user_meta = pyds.NvDsUserMeta.cast(l_user.data)
            except StopIteration:
                break
            if seg_user_meta and seg_user_meta.base_meta.meta_type == pyds.NVDSINFER_SEGMENTATION_META:
                try:
                    segmeta = pyds.NvDsInferSegmentationMeta.cast(seg_user_meta.user_meta_data)
                except StopIteration:
                    break
                masks = pyds.get_segmentation_masks(segmeta)
                masks = np.array(masks, copy=True, order='C')
                frame_image = map_mask_as_display_bgr(masks)
                cv2.imwrite(folder_name + "/" + str(frame_number) + ".jpg", frame_image)
            try:
                l_user = l_user.next
            except StopIteration:
                break
        try:
            l_frame = l_frame.next
        except StopIteration:
            break
    return Gst.PadProbeReturn.OK


def main(args):
    global folder_name
    if len(args) != 4:
        sys.stderr.write("usage: %s config_file <jpeg/mjpeg file> <path to save seg images>\n" % args[0])
        sys.exit(1)
    folder_name = args[-1]
    if os.path.exists(folder_name):
        sys.stderr.write("The output folder %s already exists. Please remove it first.\n" % folder_name)
        sys.exit(1)
    os.mkdir(folder_name)
    config_file = args[1]
    num_sources = len(args) - 3
    GObject.threads_init()
    Gst.init(None)
    pipeline = Gst.Pipeline()
    source = Gst.ElementFactory.make("filesrc", "file-source")
    jpegparser = Gst.ElementFactory.make("jpegparse", "jpeg-parser")
    decoder = Gst.ElementFactory.make("nvv4l2decoder", "nvv4l2-decoder")
    streammux = Gst.ElementFactory.make("nvstreammux", "Stream-muxer")
    seg = Gst.ElementFactory.make("nvinfer", "primary-nvinference-engine")
    nvsegvisual = Gst.ElementFactory.make("nvsegvisual", "nvsegvisual")
    sink = Gst.ElementFactory.make("nveglglessink", "nvvideo-renderer")
    source.set_property('location', args[2])
    streammux.set_property('width', 1920)
    streammux.set_property('height', 1080)
    streammux.set_property('batch-size', 1)
    streammux.set_property('batched-push-timeout', 4000000)
    seg.set_property('config-file-path', config_file)
    pgie_batch_size = seg.get_property("batch-size")
    if pgie_batch_size != num_sources:
        print("WARNING: Overriding infer-config batch-size", pgie_batch_size, " with number of sources ",
              num_sources, " \n")
        seg.set_property("batch-size", num_sources)
    nvsegvisual.set_property('batch-size', num_sources)
    nvsegvisual.set_property('width', 512)
    nvsegvisual.set_property('height', 512)
    sink.set_property("qos", 0)
    for el in (source, jpegparser, decoder, streammux, seg, nvsegvisual, sink):
        pipeline.add(el)
    source.link(jpegparser)
    jpegparser.link(decoder)
    decoder.get_static_pad("src").link(streammux.get_request_pad("sink_0"))
    streammux.link(seg)
    seg.link(nvsegvisual)
    nvsegvisual.link(sink)
    loop = GObject.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", bus_call, loop)
    seg.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, seg_src_pad_buffer_probe, 0)
    print("Starting pipeline \n")
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except BaseException:
        pass
    pipeline.set_state(Gst.State.NULL)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
