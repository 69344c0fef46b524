"""Readable object labels for apps: a pad probe, put before ``nvdsosd``, that chooses each object
label's offsets (and optionally its font size) with :func:`estuary.osd.placement.place_labels`,
so labels sit above their boxes, inside the frame (or tile), and clear of each other.

It only writes ``text_params.x_offset``/``y_offset`` (and ``font_size``) through the pyds API, as
a DeepStream app's probe would: the OSD still draws every label exactly where its metadata says.

    add_label_layout(osd.get_static_pad("sink"), frame_size=(640, 360))
"""

from __future__ import annotations

import math
from collections.abc import Callable

from estuary.osd.placement import label_size, place_labels

__all__ = ["add_label_layout", "layout_batch"]

Bounds = tuple[float, float, float, float]


def _label_and_font(tp) -> tuple[str, str | None]:
    """The text of a label and its font name, read through pyds (the one place that reads
    ``display_text``, a C string address in DeepStream's API)."""
    import pyds
    text = pyds.get_string(tp.display_text) if tp.display_text else ""
    font = pyds.get_string(tp.font_params.font_name) if tp.font_params.font_name else None
    return text or "", font


def layout_batch(batch_meta, bounds_of: Callable[[object], Bounds], font_size: int | None = None) -> int:
    """Place the object labels of every frame of a batch inside that frame's bounds
    (``bounds_of(frame_meta)`` → (left, top, width, height) on the surface the OSD draws).
    Returns how many labels were placed."""
    import pyds
    placed = 0
    l_frame = batch_meta.frame_meta_list
    while l_frame is not None:
        frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
        objs, boxes, sizes = [], [], []
        l_obj = frame_meta.obj_meta_list
        while l_obj is not None:
            obj = pyds.NvDsObjectMeta.cast(l_obj.data)
            l_obj = l_obj.next
            r, tp = obj.rect_params, obj.text_params
            box = (float(r.left), float(r.top), float(r.width), float(r.height))
            if not all(math.isfinite(v) for v in box):
                continue  # the OSD skips such a box too: its label keeps its offsets
            text, font = _label_and_font(tp)
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
        l_frame = l_frame.next
    return placed


def add_label_layout(pad, frame_size: tuple[int, int] | None = None,
                     bounds_of: Callable[[object], Bounds] | None = None,
                     font_size: int | None = None) -> None:
    """Add a buffer probe on ``pad`` (upstream of the OSD) that lays out the object labels of each
    batch: inside (0, 0, width, height) for ``frame_size``, or inside ``bounds_of(frame_meta)``
    (e.g. each source's tile after a tiler)."""
    import pyds
    from estuary.gst import Gst
    if bounds_of is None:
        if frame_size is None:
            from estuary.errors import ConfigError
            raise ConfigError("add_label_layout needs frame_size=(width, height) or bounds_of=<function>")
        whole = (0.0, 0.0, float(frame_size[0]), float(frame_size[1]))
        bounds_of = lambda _frame_meta: whole  # noqa: E731

    def probe(_pad, info):
        buf = info.get_buffer()
        batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(buf))
        if batch_meta is not None:
            layout_batch(batch_meta, bounds_of, font_size)
        return Gst.PadProbeReturn.OK

    pad.add_probe(Gst.PadProbeType.BUFFER, probe)
