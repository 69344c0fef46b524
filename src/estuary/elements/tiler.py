"""``estiler`` (alias ``nvmultistreamtiler``): composes a batch into one tiled frame.

The output is a batch of one RGBA surface. Frame metas stay (one per source) with their
objects and display metas scaled into tile coordinates, ``batch_id`` 0 and ``tile`` set to
(left, top, width, height) of the source's tile, so the OSD draws everything on the mosaic.
"""

from __future__ import annotations

import math

import numpy as np
import cv2

from estuary.errors import StreamError
from estuary.gst import Gst, batchmeta, capi
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.gst.video import video_format
from estuary.elements.mux import BATCH_CAPS
from estuary.gst.batchsurface import BatchSurface, FrameSurface, new_rgba_buffer
from estuary.meta.arrays import FrameObjects

__all__ = ["EsTiler", "tile_layout", "compose_tiles", "scale_frame_meta"]


def tile_layout(n_sources: int, rows: int, columns: int, width: int, height: int):
    """(rows, columns, tile width, tile height); rows/columns of 0 are chosen to fit."""
    if rows <= 0 and columns <= 0:
        columns = math.ceil(math.sqrt(max(n_sources, 1)))
        rows = math.ceil(max(n_sources, 1) / columns)
    elif rows <= 0:
        rows = math.ceil(max(n_sources, 1) / columns)
    elif columns <= 0:
        columns = math.ceil(max(n_sources, 1) / rows)
    return rows, columns, width // columns, height // rows


def compose_tiles(frames: list[np.ndarray], slots: list[int], dst: np.ndarray, columns: int,
                  tile_w: int, tile_h: int) -> list[tuple[int, int, int, int]]:
    """Scale each frame into its slot of ``dst``; returns each frame's tile rect."""
    rects = []
    for img, slot in zip(frames, slots):
        r, c = divmod(slot, columns)
        x, y = c * tile_w, r * tile_h
        cv2.resize(img, (tile_w, tile_h), dst=dst[y: y + tile_h, x: x + tile_w],
                   interpolation=cv2.INTER_AREA if img.shape[1] > tile_w else cv2.INTER_LINEAR)
        rects.append((x, y, tile_w, tile_h))
    return rects


def scale_frame_meta(frame, sx: float, sy: float, ox: float, oy: float) -> None:
    """Map a frame's object boxes, labels and display meta into tile coordinates."""
    fo = FrameObjects.from_frame(frame)  # in bulk: objects stored as arrays stay arrays
    if len(fo):
        b = fo.boxes
        left, top = b[:, 0] * sx + ox, b[:, 1] * sy + oy
        boxes = np.column_stack([left, top, left + (b[:, 2] - b[:, 0]) * sx, top + (b[:, 3] - b[:, 1]) * sy])
        off = fo.text_offsets
        offsets = np.column_stack([off[:, 0] * sx + ox, off[:, 1] * sy + oy]).astype(np.int64)
        fo.set(boxes=boxes, text_offsets=offsets)
    for d in frame.display_metas:
        for r in d.rect_params[: d.num_rects]:
            r.left, r.top = r.left * sx + ox, r.top * sy + oy
            r.width, r.height = r.width * sx, r.height * sy
        for t in d.text_params[: d.num_labels]:
            t.x_offset, t.y_offset = int(t.x_offset * sx + ox), int(t.y_offset * sy + oy)
        for ln in list(d.line_params[: d.num_lines]) + list(d.arrow_params[: d.num_arrows]):
            ln.x1, ln.y1 = int(ln.x1 * sx + ox), int(ln.y1 * sy + oy)
            ln.x2, ln.y2 = int(ln.x2 * sx + ox), int(ln.y2 * sy + oy)
        for c in d.circle_params[: d.num_circles]:
            c.xc, c.yc = int(c.xc * sx + ox), int(c.yc * sy + oy)
            c.radius = int(c.radius * min(sx, sy))


