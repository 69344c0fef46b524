"""Encoders under DeepStream's names: ``nvv4l2h264enc``, ``nvv4l2h265enc`` and ``nvjpegenc``.

Each is a bin over the encoder this machine has: NVENC (``nvh264enc`` / ``nvh265enc``, which
GStreamer's nvcodec plugin registers only where NVENC works) or else x264 / x265, and
``jpegenc`` for JPEG. DeepStream's properties are mapped onto it (engine-free, in
:func:`x26x_settings`): ``bitrate`` in bit/s becomes x264/x265's kbit/s, ``iframeinterval`` the
key-frame distance, ``preset-level`` a speed preset, ``profile`` the output caps' profile,
``insert-sps-pps`` a parser that repeats the parameter sets before every IDR frame.

The bins accept what DeepStream's encoders accept (``video/x-raw(memory:NVMM)`` I420/NV12 from
``nvvideoconvert``) and plain system-memory video, and produce what they produce: byte-stream,
access-unit-aligned H.264/H.265, or JPEG images.
"""

from __future__ import annotations

import logging

from estuary.gst import Gst
from estuary.gst.element import ElementBase, Prop

__all__ = ["EsH264Enc", "EsH265Enc", "EsJpegEnc", "x26x_settings", "PRESETS"]

log = logging.getLogger("estuary")

#: DeepStream preset-level (0 Disable, 1 UltraFast, 2 Fast, 3 Medium, 4 Slow) → x264/x265
#: speed-preset nick and nvh26Xenc preset nick. UltraFast, DeepStream's default, is the one that
#: keeps a CPU encoder real-time.
PRESETS = {0: ("medium", "default"), 1: ("ultrafast", "low-latency-hp"), 2: ("veryfast", "hp"),
           3: ("medium", "default"), 4: ("slow", "hq")}
#: DeepStream profile numbers → caps profile names
H264_PROFILES = {0: "baseline", 2: "main", 4: "high", 7: "high-4:4:4"}
H265_PROFILES = {0: "main", 1: "main-10"}


