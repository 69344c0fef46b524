"""Pipeline outputs beyond plain sinks: an RTSP server on loopback fed over UDP (the layout of
DeepStream's rtsp-out sample, with a 127.0.0.1 target instead of a multicast address)."""

from __future__ import annotations

import gi

gi.require_version("GstRtspServer", "1.0")
from gi.repository import GstRtspServer  # noqa: E402

from estuary.gst import ensure_init  # noqa: E402

__all__ = ["start_rtsp_server", "rtsp_sink_description"]


def rtsp_sink_description(udp_port: int = 5400, encoder: str = "x264enc", bitrate_kbps: int = 4000) -> str:
    """A gst-launch fragment: raw I420 video in → H.264 RTP to 127.0.0.1:``udp_port``."""
    enc = (f"{encoder} speed-preset=ultrafast tune=zerolatency bitrate={bitrate_kbps} key-int-max=30"
           if encoder == "x264enc" else encoder)
    return (f"{enc} ! video/x-h264,profile=baseline ! rtph264pay config-interval=1 pt=96 ! "
            f"udpsink host=127.0.0.1 port={udp_port} sync=false async=false")


def start_rtsp_server(rtsp_port: int = 8554, udp_port: int = 5400, path: str = "/ds-test",
                      address: str = "127.0.0.1") -> GstRtspServer.RTSPServer:
    """Serve the H.264 RTP stream arriving on UDP ``udp_port`` at rtsp://address:rtsp_port/path."""
    ensure_init()
    server = GstRtspServer.RTSPServer.new()
    server.set_address(address)
    server.set_service(str(rtsp_port))
    factory = GstRtspServer.RTSPMediaFactory.new()
    factory.set_launch(
        f'( udpsrc name=pay0 address=127.0.0.1 port={udp_port} buffer-size=524288 '
        f'caps="application/x-rtp, media=video, clock-rate=90000, encoding-name=(string)H264, payload=96" )')
    factory.set_shared(True)
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        raise OSError(f"cannot start the RTSP server on {address}:{rtsp_port}")
    return server
