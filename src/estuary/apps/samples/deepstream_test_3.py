#!/usr/bin/env python3
"""deepstream-test3: N URIs → batched inference → tiled display, per-stream FPS.

Both generations' command lines: DeepStream 5.1's ``<uri1> [uri2] ...`` and DeepStream 7.1's
``-i URI... [-c config -g nvinfer|nvinferserver|nvinferserver-grpc] [--no-display] [--file-loop]
[--disable-probe] [-s]`` (7.1 behaviour: PERF_DATA FPS, fakesink for --no-display, nvurisrcbin for
--file-loop, the tiler's compute-hw)."""

import argparse
import math
import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # Estuary: '../' in DeepStream

import gi
gi.require_version('Gst', '1.0')
from gi.repository import GLib, GObject, Gst

from common.bus_call import bus_call
from common.FPS import GETFPS, PERF_DATA

import pyds

fps_streams = {}
perf_data = None
silent = False
MAX_DISPLAY_LEN = 64
PGIE_CLASS_ID_VEHICLE = 0
PGIE_CLASS_ID_BICYCLE = 1
PGIE_CLASS_ID_PERSON = 2
PGIE_CLASS_ID_ROADSIGN = 3
TILED_OUTPUT_WIDTH = 1280
TILED_OUTPUT_HEIGHT = 720


def tiler_src_pad_buffer_probe(pad, info, u_data):
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
        l_obj = frame_meta.obj_meta_list
        num_rects = frame_meta.num_obj_meta
        obj_counter = {PGIE_CLASS_ID_VEHICLE: 0, PGIE_CLASS_ID_PERSON: 0, PGIE_CLASS_ID_BICYCLE: 0,
                       PGIE_CLASS_ID_ROADSIGN: 0}
        while l_obj is not None:
            try:
                obj_meta = pyds.NvDsObjectMeta.cast(l_obj.data)
            except StopIteration:
                break
            obj_counter[obj_meta.class_id] += 1
            try:
                l_obj = l_obj.next
            except StopIteration:
                break
        if not silent:
            print("Frame Number=", frame_number, "Number of Objects=", num_rects, "Vehicle_count=",
                  obj_counter[PGIE_CLASS_ID_VEHICLE], "Person_count=", obj_counter[PGIE_CLASS_ID_PERSON])
        if perf_data is not None:
            perf_data.update_fps("stream{0}".format(frame_meta.pad_index))
        else:
            fps_streams["stream{0}".format(frame_meta.pad_index)].get_fps()
        try:
            l_frame = l_frame.next
        except StopIteration:
            break
    return Gst.PadProbeReturn.OK


def cb_newpad(decodebin, decoder_src_pad, data):
    print("In cb_newpad\n")
    caps = decoder_src_pad.get_current_caps()
    gststruct = caps.get_structure(0)
    gstname = gststruct.get_name()
    source_bin = data
    features = caps.get_features(0)
    print("gstname=", gstname)
    if gstname.find("video") != -1:
        print("features=", features)
        if features.contains("memory:NVMM"):
            bin_ghost_pad = source_bin.get_static_pad("src")
            if not bin_ghost_pad.set_target(decoder_src_pad):
                sys.stderr.write("Failed to link decoder src pad to source bin ghost pad\n")
        else:
            sys.stderr.write(" Error: Decodebin did not pick nvidia decoder plugin.\n")


def decodebin_child_added(child_proxy, Object, name, user_data):
    print("Decodebin child added:", name, "\n")
    if name.find("decodebin") != -1:
        Object.connect("child-added", decodebin_child_added, user_data)


def create_source_bin(index, uri, file_loop=False):
    print("Creating source bin")
    bin_name = "source-bin-%02d" % index
    print(bin_name)
    nbin = Gst.Bin.new(bin_name)
    if not nbin:
        sys.stderr.write(" Unable to create source bin \n")
    if file_loop:  # 7.1: nvurisrcbin loops file:// sources
        uri_decode_bin = Gst.ElementFactory.make("nvurisrcbin", "uri-decode-bin")
        uri_decode_bin.set_property("file-loop", 1)
        uri_decode_bin.set_property("cudadec-memtype", 0)
    else:
        uri_decode_bin = Gst.ElementFactory.make("uridecodebin", "uri-decode-bin")
    uri_decode_bin.set_property("uri", uri)
    uri_decode_bin.connect("pad-added", cb_newpad, nbin)
    uri_decode_bin.connect("child-added", decodebin_child_added, nbin)
    Gst.Bin.add(nbin, uri_decode_bin)
    bin_pad = nbin.add_pad(Gst.GhostPad.new_no_target("src", Gst.PadDirection.SRC))
    if not bin_pad:
        sys.stderr.write(" Failed to add ghost pad in source bin \n")
        return None
    return nbin


