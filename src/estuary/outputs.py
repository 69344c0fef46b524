"""Pipeline outputs beyond plain sinks: an RTSP server on loopback fed over UDP (the layout of
DeepStream's rtsp-out sample, with a 127.0.0.1 target instead of a multicast address)."""

from __future__ import annotations

import gi

gi.require_version("GstRtspServer", "1.0")
from gi.repository import GstRtspServer  # noqa: E402

from estuary.gst import ensure_init  # noqa: E402

__all__ = ["start_rtsp_server", "serve_rtsp_launch", "rtsp_sink_description", "jpeg_snapshot_bin",
           "require_login", "serve_tls", "AUTH_METHODS"]


def jpeg_snapshot_bin(location: str, every: int = 30, quality: int = 85):
    """A sink bin for raw video: one JPEG every ``every`` frames, written to ``location`` (a
    printf pattern such as ``snap_%05d.jpg``). Link system-memory video to its ``sink`` pad
    (after ``nvvideoconvert``)."""
    from estuary.gst import Gst
    if every < 1:
        raise ValueError("every must be >= 1")
    b = Gst.Bin.new(None)
    q = Gst.ElementFactory.make("queue", None)
    conv = Gst.ElementFactory.make("videoconvert", None)
    enc = Gst.ElementFactory.make("jpegenc", None)
    enc.set_property("quality", quality)
    sink = Gst.ElementFactory.make("multifilesink", None)
    sink.set_property("location", location)
    sink.set_property("next-file", 0)  # a file per buffer
    for e in (q, conv, enc, sink):
        b.add(e)
    q.link(conv)
    conv.link(enc)
    enc.link(sink)
    count = [0]

    def gate(pad, info):
        count[0] += 1
        return Gst.PadProbeReturn.OK if (count[0] - 1) % every == 0 else Gst.PadProbeReturn.DROP

    conv.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, gate)
    b.add_pad(Gst.GhostPad.new("sink", q.get_static_pad("sink")))
    return b


def rtsp_sink_description(udp_port: int = 5400, encoder: str = "x264enc", bitrate_kbps: int = 4000) -> str:
    """A gst-launch fragment: raw I420 video in → H.264 RTP to 127.0.0.1:``udp_port``."""
    enc = (f"{encoder} speed-preset=ultrafast tune=zerolatency bitrate={bitrate_kbps} key-int-max=30"
           if encoder == "x264enc" else encoder)
    return (f"{enc} ! video/x-h264,profile=baseline ! rtph264pay config-interval=1 pt=96 ! "
            f"udpsink host=127.0.0.1 port={udp_port} sync=false async=false")


def start_rtsp_server(rtsp_port: int = 8554, udp_port: int = 5400, path: str = "/ds-test",
                      address: str = "127.0.0.1", *, user: str | None = None, password: str | None = None,
                      auth_method: str = "digest", tls_certfile: str | None = None,
                      tls_keyfile: str | None = None) -> GstRtspServer.RTSPServer:
    """Serve the H.264 RTP stream arriving on UDP ``udp_port`` at rtsp://address:rtsp_port/path
    (only to ``user``/``password`` when given, over TLS with ``tls_certfile``: see
    :func:`serve_rtsp_launch`)."""
    return serve_rtsp_launch(
        f'( udpsrc name=pay0 address=127.0.0.1 port={udp_port} buffer-size=524288 '
        f'caps="application/x-rtp, media=video, clock-rate=90000, encoding-name=(string)H264, payload=96" )',
        rtsp_port, path, address, user=user, password=password, auth_method=auth_method,
        tls_certfile=tls_certfile, tls_keyfile=tls_keyfile)


AUTH_METHODS = ("digest", "basic")
_ROLE = "estuary-viewer"


def require_login(server, factory, user: str, password: str, method: str = "digest") -> None:
    """Let only ``user`` (with ``password``) play ``factory``'s media: a client without them
    gets ``401 Unauthorized``. Digest never sends the password; basic sends it base64-encoded,
    so use it only on a trusted network or behind TLS."""
    from gi.repository import GstRtsp
    if method not in AUTH_METHODS:
        from estuary.errors import ConfigError
        raise ConfigError(f"RTSP auth method must be one of {AUTH_METHODS}, not {method!r}")
    if not user or not password:
        from estuary.errors import ConfigError
        raise ConfigError("RTSP authentication needs both a user and a password")
    auth = GstRtspServer.RTSPAuth.new()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", _ROLE)
    if method == "digest":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(user, password, token)
    else:
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    perms = GstRtspServer.RTSPPermissions.new()
    perms.add_permission_for_role(_ROLE, "media.factory.access", True)
    perms.add_permission_for_role(_ROLE, "media.factory.construct", True)
    factory.set_permissions(perms)


def serve_tls(server, certfile: str, keyfile: str | None = None) -> None:
    """Make ``server`` speak RTSP over TLS (``rtsps://``) with this certificate (PEM; the key
    may be in the same file). Call after :func:`require_login` when both are wanted."""
    from gi.repository import Gio, GLib
    try:
        cert = (Gio.TlsCertificate.new_from_files(certfile, keyfile) if keyfile
                else Gio.TlsCertificate.new_from_file(certfile))
    except GLib.Error as exc:
        from estuary.errors import ConfigError
        raise ConfigError(f"cannot load the RTSP TLS certificate {certfile}: {exc.message}") from None
    auth = server.get_auth() or GstRtspServer.RTSPAuth.new()
    auth.set_tls_certificate(cert)
    server.set_auth(auth)


def serve_rtsp_launch(launch: str, rtsp_port: int, path: str, address: str = "127.0.0.1", *,
                      user: str | None = None, password: str | None = None, auth_method: str = "digest",
                      tls_certfile: str | None = None, tls_keyfile: str | None = None):
    """Serve a gst-rtsp-server media (a launch line whose payloader is ``pay0``), shared by its
    clients, at rtsp://address:rtsp_port/path on the default main context. With ``user`` and
    ``password``, clients must log in (``auth_method``: ``digest``, the default, or ``basic``);
    clients then use rtsp://user:password@address:rtsp_port/path. With ``tls_certfile`` it is
    ``rtsps://`` (see :func:`serve_tls`)."""
    ensure_init()
    server = GstRtspServer.RTSPServer.new()
    server.set_address(address)
    server.set_service(str(rtsp_port))
    factory = GstRtspServer.RTSPMediaFactory.new()
    factory.set_launch(launch)
    factory.set_shared(True)
    if user is not None or password is not None:
        require_login(server, factory, user or "", password or "", auth_method)
    if tls_certfile:
        serve_tls(server, tls_certfile, tls_keyfile)
        from gi.repository import GstRtsp
        # RTP over UDP would leave the TLS session in clear: interleave it in the TLS connection
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        raise OSError(f"cannot start the RTSP server on {address}:{rtsp_port}")
    return server