def x26x_settings(bitrate: int, iframeinterval: int, preset_level: int, control_rate: int,
                  insert_vui: bool, insert_aud: bool, num_b_frames: int, h265: bool = False,
                  profile: int = 0) -> dict:
    """x264enc / x265enc properties for DeepStream encoder settings (``bitrate`` in bit/s)."""
    out = {
        "bitrate": max(1, int(bitrate) // 1000),       # x264/x265: kbit/s
        "key-int-max": int(iframeinterval),
        "speed-preset": PRESETS.get(int(preset_level), PRESETS[1])[0],
        # NVENC as DeepStream drives it has no look-ahead; x26x's default look-ahead would hold
        # back ~40 frames, which a live RTSP output cannot afford
        "tune": "zerolatency",
    }
    if not h265:
        out.update({"insert-vui": bool(insert_vui), "aud": bool(insert_aud),
                    "bframes": int(num_b_frames),
                    # constant bitrate: bound the rate with a 1 s VBV buffer; VBR: average only
                    "vbv-buf-capacity": 1000 if int(control_rate) == 1 else 0,
                    # x264 derives the SPS profile from the tools used: Main needs CABAC, High
                    # also the 8x8 transform (the ultrafast preset turns both off)
                    "cabac": int(profile) >= 2, "dct8x8": int(profile) >= 4})
    return out


def _nv_settings(bitrate: int, iframeinterval: int, preset_level: int, control_rate: int) -> dict:
    return {"bitrate": max(1, int(bitrate) // 1000), "gop-size": int(iframeinterval),
            "preset": PRESETS.get(int(preset_level), PRESETS[1])[1],
            "rc-mode": "cbr" if int(control_rate) == 1 else "vbr"}


def _set(element, name: str, value) -> None:
    """Set a property by value or, for enums and flags, by nick (as gst-launch does)."""
    if element.find_property(name) is None:
        return
    if isinstance(value, str) and element.find_property(name).value_type.name != "gchararray":
        Gst.util_set_object_arg(element, name, value)
    else:
        element.set_property(name, value)


_RAW_IN = "video/x-raw(memory:NVMM), format=(string){ I420, NV12 }; video/x-raw, format=(string){ I420, NV12 }"
_ENC_PROPS = (
    Prop("bitrate", int, 4000000, "Target bitrate in bit/s (x264/x265 get kbit/s)", 0, 2**32 - 1),
    Prop("control-rate", int, 1, "0 variable, 1 constant bitrate (x264: a 1 s VBV buffer)", 0, 1),
    Prop("iframeinterval", int, 30, "Frames between key frames", 0, 2**32 - 1),
    Prop("idrinterval", int, 256, "Accepted; every key frame is an IDR frame here", 0, 2**32 - 1),
    Prop("preset-level", int, 1, "0 disable, 1 UltraFast, 2 Fast, 3 Medium, 4 Slow (speed preset)", 0, 4),
    Prop("insert-sps-pps", bool, False, "Repeat SPS/PPS before every IDR frame"),
    Prop("insert-vui", bool, False, "Write VUI (H.264)"),
    Prop("insert-aud", bool, False, "Write access-unit delimiters (H.264)"),
    Prop("num-B-Frames", int, 0, "B-frames between references (H.264)", 0, 2),
    Prop("bufapi-version", bool, False, "Accepted (Jetson, DeepStream 5.x)"),
    Prop("maxperf-enable", bool, False, "Accepted (Jetson)"),
    Prop("peak-bitrate", int, 0, "Accepted (Jetson)", 0, 2**32 - 1),
    Prop("vbv-size", int, 4000000, "Accepted (Jetson)", 0, 2**32 - 1),
    Prop("gpu-id", int, 0, "Accepted (one device per process here)", 0, 2**32 - 1),
)


class _VideoEncoderBin(ElementBase):
    """nvvideoconvert-compatible input → system memory → encoder → parser (byte-stream, au).

    A mixin, not a Gst.Bin subclass: an intermediate Python GType between Gst.Bin and the
    registered class leaves the instance's pad templates unreachable from Python."""

    CODEC = "h264"
    CANDIDATES: tuple[str, ...] = ()
    PROFILES: dict[int, str] = {}

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.backend = next((n for n in self.CANDIDATES if Gst.ElementFactory.find(n) is not None), None)
        if self.backend is None:
            raise RuntimeError(f"no {self.CODEC.upper()} encoder: install gstreamer1.0-plugins-ugly "
                               f"({self.CANDIDATES[-1]}) or -bad (x265enc)")
        self._conv = Gst.ElementFactory.make("esconvert", None)
        self._vconv = Gst.ElementFactory.make("videoconvert", None)
        self._enc = Gst.ElementFactory.make(self.backend, None)
        self._caps = Gst.ElementFactory.make("capsfilter", None)
        self._parse = Gst.ElementFactory.make(f"{self.CODEC}parse", None)
        self._out = Gst.ElementFactory.make("capsfilter", None)
        chain = [self._conv, self._vconv, self._enc, self._caps, self._parse, self._out]
        for e in chain:
            self.add(e)
        for a, b in zip(chain, chain[1:]):
            if not a.link(b):
                raise RuntimeError(f"could not link {a.get_name()} to {b.get_name()}")
        self._out.set_property("caps", Gst.Caps.from_string(
            f"video/x-{self.CODEC}, stream-format=byte-stream, alignment=au"))
        self.add_pad(Gst.GhostPad.new_from_template("sink", self._conv.get_static_pad("sink"),
                                                    self.get_pad_template("sink")))
        self.add_pad(Gst.GhostPad.new_from_template("src", self._out.get_static_pad("src"),
                                                    self.get_pad_template("src")))
        self._apply()

    def do_change_state(self, transition):
        # checked when the pipeline starts, so the app sees a bus ERROR naming the element
        profile = self.settings.profile
        if transition == Gst.StateChange.NULL_TO_READY and profile not in self.PROFILES:
            from estuary.errors import ConfigError
            raise ConfigError(f"profile {profile} is not supported here; use one of "
                              f"{', '.join(f'{k} ({v})' for k, v in self.PROFILES.items())}", key="profile")
        return Gst.Bin.do_change_state(self, transition)

    def _apply(self) -> None:
        s = self.settings.snapshot()
        if self.backend.startswith("nvh"):
            values = _nv_settings(s["bitrate"], s["iframeinterval"], s["preset_level"], s["control_rate"])
        else:
            values = x26x_settings(s["bitrate"], s["iframeinterval"], s["preset_level"], s["control_rate"],
                                   s["insert_vui"], s["insert_aud"], s["num_B_Frames"],
                                   h265=self.CODEC == "h265", profile=s["profile"])
        for name, value in values.items():
            _set(self._enc, name, value)
        profile = self.PROFILES.get(s["profile"])
        caps = f"video/x-{self.CODEC}, stream-format=byte-stream"
        self._caps.set_property("caps", Gst.Caps.from_string(caps + (f", profile={profile}" if profile else "")))
        self._parse.set_property("config-interval", -1 if s["insert_sps_pps"] else 0)

    def property_changed(self, key, value) -> None:
        if getattr(self, "_enc", None) is not None:
            self._apply()   # bitrate changes apply while playing, as on DeepStream


class EsH264Enc(_VideoEncoderBin, Gst.Bin):
    """``nvv4l2h264enc``: H.264 over NVENC where GStreamer has it, else x264."""

    __gtype_name__ = "EstuaryH264Enc"
    FACTORY = "esh264enc"
    ALIASES = ("nvv4l2h264enc",)
    METADATA = ("Estuary H.264 encoder", "Codec/Encoder/Video",
                "H.264 encoder with DeepStream's nvv4l2h264enc properties (NVENC or x264)", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, _RAW_IN, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS,
                      "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au", None))
    CODEC = "h264"
    CANDIDATES = ("nvh264enc", "x264enc")
    PROFILES = H264_PROFILES
    PROPS = _ENC_PROPS + (Prop("profile", int, 0, "0 Baseline, 2 Main, 4 High, 7 High 4:4:4", 0, 7),)
    do_change_state = _VideoEncoderBin.do_change_state  # PyGObject hooks vfuncs of the class itself


class EsH265Enc(_VideoEncoderBin, Gst.Bin):
    """``nvv4l2h265enc``: H.265 over NVENC where GStreamer has it, else x265."""

    __gtype_name__ = "EstuaryH265Enc"
    FACTORY = "esh265enc"
    ALIASES = ("nvv4l2h265enc",)
    METADATA = ("Estuary H.265 encoder", "Codec/Encoder/Video",
                "H.265 encoder with DeepStream's nvv4l2h265enc properties (NVENC or x265)", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, _RAW_IN, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS,
                      "video/x-h265, stream-format=(string)byte-stream, alignment=(string)au", None))
    CODEC = "h265"
    CANDIDATES = ("nvh265enc", "x265enc")
    PROFILES = {0: "main"}   # Main10 needs 10-bit input, which DeepStream's apps do not feed
    PROPS = _ENC_PROPS + (Prop("profile", int, 0, "0 Main (Main10 needs 10-bit input)", 0, 1),)
    do_change_state = _VideoEncoderBin.do_change_state


