"""``esdemux`` (alias ``nvstreamdemux``): splits a batch into one stream per source.

Each ``src_%u`` pad (requested, or created when a source first appears) carries batches of
one frame: that source's frame meta (copied) and surface."""

from __future__ import annotations

from estuary.errors import StreamError
from estuary.gst import Gst, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase
from estuary.gst.video import video_format
from estuary.elements.mux import BATCH_CAPS
from estuary.meta.core import NvDsBatchMeta, copy_frame
from estuary.gst.batchsurface import BatchSurface

__all__ = ["EsDemux"]


class EsDemux(ElementBase, ChainElement, Gst.Element):
    """One output pad per source (``src_<pad_index>``)."""

    __gtype_name__ = "EstuaryDemux"
    FACTORY = "esdemux"
    ALIASES = ("nvstreamdemux",)
    METADATA = ("Estuary stream demuxer", "Generic/Demuxer/Video",
                "Splits batched buffers into one stream per source", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, BATCH_CAPS, None),
                     ("src_%u", Gst.PadDirection.SRC, Gst.PadPresence.REQUEST, BATCH_CAPS, None))

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()
        self._pads: dict[int, Gst.Pad] = {}
        self._caps_done: set[int] = set()
        self._segment_event = None
        self._stream_start = None

    def do_request_new_pad(self, templ, name, caps):
        idx = int(name.rsplit("_", 1)[1]) if name and "%" not in name else len(self._pads)
        return self._make_pad(idx)

    def _make_pad(self, idx: int):
        if idx in self._pads:
            return self._pads[idx]
        pad = Gst.Pad.new_from_template(self.get_pad_template("src_%u"), f"src_{idx}")
        pad.set_query_function_full(self._src_query)
        pad.set_active(True)
        self._pads[idx] = pad
        self.add_pad(pad)
        return pad

    def do_release_pad(self, pad):
        for k, p in list(self._pads.items()):
            if p is pad:
                del self._pads[k]
        self._caps_done.discard(int(pad.get_name().rsplit("_", 1)[1]))
        self.remove_pad(pad)

    def output_caps(self, caps):
        return caps

    def set_out_caps(self, caps) -> bool:
        self._caps_done.clear()
        return True

    def handle_sink_event(self, event) -> bool:
        if event.type == Gst.EventType.STREAM_START:
            self._stream_start = event
        if event.type == Gst.EventType.SEGMENT:
            self._segment_event = event
        ok = True
        for pad in list(self._pads.values()):
            ok = pad.push_event(event) and ok
        return True

    def _ensure_events(self, idx, pad):
        if idx in self._caps_done:
            return
        fin = video_format(self.in_caps)
        if self._stream_start is not None:
            pad.push_event(Gst.Event.new_stream_start(f"{self.get_name()}-src-{idx}"))
        fr = f", framerate=(fraction){fin.fps_n}/{fin.fps_d}" if fin.fps_n > 0 else ""
        pad.push_event(Gst.Event.new_caps(Gst.Caps.from_string(
            f"video/x-raw(memory:NVMM), format=(string)RGBA, width=(int){fin.width}, "
            f"height=(int){fin.height}{fr}, batch-size=(int)1")))
        if self._segment_event is not None:
            pad.push_event(self._segment_event)
        self._caps_done.add(idx)

    def process(self, buf):
        batch = batchmeta.get(buf)
        if batch is None:
            raise StreamError("esdemux needs batched buffers from esmux/nvstreammux upstream")
        for f in batch.frames:
            pad = self._pads.get(f.pad_index)
            if pad is None or not pad.is_linked():
                continue
            self._ensure_events(f.pad_index, pad)
            one = NvDsBatchMeta(1)
            nf = copy_frame(f, one)
            nf.batch_id = 0
            one.add_frame(nf)
            if batch.surface is not None:
                one.surface = BatchSurface([batch.surface.frame(f.batch_id)], 1,
                                           batch.surface.mem_type, batch.surface.gpu_id, batch.surface.cuda_copies)
            out = Gst.Buffer.new()
            out.pts = f.buf_pts
            out.dts, out.duration = buf.dts, buf.duration
            batchmeta.attach(out, one)
            ret = pad.push(out)
            if ret not in (Gst.FlowReturn.OK, Gst.FlowReturn.NOT_LINKED):
                return []
        return []
