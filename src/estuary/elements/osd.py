"""``esosd`` (alias ``nvdsosd``): draws every object's box, label and mask and every display
meta (rects, labels, lines, arrows, circles) into the frames of each batch, in place."""

from __future__ import annotations

from estuary.errors import StreamError
from estuary.gst import Gst, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.elements.mux import BATCH_CAPS
from estuary.osd import DrawOptions, Drawer

__all__ = ["EsOsd"]


class EsOsd(ElementBase, ChainElement, Gst.Element):
    """On-screen display over batched RGBA surfaces."""

    __gtype_name__ = "EstuaryOsd"
    FACTORY = "esosd"
    ALIASES = ("nvdsosd",)
    METADATA = ("Estuary on-screen display", "Filter/Effect/Video",
                "Draws object boxes, labels, masks and display meta", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, BATCH_CAPS, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, BATCH_CAPS, None))
    PROPS = (
        Prop("process-mode", int, 0, "0 CPU, 1 GPU, 2 hardware (CPU here unless on a GPU surface)", 0, 2),
        Prop("display-text", bool, True, "Draw labels"),
        Prop("display-bbox", bool, True, "Draw boxes"),
        Prop("display-mask", bool, True, "Draw instance masks"),
        Prop("display-clock", bool, False, "Draw the wall clock"),
        Prop("clock-font", str, "Serif", "Clock font"),
        Prop("clock-font-size", int, 12, "Clock font size", 1, 200),
        Prop("x-clock-offset", int, 10, "Clock x", 0, 16384),
        Prop("y-clock-offset", int, 10, "Clock y", 0, 16384),
        Prop("clock-color", int, 0xFF0000FF, "Clock colour as 0xRRGGBBAA", 0, 2**32 - 1),
        Prop("gpu-id", int, 0, "GPU to use", 0, 64),
        Prop("hw-blend-color-attr", str, "", "Accepted for compatibility"),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()
        self._drawer = None
        self.property_changed("", None)

    def property_changed(self, key, value):
        s = self.settings
        c = int(s.clock_color)
        self._drawer = Drawer(DrawOptions(
            display_text=s.display_text, display_bbox=s.display_bbox, display_mask=s.display_mask,
            display_clock=s.display_clock, clock_font=s.clock_font, clock_font_size=s.clock_font_size,
            clock_x=s.x_clock_offset, clock_y=s.y_clock_offset,
            clock_color=(((c >> 24) & 255) / 255, ((c >> 16) & 255) / 255, ((c >> 8) & 255) / 255,
                         (c & 255) / 255)))

    def process(self, buf):
        batch = batchmeta.get(buf)
        if batch is None or batch.surface is None:
            raise StreamError(f"{self.get_name()} needs batched buffers from nvstreammux/esmux upstream")
        drawer = self._drawer
        todo = [f for f in batch.frames if drawer.has_work(f)]
        if not todo:
            return [buf]  # nothing to draw (most frames of a sparse scene): no mapping, no copy
        # a tee's other branches keep undrawn frames: draw on a copy when the buffer is shared
        shared = batchmeta.writable(buf, self.sinkpad)
        if shared is not buf:
            buf, batch = shared, batchmeta.get(shared)
            todo = [f for f in batch.frames if drawer.has_work(f)]  # the copy's own frame metas
            for surf in batch.surface.frames:
                if getattr(surf, "device", "cpu") == "cuda" and surf.tensor is not None:
                    surf.tensor = surf.tensor.clone()  # GPU frames share their tensor: copy it (on the GPU)
        by_surface: dict[int, list] = {}
        for f in todo:
            by_surface.setdefault(f.batch_id, []).append(f)
        for batch_id, frames in by_surface.items():
            surf = batch.surface.frame(batch_id)
            gpu = getattr(surf, "device", "cpu") == "cuda"
            if gpu:
                from estuary.osd.gpu import draw_gpu
                for f in frames:
                    draw_gpu(surf.tensor, f, drawer.opt)
                surf.ready = None  # drawn on the current stream: later readers wait for it
                continue
            with surf.pixels(write=True) as px:
                for f in frames:
                    drawer.draw(px, f)
        return [buf]
