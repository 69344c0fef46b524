#!/usr/bin/env python3
"""deepstream-opticalflow: optical flow visualised in the pipeline (out.mp4) and exported to numpy
(one JPEG of the flow per frame)."""

import math
import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # Estuary: '../' in DeepStream

import gi
gi.require_version('Gst', '1.0')
from gi.repository import GObject, Gst

import cv2
import numpy as np

from common.bus_call import bus_call
from deepstream_test_3 import create_source_bin

import pyds

MUXER_OUTPUT_WIDTH = 1280
MUXER_OUTPUT_HEIGHT = 720
TILED_OUTPUT_WIDTH = 1280
TILED_OUTPUT_HEIGHT = 720
folder_name = "out"


def visualize_optical_flowvectors(flow):
    shape_visual = (flow.shape[0], flow.shape[1], 3)
    mag, ang = cv2.cartToPolar(flow[..., 0], flow[..., 1])
    hsv = np.zeros(shape_visual, np.uint8)
    hsv[..., 0] = ang * 180 / np.pi / 2
    hsv[..., 1] = 255
    hsv[..., 2] = cv2.normalize(mag, None, 0, 255, cv2.NORM_MINMAX)
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    bgr = 255 - bgr
    return bgr


def ofvisual_queue_src_pad_buffer_probe(pad, info, u_data):
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
        got_visual = False
        while l_user is not None:
            try:
                of_user_meta = pyds.NvDsUserMeta.cast(l_user.data)
            except StopIteration:
                break
            try:
                of_meta = pyds.NvDsOpticalFlowMeta.cast(of_user_meta.user_meta_data)
                flow_vectors = pyds.get_optical_flow_vectors(of_meta)
                flow_vectors = flow_vectors.reshape(of_meta.rows, of_meta.cols, 2)
                flow_visual = visualize_optical_flowvectors(flow_vectors)
                got_visual = True
            except StopIteration:
                break
            try:
                l_user = l_user.next
            except StopIteration:
                break
        print("Frame Number=", frame_number)
        if got_visual:
            img_path = "{}/stream_{}/frame_{}.jpg".format(folder_name, frame_meta.pad_index, frame_number)
            cv2.imwrite(img_path, flow_visual)
        try:
            l_frame = l_frame.next
        except StopIteration:
            break
    return Gst.PadProbeReturn.OK


def main(args):
    global folder_name
    if len(args) < 3:
        sys.stderr.write("usage: %s <uri1> [uri2] ... [uriN] <folder to save frames>\n" % args[0])
        sys.exit(1)
    number_sources = len(args) - 2
    folder_name = args[-1]
    if os.path.exists(folder_name):
        sys.stderr.write("The output folder %s already exists. Please remove it first.\n" % folder_name)
        sys.exit(1)
    os.mkdir(folder_name)
    GObject.threads_init()
    Gst.init(None)
    pipeline = Gst.Pipeline()
    streammux = Gst.ElementFactory.make("nvstreammux", "Stream-muxer")
    pipeline.add(streammux)
    for i in range(number_sources):
        os.mkdir(folder_name + "/stream_" + str(i))
        source_bin = create_source_bin(i, args[i + 1])
        pipeline.add(source_bin)
        source_bin.get_static_pad("src").link(streammux.get_request_pad("sink_%u" % i))
    nvof = Gst.ElementFactory.make("nvof", "nvopticalflow")
    of_queue = Gst.ElementFactory.make("queue", "q_after_of")
    nvofvisual = Gst.ElementFactory.make("nvofvisual", "nvopticalflowvisual")
    ofvisual_queue = Gst.ElementFactory.make("queue", "q_after_ofvisual")
    tiler = Gst.ElementFactory.make("nvmultistreamtiler", "nvtiler")
    nvosd = Gst.ElementFactory.make("nvdsosd", "onscreendisplay")
    queue = Gst.ElementFactory.make("queue", "queue")
    nvvidconv = Gst.ElementFactory.make("nvvideoconvert", "convertor")
    capsfilter = Gst.ElementFactory.make("capsfilter", "capsfilter")
    capsfilter.set_property("caps", Gst.Caps.from_string("video/x-raw, format=I420"))
    # Estuary: the port encodes H.264 with whichever encoder is installed (NVIDIA's avenc_mpeg4 +
    # mpeg4videoparse needs gst-libav; that chain runs too, estuary/gst/fixups.py)
    from estuary.elements.sinks import encoder_name
    encoder = Gst.ElementFactory.make(encoder_name(), "encoder")
    if encoder.find_property("speed-preset") is not None:
        encoder.set_property("speed-preset", "ultrafast")
    codeparser = Gst.ElementFactory.make("h264parse", "h264-parser")
    container = Gst.ElementFactory.make("qtmux", "qtmux")
    sink = Gst.ElementFactory.make("filesink", "filesink")
    sink.set_property("location", os.path.join(folder_name, "out.mp4"))  # Estuary: inside the folder
    sink.set_property("sync", 0)
    streammux.set_property('width', MUXER_OUTPUT_WIDTH)
    streammux.set_property('height', MUXER_OUTPUT_HEIGHT)
    streammux.set_property('batch-size', number_sources)
    streammux.set_property('batched-push-timeout', 4000000)
    tiler_rows = int(math.sqrt(number_sources))
    tiler_columns = int(math.ceil((1.0 * number_sources) / tiler_rows))
    tiler.set_property("rows", tiler_rows)
    tiler.set_property("columns", tiler_columns)
    tiler.set_property("width", TILED_OUTPUT_WIDTH)
    tiler.set_property("height", TILED_OUTPUT_HEIGHT)
    chain = [nvof, of_queue, nvofvisual, ofvisual_queue, tiler, nvosd, queue, nvvidconv, capsfilter, encoder,
             codeparser, container, sink]
    for el in chain:
        pipeline.add(el)
    streammux.link(nvof)
    for a, b in zip(chain, chain[1:]):
        a.link(b)
    loop = GObject.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", bus_call, loop)
    ofvisual_queue.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, ofvisual_queue_src_pad_buffer_probe, 0)
    print("Starting pipeline \n")
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except BaseException:
        pass
    print("Exiting app\n")
    pipeline.set_state(Gst.State.NULL)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
