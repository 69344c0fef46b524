"""``esdecoder`` (aliases ``nvv4l2decoder``, ``nvjpegdec``-free): a decoder bin that takes
encoded video (H.264/H.265/... elementary or parsed streams) and outputs RGBA surfaces
(``video/x-raw(memory:NVMM)``). Inside: ``decodebin`` (software decoders by default, hardware
NVDEC where GStreamer's nvcodec registers it) → ``esconvert``."""

from __future__ import annotations

from estuary.gst import Gst
from estuary.gst.element import ElementBase, Prop

__all__ = ["EsDecoder", "make_source_bin"]

_ENCODED = ("video/x-h264, stream-format=(string){ byte-stream, avc }, alignment=(string)au; "
            "video/x-h265, stream-format=(string){ byte-stream, hvc1, hev1 }, alignment=(string)au; "
            "video/mpeg; video/x-vp8; video/x-vp9; image/jpeg; video/x-av1")


class EsDecoder(ElementBase, Gst.Bin):
    """Decoder bin: encoded video in, RGBA surfaces out."""

    __gtype_name__ = "EstuaryDecoder"
    FACTORY = "esdecoder"
    ALIASES = ("nvv4l2decoder",)
    METADATA = ("Estuary decoder", "Codec/Decoder/Video",
                "Decodes video to Estuary RGBA surfaces (memory:NVMM)", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, _ENCODED, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS,
                      "video/x-raw(memory:NVMM), format=(string)RGBA", None))
    PROPS = (
        Prop("gpu-id", int, 0, "GPU to use", 0, 64),
        Prop("bufapi-version", bool, True, "Accepted for compatibility (Jetson)"),
        Prop("enable-max-performance", bool, False, "Accepted for compatibility (Jetson)"),
        Prop("drop-frame-interval", int, 0, "Output every n-th frame (0: all)", 0, 30),
        Prop("num-extra-surfaces", int, 0, "Accepted for compatibility", 0, 24),
        Prop("cudadec-memtype", int, 0, "Accepted for compatibility", 0, 2),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self._decodebin = Gst.ElementFactory.make("decodebin", None)
        self._convert = Gst.ElementFactory.make("esconvert", None)
        self._filter = Gst.ElementFactory.make("capsfilter", None)
        self._filter.set_property("caps", Gst.Caps.from_string("video/x-raw(memory:NVMM), format=RGBA"))
        for e in (self._decodebin, self._convert, self._filter):
            self.add(e)
        self._convert.link(self._filter)
        self.add_pad(Gst.GhostPad.new_from_template(
            "sink", self._decodebin.get_static_pad("sink"), self.get_pad_template("sink")))
        self.add_pad(Gst.GhostPad.new_from_template(
            "src", self._filter.get_static_pad("src"), self.get_pad_template("src")))
        self._decodebin.connect("pad-added", self._on_pad)
        self._decodebin.connect("autoplug-select", _skip_self)

    def _on_pad(self, dbin, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        if caps.get_structure(0).get_name().startswith("video/"):
            sink = self._convert.get_static_pad("sink")
            if not sink.is_linked():
                pad.link(sink)


_AUTOPLUG_TRY, _AUTOPLUG_SKIP = 0, 2


def _skip_self(dbin, pad, caps, factory):
    """Keep the inner decodebin from plugging this decoder bin into itself."""
    return _AUTOPLUG_SKIP if factory.get_element_type() == EsDecoder.__gtype__ else _AUTOPLUG_TRY


def autoplug_rank() -> int:
    """Rank for ``esdecoder``: above the software decoders so that ``uridecodebin``/``decodebin``
    output Estuary surfaces (``memory:NVMM``) as DeepStream apps expect. Set the environment
    variable ``ESTUARY_AUTOPLUG=0`` to keep plain decoders first."""
    import os
    if os.environ.get("ESTUARY_AUTOPLUG", "1") == "0":
        return int(Gst.Rank.NONE)
    return int(Gst.Rank.PRIMARY) + 100


def make_source_bin(index: int, uri: str, *, file_loop: bool = False, reconnect_interval: int = 0,
                    reconnect_attempts: int = -1, startup_timeout: int = 15) -> Gst.Bin:
    """A source bin ``source-bin-NN`` for a URI (file://, rtsp://, http(s)://, or a path) whose
    ``src`` ghost pad outputs RGBA surfaces, ready to link to ``esmux``'s ``sink_<index>``.

    Inside is an ``esurisrcbin``: ``reconnect_interval`` (seconds, 0 = off) reconnects a network
    source that fails, ends or stalls, with backoff, at most ``reconnect_attempts`` times in a row
    (-1: for ever); ``file_loop`` plays a file again and again; an input that shows no video
    stream within ``startup_timeout`` seconds is an ERROR (see :mod:`estuary.elements.urisrc`)."""
    import os
    if uri.startswith("/dev/video") or uri.startswith("v4l2://"):
        return _camera_bin(index, uri.replace("v4l2://", "") or "/dev/video0")
    if "://" not in uri:
        path = os.path.abspath(uri)
        if not os.path.exists(path):
            from estuary.errors import SourceError
            raise SourceError(f"source {index}: no such file: {uri}")
        uri = Gst.filename_to_uri(path)
    b = Gst.Bin.new(f"source-bin-{index:02d}")
    src = Gst.ElementFactory.make("esurisrcbin", f"uri-decode-bin-{index}")
    src.set_property("uri", uri)
    src.set_property("source-id", index)
    src.set_property("file-loop", file_loop)
    src.set_property("rtsp-reconnect-interval", reconnect_interval)
    src.set_property("rtsp-reconnect-attempts", reconnect_attempts)
    src.set_property("startup-timeout", startup_timeout)
    b.add(src)
    ghost = Gst.GhostPad.new_no_target("src", Gst.PadDirection.SRC)
    b.add_pad(ghost)

    def on_pad(_src, pad):
        ghost.set_target(pad)

    src.connect("pad-added", on_pad)
    return b


EsDecoder.RANK = autoplug_rank()


def _camera_bin(index: int, device: str) -> Gst.Bin:
    """A V4L2 camera source bin: ``v4l2src → videoconvert → esconvert`` (RGBA surfaces)."""
    import os
    from estuary.errors import SourceError
    if not os.path.exists(device):
        raise SourceError(f"source {index}: no camera at {device}")
    b = Gst.Bin.new(f"source-bin-{index:02d}")
    chain = [Gst.ElementFactory.make(n, None) for n in ("v4l2src", "videoconvert", "esconvert", "capsfilter")]
    chain[0].set_property("device", device)
    chain[3].set_property("caps", Gst.Caps.from_string("video/x-raw(memory:NVMM), format=RGBA"))
    for e in chain:
        b.add(e)
    for a, c in zip(chain, chain[1:]):
        a.link(c)
    b.add_pad(Gst.GhostPad.new("src", chain[-1].get_static_pad("src")))
    return b