def main(args):
    a = _parse_71(args)  # Estuary: one entry point for both generations' command lines
    if a is not None:
        return run([args[0]] + a.input, a.pgie, a.configfile, a.disable_probe, a.no_display, a.file_loop)
    return run(args)


def run(args, requested_pgie=None, config=None, disable_probe=False, no_display=False, file_loop=False):
    """``args``: [program, uri1, uri2, ...]."""
    global perf_data
    if len(args) < 2:
        sys.stderr.write("usage: %s <uri1> [uri2] ... [uriN]\n" % args[0])
        sys.exit(1)
    for i in range(0, len(args) - 1):
        fps_streams["stream{0}".format(i)] = GETFPS(i)
    if seven_one:
        perf_data = PERF_DATA(len(args) - 1)
    number_sources = len(args) - 1
    GObject.threads_init()
    Gst.init(None)
    pipeline = Gst.Pipeline()
    is_live = False
    streammux = Gst.ElementFactory.make("nvstreammux", "Stream-muxer")
    pipeline.add(streammux)
    for i in range(number_sources):
        uri_name = args[i + 1]
        if uri_name.find("rtsp://") == 0:
            is_live = True
        source_bin = create_source_bin(i, uri_name, file_loop)
        pipeline.add(source_bin)
        padname = "sink_%u" % i
        sinkpad = streammux.get_request_pad(padname)
        srcpad = source_bin.get_static_pad("src")
        srcpad.link(sinkpad)
    queue1 = Gst.ElementFactory.make("queue", "queue1")
    queue2 = Gst.ElementFactory.make("queue", "queue2")
    queue3 = Gst.ElementFactory.make("queue", "queue3")
    queue4 = Gst.ElementFactory.make("queue", "queue4")
    queue5 = Gst.ElementFactory.make("queue", "queue5")
    if requested_pgie in ("nvinferserver", "nvinferserver-grpc"):
        pgie = Gst.ElementFactory.make("nvinferserver", "primary-inference")
    else:
        pgie = Gst.ElementFactory.make("nvinfer", "primary-inference")
    nvdslogger = None
    if disable_probe:
        # Use nvdslogger for perf measurement instead of probe function
        print("Creating nvdslogger \n")
        nvdslogger = Gst.ElementFactory.make("nvdslogger", "nvdslogger")
    tiler = Gst.ElementFactory.make("nvmultistreamtiler", "nvtiler")
    nvvidconv = Gst.ElementFactory.make("nvvideoconvert", "convertor")
    nvosd = Gst.ElementFactory.make("nvdsosd", "onscreendisplay")
    nvosd.set_property('process-mode', 0)
    nvosd.set_property('display-text', 0)
    if file_loop:
        streammux.set_property('nvbuf-memory-type', 2)  # 7.1 on a dGPU (4 on integrated GPUs)
    if no_display:
        print("Creating Fakesink \n")
        sink = Gst.ElementFactory.make("fakesink", "fakesink")
        sink.set_property('enable-last-sample', 0)
        sink.set_property('sync', 0)
    else:
        sink = Gst.ElementFactory.make("nveglglessink", "nvvideo-renderer")
    if is_live:
        print("Atleast one of the sources is live")
        streammux.set_property('live-source', 1)
    streammux.set_property('width', 1920)
    streammux.set_property('height', 1080)
    streammux.set_property('batch-size', number_sources)
    streammux.set_property('batched-push-timeout', 4000000)
    from estuary.apps.samples import config_dir  # Estuary: configs from the bundled-model folder
    if config is not None:
        pgie.set_property('config-file-path', config)
    else:
        pgie.set_property('config-file-path', os.path.join(config_dir(), "dstest3_pgie_config.txt"))
    pgie_batch_size = pgie.get_property("batch-size")
    if pgie_batch_size != number_sources:
        print("WARNING: Overriding infer-config batch-size", pgie_batch_size, " with number of sources ",
              number_sources, " \n")
        pgie.set_property("batch-size", number_sources)
    tiler_rows = int(math.sqrt(number_sources))
    tiler_columns = int(math.ceil((1.0 * number_sources) / tiler_rows))
    tiler.set_property("rows", tiler_rows)
    tiler.set_property("columns", tiler_columns)
    tiler.set_property("width", TILED_OUTPUT_WIDTH)
    tiler.set_property("height", TILED_OUTPUT_HEIGHT)
    if seven_one:
        tiler.set_property("compute-hw", 1)  # 7.1: GPU on a dGPU (2 = VIC on integrated GPUs)
    sink.set_property("qos", 0)
    for el in (queue1, queue2, queue3, queue4, queue5, pgie, tiler, nvvidconv, nvosd, sink):
        pipeline.add(el)
    if nvdslogger:
        pipeline.add(nvdslogger)
    streammux.link(queue1)
    queue1.link(pgie)
    pgie.link(queue2)
    if nvdslogger:
        queue2.link(nvdslogger)
        nvdslogger.link(tiler)
    else:
        queue2.link(tiler)
    tiler.link(queue3)
    queue3.link(nvvidconv)
    nvvidconv.link(queue4)
    queue4.link(nvosd)
    nvosd.link(queue5)
    queue5.link(sink)
    loop = GObject.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", bus_call, loop)
    tiler_src_pad = pgie.get_static_pad("src")
    if not disable_probe:
        tiler_src_pad.add_probe(Gst.PadProbeType.BUFFER, tiler_src_pad_buffer_probe, 0)
        if perf_data is not None:
            GLib.timeout_add(5000, perf_data.perf_print_callback)
    print("Now playing...")
    for i, source in enumerate(args):
        if i != 0:
            print(i, ": ", source)
    print("Starting pipeline \n")
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except BaseException:
        pass
    print("Exiting app\n")
    pipeline.set_state(Gst.State.NULL)


