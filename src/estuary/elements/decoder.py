"""``esdecoder`` (aliases ``nvv4l2decoder``, ``nvjpegdec``-free): a decoder bin that takes
encoded video (H.264/H.265/... elementary or parsed streams) and outputs RGBA surfaces
(``video/x-raw(memory:NVMM)``). Inside: ``decodebin`` (software decoders by default, hardware
NVDEC where GStreamer's nvcodec registers it) → ``esconvert``.

When ``decodebin`` picks an NVDEC decoder and CUDA surfaces can be used here (torch with CUDA and
CuPy), the decoded 4:2:0 frames stay in GPU memory instead: the output caps are
``video/x-raw(memory:NVMM, memory:CUDAMemory)`` with format NV12 — or P010_10LE / P016_LE from
10- and 12-bit streams (HEVC Main10 cameras) — (still "NVMM", as DeepStream apps check), and
``nvstreammux`` converts them on the GPU into CUDA RGBA surfaces, as DeepStream's decoder → muxer
path does (``pyds.get_nvds_buf_surface_gpu`` then works on them). 4:2:2 and 4:4:4 streams, which
NVDEC decodes into other layouts, are decoded into system memory and converted there.
``ESTUARY_NVDEC_CUDA=0`` keeps all frames in system memory."""

from __future__ import annotations

import functools
import itertools

from estuary.codec.nal import is_non_reference, stream_layout
from estuary.errors import ConfigError, StreamError
from estuary.gst import Gst, GstBase
from estuary.gst.element import ElementBase, Prop, post_error
from estuary.surface.nv12 import SAMPLE_BYTES

__all__ = ["EsDecoder", "EsCudaSurfaces", "make_source_bin", "CUDA_NV12_CAPS", "NVDEC_CAPS", "chroma_420", "decoder_threads",
           "limit_decoder_threads", "link_decoded", "drop_frames", "skip_frames"]

#: NVDEC's two-plane 4:2:0 formats, which nvstreammux converts on the GPU (surface/nv12.py):
#: NV12 and its 16-bit twins from 10- and 12-bit streams
_CUDA_FORMATS = "{ " + ", ".join(SAMPLE_BYTES) + " }"
#: NVDEC frames left in GPU memory, labelled as our surfaces as well (apps test for memory:NVMM)
CUDA_NV12_CAPS = f"video/x-raw(memory:NVMM, memory:CUDAMemory), format=(string){_CUDA_FORMATS}"
#: the same frames as NVDEC gives them
NVDEC_CAPS = f"video/x-raw(memory:CUDAMemory), format=(string){_CUDA_FORMATS}"

_ENCODED = ("video/x-h264, stream-format=(string){ byte-stream, avc }, alignment=(string)au; "
            "video/x-h265, stream-format=(string){ byte-stream, hvc1, hev1 }, alignment=(string)au; "
            "video/mpeg; video/x-vp8; video/x-vp9; image/jpeg; video/x-av1")


_DECODER_NAMES = itertools.count()


def _deepstream_name(dec: Gst.Element, _pspec) -> None:
    """DeepStream's name for a decoder nobody named (a uridecodebin's child): apps find their
    decoder by it in child-added handlers (``name.find("nvv4l2decoder")``) to set its
    properties. GStreamer names an unnamed element after its type (estuarydecoderN) as it is
    constructed, after ``__init__``; a name given to the factory is kept."""
    if (dec.get_name() or "").startswith("estuarydecoder") and dec.get_parent() is None:
        dec.set_name(f"nvv4l2decoder{next(_DECODER_NAMES)}")


