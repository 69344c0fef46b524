#!/usr/bin/env python3
"""deepstream-segmask (7.x): instance segmentation of N URI streams; every 30th frame, the first
object's mask is resized to its box, binarised at the mask threshold and saved as a JPEG.

Usage: ``deepstream_segmask.py -i URI [URI ...] -o FOLDER`` (the folder must not exist)."""

import argparse
import math
import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # Estuary: '../' in DeepStream

import gi
gi.require_version('Gst', '1.0')
from gi.repository import GLib, Gst

import cv2
import numpy as np

from common.bus_call import bus_call
from common.FPS import GETFPS
from deepstream_test_3 import create_source_bin

import pyds

MUXER_BATCH_TIMEOUT_USEC = 33000
TILED_OUTPUT_WIDTH = 1280
TILED_OUTPUT_HEIGHT = 720
fps_streams = {}
folder_name = "out"


def resize_mask(maskparams, target_width, target_height):
    """The object's mask (maskparams.width x height, box-relative) bilinearly resized to the box
    and binarised: 255 where >= maskparams.threshold, else 0."""
    src = np.asarray(maskparams.get_mask_array(), np.float32).reshape(maskparams.height, maskparams.width)
    # Estuary: the same sampling as DeepStream's per-pixel Python loop (source coordinate
    # x * ratio, clamped neighbours), vectorised with numpy
    x0 = np.arange(target_width, dtype=np.float64) * (maskparams.width / target_width)
    y0 = np.arange(target_height, dtype=np.float64) * (maskparams.height / target_height)
    left = np.clip(np.floor(x0), 0, maskparams.width - 1).astype(int)
    right = np.clip(np.ceil(x0), 0, maskparams.width - 1).astype(int)
    top = np.clip(np.floor(y0), 0, maskparams.height - 1).astype(int)
    bottom = np.clip(np.ceil(y0), 0, maskparams.height - 1).astype(int)
    fx, fy = (x0 - left)[None, :], (y0 - top)[:, None]
    top_lerp = src[top][:, left] + (src[top][:, right] - src[top][:, left]) * fx
    bottom_lerp = src[bottom][:, left] + (src[bottom][:, right] - src[bottom][:, left]) * fx
    lerp = top_lerp + (bottom_lerp - top_lerp) * fy
    return np.where(lerp < maskparams.threshold, 0, 255).astype(np.uint8)


def tiler_sink_pad_buffer_probe(pad, info, u_data):
    gst_buffer = info.get_buffer()
    if not gst_buffer:
        print("Unable to get GstBuffer ")
        return Gst.PadProbeReturn.OK
    batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(gst_buffer))
    l_frame = batch_meta.frame_meta_list
    while l_frame is not None:
        try:
            frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
        except StopIteration:
            break
        frame_number = frame_meta.frame_num
        num_rects = frame_meta.num_obj_meta
        l_obj = frame_meta.obj_meta_list
        is_first_obj = True
        while l_obj is not None:
            try:
                obj_meta = pyds.NvDsObjectMeta.cast(l_obj.data)
            except StopIteration:
                break
            if is_first_obj and frame_number % 30 == 0:
                is_first_obj = False
                rect = obj_meta.rect_params
                mask_image = resize_mask(obj_meta.mask_params, math.floor(rect.width), math.floor(rect.height))
                img_path = "{}/stream_{}/frame_{}.jpg".format(folder_name, frame_meta.pad_index, frame_number)
                cv2.imwrite(img_path, mask_image)
            try:
                l_obj = l_obj.next
            except StopIteration:
                break
        print("Frame Number=", frame_number, "Number of Objects=", num_rects)
        fps_streams["stream{0}".format(frame_meta.pad_index)].get_fps()
        try:
            l_frame = l_frame.next
        except StopIteration:
            break
    return Gst.PadProbeReturn.OK


def parse(argv):
    parser = argparse.ArgumentParser(prog="deepstream_segmask.py",
                                     description="deepstream-segmask takes multiple URI streams as input and re-sizes "
                                                 "and binarizes segmentation mask arrays to save to image")
    parser.add_argument("-i", "--input", help="Path to input streams", nargs="+", metavar="URIs", required=True)
    parser.add_argument("-o", "--output", metavar="output_folder_name", default="out",
                        help="Name of folder to output mask images")
    a = parser.parse_args(argv)
    return a.input, a.output


def main(args):
    global folder_name
    stream_paths, folder_name = parse(args[1:])
    if os.path.exists(folder_name):
        sys.stderr.write("The output folder %s already exists. Please remove it first.\n" % folder_name)
        sys.exit(1)
    os.mkdir(folder_name)
    print("Frames will be saved in ", folder_name)
    number_sources = len(stream_paths)
    Gst.init(None)
    from estuary.apps.samples import config_dir  # Estuary: configs from the bundled-model folder
    pipeline = Gst.Pipeline()
    streammux = Gst.ElementFactory.make("nvstreammux", "Stream-muxer")
    pipeline.add(streammux)
    for i, uri in enumerate(stream_paths):
        os.mkdir(folder_name + "/stream_" + str(i))
        fps_streams["stream{0}".format(i)] = GETFPS(i)
        source_bin = create_source_bin(i, uri)
        pipeline.add(source_bin)
        source_bin.get_static_pad("src").link(streammux.get_request_pad("sink_%u" % i))
    pgie = Gst.ElementFactory.make("nvinfer", "primary-inference")
    tiler = Gst.ElementFactory.make("nvmultistreamtiler", "nvtiler")
    nvvidconv = Gst.ElementFactory.make("nvvideoconvert", "convertor")
    nvosd = Gst.ElementFactory.make("nvdsosd", "onscreendisplay")
    sink = Gst.ElementFactory.make("nveglglessink", "nvvideo-renderer")
    streammux.set_property("width", 1920)
    streammux.set_property("height", 1080)
    streammux.set_property("batch-size", number_sources)
    streammux.set_property("batched-push-timeout", MUXER_BATCH_TIMEOUT_USEC)
    pgie.set_property("config-file-path", os.path.join(config_dir(), "dstest_segmask_config.txt"))
    if pgie.get_property("batch-size") != number_sources:
        print("WARNING: Overriding infer-config batch-size", pgie.get_property("batch-size"),
              " with number of sources ", number_sources, " \n")
        pgie.set_property("batch-size", number_sources)
    tiler_rows = int(math.sqrt(number_sources))
    tiler.set_property("rows", tiler_rows)
    tiler.set_property("columns", int(math.ceil((1.0 * number_sources) / tiler_rows)))
    tiler.set_property("width", TILED_OUTPUT_WIDTH)
    tiler.set_property("height", TILED_OUTPUT_HEIGHT)
    nvosd.set_property("display_mask", True)  # drawn by the CPU OSD (process-mode 0), as in DeepStream
    nvosd.set_property("process_mode", 0)
    sink.set_property("sync", 0)
    sink.set_property("qos", 0)
    queues = [Gst.ElementFactory.make("queue", "queue%d" % i) for i in range(1, 6)]
    chain = [queues[0], pgie, queues[1], tiler, queues[2], nvvidconv, queues[3], nvosd, queues[4], sink]
    for el in chain:
        pipeline.add(el)
    streammux.link(chain[0])
    for a, b in zip(chain, chain[1:]):
        a.link(b)
    loop = GLib.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", bus_call, loop)
    tiler.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, tiler_sink_pad_buffer_probe, 0)
    print("Now playing...")
    for i, source in enumerate(stream_paths):
        print(i, ": ", source)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except BaseException:
        pass
    print("Exiting app\n")
    pipeline.set_state(Gst.State.NULL)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
