#!/usr/bin/env python3
"""deepstream-demux-multi-in-multi-out (6.1): N inputs batched for one detector, then split again
into one output per source (each with its own OSD and sink)."""

import argparse
import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # Estuary: '../' in DeepStream

import gi
gi.require_version('Gst', '1.0')
from gi.repository import GLib, Gst

from common.bus_call import bus_call
from common.FPS import GETFPS
from deepstream_test_3 import create_source_bin

import pyds

PGIE_CLASS_ID_VEHICLE = 0
PGIE_CLASS_ID_PERSON = 2
fps_streams = {}
output_dir = None


def pgie_src_pad_buffer_probe(pad, info, u_data):
    gst_buffer = info.get_buffer()
    batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(gst_buffer))
    l_frame = batch_meta.frame_meta_list
    while l_frame is not None:
        frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
        obj_counter = {0: 0, 1: 0, 2: 0, 3: 0}
        l_obj = frame_meta.obj_meta_list
        while l_obj is not None:
            obj_meta = pyds.NvDsObjectMeta.cast(l_obj.data)
            obj_counter[obj_meta.class_id] += 1
            l_obj = l_obj.next
        print("Frame Number=", frame_meta.frame_num, "Number of Objects=", frame_meta.num_obj_meta,
              "Vehicle_count=", obj_counter[PGIE_CLASS_ID_VEHICLE], "Person_count=", obj_counter[PGIE_CLASS_ID_PERSON])
        fps_streams["stream{0}".format(frame_meta.pad_index)].get_fps()
        l_frame = l_frame.next
    return Gst.PadProbeReturn.OK


def main(args):
    number_sources = len(args)
    for i in range(number_sources):
        fps_streams["stream{0}".format(i)] = GETFPS(i)
    Gst.init(None)
    from estuary.apps.samples import config_dir  # Estuary: configs from the bundled-model folder
    pipeline = Gst.Pipeline()
    streammux = Gst.ElementFactory.make("nvstreammux", "Stream-muxer")
    pipeline.add(streammux)
    for i in range(number_sources):
        source_bin = create_source_bin(i, args[i])
        pipeline.add(source_bin)
        source_bin.get_static_pad("src").link(streammux.get_request_pad("sink_%u" % i))
    queue1 = Gst.ElementFactory.make("queue", "queue1")
    pgie = Gst.ElementFactory.make("nvinfer", "primary-inference")
    nvstreamdemux = Gst.ElementFactory.make("nvstreamdemux", "nvstreamdemux")
    streammux.set_property("width", 960)
    streammux.set_property("height", 540)
    streammux.set_property("batch-size", number_sources)
    streammux.set_property("batched-push-timeout", 4000000)
    pgie.set_property("config-file-path", os.path.join(config_dir(), "dstest1_pgie_config.txt"))
    pgie.set_property("batch-size", number_sources)
    for el in (queue1, pgie, nvstreamdemux):
        pipeline.add(el)
    streammux.link(queue1)
    queue1.link(pgie)
    pgie.link(nvstreamdemux)
    for i in range(number_sources):
        queue = Gst.ElementFactory.make("queue", "queue_%d" % i)
        nvvideoconvert = Gst.ElementFactory.make("nvvideoconvert", "convertor_%d" % i)
        nvdsosd = Gst.ElementFactory.make("nvdsosd", "onscreendisplay_%d" % i)
        nvdsosd.set_property("process-mode", 0)
        if output_dir:  # Estuary: write one MP4 per source instead of a window each (--output-dir)
            conv2 = Gst.ElementFactory.make("nvvideoconvert", "convertor2_%d" % i)
            caps = Gst.ElementFactory.make("capsfilter", "caps_%d" % i)
            caps.set_property("caps", Gst.Caps.from_string("video/x-raw, format=I420"))
            enc = Gst.ElementFactory.make("x264enc", "enc_%d" % i)
            enc.set_property("speed-preset", "ultrafast")
            mux = Gst.ElementFactory.make("mp4mux", "mp4mux_%d" % i)
            sink = Gst.ElementFactory.make("filesink", "sink_%d" % i)
            sink.set_property("location", os.path.join(output_dir, "out_%d.mp4" % i))
            chain = [queue, nvvideoconvert, nvdsosd, conv2, caps, enc, mux, sink]
        else:
            sink = Gst.ElementFactory.make("nveglglessink", "nvvideo-renderer_%d" % i)
            sink.set_property("qos", 0)
            chain = [queue, nvvideoconvert, nvdsosd, sink]
        for el in chain:
            pipeline.add(el)
        padname = "src_%u" % i
        demuxsrcpad = nvstreamdemux.get_request_pad(padname)
        demuxsrcpad.link(queue.get_static_pad("sink"))
        for a, b in zip(chain, chain[1:]):
            a.link(b)
    loop = GLib.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", bus_call, loop)
    pgie.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, pgie_src_pad_buffer_probe, 0)
    print("Starting pipeline \n")
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except BaseException:
        pass
    pipeline.set_state(Gst.State.NULL)


def parse_args(argv=None):
    global output_dir
    parser = argparse.ArgumentParser(prog="deepstream_demux_multi_in_multi_out.py",
                                     description="deepstream-demux-multi-in-multi-out takes multiple URI streams as "
                                                 "input and uses `nvstreamdemux` to split batches and output separate "
                                                 "buffer/streams")
    parser.add_argument("-i", "--input", help="Path to input streams", nargs="+", metavar="URIs",
                        default=["a"], required=True)
    parser.add_argument("--output-dir", default=None, help="Estuary: write out_<i>.mp4 per source here")
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 0:
        parser.print_help()
        return 1
    a = parser.parse_args(argv)
    global stream_paths
    stream_paths = a.input
    output_dir = a.output_dir
    return 0


if __name__ == '__main__':
    if parse_args() == 1:
        sys.exit(1)
    sys.exit(main(stream_paths))
