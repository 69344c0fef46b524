#!/usr/bin/env python3
"""runtime_source_add_delete: sources are added and removed while the pipeline plays.

Estuary: the add/remove period is ESTUARY_RT_INTERVAL_MS (default 10000, as the original), and
the secondary classifiers are left out (one vehicle-type classifier exists in the bundle)."""

import math
import os
import random
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # Estuary: '../' in DeepStream

import gi
gi.require_version('Gst', '1.0')
from gi.repository import GLib, GObject, Gst

import pyds  # noqa: F401

MAX_DISPLAY_LEN = 64
MUXER_OUTPUT_WIDTH = 1920
MUXER_OUTPUT_HEIGHT = 1080
MUXER_BATCH_TIMEOUT_USEC = 25000
TILED_OUTPUT_WIDTH = 1280
TILED_OUTPUT_HEIGHT = 720
MAX_NUM_SOURCES = 4
INTERVAL_MS = int(os.environ.get("ESTUARY_RT_INTERVAL_MS", "10000"))

g_num_sources = 0
g_source_id_list = [0] * MAX_NUM_SOURCES
g_eos_list = [False] * MAX_NUM_SOURCES
g_source_enabled = [False] * MAX_NUM_SOURCES
g_source_bin_list = [None] * MAX_NUM_SOURCES
uri = ""
loop = None
pipeline = None
streammux = None


def decodebin_child_added(child_proxy, Object, name, user_data):
    print("Decodebin child added:", name, "\n")
    if name.find("decodebin") != -1:
        Object.connect("child-added", decodebin_child_added, user_data)
    if name.find("nvv4l2decoder") != -1:
        Object.set_property("gpu_id", 0)


def cb_newpad(decodebin, pad, data):
    global streammux
    print("In cb_newpad\n")
    caps = pad.get_current_caps()
    gststruct = caps.get_structure(0)
    gstname = gststruct.get_name()
    print("gstname=", gstname)
    if gstname.find("video") != -1:
        source_id = data
        pad_name = "sink_%u" % source_id
        print(pad_name)
        sinkpad = streammux.get_request_pad(pad_name)
        if pad.link(sinkpad) == Gst.PadLinkReturn.OK:
            print("Decodebin linked to pipeline")
        else:
            sys.stderr.write("Failed to link decodebin to pipeline\n")


def create_uridecode_bin(index, filename):
    global g_source_id_list
    print("Creating uridecodebin for [%s]" % filename)
    g_source_id_list[index] = index
    bin_name = "source-bin-%02d" % index
    print(bin_name)
    bin = Gst.ElementFactory.make("uridecodebin", bin_name)
    bin.set_property("uri", filename)
    bin.connect("pad-added", cb_newpad, g_source_id_list[index])
    bin.connect("child-added", decodebin_child_added, g_source_id_list[index])
    g_source_enabled[index] = True
    return bin


def stop_release_source(source_id):
    global g_num_sources
    state_return = g_source_bin_list[source_id].set_state(Gst.State.NULL)
    if state_return == Gst.StateChangeReturn.SUCCESS:
        print("STATE CHANGE SUCCESS\n")
    elif state_return == Gst.StateChangeReturn.ASYNC:
        print("STATE CHANGE ASYNC\n")
    elif state_return == Gst.StateChangeReturn.FAILURE:
        print("STATE CHANGE FAILURE\n")
    elif state_return == Gst.StateChangeReturn.NO_PREROLL:
        print("STATE CHANGE NO PREROLL\n")
    pad_name = "sink_%u" % source_id
    print(pad_name)
    sinkpad = streammux.get_static_pad(pad_name)
    if sinkpad is not None:
        sinkpad.send_event(Gst.Event.new_flush_stop(False))
        streammux.release_request_pad(sinkpad)
        print("STATE CHANGE SUCCESS\n")
    pipeline.remove(g_source_bin_list[source_id])
    source_id -= 1
    g_num_sources -= 1


def delete_sources(data):
    global g_num_sources
    for source_id in range(MAX_NUM_SOURCES):
        if g_eos_list[source_id] and g_source_enabled[source_id]:
            g_source_enabled[source_id] = False
            stop_release_source(source_id)
    if g_num_sources == 0:
        loop.quit()
        print("All sources stopped quitting")
        return False
    source_id = random.randrange(0, MAX_NUM_SOURCES)
    while not g_source_enabled[source_id]:
        source_id = random.randrange(0, MAX_NUM_SOURCES)
    g_source_enabled[source_id] = False
    print("Calling Stop %d " % source_id)
    stop_release_source(source_id)
    if g_num_sources == 0:
        loop.quit()
        print("All sources stopped quitting")
        return False
    return True


