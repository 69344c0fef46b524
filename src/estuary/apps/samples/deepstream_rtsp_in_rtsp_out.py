#!/usr/bin/env python3
"""deepstream-rtsp-in-rtsp-out (6.0): RTSP (or file) inputs → detector → tiler → OSD → H.264 →
RTSP output on 127.0.0.1:<rtsp-port>/ds-test."""

import argparse
import math
import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # Estuary: '../' in DeepStream

import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtspServer

from common.bus_call import bus_call
from deepstream_test_3 import create_source_bin

import pyds

PGIE_CLASS_ID_VEHICLE = 0
PGIE_CLASS_ID_PERSON = 2


rtsp_login = None  # Estuary: (user, password file) when viewers must log in


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
        l_frame = l_frame.next
    return Gst.PadProbeReturn.OK


def main(args):
    number_sources = len(stream_path)
    Gst.init(None)
    from estuary.apps.samples import config_dir  # Estuary: configs from the bundled-model folder
    from estuary.elements.sinks import encoder_name
    pipeline = Gst.Pipeline()
    is_live = False
    streammux = Gst.ElementFactory.make("nvstreammux", "Stream-muxer")
    pipeline.add(streammux)
    for i, uri_name in enumerate(stream_path):
        if uri_name.find("rtsp://") == 0:
            is_live = True
        source_bin = create_source_bin(i, uri_name)
        pipeline.add(source_bin)
        source_bin.get_static_pad("src").link(streammux.get_request_pad("sink_%u" % i))
    pgie = Gst.ElementFactory.make("nvinfer", "primary-inference")
    nvvidconv = Gst.ElementFactory.make("nvvideoconvert", "convertor")
    nvosd = Gst.ElementFactory.make("nvdsosd", "onscreendisplay")
    tiler = Gst.ElementFactory.make("nvmultistreamtiler", "nvtiler")
    nvvidconv_postosd = Gst.ElementFactory.make("nvvideoconvert", "convertor_postosd")
    caps = Gst.ElementFactory.make("capsfilter", "filter")
    caps.set_property("caps", Gst.Caps.from_string("video/x-raw, format=I420"))
    encoder = Gst.ElementFactory.make(encoder_name(), "encoder")
    if encoder.find_property("speed-preset") is not None:
        encoder.set_property("speed-preset", "ultrafast")
        encoder.set_property("tune", "zerolatency")
        encoder.set_property("bitrate", bitrate // 1000)
    rtppay = Gst.ElementFactory.make("rtph264pay", "rtppay")
    sink = Gst.ElementFactory.make("udpsink", "udpsink")
    sink.set_property("host", "127.0.0.1")  # Estuary: loopback instead of multicast
    sink.set_property("port", udp_port)
    sink.set_property("async", False)
    sink.set_property("sync", 1)
    if is_live:
        streammux.set_property("live-source", 1)
    streammux.set_property("width", 1920)
    streammux.set_property("height", 1080)
    streammux.set_property("batch-size", number_sources)
    streammux.set_property("batched-push-timeout", 4000000)
    pgie.set_property("config-file-path", os.path.join(config_dir(), "dstest1_pgie_config.txt"))
    pgie.set_property("batch-size", number_sources)
    tiler_rows = int(math.sqrt(number_sources))
    tiler.set_property("rows", tiler_rows)
    tiler.set_property("columns", int(math.ceil((1.0 * number_sources) / tiler_rows)))
    tiler.set_property("width", 1280)
    tiler.set_property("height", 720)
    chain = [pgie, nvvidconv, tiler, nvosd, nvvidconv_postosd, caps, encoder, rtppay, sink]
    for el in chain:
        pipeline.add(el)
    streammux.link(pgie)
    for a, b in zip(chain, chain[1:]):
        a.link(b)
    loop = GLib.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", bus_call, loop)
    server = GstRtspServer.RTSPServer.new()
    server.set_address("127.0.0.1")
    server.props.service = "%d" % rtsp_port
    server.attach(None)
    factory = GstRtspServer.RTSPMediaFactory.new()
    factory.set_launch('( udpsrc name=pay0 port=%d buffer-size=524288 caps="application/x-rtp, media=video, '
                       'clock-rate=90000, encoding-name=(string)H264, payload=96 " )' % udp_port)
    factory.set_shared(True)
    if rtsp_login is not None:  # Estuary: viewers must log in (digest authentication)
        from estuary.credentials import read_secret_file
        from estuary.outputs import require_login
        require_login(server, factory, rtsp_login[0], read_secret_file(rtsp_login[1], "the RTSP password"))
    server.get_mount_points().add_factory("/ds-test", factory)
    print("\n *** DeepStream: Launched RTSP Streaming at rtsp://localhost:%d/ds-test ***\n\n" % rtsp_port)
    pgie.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, pgie_src_pad_buffer_probe, 0)
    print("Starting pipeline \n")
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except BaseException:
        pass
    pipeline.set_state(Gst.State.NULL)


def parse_args(argv=None):
    global stream_path, bitrate, rtsp_port, udp_port
    parser = argparse.ArgumentParser(description="RTSP Output Sample Application Help ")
    parser.add_argument("-i", "--input", help="Path to input H264 elementry stream", nargs="+", default=["a"],
                        required=True)
    parser.add_argument("-g", "--gie", default="nvinfer", help="choose GPU inference engine type nvinfer or "
                        "nvinferserver , default=nvinfer", choices=["nvinfer", "nvinferserver"])
    parser.add_argument("-c", "--codec", default="H264", help="RTSP Streaming Codec H264/H265 , default=H264",
                        choices=["H264"])
    parser.add_argument("-b", "--bitrate", default=4000000, help="Set the encoding bitrate ", type=int)
    parser.add_argument("--rtsp-port", default=8554, type=int, help="Estuary: output RTSP port")
    parser.add_argument("--udp-port", default=5400, type=int, help="Estuary: loopback UDP port")
    parser.add_argument("--rtsp-user", default=None, help="Estuary: viewers must log in as this user")
    parser.add_argument("--rtsp-password-file", default=None,
                        help="Estuary: file whose first line is that user's password")
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 0:
        parser.print_help(sys.stderr)
        return 1
    a = parser.parse_args(argv)
    if bool(a.rtsp_user) != bool(a.rtsp_password_file):
        parser.error("--rtsp-user and --rtsp-password-file go together")
    global rtsp_login
    rtsp_login = (a.rtsp_user, a.rtsp_password_file) if a.rtsp_user else None
    stream_path, bitrate, rtsp_port, udp_port = a.input, a.bitrate, a.rtsp_port, a.udp_port
    return 0


if __name__ == '__main__':
    if parse_args() == 1:
        sys.exit(1)
    sys.exit(main(sys.argv))
