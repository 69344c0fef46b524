"""On-screen display on GPU surfaces (torch CUDA tensors), without downloading the frame:
fills and borders are tensor blends; text uses glyph-run masks rendered once on the CPU and
cached on the GPU; lines, arrows and circles are rasterised as small masks and blended. The order
and the compositing (colours *over* the frame, its alpha included) are those of the CPU drawer
(:mod:`estuary.osd.draw`)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from estuary.osd.draw import DrawOptions, _bands
from estuary.osd.fonts import text_mask
from estuary.osd.paint import InvalidShape, _px, _warn_skipped, _width, draw_safely, font_pixels

__all__ = ["draw_gpu"]

# device copies of text masks, least recently used first; bounded because label texts such as
# "car 1234" are unbounded in number over a long run
_MASK_CACHE_SIZE = 512
_mask_cache: "OrderedDict[int, tuple]" = OrderedDict()


def _blend_fill(t, x1, y1, x2, y2, color, alpha):
    h, w = t.shape[:2]
    x1, y1, x2, y2 = max(int(x1), 0), max(int(y1), 0), min(int(x2), w), min(int(y2), h)
    if x2 <= x1 or y2 <= y1 or alpha <= 0:
        return
    roi = t[y1:y2, x1:x2]
    c = _color_tensor(t, color)
    if alpha >= 1.0:
        roi.copy_(c.round().to(roi.dtype).expand_as(roi))
    else:
        roi.copy_((roi.float() * (1 - alpha) + c * alpha + 0.5).to(roi.dtype))


def _color_tensor(t, color):
    """The colour as 0..255 per channel of ``t``; alpha 255, so that the frame's alpha composites over."""
    import torch
    c = [color[0] * 255.0, color[1] * 255.0, color[2] * 255.0, 255.0]
    return torch.tensor(c[: t.shape[-1]], device=t.device)


def _blend_mask(t, x, y, mask, color, alpha):
    import torch
    h, w = t.shape[:2]
    key = id(mask)
    m = _mask_cache.get(key)
    if m is None or m[0] is not mask:
        m = (mask, torch.tensor(mask, device=t.device))  # a copy: cached masks are read-only
        _mask_cache[key] = m
        while len(_mask_cache) > _MASK_CACHE_SIZE:
            _mask_cache.popitem(last=False)
    else:
        _mask_cache.move_to_end(key)
    mt = m[1]
    mh, mw = mt.shape
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + mw, w), min(y + mh, h)
    if x2 <= x1 or y2 <= y1:
        return
    mm = (mt[y1 - y: y2 - y, x1 - x: x2 - x] * alpha).unsqueeze(-1)
    roi = t[y1:y2, x1:x2]
    c = _color_tensor(t, color)
    roi.copy_((roi.float() * (1 - mm) + c * mm + 0.5).to(roi.dtype))


def _rgba(c):
    return (c.red, c.green, c.blue), float(c.alpha)


def _rect(t, r):
    bg = _rgba(r.bg_color) if r.has_bg_color else None
    _box(t, float(r.left), float(r.top), float(r.left) + float(r.width), float(r.top) + float(r.height),
         r.border_width, _rgba(r.border_color), bg)


def _box(t, left, top, right, bottom, border_width, border, bg):
    """A rectangle from plain values: ``border``/``bg`` are (rgb, alpha), ``bg`` None for none."""
    x1, y1, x2, y2 = _px(left), _px(top), _px(right), _px(bottom)
    if bg is not None:
        _blend_fill(t, x1, y1, x2, y2, *bg)
    bw = min(_width(border_width, 0), max(x2 - x1, y2 - y1, 0))
    if bw > 0:
        c, a = border
        for ya, yb, xa, xb in _bands(x1, y1, x2, y2, bw, t.shape[1], t.shape[0]):
            _blend_fill(t, xa, ya, xb, yb, c, a)


def _text(t, tp):
    fp = tp.font_params
    _label(t, tp.display_text_str, fp.font_name_str, fp.font_size, tp.x_offset, tp.y_offset,
           _rgba(fp.font_color), _rgba(tp.text_bg_clr) if tp.set_bg_clr else None)


