"""``esmux`` (alias ``nvstreammux``): batches frames of N sources into one buffer.

Each output buffer carries no pixels; its batch meta holds one frame meta per source frame and
a :class:`~estuary.gst.batchsurface.BatchSurface` whose frames reference the RGBA pixels (the
input buffers themselves when they already have the output size: zero copy).
"""

from __future__ import annotations

import collections
import os
import threading
import time

from estuary.errors import ConfigError, StreamError
from estuary.gst import Gst, GstBase, batchmeta, capi, flight
from estuary.gst.element import ElementBase, Prop
from estuary.gst.video import mapped_planes, meta_layout, video_format
from estuary.meta.core import NvDsBatchMeta
from estuary.gst.events import STREAM_EOS, STREAM_RESET, stream_event, stream_event_source
from estuary.inflight import FlightLimiter
from estuary.meta.enums import NvBufSurfaceMemType
from estuary.gst.batchsurface import BatchSurface, FrameSurface, new_rgba_buffer
from estuary.surface.convert import INPUT_FORMATS, SUPPORTED_FORMATS, frame_to_rgba, resize_into
from estuary.surface.nv12 import SAMPLE_BYTES
from estuary.elements.decoder import CUDA_NV12_CAPS, NVDEC_CAPS

__all__ = ["EsMux", "BATCH_CAPS", "FRAME_CAPS"]

_FMTS = "{ " + ", ".join(SUPPORTED_FORMATS) + " }"
#: a single (not yet batched) frame, on our surfaces or in plain system memory, or NVDEC's in GPU
#: memory (NV12 and its 16-bit twins: surface/nv12.py SAMPLE_BYTES)
FRAME_CAPS = (f"video/x-raw(memory:NVMM), format=(string){_FMTS}; "
              f"video/x-raw, format=(string){{ {', '.join(INPUT_FORMATS)} }}; {NVDEC_CAPS}; {CUDA_NV12_CAPS}")
#: batched surfaces
BATCH_CAPS = "video/x-raw(memory:NVMM), format=(string)RGBA"

#: nvbuf-memory-type values whose surfaces the CPU can map (CUDA pinned, CUDA unified): apps
#: that set them (imagedata-multistream: unified) read frames with get_nvds_buf_surface, so
#: frames converted on the GPU are copied to system memory, once per batch
_HOST_MAPPABLE = (int(NvBufSurfaceMemType.NVBUF_MEM_CUDA_PINNED), int(NvBufSurfaceMemType.NVBUF_MEM_CUDA_UNIFIED))


def _host_surfaces(batch_tensor, w: int, h: int) -> list:
    """System-memory surfaces of an (N, h, w, 4) CUDA batch: one device→host copy."""
    host = batch_tensor.cpu().numpy()
    out = []
    for frame in host:
        buf = new_rgba_buffer(w, h)
        with capi.map_memory(hash(buf), 0, write=True) as info:
            capi.as_array(info)[:] = frame.reshape(-1)
        out.append(FrameSurface(buf, w, h))
    return out


DEFAULT_BATCH_SIZE = 1
DEFAULT_TIMEOUT_US = 40000
#: a sink pad without a source this long is ended: see EsMux._watch_orphans
ORPHAN_AFTER_S = 2.0
#: max-frames-in-flight=-2 (auto): a live source's bound is this many frames more than its
#: frames that wait in the muxer for the pipeline latency (a file source gets none). Opt-in: by
#: default (-1) nothing is bounded, as in DeepStream, because dropping a live source's frames
#: depends on when downstream frees buffers (a full CI run dropped most of a live source's
#: frames in tests that pass alone)
LIVE_IN_FLIGHT = 4