seven_one = False


def _parse_71(argv):
    """DeepStream 7.1's command line (argparse); None when ``argv`` is 5.1's positional form."""
    global seven_one, silent
    if len(argv) < 2 or not argv[1].startswith("-"):
        return None
    seven_one = True
    parser = argparse.ArgumentParser(prog="deepstream_test_3",
                                     description="deepstream-test3 multi stream, multi model inference reference app")
    parser.add_argument("-i", "--input", help="Path to input streams", nargs="+", metavar="URIs", required=True)
    parser.add_argument("-c", "--configfile", metavar="config_location.txt", default=None,
                        help="Choose the config-file to be used with specified pgie")
    parser.add_argument("-g", "--pgie", default=None, help="Choose Primary GPU Inference Engine",
                        choices=["nvinfer", "nvinferserver", "nvinferserver-grpc"])
    parser.add_argument("--no-display", action="store_true", default=False, dest='no_display',
                        help="Disable display of video output")
    parser.add_argument("--file-loop", action="store_true", default=False, dest='file_loop',
                        help="Loop the input file sources after EOS")
    parser.add_argument("--disable-probe", action="store_true", default=False, dest='disable_probe',
                        help="Disable the probe function and use nvdslogger for FPS")
    parser.add_argument("-s", "--silent", action="store_true", default=False, dest='silent',
                        help="Disable verbose output")
    args = parser.parse_args(argv[1:])
    if args.configfile and not args.pgie or args.pgie and not args.configfile:
        sys.stderr.write("\nEither pgie or configfile is missing. Please specify both! Exiting...\n\n\n\n")
        parser.print_help()
        sys.exit(1)
    if args.configfile and not os.path.isfile(args.configfile):
        sys.stderr.write("Specified config-file: %s doesn't exist. Exiting...\n\n" % args.configfile)
        sys.exit(1)
    silent = args.silent
    print(vars(args))
    return args


if __name__ == '__main__':
    sys.exit(main(sys.argv))