class EsJpegEnc(ElementBase, Gst.Bin):
    """``nvjpegenc``: JPEG images from DeepStream surfaces or system memory (over ``jpegenc``)."""

    __gtype_name__ = "EstuaryJpegEnc"
    FACTORY = "esjpegenc"
    ALIASES = ("nvjpegenc",)
    METADATA = ("Estuary JPEG encoder", "Codec/Encoder/Image",
                "JPEG encoder with DeepStream's nvjpegenc properties (over jpegenc)", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS,
                      "video/x-raw(memory:NVMM); video/x-raw", None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, "image/jpeg", None))
    PROPS = (Prop("quality", int, 85, "JPEG quality", 0, 100),
             Prop("gpu-id", int, 0, "Accepted (one device per process here)", 0, 2**32 - 1))

    def __init__(self):
        super().__init__()
        self.init_settings()
        self._conv = Gst.ElementFactory.make("esconvert", None)
        self._vconv = Gst.ElementFactory.make("videoconvert", None)
        self._enc = Gst.ElementFactory.make("jpegenc", None)
        if self._enc is None:
            raise RuntimeError("no JPEG encoder: install gstreamer1.0-plugins-good (jpegenc)")
        chain = [self._conv, self._vconv, self._enc]
        for e in chain:
            self.add(e)
        for a, b in zip(chain, chain[1:]):
            a.link(b)
        self.add_pad(Gst.GhostPad.new_from_template("sink", self._conv.get_static_pad("sink"),
                                                    self.get_pad_template("sink")))
        self.add_pad(Gst.GhostPad.new_from_template("src", self._enc.get_static_pad("src"),
                                                    self.get_pad_template("src")))
        self._enc.set_property("quality", self.settings.quality)

    def property_changed(self, key, value) -> None:
        if key == "quality":
            self._enc.set_property("quality", int(value))