def _read_only(buf) -> bool:
    """True when the muxer cannot hand ``buf``'s pixels on to be drawn in place: the buffer is
    still held elsewhere (an app keeping the buffer it pushed into appsrc, a tee) or a memory is
    read-only or shared. Such pixels are copied, so that no one else's buffer gets drawn on.
    (Raw pointers: a PyGObject memory wrapper would itself add a reference.)"""
    addr = hash(buf)
    if capi.buffer_refcount(addr) > 1:
        return True
    return any(not capi.memory_writable(capi.gst_buffer_peek_memory(addr, i))
               for i in range(capi.buffer_n_memory(addr)))


def _running_time(segment, pts):
    if pts == Gst.CLOCK_TIME_NONE or segment is None:
        return pts
    rt = segment.to_running_time(Gst.Format.TIME, pts)
    return pts if rt == Gst.CLOCK_TIME_NONE else rt


class _SourceState:
    __slots__ = ("index", "frame_num", "eos_posted", "fmt", "segment", "new_caps", "colorimetry", "siting",
                 "live", "gated", "gate_pad", "held", "detached", "unlinked_since")

    def __init__(self, index: int):
        self.index = index
        self.frame_num = 0
        self.eos_posted = False
        self.fmt = None
        self.segment = None  # the pad's last TIME segment (for running times)
        self.new_caps = None  # caps from the last CAPS event, parsed by the next aggregate
        self.colorimetry = None  # GPU path: YUV matrix/range and chroma siting from the caps
        self.siting = (0.5, 0.5)
        self.live = None  # max-frames-in-flight: the source is live (None: not asked yet)
        self.gated = None  # looked for the decoder to hold this stream back (None: not yet)
        self.gate_pad = None  # that decoder's sink pad (kept: it has our probe)
        self.held = False  # the max-frames-in-flight probe is on this stream's pad
        self.detached = False  # no source behind the pad: ended so batches do not wait (_watch_orphans)
        self.unlinked_since = None  # monotonic time the pad was first seen without a source