def _label(t, s, font_name, font_size, x_offset, y_offset, color, bg):
    """A label from plain values: ``color``/``bg`` are (rgb, alpha), ``bg`` None for none."""
    if not s:
        return
    x, y = _px(x_offset), _px(y_offset)
    mask = text_mask(s, font_name or "Serif", font_pixels(font_size))
    if bg is not None:
        _blend_fill(t, x, y, x + mask.shape[1], y + mask.shape[0], *bg)
    _blend_mask(t, x, y, mask, *color)


def _split(rgba) -> tuple:
    return (tuple(rgba[:3]), float(rgba[3]))


def _table_safely(draw, kind: str, t, *row) -> None:
    """``draw_safely`` for a row of an object table (warned under the kind its struct would be)."""
    try:
        draw(t, *row)
    except InvalidShape as exc:
        _warn_skipped(kind, exc)


def _table_rect(t, box, style):
    x1, y1, x2, y2 = box
    _box(t, x1, y1, x1 + (x2 - x1), y1 + (y2 - y1), style.border_width, _split(style.border_color),
         _split(style.bg_color) if style.bg_color is not None else None)


def _table_text(t, s, offset, style):
    _label(t, s, style.font_name, style.font_size, offset[0], offset[1], _split(style.font_color),
           _split(style.text_bg_color) if style.text_bg_color is not None else None)


def _shape(t, draw, bbox, color, alpha):
    """Rasterise a small mask on the CPU (OpenCV), blend it on the GPU."""
    h, w = t.shape[:2]
    x1, y1 = max(int(bbox[0]), 0), max(int(bbox[1]), 0)
    x2, y2 = min(int(bbox[2]) + 1, w), min(int(bbox[3]) + 1, h)
    if x2 <= x1 or y2 <= y1:
        return
    m = np.zeros((y2 - y1, x2 - x1), np.uint8)
    draw(m, (x1, y1))
    _blend_mask(t, x1, y1, m.astype(np.float32) / 255.0, color, alpha)


def _line(t, ln):
    import cv2
    x1, y1, x2, y2 = _px(ln.x1), _px(ln.y1), _px(ln.x2), _px(ln.y2)
    wd = _width(ln.line_width)
    c, a = _rgba(ln.line_color)
    _shape(t, lambda m, o: cv2.line(m, (x1 - o[0], y1 - o[1]), (x2 - o[0], y2 - o[1]), 255, wd),
           (min(x1, x2) - wd, min(y1, y2) - wd, max(x1, x2) + wd, max(y1, y2) + wd), c, a)


def _circle(t, cp):
    import cv2
    xc, yc, r = _px(cp.xc), _px(cp.yc), max(_px(cp.radius), 0)
    c, a = _rgba(cp.circle_color)
    _shape(t, lambda m, o: cv2.circle(m, (xc - o[0], yc - o[1]), r, 255, 2),
           (xc - r - 2, yc - r - 2, xc + r + 2, yc + r + 2), c, a)


def draw_gpu(t, frame_meta, opt: DrawOptions) -> None:
    """Draw one frame's metadata into an (H, W, 4) uint8 CUDA tensor: all rectangles, then all
    labels, lines and circles (DeepStream's order, as the CPU drawer)."""
    get = getattr(frame_meta, "object_table", None)
    table = get() if get is not None else None  # objects stored as arrays: no struct is made
    objects, dms = (frame_meta.objects if table is None else ()), frame_meta.display_metas
    if opt.display_bbox:
        for obj in objects:
            draw_safely(_rect, t, obj.rect_params)
        if table is not None:
            for box, style in zip(table.boxes.tolist(), table.styles):
                if style is not None:
                    _table_safely(_table_rect, "rect", t, box, style)
    for dm in dms:
        for r in dm.rect_params[: dm.num_rects]:
            draw_safely(_rect, t, r)
    if opt.display_text:
        for obj in objects:
            draw_safely(_text, t, obj.text_params)
        if table is not None:
            for s, off, style in zip(table.texts, table.text_offsets.tolist(), table.styles):
                if s and style is not None:
                    _table_safely(_table_text, "text", t, s, off, style)
    for dm in dms:
        for tp in dm.text_params[: dm.num_labels]:
            draw_safely(_text, t, tp)
    for dm in dms:
        for ln in dm.line_params[: dm.num_lines]:
            draw_safely(_line, t, ln)
    for dm in dms:
        for cp in dm.circle_params[: dm.num_circles]:
            draw_safely(_circle, t, cp)