class EsTiler(ElementBase, ChainElement, Gst.Element):
    """Tiles the frames of a batch into one frame (a rows × columns mosaic)."""

    __gtype_name__ = "EstuaryTiler"
    FACTORY = "estiler"
    ALIASES = ("nvmultistreamtiler",)
    METADATA = ("Estuary multi-stream tiler", "Filter/Video/Compositor",
                "Composes the frames of a batch into one tiled frame", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, BATCH_CAPS, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, BATCH_CAPS, None))
    PROPS = (
        Prop("rows", int, 1, "Rows of tiles (0: automatic)", 0, 64),
        Prop("columns", int, 1, "Columns of tiles (0: automatic)", 0, 64),
        Prop("width", int, 1280, "Output width", 16, 16384),
        Prop("height", int, 720, "Output height", 16, 16384),
        Prop("show-source", int, -1, "Show only this source full frame (-1: all)", -1, 1023),
        Prop("nvbuf-memory-type", int, 0, "Surface memory type", 0, 6),
        Prop("gpu-id", int, 0, "GPU to use", 0, 64),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()
        self._batch_size = 1

    def output_caps(self, caps):
        fin = video_format(caps)
        self._batch_size = max(fin.batch_size, 1)
        s = self.settings
        fr = f", framerate=(fraction){fin.fps_n}/{fin.fps_d}" if fin.fps_n > 0 else ""
        return Gst.Caps.from_string(
            f"video/x-raw(memory:NVMM), format=(string)RGBA, width=(int){s.width}, "
            f"height=(int){s.height}{fr}, batch-size=(int)1")

    def process(self, buf):
        batch = batchmeta.get(buf)
        if batch is None or batch.surface is None:
            raise StreamError("estiler needs batched buffers from esmux/nvstreammux upstream")
        s = self.settings
        W, H = s.width, s.height
        if batch.surface.frames and batch.surface.frames[0].device == "cuda":
            return [self._process_gpu(buf, batch)]
        out = new_rgba_buffer(W, H)
        with capi.map_memory(hash(out), 0, write=True) as info:
            dst = capi.as_array(info).reshape(H, W, 4)
            dst[...] = 0
            dst[..., 3] = 255
            if s.show_source >= 0:
                frames = [f for f in batch.frames if f.source_id == s.show_source]
                rows = cols = 1
                tw, th = W, H
                slots = [0] * len(frames)
            else:
                frames = list(batch.frames)
                rows, cols, tw, th = tile_layout(self._batch_size, s.rows, s.columns, W, H)
                slots = [f.source_id % (rows * cols) for f in frames]
            imgs = []
            for f in frames:
                with batch.surface.frame(f.batch_id).pixels(write=False) as px:
                    imgs.append(np.array(px))
            rects = compose_tiles(imgs, slots, dst, cols, tw, th)
        shown = set()
        for f, img, rect in zip(frames, imgs, rects):
            ih, iw = img.shape[:2]
            scale_frame_meta(f, rect[2] / iw, rect[3] / ih, rect[0], rect[1])
            f.tile = rect
            f.batch_id = 0
            shown.add(id(f))
        for f in list(batch.frames):
            if id(f) not in shown:
                batch.frames.remove(f)
        batch.surface = BatchSurface([FrameSurface(out, W, H)], 1, batch.surface.mem_type,
                                     batch.surface.gpu_id, batch.surface.cuda_copies)
        return [buf]

    def _process_gpu(self, buf, batch):
        """The same mosaic composed with torch on the GPU (frames never leave it)."""
        import torch
        import torch.nn.functional as F
        s = self.settings
        W, H = s.width, s.height
        dev = batch.surface.frames[0].tensor.device
        out = torch.zeros((H, W, 4), dtype=torch.uint8, device=dev)
        out[..., 3] = 255
        if s.show_source >= 0:
            frames = [f for f in batch.frames if f.source_id == s.show_source]
            cols, tw, th = 1, W, H
            slots = [0] * len(frames)
        else:
            frames = list(batch.frames)
            rows, cols, tw, th = tile_layout(self._batch_size, s.rows, s.columns, W, H)
            slots = [f.source_id % (rows * cols) for f in frames]
        for f, slot in zip(frames, slots):
            t = batch.surface.frame(f.batch_id).tensor
            ih, iw = t.shape[:2]
            r, c = divmod(slot, cols)
            x, y = c * tw, r * th
            img = t.permute(2, 0, 1).unsqueeze(0).float()
            out[y: y + th, x: x + tw] = F.interpolate(img, size=(th, tw), mode="bilinear",
                                                      align_corners=False)[0].permute(1, 2, 0).round().to(torch.uint8)
            scale_frame_meta(f, tw / iw, th / ih, x, y)
            f.tile = (x, y, tw, th)
            f.batch_id = 0
        shown = {id(f) for f in frames}
        for f in list(batch.frames):
            if id(f) not in shown:
                batch.frames.remove(f)
        batch.surface = BatchSurface([FrameSurface(None, W, H, pitch=W * 4, device="cuda", tensor=out)], 1,
                                     batch.surface.mem_type, batch.surface.gpu_id)
        return buf