class EsDecoder(ElementBase, Gst.Bin):
    """Decoder bin: encoded video in, RGBA surfaces out."""

    __gtype_name__ = "EstuaryDecoder"
    FACTORY = "esdecoder"
    ALIASES = ("nvv4l2decoder",)
    METADATA = ("Estuary decoder", "Codec/Decoder/Video",
                "Decodes video to Estuary RGBA surfaces (memory:NVMM)", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, _ENCODED, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS,
                      "video/x-raw(memory:NVMM), format=(string)RGBA; " + CUDA_NV12_CAPS, None))
    PROPS = (
        Prop("gpu-id", int, 0, "GPU to use", 0, 64),
        Prop("bufapi-version", bool, True, "Accepted for compatibility (Jetson)"),
        Prop("enable-max-performance", bool, False, "Accepted for compatibility (Jetson)"),
        Prop("drop-frame-interval", int, 0, "Output every n-th decoded frame (0 or 1: all)", 0, 30),
        Prop("skip-frames", int, 0, "Frames to decode: 0 all, 1 all but non-reference, 2 key frames only", 0, 2),
        Prop("num-extra-surfaces", int, 0, "Accepted for compatibility", 0, 24),
        Prop("cudadec-memtype", int, 0, "Accepted for compatibility", 0, 2),
    )

    def __init__(self):
        super().__init__()
        self.connect("notify::name", _deepstream_name)
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
        self._src = Gst.GhostPad.new_from_template(
            "src", self._filter.get_static_pad("src"), self.get_pad_template("src"))
        self.add_pad(self._src)
        # push mode only inside: plugged by a decodebin straight after its typefind (a JPEG
        # photo, no parser between), the inner typefind would take the file in pull mode and push
        # frames from a thread of its own before the outer decodebin had exposed and linked this
        # output: "not-linked", an ERROR (a single JPEG photo through uridecodebin failed 2-40 %
        # of runs under load; GStreamer's jpegdec alone, never)
        self._decodebin.get_static_pad("sink").add_probe(Gst.PadProbeType.QUERY_UPSTREAM, _push_only)
        self._decodebin.connect("pad-added", self._on_pad)
        plug_without_esdecoder(self._decodebin)
        self._decodebin.connect("autoplug-query", _on_query)
        limit_decoder_threads(self._decodebin)
        skip_frames(self._decodebin, lambda: self.settings.skip_frames)

    def _on_pad(self, dbin, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        if not caps.get_structure(0).get_name().startswith("video/"):
            return
        drop_frames(pad, self.settings.drop_frame_interval)
        feats = caps.get_features(0)
        if feats is not None and feats.contains("memory:CUDAMemory"):
            # NVDEC's frames stay on the GPU (see _on_query): pass them on, labelled as surfaces
            tag = Gst.ElementFactory.make("escudasurfaces", None)
            self.add(tag)
            tag.sync_state_with_parent()
            res = pad.link(tag.get_static_pad("sink"))
            if res != Gst.PadLinkReturn.OK:  # a layout the muxer's kernel does not read
                post_error(self, StreamError(f"cannot take the decoder's {caps.to_string()} in GPU memory "
                                             f"({res.value_nick}); ESTUARY_NVDEC_CUDA=0 decodes into "
                                             "system memory"), "decoded video")
                return
            self._src.set_target(tag.get_static_pad("src"))
            return
        sink = self._convert.get_static_pad("sink")
        if not sink.is_linked():
            link_decoded(self, pad, sink)


def link_decoded(bin: Gst.Bin, pad: Gst.Pad, sink: Gst.Pad) -> list[Gst.Element]:
    """Links a decoder's video ``pad`` to ``sink`` (an ``esconvert``'s) in ``bin``; through
    GStreamer's ``videoconvert`` when the decoded format is one ``esconvert`` does not read —
    H.264 4:2:2 and 4:4:4, 10-bit H.264 and H.265 (HEVC Main10 cameras), ... — which would
    otherwise stop the stream with "not-negotiated". YUV becomes 8-bit 4:2:0 (I420), so that
    ``esconvert`` turns it into RGBA with the same colour arithmetic as every other stream; RGB
    becomes RGBA. Returns the elements it added (for a bin that rebuilds its decoder to
    remove with it)."""
    from estuary.gst import GstVideo
    from estuary.surface.convert import INPUT_FORMATS
    caps = pad.get_current_caps() or pad.query_caps(None)
    st = caps.get_structure(0) if caps.get_size() else None
    fmt = st.get_string("format") if st is not None else None
    added = []
    if fmt is not None and fmt not in INPUT_FORMATS:
        info = GstVideo.video_format_get_info(GstVideo.video_format_from_string(fmt))
        yuv = bool(info.flags & GstVideo.VideoFormatFlags.YUV)
        conv = Gst.ElementFactory.make("videoconvert", None)
        conv.set_property("dither", 0)  # 10-bit to 8: rounded, the same pixels every run
        want = Gst.ElementFactory.make("capsfilter", None)
        want.set_property("caps", Gst.Caps.from_string(f"video/x-raw, format={'I420' if yuv else 'RGBA'}"))
        added = [conv, want]
        for e in added:
            bin.add(e)
        conv.link(want)
        for e in added:
            e.sync_state_with_parent()
    res = pad.link(added[0].get_static_pad("sink") if added else sink)
    if res == Gst.PadLinkReturn.OK and added:
        res = added[-1].get_static_pad("src").link(sink)
    if res != Gst.PadLinkReturn.OK:  # said on the bus: the stream would stop with no reason
        post_error(bin, StreamError(f"cannot take the decoder's {caps.to_string()} ({res.value_nick})"),
                   "decoded video")
    return added


def _on_query(dbin, pad, element, query) -> bool:
    """``decodebin`` asks this for its decoder's caps queries until the decoder's pad is exposed:
    an NVDEC decoder is told that CUDA-memory 4:2:0 (NV12, P010_10LE, P016_LE) is wanted when
    CUDA surfaces are usable and the stream is 4:2:0, else system memory (left alone, GStreamer
    1.22's NVDEC decoders pick CUDA memory, which the converter cannot read; and they choose
    CUDA memory whatever the format, so a 4:4:4 stream offered CUDA 4:2:0 would stop with
    "not-negotiated"), so it negotiates that from its first frame. Other decoders and queries:
    decodebin's default."""
    factory = element.get_factory()
    if factory is None or factory.get_plugin_name() != "nvcodec":
        return False
    sink = element.get_static_pad("sink")
    on_gpu = cuda_surfaces_usable() and chroma_420(sink.get_current_caps() if sink is not None else None)
    want = Gst.Caps.from_string(NVDEC_CAPS if on_gpu else "video/x-raw")
    if query.type == Gst.QueryType.CAPS:
        filt = query.parse_caps()
        query.set_caps_result(filt.intersect_full(want, Gst.CapsIntersectMode.FIRST) if filt else want)
        return True
    if query.type == Gst.QueryType.ACCEPT_CAPS:
        query.set_accept_caps_result(want.can_intersect(query.parse_accept_caps()))
        return True
    return False


def chroma_420(caps: Gst.Caps | None) -> bool:
    """Whether the encoded stream of ``caps`` (a decoder's input) is 4:2:0, or does not say:
    from the parser's ``chroma-format`` (H.264, H.265) or ``sampling`` (JPEG), else its
    ``profile`` (H.265 ``main-422-10``, ``main-444``, ...; H.264 ``high-4:2:2-intra``, ...)."""
    if caps is None or caps.get_size() == 0:
        return True
    st = caps.get_structure(0)
    chroma = st.get_string("chroma-format")
    if chroma:
        return chroma == "4:2:0"
    sampling = st.get_string("sampling")  # jpegparse: YCbCr-4:2:0, YCbCr-4:4:4, GRAYSCALE, ...
    if sampling:
        return sampling == "YCbCr-4:2:0"
    profile = st.get_string("profile") or ""
    return not any(tag in profile for tag in ("422", "444", "4:2:2", "4:4:4"))


def cuda_surfaces_usable() -> bool:
    """Whether NVDEC frames may stay in GPU memory: torch sees a CUDA device, CuPy is installed
    (the muxer's conversion kernel) and ``ESTUARY_NVDEC_CUDA`` is not 0."""
    import os
    if os.environ.get("ESTUARY_NVDEC_CUDA", "1") == "0":
        return False
    return _cuda_and_cupy()


@functools.lru_cache(maxsize=1)
def _cuda_and_cupy() -> bool:
    try:
        import torch
        if not torch.cuda.is_available():
            return False
    except ImportError:
        return False
    from estuary.gst.cuda import cupy_available
    return cupy_available()


def _relabel(caps: Gst.Caps, to_surfaces: bool) -> Gst.Caps:
    """``caps`` with the CUDA-memory feature only (decoder side) or with our surface label too."""
    text = caps.to_string()
    if to_surfaces:
        text = text.replace("(memory:CUDAMemory)", "(memory:NVMM, memory:CUDAMemory)")
    else:
        text = text.replace("(memory:NVMM, memory:CUDAMemory)", "(memory:CUDAMemory)")
    return Gst.Caps.from_string(text)


class EsCudaSurfaces(ElementBase, GstBase.BaseTransform):
    """Passes NVDEC's CUDA-memory 4:2:0 frames (NV12, P010_10LE, P016_LE) through unchanged,
    labelled ``memory:NVMM`` as well (the caps DeepStream apps look for on a decoder's pad);
    ``nvstreammux`` converts them on the GPU."""

    __gtype_name__ = "EstuaryCudaSurfaces"
    FACTORY = "escudasurfaces"
    ALIASES = ()
    METADATA = ("Estuary CUDA surfaces", "Filter/Video", "Labels NVDEC CUDA frames as Estuary surfaces",
                "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, NVDEC_CAPS, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, CUDA_NV12_CAPS, None))

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.set_passthrough(True)

    def do_transform_caps(self, direction, caps, filt):
        out = _relabel(caps, to_surfaces=direction == Gst.PadDirection.SINK)
        return out.intersect(filt) if filt is not None else out


_AUTOPLUG_TRY, _AUTOPLUG_SKIP = 0, 2


def plug_without_esdecoder(bin: Gst.Bin) -> None:
    """Keeps ``bin`` (a decodebin or uridecodebin) from plugging ``esdecoder``: out of its list
    of candidates (:func:`decoder_factories`) and refused should it come up anyway
    (:func:`skip_esdecoder`)."""
    bin.connect("autoplug-factories", decoder_factories)
    bin.connect("autoplug-select", skip_esdecoder)


def decoder_factories(dbin, _pad, caps: Gst.Caps) -> list:
    """An ``autoplug-factories`` handler: decodebin's own candidates for ``caps`` — decodable
    factories of rank marginal or more that take them, parsers first, then by rank and name, the
    hardware ones left out under ``force-sw-decoders`` — without ``esdecoder``.

    Why refusing it in ``autoplug-select`` is not enough: a parser's output format is settled
    from the caps of all candidate decoders together, ``esdecoder``'s among them — H.264 "avc"
    first — so the parser chose avc, and a decoder that takes only byte-stream was then refused:
    with no gst-libav (Fedora's default, this project's GPU machine), ``openh264dec`` is the H.264
    decoder, and every MP4 input failed with "missing a plug-in"."""
    found = Gst.ElementFactory.list_filter(
        Gst.ElementFactory.list_get_elements(Gst.ELEMENT_FACTORY_TYPE_DECODABLE, Gst.Rank.MARGINAL),
        caps, Gst.PadDirection.SINK, caps.is_fixed())
    sw_only = dbin.find_property("force-sw-decoders") is not None and dbin.get_property("force-sw-decoders")
    found = [f for f in found if f.get_element_type() != EsDecoder.__gtype__
             and not (sw_only and f.list_is_type(Gst.ELEMENT_FACTORY_TYPE_HARDWARE))]
    found.sort(key=lambda f: (not f.list_is_type(Gst.ELEMENT_FACTORY_TYPE_PARSER), -f.get_rank(), f.get_name()))
    return found


def skip_esdecoder(dbin, pad, caps, factory):
    """An ``autoplug-select`` handler that keeps a decodebin from plugging ``esdecoder``: this
    decoder bin's inner decodebin (not into itself), and ``esurisrcbin``'s uridecodebin where
    decoding is in software. It also passes over NVIDIA's JPEG decoder for JPEGs that are not
    4:2:0 (4:4:4 photos and MJPEG cameras), which it fails on (measured on an H200, GStreamer
    1.22: "Internal data stream error", 0 frames): ``jpegdec`` decodes them."""
    if factory.get_element_type() == EsDecoder.__gtype__:
        return _AUTOPLUG_SKIP
    if factory.get_name() == "nvjpegdec" and not chroma_420(caps):
        return _AUTOPLUG_SKIP
    return _AUTOPLUG_TRY


#: frames up to this many pixels (1080p, in 16-pixel macroblocks) are decoded on one thread
_ONE_THREAD_PIXELS = 1920 * 1088


def decoder_threads(width: int, height: int, env: str | None = None) -> int:
    """Threads for a software (libav) decoder of ``width`` × ``height`` frames: 1 up to 1080p,
    0 (libav's choice: one a core) above; ``env`` (``ESTUARY_DECODER_THREADS``) overrides it
    with a number (0: libav's choice).

    Why one: on the CPU path inference keeps every core busy, so what counts is a frame's CPU
    time, not one stream's decoding speed — and libav's frame threads cost CPU to hand frames
    between them and hold a frame per thread (latency). avdec_h264 on 2 cores, 2,000 frames of
    640×272: 1.5 → 1.1 ms of CPU a frame; 1080p: 14 → 12 ms (docs/benchmarks.md, session 14).
    Streams decode in parallel anyway. Above 1080p one core may not keep up with one stream
    in real time (4K is four 1080p frames' work: ~45 ms on one core of that VM, by the 1080p
    figure), so libav threads it as before."""
    if env in (None, ""):
        return 1 if width * height <= _ONE_THREAD_PIXELS else 0
    try:
        n = int(env)
    except ValueError:
        n = -1
    if n < 0:
        raise ConfigError(f"ESTUARY_DECODER_THREADS={env!r}: give a number of threads, 0 or more "
                          "(0: one a core)", key="ESTUARY_DECODER_THREADS")
    return n


def _push_only(_pad, info):
    """The inner decodebin's scheduling query goes unanswered: its typefind then runs in push
    mode (what a failed query means to it), fed by the outer decodebin's streaming thread."""
    query = info.get_query()
    if query is not None and query.type == Gst.QueryType.SCHEDULING:
        return Gst.PadProbeReturn.DROP
    return Gst.PadProbeReturn.OK


def drop_frames(pad: Gst.Pad, interval: int) -> None:
    """DeepStream's ``drop-frame-interval`` on a decoder's output ``pad``: every ``interval``-th
    decoded frame goes on (the first, then ``interval`` later...), the others are dropped (0 and
    1: every frame). Frames are still decoded (the next ones need them), as NVDEC's are."""
    if interval <= 1:
        return  # (no Python call a frame for the default)
    seen = [0]

    def keep(_pad, _info):
        n, seen[0] = seen[0], seen[0] + 1
        return Gst.PadProbeReturn.OK if n % interval == 0 else Gst.PadProbeReturn.DROP
    pad.add_probe(Gst.PadProbeType.BUFFER, keep)


def skip_frames(bin: Gst.Bin, mode) -> None:
    """DeepStream's ``skip-frames`` (``dec-skip-frames`` on nvurisrcbin) on every video decoder
    ``bin`` plugs (nested bins too): ``mode()`` — read when a decoder is plugged, i.e. at the
    stream's start — 0 decodes every frame; 2 (decode_key) only key frames: the others never
    reach the decoder (any decoder: libav, NVDEC, OpenH264), so a camera is analysed at its
    key-frame rate for a fraction of the decoding; 1 (decode_non_ref) leaves out the pictures no
    other picture refers to: H.264 slices with ``nal_ref_idc`` 0, H.265 sub-layer non-reference
    pictures (TRAIL_N, TSA_N, STSA_N, RADL_N, RASL_N), and buffers a parser marks droppable."""
    bin.connect("deep-element-added", _on_decoder_for_skip, mode)


def _video_decoder(element) -> Gst.ElementFactory | None:
    """``element``'s factory when it is a video decoder (klass ``.../Decoder/Video``), else None."""
    factory = element.get_factory()
    return factory if factory is not None and "Decoder/Video" in (factory.get_metadata("klass") or "") else None


def _on_decoder_for_skip(_bin, _sub, element, mode) -> None:
    factory = _video_decoder(element)
    if factory is None or factory.get_element_type() == EsDecoder.__gtype__:  # (its own decoder gets it)
        return
    m = int(mode())
    sink = element.get_static_pad("sink")
    if m not in (1, 2) or sink is None:
        return  # (no Python call a frame for the default)
    if m == 2:
        sink.add_probe(Gst.PadProbeType.BUFFER, _drop_delta)
    else:
        sink.add_probe(Gst.PadProbeType.BUFFER, _drop_non_reference, {})


def _drop_delta(_pad, info):
    buf = info.get_buffer()
    return Gst.PadProbeReturn.DROP if buf is not None and buf.has_flags(Gst.BufferFlags.DELTA_UNIT) \
        else Gst.PadProbeReturn.OK


def _drop_non_reference(pad, info, state):
    buf = info.get_buffer()
    if buf is None or not buf.has_flags(Gst.BufferFlags.DELTA_UNIT):
        return Gst.PadProbeReturn.OK  # key frames, always
    if buf.has_flags(Gst.BufferFlags.DROPPABLE):
        return Gst.PadProbeReturn.DROP
    if "codec" not in state:  # the stream's codec and NAL length size, from the caps once
        caps = pad.get_current_caps()
        st = caps.get_structure(0) if caps is not None and caps.get_size() else None
        if st is None:
            return Gst.PadProbeReturn.OK
        data, cd = None, st.get_value("codec_data") if st.has_field("codec_data") else None
        if isinstance(cd, Gst.Buffer):
            ok, mi = cd.map(Gst.MapFlags.READ)
            if ok:
                data = bytes(mi.data)
                cd.unmap(mi)
        state["codec"], state["length_size"] = stream_layout(st.get_name(), st.get_string("stream-format"), data)
    if state["codec"] is None:
        return Gst.PadProbeReturn.OK
    ok, mi = buf.map(Gst.MapFlags.READ)
    if not ok:
        return Gst.PadProbeReturn.OK
    try:
        drop = is_non_reference(bytes(mi.data), state["codec"], state["length_size"], state)
    finally:
        buf.unmap(mi)
    return Gst.PadProbeReturn.DROP if drop else Gst.PadProbeReturn.OK


def limit_decoder_threads(bin: Gst.Bin) -> None:
    """Gives each libav video decoder that ``bin`` (a decodebin or uridecodebin) plugs the
    threads :func:`decoder_threads` says for its stream's size, set from its input caps before
    it opens (and again should the size change). Hardware decoders are left alone."""
    bin.connect("deep-element-added", _on_element_added)


def _on_element_added(_bin, _sub, element) -> None:
    factory = _video_decoder(element)
    if factory is None or factory.get_plugin_name() != "libav" or element.find_property("max-threads") is None:
        return
    import os
    env = os.environ.get("ESTUARY_DECODER_THREADS")
    element.get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, _on_caps, env)


def _on_caps(pad, info, env):
    event = info.get_event()
    if event.type != Gst.EventType.CAPS:
        return Gst.PadProbeReturn.OK
    s = event.parse_caps().get_structure(0)
    ok_w, w = s.get_int("width")
    ok_h, h = s.get_int("height")
    if ok_w and ok_h:
        dec = pad.get_parent_element()
        try:
            dec.set_property("max-threads", decoder_threads(w, h, env))
        except ConfigError as e:  # a bad setting: an ERROR on the bus naming it, not a crash
            post_error(dec, e, "ESTUARY_DECODER_THREADS")
    return Gst.PadProbeReturn.OK


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
