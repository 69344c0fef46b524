"""Readable object labels for apps: a pad probe, put before ``nvdsosd``, that chooses each object
label's offsets (and optionally its font size) with :func:`estuary.osd.placement.place_labels`,
so labels sit above their boxes, inside the frame (or tile), and clear of each other.

It only writes ``text_params.x_offset``/``y_offset`` (and ``font_size``) of the plain metadata
model, as a DeepStream app's probe would through pyds: the OSD still draws every label exactly
where its metadata says.

    add_label_layout(osd.get_static_pad("sink"), frame_size=(640, 360))
"""

from __future__ import annotations

import math
from collections.abc import Callable

from estuary.osd.placement import label_size, place_labels

__all__ = ["add_label_layout", "layout_batch"]

Bounds = tuple[float, float, float, float]


def layout_batch(batch_meta, bounds_of: Callable[[object], Bounds], font_size: int | None = None) -> int:
    """Place the object labels of every frame of a batch inside that frame's bounds
    (``bounds_of(frame_meta)`` → (left, top, width, height) on the surface the OSD draws).
    Returns how many labels were placed."""
    placed = 0
    for frame_meta in batch_meta.frames:
        objs, boxes, sizes = [], [], []
        for obj in frame_meta.objects:
            r, tp = obj.rect_params, obj.text_params
            box = (float(r.left), float(r.top), float(r.width), float(r.height))
            if not all(math.isfinite(v) for v in box):
                continue  # the OSD skips such a box too: its label keeps its offsets
            text, font = tp.display_text_str, tp.font_params.font_name_str
            if not text:
                continue
            if font_size:
                tp.font_params.font_size = int(font_size)
            objs.append(tp)
            boxes.append(box)
            sizes.append(label_size(text, font, tp.font_params.font_size))
        if objs:
            for tp, (x, y) in zip(objs, place_labels(boxes, sizes, bounds_of(frame_meta))):
                tp.x_offset, tp.y_offset = x, y
            placed += len(objs)
    return placed


def add_label_layout(pad, frame_size: tuple[int, int] | None = None,
                     bounds_of: Callable[[object], Bounds] | None = None,
                     font_size: int | None = None) -> None:
    """Add a buffer probe on ``pad`` (upstream of the OSD) that lays out the object labels of each
    batch: inside (0, 0, width, height) for ``frame_size``, or inside ``bounds_of(frame_meta)``
    (e.g. each source's tile after a tiler)."""
    from estuary.gst import Gst, batchmeta
    if bounds_of is None:
        if frame_size is None:
            from estuary.errors import ConfigError
            raise ConfigError("add_label_layout needs frame_size=(width, height) or bounds_of=<function>")
        whole = (0.0, 0.0, float(frame_size[0]), float(frame_size[1]))
        bounds_of = lambda _frame_meta: whole  # noqa: E731

    def probe(_pad, info):
        buf = info.get_buffer()
        batch_meta = batchmeta.get(buf)
        if batch_meta is not None:
            layout_batch(batch_meta, bounds_of, font_size)
        return Gst.PadProbeReturn.OK

    pad.add_probe(Gst.PadProbeType.BUFFER, probe)