def add_sources(data):
    global g_num_sources
    source_id = g_num_sources
    source_id = random.randrange(0, MAX_NUM_SOURCES)
    while g_source_enabled[source_id]:
        source_id = random.randrange(0, MAX_NUM_SOURCES)
    g_source_enabled[source_id] = True
    print("Calling Start %d " % source_id)
    source_bin = create_uridecode_bin(source_id, uri)
    if not source_bin:
        sys.stderr.write("Failed to create source bin. Exiting.")
        return False
    g_source_bin_list[source_id] = source_bin
    pipeline.add(source_bin)
    state_return = g_source_bin_list[source_id].set_state(Gst.State.PLAYING)
    if state_return == Gst.StateChangeReturn.SUCCESS:
        print("STATE CHANGE SUCCESS\n")
        source_id += 1
    elif state_return == Gst.StateChangeReturn.FAILURE:
        print("STATE CHANGE FAILURE\n")
    elif state_return == Gst.StateChangeReturn.ASYNC:
        state_return = g_source_bin_list[source_id].get_state(Gst.CLOCK_TIME_NONE)
        source_id += 1
    elif state_return == Gst.StateChangeReturn.NO_PREROLL:
        print("STATE CHANGE NO PREROLL\n")
    g_num_sources += 1
    if g_num_sources == MAX_NUM_SOURCES:
        GLib.timeout_add(INTERVAL_MS, delete_sources, g_source_bin_list)
        return False
    return True


def bus_call(bus, message, loop):
    global g_eos_list
    t = message.type
    if t == Gst.MessageType.EOS:
        sys.stdout.write("End-of-stream\n")
        loop.quit()
    elif t == Gst.MessageType.WARNING:
        err, debug = message.parse_warning()
        sys.stderr.write("Warning: %s: %s\n" % (err, debug))
    elif t == Gst.MessageType.ERROR:
        err, debug = message.parse_error()
        sys.stderr.write("Error: %s: %s\n" % (err, debug))
        loop.quit()
    elif t == Gst.MessageType.ELEMENT:
        struct = message.get_structure()
        if struct is not None and struct.has_name("stream-eos"):
            parsed, stream_id = struct.get_uint("stream-id")
            if parsed:
                print("Got EOS from stream %d" % stream_id)
                g_eos_list[stream_id] = True
    return True


def main(args):
    global g_num_sources, g_source_bin_list, uri, loop, pipeline, streammux
    if len(args) != 2:
        sys.stderr.write("usage: %s <uri1>\n" % args[0])
        sys.exit(1)
    num_sources = len(args) - 1
    GObject.threads_init()
    Gst.init(None)
    from estuary.apps.samples import config_dir  # Estuary: configs from the bundled-model folder
    pipeline = Gst.Pipeline()
    streammux = Gst.ElementFactory.make("nvstreammux", "Stream-muxer")
    streammux.set_property("batched-push-timeout", MUXER_BATCH_TIMEOUT_USEC)
    streammux.set_property("batch-size", 30)
    streammux.set_property("gpu_id", 0)
    streammux.set_property("live-source", 1)
    pipeline.add(streammux)
    uri = args[1]
    for i in range(num_sources):
        print("Creating source_bin ", i, " \n ")
        source_bin = create_uridecode_bin(i, uri)
        g_source_bin_list[i] = source_bin
        pipeline.add(source_bin)
    g_num_sources = num_sources
    pgie = Gst.ElementFactory.make("nvinfer", "primary-inference")
    tracker = Gst.ElementFactory.make("nvtracker", "tracker")
    tiler = Gst.ElementFactory.make("nvmultistreamtiler", "nvtiler")
    nvvideoconvert = Gst.ElementFactory.make("nvvideoconvert", "convertor")
    nvosd = Gst.ElementFactory.make("nvdsosd", "onscreendisplay")
    sink = Gst.ElementFactory.make("nveglglessink", "nvvideo-renderer")
    streammux.set_property("width", MUXER_OUTPUT_WIDTH)
    streammux.set_property("height", MUXER_OUTPUT_HEIGHT)
    pgie.set_property("config-file-path", os.path.join(config_dir(), "dstest1_pgie_config.txt"))
    pgie.set_property("batch-size", MAX_NUM_SOURCES)
    tracker.set_property("ll-lib-file", "/opt/nvidia/deepstream/deepstream/lib/libnvds_nvmultiobjecttracker.so")
    tiler_rows = int(math.sqrt(num_sources))
    tiler_columns = int(math.ceil((1.0 * num_sources) / tiler_rows))
    tiler.set_property("rows", tiler_rows)
    tiler.set_property("columns", tiler_columns)
    tiler.set_property("width", TILED_OUTPUT_WIDTH)
    tiler.set_property("height", TILED_OUTPUT_HEIGHT)
    sink.set_property("qos", 0)
    sink.set_property("sync", 0)
    for el in (pgie, tracker, tiler, nvvideoconvert, nvosd, sink):
        pipeline.add(el)
    streammux.link(pgie)
    pgie.link(tracker)
    tracker.link(tiler)
    tiler.link(nvvideoconvert)
    nvvideoconvert.link(nvosd)
    nvosd.link(sink)
    loop = GObject.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", bus_call, loop)
    pipeline.set_state(Gst.State.PAUSED)
    print("Now playing...")
    for i, source in enumerate(args):
        if i != 0:
            print(i, ": ", source)
    print("Starting pipeline \n")
    pipeline.set_state(Gst.State.PLAYING)
    GLib.timeout_add(INTERVAL_MS, add_sources, g_source_bin_list)
    try:
        loop.run()
    except BaseException:
        pass
    print("Exiting app\n")
    pipeline.set_state(Gst.State.NULL)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
