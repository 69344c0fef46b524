"""``esurisrcbin`` (alias ``nvurisrcbin``): a URI source that outputs RGBA surfaces
(``video/x-raw(memory:NVMM)``) on a sometimes pad ``vsrc_0``, and that survives its input going
away.

Inside: ``uridecodebin`` (rebuilt on every reconnection) → ``esconvert`` → ``capsfilter``. The
``uridecodebin`` plugs a plain decoder where decoding is in software (no NVDEC): this bin's own
``esconvert`` makes the surfaces, not a second one inside an autoplugged ``esdecoder`` (see
:func:`_plain_decoder`). The converter and the output pad stay, so the muxer downstream keeps
its sink pad and sees the source as temporarily absent (a live muxer pushes batches without it)
while it reconnects.

* ``rtsp-reconnect-interval`` > 0 (seconds): an error, an end of stream or no data for that long
  makes the source reconnect — after ``interval``, then twice that, ... up to
  ``reconnect-backoff-max`` — at most ``rtsp-reconnect-attempts`` times in a row (-1: for ever).
  It works for any network URI (RTSP, HTTP), not only RTSP. Each attempt posts an element message
  ``estuary-source-reconnect`` (source-id, uri, attempt, delay, reason); data flowing again posts
  ``estuary-source-restored`` (source-id, uri, down-seconds). Giving up posts an ERROR naming the
  source, the attempts and the last cause.
* ``file-loop``: at the end of the input the source starts again from the beginning, with
  timestamps continuing (DeepStream's nvurisrcbin ``file-loop``).
* Without either, errors pass through unchanged (the pipeline's source policy decides; see
  :func:`estuary.runner.run`), and an input without a decodable video stream is an ERROR naming it
  and the streams it does have.
* ``startup-timeout``: an input that shows no video stream within that many seconds is an ERROR.
  ``decodebin`` drops errors its children post while it is still setting them up (a corrupt MP4
  can fail that way: measured on GStreamer 1.22, about one corrupted file in eight), which would
  otherwise leave a non-live muxer waiting for that source for ever.
"""

from __future__ import annotations

import threading
import time

from estuary.elements.decoder import (CUDA_NV12_CAPS, drop_frames, limit_decoder_threads, link_decoded,
                                      plug_without_esdecoder, skip_frames)
from estuary.elements.smartrec import SMART_RECORD_PROPS, SMART_RECORD_SIGNALS, SmartRecordMixin
from estuary.gst import GLib, Gst, is_inside
from estuary.gst.element import ElementBase, Prop
from estuary.redact import redact

__all__ = ["EsUriSrcBin"]

_OUT_CAPS = "video/x-raw(memory:NVMM), format=(string)RGBA"


def _plain_decoder() -> bool:
    """Whether this bin's ``uridecodebin`` takes a plain (software) decoder instead of the
    autoplugged ``esdecoder``: yes when GStreamer has no NVDEC decoders (the ``nvcodec`` plugin
    registers none without a GPU), whose CUDA-memory path needs ``esdecoder``. Otherwise
    ``esdecoder`` (a decodebin → esconvert) sits inside and this bin's ``esconvert`` passes its
    surfaces through: per frame a second H.264 parser, two caps filters and a Python chain call
    for nothing (1-stream OpenVINO INT8 pipeline on 2 cores: 22.6 → 22.1 ms a frame, 87 → 89
    fps; docs/benchmarks.md, session 10). ``ESTUARY_URISRC_ESDECODER=1`` keeps ``esdecoder``."""
    import os
    if os.environ.get("ESTUARY_URISRC_ESDECODER") == "1":
        return False
    return not any(isinstance(f, Gst.ElementFactory) and "Decoder" in (f.get_metadata("klass") or "")
                   for f in Gst.Registry.get().get_feature_list_by_plugin("nvcodec"))


#: (a tuple, not a flag mask: GStreamer's extended message types — stream-collection, which every
#: MPEG-TS input posts, streams-selected, redirect... — share bits with WARNING and INFO)
_TEXT_MESSAGES = (Gst.MessageType.PROGRESS, Gst.MessageType.WARNING, Gst.MessageType.INFO)


def _redacted(message):
    """``message`` (PROGRESS, WARNING or INFO from the decoder) with its texts redacted: the
    elements inside quote the real URI, password included."""
    if message.type == Gst.MessageType.PROGRESS:
        kind, code, text = message.parse_progress()
        return message if redact(text) == text else Gst.Message.new_progress(message.src, kind, code, redact(text))
    parse, new = ((message.parse_warning, Gst.Message.new_warning) if message.type == Gst.MessageType.WARNING
                  else (message.parse_info, Gst.Message.new_info))
    err, debug = parse()
    if redact(err.message) == err.message and redact(debug) == (debug or ""):
        return message
    err = GLib.Error.new_literal(GLib.quark_from_string(err.domain), redact(err.message), err.code)
    return new(message.src, err, redact(debug))


