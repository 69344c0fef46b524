#!/usr/bin/env python3
"""deepstream-test1-rtsp-out: test1 with the annotated output served over RTSP.

Estuary: the RTP stream goes to 127.0.0.1 (the original sends to a multicast address)."""

import argparse
import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))  # Estuary: '../' in DeepStream

import gi
gi.require_version('Gst', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GObject, Gst, GstRtspServer

from common.bus_call import bus_call
from deepstream_test_1 import osd_sink_pad_buffer_probe

import pyds  # noqa: F401


rtsp_login = None  # Estuary: (user, password file) when viewers must log in


def main(args):
    GObject.threads_init()
    Gst.init(None)
    from estuary.apps.samples import config_dir  # Estuary: configs from the bundled-model folder
    from common.platform_info import PlatformInfo
    is_integrated_gpu = PlatformInfo().is_integrated_gpu()  # 7.1: via cuda-python (our stand-in here)
    pipeline = Gst.Pipeline()
    source = Gst.ElementFactory.make("filesrc", "file-source")
    h264parser = Gst.ElementFactory.make("h264parse", "h264-parser")
    decoder = Gst.ElementFactory.make("nvv4l2decoder", "nvv4l2-decoder")
    streammux = Gst.ElementFactory.make("nvstreammux", "Stream-muxer")
    pgie = Gst.ElementFactory.make("nvinfer", "primary-inference")
    nvvidconv = Gst.ElementFactory.make("nvvideoconvert", "convertor")
    nvosd = Gst.ElementFactory.make("nvdsosd", "onscreendisplay")
    nvvidconv_postosd = Gst.ElementFactory.make("nvvideoconvert", "convertor_postosd")
    caps = Gst.ElementFactory.make("capsfilter", "filter")
    if enc_type == 0:
        caps.set_property("caps", Gst.Caps.from_string("video/x-raw(memory:NVMM), format=I420"))
    else:
        caps.set_property("caps", Gst.Caps.from_string("video/x-raw, format=I420"))
    if codec == "H264":
        encoder = Gst.ElementFactory.make("nvv4l2h264enc" if enc_type == 0 else "x264enc", "encoder")
    else:
        encoder = Gst.ElementFactory.make("nvv4l2h265enc" if enc_type == 0 else "x265enc", "encoder")
    if enc_type == 0:
        encoder.set_property('bitrate', bitrate)
    else:
        # Estuary: x264enc/x265enc take kbit/s (DeepStream sets bit/s, which they refuse as out of
        # range) and need a real-time preset on a CPU
        encoder.set_property('bitrate', max(1, bitrate // 1000))
        encoder.set_property('tune', 'zerolatency')
        encoder.set_property('speed-preset', 'ultrafast')
    if is_integrated_gpu and enc_type == 0:
        encoder.set_property('preset-level', 1)
        encoder.set_property('insert-sps-pps', 1)
    rtppay = Gst.ElementFactory.make("rtph264pay" if codec == "H264" else "rtph265pay", "rtppay")
    sink = Gst.ElementFactory.make("udpsink", "udpsink")
    sink.set_property('host', '127.0.0.1')  # Estuary: loopback instead of 224.224.255.255
    sink.set_property('port', updsink_port_num)
    sink.set_property('async', False)
    sink.set_property('sync', 1)
    source.set_property('location', stream_path)
    streammux.set_property('width', 1920)
    streammux.set_property('height', 1080)
    streammux.set_property('batch-size', 1)
    streammux.set_property('batched-push-timeout', 4000000)
    pgie.set_property('config-file-path', os.path.join(config_dir(), "dstest1_pgie_config.txt"))
    for el in (source, h264parser, decoder, streammux, pgie, nvvidconv, nvosd, nvvidconv_postosd, caps, encoder,
               rtppay, sink):
        pipeline.add(el)
    source.link(h264parser)
    h264parser.link(decoder)
    decoder.get_static_pad("src").link(streammux.get_request_pad("sink_0"))
    streammux.link(pgie)
    pgie.link(nvvidconv)
    nvvidconv.link(nvosd)
    nvosd.link(nvvidconv_postosd)
    nvvidconv_postosd.link(caps)
    caps.link(encoder)
    encoder.link(rtppay)
    rtppay.link(sink)
    loop = GObject.MainLoop()
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message", bus_call, loop)
    rtsp_port_num = rtsp_port
    server = GstRtspServer.RTSPServer.new()
    server.set_address("127.0.0.1")  # Estuary: serve on loopback by default
    server.props.service = "%d" % rtsp_port_num
    server.attach(None)
    factory = GstRtspServer.RTSPMediaFactory.new()
    factory.set_launch(
        "( udpsrc name=pay0 port=%d buffer-size=524288 caps=\"application/x-rtp, media=video, clock-rate=90000, "
        "encoding-name=(string)%s, payload=96 \" )" % (updsink_port_num, codec))
    factory.set_shared(True)
    if rtsp_login is not None:  # Estuary: viewers must log in (digest authentication)
        from estuary.credentials import read_secret_file
        from estuary.outputs import require_login
        require_login(server, factory, rtsp_login[0], read_secret_file(rtsp_login[1], "the RTSP password"))
    server.get_mount_points().add_factory("/ds-test", factory)
    print("\n *** DeepStream: Launched RTSP Streaming at rtsp://localhost:%d/ds-test ***\n\n" % rtsp_port_num)
    nvosd.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, osd_sink_pad_buffer_probe, 0)
    print("Starting pipeline \n")
    pipeline.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    except BaseException:
        pass
    pipeline.set_state(Gst.State.NULL)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='RTSP Output Sample Application Help ')
    parser.add_argument("-i", "--input", help="Path to input H264 elementry stream", required=True)
    parser.add_argument("-c", "--codec", default="H264", help="RTSP Streaming Codec H264/H265 , default=H264",
                        choices=['H264', 'H265'])
    parser.add_argument("-b", "--bitrate", default=4000000, help="Set the encoding bitrate ", type=int)
    parser.add_argument("-e", "--enc_type", default=0, help="0:Hardware encoder , 1:Software encoder , default=0",
                        choices=[0, 1], type=int)
    parser.add_argument("--rtsp-port", default=8554, type=int, help="Estuary: RTSP port (8554)")
    parser.add_argument("--udp-port", default=5400, type=int, help="Estuary: loopback UDP port (5400)")
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
    global codec, bitrate, stream_path, rtsp_port, updsink_port_num, enc_type
    codec, bitrate, stream_path, enc_type = a.codec, a.bitrate, a.input, a.enc_type
    rtsp_port, updsink_port_num = a.rtsp_port, a.udp_port
    return 0


if __name__ == '__main__':
    if parse_args() == 1:
        sys.exit(1)
    sys.exit(main(sys.argv))