class EsMux(ElementBase, GstBase.Aggregator):
    """Batches N streams: request pads ``sink_%u``, one ``src`` pad of batched surfaces."""

    __gtype_name__ = "EstuaryMux"
    _estuary_pushes_held = True  # batchmeta.PUSHES_HELD: finish_buffer goes through push_held
    FACTORY = "esmux"
    ALIASES = ("nvstreammux",)
    METADATA = ("Estuary stream muxer", "Generic/Muxer/Video",
                "Batches frames of N sources into one buffer with batch metadata",
                "Estuary")
    PAD_TEMPLATES = (
        ("sink_%u", Gst.PadDirection.SINK, Gst.PadPresence.REQUEST, FRAME_CAPS, GstBase.AggregatorPad),
        ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, BATCH_CAPS, GstBase.AggregatorPad),
    )
    PROPS = (
        Prop("batch-size", int, DEFAULT_BATCH_SIZE, "Maximum frames in a batch", 1, 1024),
        Prop("width", int, 0, "Output frame width (0: width of the first source)", 0, 16384),
        Prop("height", int, 0, "Output frame height (0: height of the first source)", 0, 16384),
        Prop("enable-padding", bool, False, "Keep the aspect ratio when scaling (letterbox)"),
        Prop("batched-push-timeout", int, DEFAULT_TIMEOUT_US,
             "Push a partial batch after this many microseconds (live sources; -1: wait)", -1, 2**31 - 1),
        Prop("live-source", bool, False, "Accepted: whether sources are live is read from the pipeline "
             "(their latency); batched-push-timeout applies to live ones"),
        Prop("nvbuf-memory-type", int, 0, "Surface memory type (NvBufSurfaceMemType)", 0, 6),
        Prop("gpu-id", int, 0, "GPU to use", 0, 64),
        Prop("attach-sys-ts", bool, True, "Set ntp_timestamp to the system time"),
        Prop("buffer-pool-size", int, 4, "Output surfaces to keep (accepted; no effect on CPU)", 1, 1024),
        Prop("num-surfaces-per-frame", int, 1, "Surfaces per frame", 1, 4),
        Prop("sync-inputs", bool, False, "Accepted for compatibility"),
        Prop("frame-num-reset-on-eos", bool, False, "A source's frame numbers start again at 0 after its EOS"),
        Prop("frame-num-reset-on-stream-reset", bool, False,
             "A source's frame numbers start again at 0 on a stream reset (nvurisrcbin's reconnection, "
             "pyds.gst_element_send_nvevent_new_stream_reset)"),
        Prop("max-latency", int, 0, "Accepted for compatibility", 0, 2**31 - 1),
        Prop("frame-duration", int, -1, "Accepted for compatibility", -1, 2**31 - 1),
        Prop("max-frames-in-flight", int, -1,
             "Frames of one stream between this muxer's input and the end of the pipeline: a file "
             "source is held back before its decoder, a live source's extra frames are dropped "
             f"(-1, 0: unbounded; -2: live sources {LIVE_IN_FLIGHT} more than the frames of the pipeline latency, files unbounded; 1 counts as 2)", -2, 1024),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self._sources: dict[str, _SourceState] = {}
        # (pad, state) of the sink pads by source index, made again when a pad comes or goes:
        # listing and sorting self.sinkpads (a GI call and a name lookup a pad) every batch was
        # 8 % of the Python time of a 1-stream CPU pipeline
        self._pads: list | None = None
        self._pads_made = 0  # bumped when a pad comes or goes: a list made meanwhile is not kept
        self._lock = threading.Lock()
        self._caps_sent = None
        self._rr = 0
        self._gpu = None  # GPU path: (torch device, Nv12BatchConverter or None)
        #: a sink pad has had CUDA-memory caps: every batch from then on is on the GPU (frames
        #: decoded into system memory — a JPEG camera beside NVDEC ones — are uploaded)
        self._cuda_seen = False
        self._gpu_inflight = collections.deque()  # (CUDA event, input buffers the kernel reads)
        self._flight = FlightLimiter()
        # frames in flight are counted only once max-frames-in-flight bounds them: a probe on
        # every sink pad and a weak reference on every batch cost ~0.5 ms a frame (4 streams on
        # the CPU) that the default (unbounded, as DeepStream) never uses
        self._flight_on = False
        self._orphan_watch = None  # (thread, stop event) while running: see _watch_orphans
        self._apply_latency()
        self.connect("pad-added", self._on_pad_added)

    # -- properties -------------------------------------------------------------------------
    def property_changed(self, key, value):
        if key == "batched_push_timeout":
            self._apply_latency()
        if key == "max_frames_in_flight":
            if self._flight_wanted():
                for pad in list(self.sinkpads):  # pads requested before the property was set
                    self._hold(pad, self._state(pad))
            for st in list(self._sources.values()):
                if st.live is not None:
                    fps = st.fmt.fps_n / st.fmt.fps_d if st.fmt is not None and st.fmt.fps_d else 0.0
                    self._flight.budget(st.index).limit = self._in_flight_limit(st.live, fps)

    # -- frames in flight (estuary.inflight, estuary.gst.flight) --------------------------------
    def _in_flight_limit(self, live: bool, fps: float = 0.0) -> int:
        n = self.settings.max_frames_in_flight
        # 1 is taken as 2: a sink keeps the last buffer it rendered (GstBaseSink's last-sample),
        # so one frame stays "in flight" after it is done and a bound of 1 would stop the stream
        if n > 0:
            return max(2, n)
        if n in (0, -1) or not live:
            return 0
        # live: frames wait here for the pipeline latency (a slow source's frame period, the
        # push timeout) before they are batched; only frames beyond those are too many
        lat = self.get_latency()
        lat_s = lat / Gst.SECOND if lat not in (None, Gst.CLOCK_TIME_NONE) else 0.0
        return LIVE_IN_FLIGHT + int(lat_s * (fps or 30.0) + 0.999)

    def _flight_wanted(self) -> bool:
        return self.settings.max_frames_in_flight not in (0, -1)

    def _on_pad_added(self, _el, pad):
        if pad.get_direction() != Gst.PadDirection.SINK:
            return
        state = self._state(pad)
        self._forget_pads()
        if self._flight_wanted():
            self._hold(pad, state)
        pad.connect("linked", self._on_sink_linked)

    # -- sink pads no source feeds ----------------------------------------------------------
    def _watch_orphans(self, stop: threading.Event) -> None:
        """A sink pad with no source behind it for ``ORPHAN_AFTER_S`` — requested but never
        linked, or unlinked from a source bin removed without releasing the pad — is ended (an
        EOS on the pad), so that the batches of the other sources do not wait for it for ever,
        as DeepStream's muxer batches what its connected sources give. Seen in NVIDIA's runtime
        add/delete sample under load: a source stopped while the pipeline returns to PLAYING is
        set back to PLAYING by that state change after the app removed it; its pad-added
        handler asks for a muxer pad, the link fails, the other sources' pads fill up: a hung
        app. No stream-eos is posted for it (it never streamed); linking a source to it again
        takes its frames (:meth:`_on_sink_linked`). Only while another pad has a source: a
        muxer with none waits, as an app may link its first source late. Checked twice a
        second while running."""
        try:
            while not stop.wait(0.5):
                now = time.monotonic()
                pads = self._sink_pads()
                if not any(p.is_linked() for p, _ in pads):
                    continue
                for pad, state in pads:
                    if pad.is_linked():
                        state.unlinked_since = None
                    elif not state.detached:
                        if state.unlinked_since is None:
                            state.unlinked_since = now
                        elif now - state.unlinked_since >= ORPHAN_AFTER_S:
                            # marked first: the aggregator may see the EOS before send_event returns
                            state.detached = True
                            if not pad.send_event(Gst.Event.new_eos()):  # (not running: next time)
                                state.detached = False
        except Exception as exc:  # noqa: BLE001 - a dead watcher must be heard
            self.post_error(exc, "muxer pad watch")

    def do_start(self):
        self._cuda_seen = False
        stop = threading.Event()
        t = threading.Thread(target=self._watch_orphans, args=(stop,), daemon=True,
                             name=f"{self.get_name()}-pads")
        self._orphan_watch = (t, stop)
        t.start()
        return True

    def _on_sink_linked(self, pad, _peer) -> None:
        state = self._state(pad)
        if state.detached:  # a source joined after all: take its frames (the EOS is flushed)
            state.detached = False
            pad.send_event(Gst.Event.new_flush_stop(False))

    def _hold(self, pad, state: _SourceState) -> None:
        """Bound the frames in flight of ``pad``'s stream (estuary.gst.flight), once per pad."""
        with self._lock:
            if state.held:
                return
            state.held = self._flight_on = True
        budget = self._flight.budget(state.index)
        hold = flight.hold_probe(budget, lambda: bool(state.live))

        def probe(p, info):
            if state.live is None:
                # what upstream says, not live-source: a file's frames must be held back, never dropped
                state.live = flight.upstream_is_live(p)
                caps = p.get_current_caps()
                ok, num, den = caps.get_structure(0).get_fraction("framerate") if caps else (False, 0, 1)
                budget.limit = self._in_flight_limit(state.live, num / den if ok and den else 0.0)
            if state.gated is None:
                # looked for once per stream start: a reconnecting source brings a new decoder
                dec = flight.find_decoder_sink(p) if not state.live else None
                state.gated = True
                if dec is not None and dec != state.gate_pad:
                    state.gate_pad = dec
                    dec.add_probe(Gst.PadProbeType.BUFFER, flight.gate_probe(budget))
            return hold(p, info)
        pad.add_probe(Gst.PadProbeType.BUFFER, probe)

    def _apply_latency(self):
        t = self.settings.batched_push_timeout
        self.set_property("latency", max(0, t) * 1000)

    # -- pads -------------------------------------------------------------------------------
    def _state(self, pad) -> _SourceState:
        name = pad.get_name()
        st = self._sources.get(name)
        if st is None:
            try:
                idx = int(name.rsplit("_", 1)[1])
            except (IndexError, ValueError):
                raise ConfigError(f"esmux pad names are sink_%u, got {name!r}") from None
            with self._lock:
                st = self._sources.setdefault(name, _SourceState(idx))
        return st

    def do_pad_removed(self, pad):
        with self._lock:
            state = self._sources.pop(pad.get_name(), None)
        self._forget_pads()
        if state is not None and not state.eos_posted:
            # pushed from GStreamer's thread pool, not here: GstAggregator calls this with its
            # SRC_LOCK held (release_request_pad, in the application's thread), and pushing a
            # serialized event waits for everything downstream (nvinfer drains its batches in
            # flight). A sink waiting for PLAYING (the pipeline re-prerolling as a new source
            # comes in) needs the latency query, which needs SRC_LOCK: that was a deadlock
            # (~1 in 80 runs of runtime-add-delete hung)
            event = stream_event(STREAM_EOS, state.index)
            self.call_async(lambda el, ev: el.srcpad.push_event(ev), event)

    def do_negotiate(self):
        """Caps are set from the first batch (they depend on the sources)."""
        return True

    def do_get_next_time(self):
        """Live mode: the running time of the earliest queued frame. The aggregator waits until
        the clock passes it plus the latency (``batched-push-timeout`` + upstream latency) and
        then pushes what it has, so a stalled or reconnecting source never holds up the others.
        With nothing queued it waits for data."""
        times = []
        for pad in self.sinkpads:
            buf = pad.peek_buffer()
            seg = self._state(pad).segment
            if buf is not None and seg is not None and buf.pts != Gst.CLOCK_TIME_NONE:
                times.append(seg.to_running_time(Gst.Format.TIME, buf.pts))
        times = [t for t in times if t != Gst.CLOCK_TIME_NONE]
        return min(times) if times else Gst.CLOCK_TIME_NONE

    # -- batching ---------------------------------------------------------------------------
    def _output_size(self, fmts):
        w, h = self.settings.width, self.settings.height
        if w and h:
            return w, h
        first = fmts[0]
        return (w or first.width), (h or first.height)

    def _ensure_caps(self, fmts, w, h):
        fr = next(((f.fps_n, f.fps_d) for f in fmts if f.fps_n > 0), (0, 1))
        key = (w, h, fr, self.settings.batch_size)
        if self._caps_sent == key:
            return
        caps = Gst.Caps.from_string(
            f"video/x-raw(memory:NVMM), format=(string)RGBA, width=(int){w}, height=(int){h}, "
            f"framerate=(fraction){fr[0]}/{fr[1]}, batch-size=(int){self.settings.batch_size}")
        self.set_src_caps(caps)
        self._caps_sent = key

    def _frame_surface(self, buf, fmt, w, h):
        """The RGBA surface for an input frame: the buffer itself when it fits, else a new one."""
        if fmt.cuda:
            import torch
            from estuary.gst.cuda import nv12_buffer_to_rgba
            dev = torch.device(f"cuda:{self.settings.gpu_id}")
            t = nv12_buffer_to_rgba(buf, fmt, w, h, dev)
            return FrameSurface(None, w, h, pitch=w * 4, device="cuda", tensor=t), (w / fmt.width, h / fmt.height, 0, 0)
        if (fmt.format == "RGBA" and (fmt.width, fmt.height) == (w, h) and buf.n_memory() == 1
                and not _read_only(buf)):
            # the row pitch and start of a padded frame are on its GstVideoMeta, not in the caps
            strides, offsets = meta_layout(buf, fmt)
            return FrameSurface(buf, w, h, pitch=strides[0], offset=offsets[0]), (1.0, 1.0, 0, 0)
        out = new_rgba_buffer(w, h)
        with capi.map_memory(hash(out), 0, write=True) as info:
            dst = capi.as_array(info).reshape(h, w, 4)
            with mapped_planes(buf, fmt) as planes:
                if (fmt.width, fmt.height) == (w, h):
                    frame_to_rgba(planes, fmt.format, out=dst, colorimetry=fmt.color, chroma_site=fmt.chroma_site)
                    geo = (1.0, 1.0, 0, 0)
                else:
                    rgba = frame_to_rgba(planes, fmt.format, colorimetry=fmt.color, chroma_site=fmt.chroma_site)
                    geo = resize_into(rgba, dst, keep_aspect=self.settings.enable_padding)
        out.pts, out.dts, out.duration = buf.pts, buf.dts, buf.duration
        return FrameSurface(out, w, h), geo

    def _parse_caps(self, state, caps):
        state.fmt = video_format(caps)
        if state.fmt.cuda:
            self._cuda_seen = True
            from estuary.surface.colorimetry import colorimetry_from_caps
            from estuary.surface.nv12 import chroma_siting
            st = caps.get_structure(0)
            state.colorimetry = colorimetry_from_caps(st.get_string("colorimetry"), state.fmt.height)
            state.siting = chroma_siting(st.get_string("chroma-site"))

    # -- GPU path: one conversion kernel per batch -------------------------------------------
    def _gpu_batch(self, items, w, h):
        """Convert the batch's CUDA-memory NV12 (or P010/P016) frames ``items`` [(state, buffer)]
        with one kernel launch into one (N, h, w, 4) tensor; returns [(FrameSurface, geometry)]
        in order."""
        if not items:
            return []
        import torch
        from estuary.gst import GstVideo
        from estuary.gst import cuda
        from estuary.surface.nv12 import Nv12Frame, batch_params
        if self._gpu is None:
            dev = torch.device(f"cuda:{self.settings.gpu_id}")
            # ESTUARY_MUX_PER_FRAME=1: the older per-frame torch conversion (a benchmark baseline)
            per_frame = os.environ.get("ESTUARY_MUX_PER_FRAME") == "1"
            conv = cuda.Nv12BatchConverter(dev) if cuda.cupy_available() and not per_frame else None
            self._gpu = (dev, conv)
        dev, conv = self._gpu
        self._release_gpu_inputs()
        if conv is None:  # no CuPy: the per-frame torch conversion (slower, BT.601 only)
            return [(FrameSurface(None, w, h, pitch=w * 4, device="cuda",
                                  tensor=cuda.nv12_buffer_to_rgba(b, st.fmt, w, h, dev)),
                     (w / st.fmt.width, h / st.fmt.height, 0, 0)) for st, b in items]
        frames, bufs = [], []
        for st, buf in items:
            fmt = st.fmt
            sample_bytes = SAMPLE_BYTES.get(fmt.format)
            if sample_bytes is None:
                raise StreamError(f"esmux converts {', '.join(SAMPLE_BYTES)} CUDA memory on the GPU, "
                                  f"got {fmt.format}")
            vmeta = GstVideo.buffer_get_video_meta(buf)
            strides = tuple(vmeta.stride) if vmeta is not None else fmt.strides
            offsets = tuple(vmeta.offset) if vmeta is not None else fmt.offsets
            # the device pointer stays valid while we hold the buffer (it cannot go back to the
            # decoder's pool); the buffer is released once the kernel has run (see below)
            with capi.map_buffer(hash(buf), write=False, flags=capi.GST_MAP_CUDA) as info:
                ptr = int(info.data)
            frames.append(Nv12Frame(ptr + offsets[0], ptr + offsets[1], strides[0], strides[1],
                                    fmt.width, fmt.height, st.colorimetry, st.siting, sample_bytes))
            bufs.append(buf)
        params, geos = batch_params(frames, w, h, keep_aspect=self.settings.enable_padding)
        out = conv.convert(params, w, h)
        ev = torch.cuda.Event()
        ev.record(torch.cuda.current_stream(dev))
        self._gpu_inflight.append((ev, bufs))
        if self.settings.nvbuf_memory_type in _HOST_MAPPABLE:
            return [(s, geos[i]) for i, s in enumerate(_host_surfaces(out, w, h))]
        surfaces = [FrameSurface(None, w, h, pitch=w * 4, device="cuda", tensor=out[i]) for i in range(len(items))]
        for s in surfaces:
            s.ready = ev  # the conversion's end: a classifier on its own stream waits for this only
        return [(s, geos[i]) for i, s in enumerate(surfaces)]

    def _to_gpu(self, surf: FrameSurface) -> FrameSurface:
        """A frame decoded into system memory, in a batch of GPU frames: its RGBA pixels copied
        to the GPU. The copy is from pageable memory, so it returns once done (a host wait, on
        this path only: a stream without NVDEC beside NVDEC ones)."""
        import torch
        t = torch.from_numpy(surf.copy()).to(torch.device(f"cuda:{self.settings.gpu_id}"))
        return FrameSurface(None, surf.width, surf.height, pitch=surf.width * 4, device="cuda", tensor=t)

    def _release_gpu_inputs(self, wait: bool = False):
        """Drop the decoded buffers whose conversion has run (all of them with ``wait``)."""
        q = self._gpu_inflight
        while q and (wait or q[0][0].query()):
            ev, _bufs = q.popleft()
            if wait:
                ev.synchronize()

    def _post_stream_eos(self, state):
        st = Gst.Structure.new_from_string(f"stream-eos, stream-id=(uint){state.index}")
        self.post_message(Gst.Message.new_element(self, st))
        # tell downstream elements (trackers) to drop this source's state
        self.srcpad.push_event(stream_event(STREAM_EOS, state.index))

    def _forget_pads(self) -> None:
        with self._lock:
            self._pads = None
            self._pads_made += 1

    def _sink_pads(self) -> list:
        """(pad, state) of every sink pad, by source index."""
        pads = self._pads
        if pads is None:
            made = self._pads_made
            pads = sorted(((p, self._state(p)) for p in self.sinkpads), key=lambda ps: ps[1].index)
            with self._lock:
                if self._pads_made == made:  # no pad came or went while it was made
                    self._pads = pads
        return pads

    def do_aggregate(self, timeout):
        s = self.settings
        pads = self._sink_pads()
        taken = []
        all_eos = True
        n = len(pads)
        start = self._rr % n if n else 0
        for k in range(n):
            pad, state = pads[(start + k) % n]
            if pad.is_eos() and not pad.has_buffer():
                if not state.eos_posted and not state.detached:
                    state.eos_posted = True
                    self._post_stream_eos(state)
                continue
            all_eos = False
            if len(taken) >= s.batch_size:
                continue
            buf = pad.pop_buffer()
            if buf is None:
                continue
            # caps are parsed once per CAPS event (parsing them per buffer was 6 % of a
            # 64-stream GPU profile), or from the pad's caps if no event was seen
            if state.new_caps is not None or state.fmt is None:
                caps = state.new_caps if state.new_caps is not None else pad.get_current_caps()
                state.new_caps = None
                if caps is not None:
                    self._parse_caps(state, caps)
            if state.fmt is None:
                raise StreamError(f"{pad.get_name()}: buffer before caps")
            taken.append((pad, state, buf))
        if not taken:
            if all_eos:
                return Gst.FlowReturn.EOS
            return Gst.FlowReturn.OK
        self._rr += 1
        taken.sort(key=lambda t: t[1].index)
        fmts = [st.fmt for _, st, _ in taken]
        w, h = self._output_size(fmts)
        self._ensure_caps(fmts, w, h)
        # timestamps out are running times: sources with different segments (a looping file,
        # a reconnected camera) line up, and the output segment starts at 0
        rts = [_running_time(st.segment, b.pts) for _, st, b in taken]
        batch = NvDsBatchMeta(s.batch_size)
        frames = []
        now_ns = time.time_ns() if s.attach_sys_ts else 0
        on_gpu = self._gpu_batch([(st, b) for _, st, b in taken if st.fmt.cuda], w, h)
        # frames converted on the GPU and handed over as system-memory copies (on_gpu is emptied below)
        cuda_copies = any(sf.device == "cpu" for sf, _ in on_gpu)
        # one device a batch: downstream elements run a batch on the device of its frames
        upload = self._cuda_seen and s.nvbuf_memory_type not in _HOST_MAPPABLE
        for batch_id, (pad, state, buf) in enumerate(taken):
            if state.fmt.cuda:
                surf, geo = on_gpu.pop(0)
            else:
                surf, geo = self._frame_surface(buf, state.fmt, w, h)
                if upload:
                    surf = self._to_gpu(surf)
            frames.append(surf)
            fm = batch.acquire_frame()
            fm.pad_index = fm.source_id = state.index
            fm.batch_id = batch_id
            fm.frame_num = state.frame_num
            state.frame_num += 1
            fm.buf_pts = max(0, rts[batch_id]) if rts[batch_id] != Gst.CLOCK_TIME_NONE else 0
            fm.ntp_timestamp = now_ns
            fm.source_frame_width, fm.source_frame_height = state.fmt.width, state.fmt.height
            fm.pipeline_width, fm.pipeline_height = w, h
            fm.num_surfaces_per_frame = s.num_surfaces_per_frame
            fm.misc_frame_info[0] = 0
            batch.add_frame(fm)
        batch.surface = BatchSurface(frames, s.batch_size, NvBufSurfaceMemType(s.nvbuf_memory_type), s.gpu_id,
                                     cuda_copies=cuda_copies)
        out = Gst.Buffer.new()
        first = taken[0][2]
        pts = [t for t in rts if t != Gst.CLOCK_TIME_NONE]
        out.pts = min(pts) if pts else Gst.CLOCK_TIME_NONE
        out.dts = out.pts
        out.duration = first.duration
        batchmeta.attach(out, batch)
        if self._flight_on:
            flight.release_when_freed(out, self._flight, self._flight.batched(st.index for _, st, _ in taken))
        return batchmeta.push_held(self.finish_buffer, out)

    def do_sink_event(self, pad, event):
        if event.type == Gst.EventType.CAPS:
            self._state(pad).new_caps = event.parse_caps()
        elif event.type == Gst.EventType.STREAM_START:
            self._state(pad).eos_posted = False
            self._state(pad).gated = None
        elif event.type in (Gst.EventType.FLUSH_START, Gst.EventType.FLUSH_STOP):
            self._flight.budget(self._state(pad).index).set_flushing(event.type == Gst.EventType.FLUSH_START)
        elif event.type == Gst.EventType.SEGMENT:
            seg = event.parse_segment()
            self._state(pad).segment = seg if seg.format == Gst.Format.TIME else None
        elif event.type == Gst.EventType.EOS and self.settings.frame_num_reset_on_eos:
            self._state(pad).frame_num = 0  # (serialized: its frames before were numbered already)
        elif event.type == Gst.EventType.CUSTOM_DOWNSTREAM and self.settings.frame_num_reset_on_stream_reset:
            hit = stream_event_source(event)
            if hit is not None and hit[0] == STREAM_RESET:
                # the source the event names (sent to the muxer element, it arrives on whichever
                # sink pad GStreamer picks)
                with self._lock:
                    states = [st for st in self._sources.values() if st.index == hit[1]]
                for st in states:
                    st.frame_num = 0
        return GstBase.Aggregator.do_sink_event(self, pad, event)

    def do_stop(self):
        watch, self._orphan_watch = self._orphan_watch, None
        if watch is not None:
            watch[1].set()
            watch[0].join(timeout=5)
        self._caps_sent = None
        self._release_gpu_inputs(wait=True)
        self._flight.reset()  # wakes every held thread; batches still out no longer count
        for st in self._sources.values():
            st.live = st.gated = None
            st.frame_num = 0
            st.eos_posted = False
            st.detached, st.unlinked_since = False, None
        return True

    def get_source_index(self, pad) -> int:
        """The source index (``pad_index``) of a sink pad."""
        return self._sources[pad.get_name()].index