class EsUriSrcBin(SmartRecordMixin, ElementBase, Gst.Bin):
    """URI source bin with reconnection and looping."""

    __gtype_name__ = "EstuaryUriSrcBin"
    FACTORY = "esurisrcbin"
    ALIASES = ("nvurisrcbin",)
    METADATA = ("Estuary URI source bin", "Source/Video",
                "Decodes a URI to Estuary RGBA surfaces; reconnects network sources and loops files",
                "Estuary")
    #: RGBA surfaces, or NVDEC's frames left in GPU memory (an autoplugged esdecoder's; nvstreammux
    #: converts them on the GPU)
    PAD_TEMPLATES = (("vsrc_%u", Gst.PadDirection.SRC, Gst.PadPresence.SOMETIMES,
                      f"{_OUT_CAPS}; {CUDA_NV12_CAPS}", None),)
    PROPS = (
        Prop("uri", str, None, "URI of the input (file://, rtsp://, http(s)://)"),
        Prop("source-id", int, 0, "Source index, used in messages", 0, 2**31 - 1),
        Prop("file-loop", bool, False, "Start the input again at its end"),
        Prop("rtsp-reconnect-interval", int, 0,
             "Seconds without data (or after an error or end of stream) before reconnecting; "
             "0: never reconnect", 0, 3600),
        Prop("rtsp-reconnect-attempts", int, -1,
             "Reconnection attempts in a row before giving up (-1: no limit)", -1, 2**31 - 1),
        Prop("reconnect-backoff-max", int, 30,
             "Longest wait between attempts in seconds (the wait doubles from the interval)", 1, 3600),
        Prop("startup-timeout", int, 15,
             "Seconds to wait for the input's video stream before posting an ERROR (0: no limit)",
             0, 3600),
        Prop("latency", int, 100, "RTSP jitter buffer in ms", 0, 2**31 - 1),
        Prop("drop-on-latency", bool, False, "Drop RTSP packets that arrive later than latency"),
        Prop("select-rtp-protocol", int, 0, "RTP transport: 0 any (UDP first), 4 TCP only", 0, 4),
        Prop("udp-buffer-size", int, 524288, "Kernel receive buffer of an RTSP camera's UDP sockets, bytes "
             "(0: the system's default; raise it for 4K cameras that lose packets)", 0, 2**31 - 1),
        Prop("gpu-id", int, 0, "GPU to use", 0, 64),
        Prop("cudadec-memtype", int, 0, "Accepted for compatibility", 0, 2),
        Prop("num-extra-surfaces", int, 0, "Accepted for compatibility", 0, 24),
        Prop("drop-frame-interval", int, 0, "Output every n-th decoded frame (0 or 1: all)", 0, 30),
        Prop("dec-skip-frames", int, 0, "Frames to decode: 0 all, 1 all but non-reference, 2 key frames only", 0, 2),
    ) + SMART_RECORD_PROPS
    __gsignals__ = SMART_RECORD_SIGNALS
    # (here, not only inherited: ElementBase turns an exception in a do_ method into a bus ERROR)
    do_start_sr = SmartRecordMixin.do_start_sr
    do_stop_sr = SmartRecordMixin.do_stop_sr

    def __init__(self):
        super().__init__()
        self.init_settings()
        self._conv = Gst.ElementFactory.make("esconvert", None)
        self._filter = Gst.ElementFactory.make("capsfilter", None)
        self._filter.set_property("caps", Gst.Caps.from_string(_OUT_CAPS))
        for e in (self._conv, self._filter):
            self.add(e)
        self._conv.link(self._filter)
        self._lock = threading.RLock()
        self._ghost = None
        self._dec = None
        self._fmtconv: list = []  # a videoconvert between decoder and esconvert (link_decoded)
        self._video_pad = None  # the decoder's video pad in use (one a decoder)
        self._found: list[str] = []
        self._missing: list[str] = []  # caps of streams no decoder was found for
        self._playing = False
        self._last_data = 0.0
        self._down_since: float | None = None
        self._attempt = 0
        self._pending: float | None = None  # monotonic time of the next rebuild
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self._started: float | None = None  # monotonic time of READY→PAUSED
        # file-loop: running-time offset of the current pass and the end of what was output
        self._offset = 0
        self._end = 0
        # an EOS sent by the application (SIGINT → pipeline EOS): end for real, no loop/reconnect
        self._eos_requested = False
        self._sr_setup()

    def do_get_property(self, pspec):
        if pspec.name == "smart-rec-status":
            return self._sr_status()
        return ElementBase.do_get_property(self, pspec)

    # -- the replaceable decoder ----------------------------------------------------------------
    def _build_decoder(self):
        s = self.settings
        if not s.uri:
            from estuary.errors import ConfigError
            raise ConfigError(f"{self.get_name()}: set the uri property", key="uri")
        dec = Gst.ElementFactory.make("uridecodebin", None)
        from estuary.credentials import expand_uri
        dec.set_property("uri", expand_uri(s.uri, f"{self.get_name()} uri"))  # ${NAME}: from the environment
        dec.connect("pad-added", self._on_pad)
        dec.connect("no-more-pads", self._on_no_more_pads)
        dec.connect("source-setup", self._on_source_setup)
        if _plain_decoder():
            plug_without_esdecoder(dec)
            limit_decoder_threads(dec)
        self._sr_watch(dec)  # first: smart record taps every packet, also those skip-frames drops
        skip_frames(dec, lambda: self.settings.dec_skip_frames)
        self._found = []
        self.add(dec)
        self._dec = dec
        return dec

    def _on_source_setup(self, _dec, source):
        s = self.settings
        names = {p.name for p in source.list_properties()}
        if "latency" in names:
            source.set_property("latency", s.latency)
        if "drop-on-latency" in names:
            source.set_property("drop-on-latency", s.drop_on_latency)
        if "udp-buffer-size" in names:
            source.set_property("udp-buffer-size", s.udp_buffer_size)
        if "protocols" in names and s.select_rtp_protocol == 4:
            source.set_property("protocols", 4)  # GST_RTSP_LOWER_TRANS_TCP

    def _on_pad(self, dec, pad):
        caps = pad.get_current_caps() or pad.query_caps(None)
        name = caps.get_structure(0).get_name()
        self._found.append(name)
        with self._lock:  # (two demuxer pads can come at once: RTSP audio and video)
            stale = self._fmtconv and not self._has_video() and not self._fmtconv[0].get_static_pad("sink").is_linked()
            if stale:
                # the format converter of a decoder pad that is gone (the pipeline was restarted:
                # READY and back): it still holds esconvert's input, so the new pad found it
                # taken and the source said it had no video
                for e in self._fmtconv:
                    e.set_state(Gst.State.NULL)
                    self.remove(e)
                self._fmtconv = []
        sink = self._conv.get_static_pad("sink")
        if not name.startswith("video/") or sink.is_linked() or self._has_video():
            return
        feats = caps.get_features(0)
        # an esdecoder that kept NVDEC's frames in GPU memory: they leave this bin as they are
        # (esconvert reads system memory; the muxer converts them on the GPU)
        cuda = feats is not None and feats.contains("memory:CUDAMemory")
        target = pad if cuda else self._filter.get_static_pad("src")
        self._video_pad = pad
        if self._ghost is None:
            self._offset = self._join_offset()
            ghost = Gst.GhostPad.new_from_template("vsrc_0", target, self.get_pad_template("vsrc_%u"))
            ghost.set_active(True)
            self._ghost = ghost
            self.add_pad(ghost)  # the app links it in its pad-added handler
        elif self._ghost.get_target() != target:  # a rebuilt decoder (reconnection, loop)
            self._ghost.set_target(target)
        s = self.settings
        # buffers are looked at only by a source that loops (where the pass ends) or reconnects
        # (when data last came, when it came back): a Python call per frame costs the others
        # ~0.1 ms for nothing. (Both are set before the source starts, as in DeepStream.)
        kinds = Gst.PadProbeType.EVENT_DOWNSTREAM
        if s.file_loop or s.rtsp_reconnect_interval > 0:
            kinds |= Gst.PadProbeType.BUFFER
        pad.add_probe(kinds, self._on_data, dec)
        drop_frames(pad, s.drop_frame_interval)  # (after _on_data: a dropped frame is still data)
        if not cuda:
            self._fmtconv = link_decoded(self, pad, sink)
        pad.set_offset(self._offset)
        self._sr_video_linked()

    def _has_video(self) -> bool:
        """Whether the current decoder's video pad is in use (a pad its decoder removed, at a
        restart or a rebuild, is not)."""
        return self._video_pad is not None and self._video_pad.get_parent() is not None

    def _join_offset(self) -> int:
        """A file source added to a pipeline that is already PLAYING starts at the current
        running time (its own timestamps start at 0), so a clock-synced sink neither races
        through it nor waits for it."""
        s = self.settings
        clock = self.get_clock()
        if not (s.uri or "").startswith("file://") or clock is None:
            return 0  # no clock yet: the pipeline is starting, not running
        return max(0, clock.get_time() - self.get_base_time())

    def _on_no_more_pads(self, dec):
        if dec is self._dec and not self._has_video():
            s = self.settings
            text = (f"source {s.source_id} ({redact(s.uri)}) has no video stream that can be decoded "
                    f"(streams found: {', '.join(self._found) or 'none'})")
            err = GLib.Error.new_literal(Gst.StreamError.quark(), text, int(Gst.StreamError.WRONG_TYPE))
            self.post_message(Gst.Message.new_error(
                self, err, "check the file/URI and that a decoder for its codec is installed"))

    def _on_data(self, pad, info, dec):
        if dec is not self._dec:
            return Gst.PadProbeReturn.DROP  # a decoder being torn down
        if info.type & Gst.PadProbeType.BUFFER:
            buf = info.get_buffer()
            now = time.monotonic()
            self._last_data = now
            if buf.pts != Gst.CLOCK_TIME_NONE:
                dur = buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else 0
                self._end = max(self._end, self._offset + buf.pts + dur)
            if self._down_since is not None:
                with self._lock:
                    down, self._down_since, self._attempt = now - self._down_since, None, 0
                s = self.settings
                self.post_element_message("estuary-source-restored", **{
                    "source-id": s.source_id, "uri": s.uri, "down-seconds": float(down)})
            return Gst.PadProbeReturn.OK
        event = info.get_event()
        if event is not None and event.type == Gst.EventType.EOS and not self._eos_requested:
            s = self.settings
            if s.file_loop:
                self._offset = self._end
                self._schedule(0.0)
                return Gst.PadProbeReturn.DROP
            if s.rtsp_reconnect_interval > 0:
                self._reconnect("end of stream")
                return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    # -- reconnection ---------------------------------------------------------------------------
    def _reconnect(self, reason: str):
        """Schedule the next attempt with backoff, or give up with an ERROR."""
        s = self.settings
        with self._lock:
            if self._pending is not None or self._eos_requested:
                return
            if self._down_since is None:
                self._down_since = time.monotonic()
            self._attempt += 1
            attempt = self._attempt
        if 0 <= s.rtsp_reconnect_attempts < attempt:
            text = (f"source {s.source_id} ({redact(s.uri)}) gave up after {s.rtsp_reconnect_attempts} "
                    f"reconnection attempts; last cause: {redact(reason)}")
            err = GLib.Error.new_literal(Gst.ResourceError.quark(), text, int(Gst.ResourceError.READ))
            self.post_message(Gst.Message.new_error(
                self, err, "check that the camera/server is up and reachable, or raise rtsp-reconnect-attempts"))
            return
        delay = float(min(s.rtsp_reconnect_interval * 2 ** (attempt - 1), s.reconnect_backoff_max))
        self.post_element_message("estuary-source-reconnect", **{
            "source-id": s.source_id, "uri": s.uri, "attempt": attempt, "delay": delay, "reason": reason})
        self._schedule(delay)

    def _schedule(self, delay: float):
        with self._lock:
            if self._pending is None and not self._eos_requested:
                self._pending = time.monotonic() + delay

    def _rebuild(self):
        old, self._dec = self._dec, None
        conv, self._fmtconv = self._fmtconv, []
        self._video_pad = None
        self._sr_rebuilt()
        for e in ([old] if old is not None else []) + conv:  # the decoder, what converted its format
            e.set_state(Gst.State.NULL)
            self.remove(e)
        dec = self._build_decoder()
        self._last_data = time.monotonic()
        dec.sync_state_with_parent()

    def _watch(self):
        try:
            self._watch_loop()
        except Exception as exc:  # noqa: BLE001 - a dead watchdog must be heard, not silent
            self.post_error(exc, "source watchdog")

    def _watch_loop(self):
        while not self._stop.wait(0.05):
            with self._lock:
                due = self._pending is not None and time.monotonic() >= self._pending
            if due:
                try:
                    self._rebuild()
                except Exception as exc:  # noqa: BLE001 - must reach the bus
                    self.post_error(exc, "reconnect")
                    return
                with self._lock:
                    self._pending = None
                continue
            s = self.settings
            if (self._started is not None and self._ghost is None and s.startup_timeout > 0
                    and time.monotonic() - self._started > s.startup_timeout
                    and s.rtsp_reconnect_interval == 0):
                self._started = None
                text = (f"source {s.source_id} ({redact(s.uri)}) showed no video stream within "
                        f"{s.startup_timeout} s of starting")
                err = GLib.Error.new_literal(Gst.ResourceError.quark(), text, int(Gst.ResourceError.READ))
                self.post_message(Gst.Message.new_error(
                    self, err, "the input may be corrupt, unreachable or without video; "
                    "raise startup-timeout for slow network sources"))
                continue
            if (s.rtsp_reconnect_interval > 0 and self._playing and self._pending is None
                    and time.monotonic() - self._last_data > s.rtsp_reconnect_interval):
                self._reconnect(f"no data for {s.rtsp_reconnect_interval} s")

    # -- GStreamer ------------------------------------------------------------------------------
    def do_send_event(self, event):
        """An EOS from the application ends the source even when it loops or reconnects.

        Without this, ``file-loop`` turned the pipeline's EOS into one more pass (and a
        reconnecting source into a reconnection), so SIGINT never finished a recording.
        """
        if event.type == Gst.EventType.EOS:
            with self._lock:
                self._eos_requested = True
                between = self._pending is not None or self._down_since is not None or self._dec is None
                self._pending = None
            ghost = self._ghost
            if between and ghost is not None:
                # no decoder is delivering (reconnecting, or between two loop passes): end here
                return ghost.push_event(event)
        return Gst.Bin.do_send_event(self, event)

    def do_handle_message(self, message):
        if message.type == Gst.MessageType.ERROR and message.src is not self:
            ours = self._dec is not None and is_inside(message.src, self._dec)
            stale = not ours and not is_inside(message.src, self)
            if stale:
                return  # from a decoder already replaced
            if ours and self.settings.rtsp_reconnect_interval > 0:
                err, _debug = message.parse_error()
                self._reconnect(err.message)
                return
            if ours:
                message = self._named_error(message)
        elif message.type in _TEXT_MESSAGES and self._dec is not None and is_inside(message.src, self._dec):
            message = _redacted(message)  # rtspsrc's "Connecting to rtsp://user:password@..."
        elif message.type == Gst.MessageType.ELEMENT:
            st = message.get_structure()
            if st is not None and st.get_name() == "missing-plugin" and st.has_field("detail"):
                detail = st.get_value("detail")
                self._missing.append(detail.to_string() if hasattr(detail, "to_string") else str(detail))
        Gst.Bin.do_handle_message(self, message)

    def _named_error(self, message):
        """The decoder's ERROR with the source and URI in front, and the missing decoder named."""
        err, debug = message.parse_error()
        s = self.settings
        text = redact(f"source {s.source_id} ({s.uri}): {err.message}")
        if self._missing:
            text += f" (no decoder for {', '.join(sorted(set(self._missing)))})"
        from estuary.mp4 import unfinished_input
        why = unfinished_input(s.uri)  # (a local MP4 whose recording was never finished)
        if why:
            text = f"{text.rstrip('.')}: {why}"
        new = GLib.Error.new_literal(GLib.quark_from_string(err.domain), text, err.code)
        return Gst.Message.new_error(message.src, new, redact(debug))

    def do_change_state(self, transition):
        if transition == Gst.StateChange.NULL_TO_READY:
            self._eos_requested = False  # a restarted pipeline loops and reconnects again
        if transition == Gst.StateChange.NULL_TO_READY and self._dec is None:
            s = self.settings
            # a decoder rebuilt while PLAYING prerolls (connects) asynchronously: handle that
            # here, or the whole pipeline would drop to PAUSED until this one source is back
            self.set_property("async-handling", s.rtsp_reconnect_interval > 0 or s.file_loop)
            self._build_decoder()
        elif transition == Gst.StateChange.PAUSED_TO_PLAYING:
            self._last_data = time.monotonic()
            self._playing = True
        elif transition == Gst.StateChange.PLAYING_TO_PAUSED:
            self._playing = False
        elif transition == Gst.StateChange.PAUSED_TO_READY:
            self._stop_watchdog()
            self._sr_shutdown()
        if transition == Gst.StateChange.READY_TO_PAUSED:
            s = self.settings
            self._sr_closing = self._sr_eos = False  # (a restarted pipeline records again)
            self._started = time.monotonic()
            if self._watchdog is None:
                self._stop.clear()
                self._watchdog = threading.Thread(target=self._watch, daemon=True,
                                                  name=f"esurisrcbin-{s.source_id}")
                self._watchdog.start()
        return Gst.Bin.do_change_state(self, transition)

    def _stop_watchdog(self):
        self._stop.set()
        t, self._watchdog = self._watchdog, None
        if t is not None and t is not threading.current_thread():
            t.join(timeout=10)
        with self._lock:
            self._pending = None

