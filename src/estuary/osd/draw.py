"""Drawing of boxes, fills, labels, lines, arrows, circles and masks into RGBA numpy frames.

A frame is drawn in the order of DeepStream's nvdsosd: every rectangle (the objects', then the
display metas'), then instance masks, then every label, then lines, arrows and circles, so that
labels stay on top of all boxes. Colours composite *over* the frame: ``out = src·(1−α) + colour·α``
on the colour channels and ``α_out = α_src·(1−α) + α`` on the frame's alpha, so opaque drawing
leaves alpha 255 (a video frame, opaque already, stays 255 everywhere).

The work per object is a few whole-pixel writes, with everything that depends only on the
metadata's values computed once and cached: an opaque border is four 32-bit fills, an opaque
label one copy of a block composited once per text, font and colours; a translucent fill is one
``cv2.addWeighted`` and a label over the frame (translucent background or none) one
``cv2.blendLinear``, over the covered pixels only. OpenCV rasterises lines, arrows and circles.
Objects stored as arrays (the frame's table, :mod:`estuary.meta.arrays`, as nvinfer writes them)
are drawn from the table, without making their structs.

Pixels: opaque borders, fills and labels on an opaque background are those of the reference
primitives :func:`blend_fill` and :func:`blend_mask` exactly; a translucent fill or a label over
the frame is within one level of them per channel (OpenCV blends the colour in whole levels and
rounds to nearest; the reference blends the exact colour and rounds half up)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from estuary.errors import SurfaceError
from estuary.osd.fonts import text_mask
# _colour, _warned and font_pixels are also re-exported, for code that knew them here
from estuary.osd.paint import (  # noqa: F401
    _LIMIT, _MAX_THICKNESS, InvalidShape, _colour, _end, _Label, _label, _paint, _paint_of, _px, _rgb,
    _rgba, _warn_skipped, _warned, _width, draw_safely, font_pixels,
)

__all__ = ["Drawer", "DrawOptions", "blend_fill", "blend_mask"]


@dataclass
class DrawOptions:
    display_text: bool = True
    display_bbox: bool = True
    display_mask: bool = True
    display_clock: bool = False
    clock_font: str = "Serif"
    clock_font_size: int = 12
    clock_x: int = 10
    clock_y: int = 10
    clock_color: tuple = (1.0, 0.0, 0.0, 1.0)
    default_border_width: int = 3


# -- primitives ---------------------------------------------------------------------------------
def _bands(x1: int, y1: int, x2: int, y2: int, bw: int, w: int, h: int) -> list:
    """The four bands (top, bottom, left, right) of a border of width ``bw`` inside
    (x1, y1)-(x2, y2), clipped to a w×h frame, as (y_from, y_to, x_from, x_to); empty ones left
    out."""
    out = []
    cx1, cx2 = (x1 if x1 > 0 else 0), (x2 if x2 < w else w)
    if cx2 <= cx1:
        return out
    for ya, yb in ((y1, y1 + bw), (y2 - bw, y2)):
        ya, yb = (ya if ya > 0 else 0), (yb if yb < h else h)
        if yb > ya:
            out.append((ya, yb, cx1, cx2))
    ya, yb = y1 + bw, y2 - bw
    ya, yb = (ya if ya > 0 else 0), (yb if yb < h else h)
    if yb > ya:
        for xa, xb in ((x1, x1 + bw), (x2 - bw, x2)):
            xa, xb = (xa if xa > 0 else 0), (xb if xb < w else w)
            if xb > xa:
                out.append((ya, yb, xa, xb))
    return out


def blend_fill(frame: np.ndarray, x1: int, y1: int, x2: int, y2: int, rgb: np.ndarray, alpha: float) -> None:
    """Fill a rectangle with a colour at ``alpha`` (the frame's alpha composited over too)."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if x2 <= x1 or y2 <= y1 or alpha <= 0:
        return
    c = _rgba(rgb)[: frame.shape[2]]
    roi = frame[y1:y2, x1:x2]
    if alpha >= 1.0:
        roi[...] = c  # numpy truncates to whole levels here, as fills always did
    else:
        roi[...] = (roi.astype(np.float32) * (1 - alpha) + c * alpha + 0.5).astype(np.uint8)


def blend_mask(frame: np.ndarray, x: int, y: int, mask: np.ndarray, rgb: np.ndarray, alpha: float) -> None:
    """Blend a colour through a coverage mask (0..1) placed at (x, y)."""
    h, w = frame.shape[:2]
    mh, mw = mask.shape
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + mw, w), min(y + mh, h)
    if x2 <= x1 or y2 <= y1:
        return
    m = mask[y1 - y: y2 - y, x1 - x: x2 - x, None] * np.float32(alpha)
    c = _rgba(rgb)[: frame.shape[2]]
    roi = frame[y1:y2, x1:x2]
    roi[...] = (roi.astype(np.float32) * (1 - m) + c * m + 0.5).astype(np.uint8)


def _shape(frame, draw_fn, rgb, alpha, bbox):
    """Rasterise with OpenCV; blend through a coverage mask when the colour is translucent."""
    if alpha >= 1.0:
        draw_fn(frame, tuple(int(v) for v in rgb) + (255,))
        return
    if alpha <= 0.0:
        return
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (max(int(bbox[0]), 0), max(int(bbox[1]), 0), min(int(bbox[2]) + 1, w), min(int(bbox[3]) + 1, h))
    if x2 <= x1 or y2 <= y1:
        return
    mask = np.zeros((y2 - y1, x2 - x1), np.uint8)
    draw_fn(mask, 255, offset=(x1, y1))
    blend_mask(frame, x1, y1, mask.astype(np.float32) / 255.0, rgb, alpha)


def _pixels32(frame: np.ndarray) -> np.ndarray | None:
    """The frame's pixels as one uint32 each (H, W), a view; None when the layout has no such view."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 4 or frame.strides[2] != 1 \
            or frame.strides[1] != 4:
        return None
    return frame.view(np.uint32)[..., 0]


def _object_table(frame_meta):
    """The frame's objects as a live table when they are stored as arrays (no struct made yet),
    else None (:meth:`NvDsFrameMeta.object_table`)."""
    get = getattr(frame_meta, "object_table", None)
    return get() if get is not None else None


# -- a frame ------------------------------------------------------------------------------------
class Drawer:
    """Draws the metadata of one frame into its RGBA pixels."""

    def __init__(self, options: DrawOptions | None = None):
        self.opt = options or DrawOptions()
        # one uniform colour block, reused by every translucent fill (cv2.addWeighted takes
        # an array): _solid_n pixels of it hold _solid_px
        self._solid = np.empty(0, np.uint32)
        self._solid_px, self._solid_n = None, 0

    def _fill(self, frame: np.ndarray, px32: np.ndarray, ya: int, yb: int, xa: int, xb: int, paint) -> None:
        """Fill rows ya:yb, columns xa:xb (clipped, not empty) with a :func:`_paint`."""
        if type(paint) is int:
            px32[ya:yb, xa:xb] = paint
            return
        pixel, alpha = paint
        h, w = yb - ya, xb - xa
        n = h * w
        if n > self._solid.size:
            self._solid = np.empty(max(n, 2 * self._solid.size), np.uint32)
            self._solid_n = 0
        if pixel != self._solid_px or n > self._solid_n:
            self._solid[:n] = pixel
            self._solid_px, self._solid_n = pixel, n
        roi = frame[ya:yb, xa:xb]
        cv2.addWeighted(roi, 1.0 - alpha, self._solid[:n].view(np.uint8).reshape(h, w, 4), alpha, 0.0,
                        dst=roi)

    def has_work(self, frame_meta) -> bool:
        """Whether :meth:`draw` would draw anything on this frame (objects, display metas or
        the clock): a frame without is not even mapped."""
        return bool(getattr(frame_meta, "num_obj_meta", 1) or frame_meta.display_metas or self.opt.display_clock)

    def draw(self, frame: np.ndarray, frame_meta) -> None:
        """Draw ``frame_meta``'s objects and display metas into ``frame`` ((H, W, 4) uint8 RGBA;
        (H, W, 3) RGB frames are drawn through an RGBA copy)."""
        px32 = _pixels32(frame)
        if px32 is not None:
            self._draw(frame, px32, frame_meta)
            return
        if not self.has_work(frame_meta):
            return  # nothing to draw: spare the copies
        rgb = frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        work = cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA) if rgb else np.ascontiguousarray(frame)
        px32 = _pixels32(work)
        if px32 is None:
            raise SurfaceError(f"the OSD draws on (H, W, 4) RGBA or (H, W, 3) RGB uint8 frames, not "
                               f"{frame.dtype} {frame.shape}")
        self._draw(work, px32, frame_meta)
        frame[...] = cv2.cvtColor(work, cv2.COLOR_RGBA2RGB) if rgb else work

    def _draw(self, frame: np.ndarray, px32: np.ndarray, frame_meta) -> None:
        o = self.opt
        table = _object_table(frame_meta)
        objects = frame_meta.objects if table is None else ()
        dms = frame_meta.display_metas
        # DeepStream's order: all rectangles, masks, all labels, then lines, arrows, circles
        if table is not None and o.display_bbox:
            self.table_rects(frame, px32, table)
        rects = [obj.rect_params for obj in objects] if o.display_bbox else []
        for dm in dms:
            if dm.num_rects:
                rects.extend(dm.rect_params[: dm.num_rects])
        if rects:
            self.rects(frame, px32, rects)
        if o.display_mask:
            for obj in objects:
                if obj.mask_params.data is not None:
                    draw_safely(self.mask, frame, obj)
        if table is not None and o.display_text:
            self.table_texts(frame, px32, table)
        texts = [obj.text_params for obj in objects] if o.display_text else []
        for dm in dms:
            if dm.num_labels:
                texts.extend(dm.text_params[: dm.num_labels])
        if texts:
            self.texts(frame, px32, texts)
        for dm in dms:
            for ln in dm.line_params[: dm.num_lines]:
                draw_safely(self.line, frame, ln)
        for dm in dms:
            for ar in dm.arrow_params[: dm.num_arrows]:
                draw_safely(self.arrow, frame, ar)
        for dm in dms:
            for c in dm.circle_params[: dm.num_circles]:
                draw_safely(self.circle, frame, c)
        if o.display_clock:
            self.clock(frame)

    def rects(self, frame: np.ndarray, px32: np.ndarray, rects: list) -> None:
        """Draw rectangles (NvOSD_RectParams): the fill if any, then the border inside the box."""
        box = self._box
        for r in rects:
            try:
                left, top = r.left, r.top
                x1, y1, x2, y2 = _px(left), _px(top), _end(left, r.width), _end(top, r.height)
                bw = r.border_width
                bw = bw if type(bw) is int and 0 <= bw <= _MAX_THICKNESS else _width(bw, 0)
            except InvalidShape as exc:
                _warn_skipped("rect", exc)
                continue
            bw = min(bw, max(x2 - x1, y2 - y1, 0))
            bc = r.border_color
            box(frame, px32, x1, y1, x2, y2, bw, _paint(bc.red, bc.green, bc.blue, bc.alpha) if bw > 0 else None,
                _paint_of(r.bg_color) if r.has_bg_color else None)

    def _box(self, frame, px32, x1: int, y1: int, x2: int, y2: int, bw: int, paint, fill) -> None:
        """One rectangle in pixels: ``fill`` (a :func:`_paint` or None) over the box, then the
        border of width ``bw`` (> 0 when ``paint`` is not None) inside it."""
        h, w = px32.shape
        if fill is not None:
            # an opaque border covers its pixels: a fill under it only needs the inside
            inset = bw if type(paint) is int else 0
            xa, ya = max(x1 + inset, 0), max(y1 + inset, 0)
            xb, yb = min(x2 - inset, w), min(y2 - inset, h)
            if xb > xa and yb > ya:
                self._fill(frame, px32, ya, yb, xa, xb, fill)
        if paint is None:
            return
        if type(paint) is int:
            # _bands inlined (the hot path): each test keeps one band's slice non-empty and its
            # start >= 0 (numpy clips a stop past the end itself)
            if x2 <= x1 or x2 <= 0 or x1 >= w:
                return
            cx1 = x1 if x1 > 0 else 0
            if y1 + bw > 0 and y1 < h:
                px32[(y1 if y1 > 0 else 0):y1 + bw, cx1:x2] = paint
            if y2 > 0 and y2 - bw < h:
                px32[(y2 - bw if y2 > bw else 0):y2, cx1:x2] = paint
            ya, yb = y1 + bw, y2 - bw
            if yb > ya and yb > 0 and ya < h:
                ya = ya if ya > 0 else 0
                if x1 + bw > 0:
                    px32[ya:yb, cx1:x1 + bw] = paint
                if x2 - bw < w:
                    px32[ya:yb, (x2 - bw if x2 > bw else 0):x2] = paint
        else:
            for ya, yb, xa, xb in _bands(x1, y1, x2, y2, bw, w, h):
                self._fill(frame, px32, ya, yb, xa, xb, paint)

    def texts(self, frame: np.ndarray, px32: np.ndarray, texts: list) -> None:
        """Draw labels (NvOSD_TextParams) at their offsets, each from its cached composite."""
        paste = self._paste
        for t in texts:
            s = t.display_text_str
            if not s:
                continue
            fp = t.font_params
            fc = fp.font_color
            if t.set_bg_clr:
                bc = t.text_bg_clr
                bg = (bc.red, bc.green, bc.blue, bc.alpha)
            else:
                bg = None
            try:
                x, y = _px(t.x_offset), _px(t.y_offset)
                lab = _label(s, fp.font_name_str or "Serif", fp.font_size,
                             (fc.red, fc.green, fc.blue, fc.alpha), bg)
            except InvalidShape as exc:
                _warn_skipped("text", exc)
                continue
            if lab is not None:
                paste(frame, px32, x, y, lab)

    @staticmethod
    def _paste(frame, px32, x: int, y: int, lab: _Label) -> None:
        """Draw a composited label with its top-left at (x, y), clipped."""
        h, w = px32.shape
        xa, ya = (x if x > 0 else 0), (y if y > 0 else 0)
        xb, yb = x + lab.w, y + lab.h
        xb, yb = (xb if xb < w else w), (yb if yb < h else h)
        if xb <= xa or yb <= ya:
            return
        if lab.block is not None:
            px32[ya:yb, xa:xb] = lab.block[ya - y: yb - y, xa - x: xb - x]
        else:
            roi = frame[ya:yb, xa:xb]
            sy, sx = slice(ya - y, yb - y), slice(xa - x, xb - x)
            cv2.blendLinear(roi, lab.colour[sy, sx], lab.keep[sy, sx], lab.cover[sy, sx], dst=roi)

    # -- objects stored as arrays (estuary.meta.arrays): drawn without making their structs --
    def table_rects(self, frame: np.ndarray, px32: np.ndarray, table) -> None:
        """Draw the boxes of a frame's object table (as :meth:`rects` draws their structs)."""
        b = table.boxes
        n = len(b)
        if not n:
            return
        # pixels as the structs give them: left/top/width/height and the far edges summed in
        # the same float arithmetic, clamped, rounded half to even (as _px)
        if n < 32:  # numpy's fixed cost per call is more than a few rows' Python
            px, ok = [], []
            for x1, y1, x2, y2 in b.tolist():
                try:
                    px.append((_px(x1), _px(y1), _px(x1 + (x2 - x1)), _px(y1 + (y2 - y1))))
                    ok.append(True)
                except InvalidShape as exc:
                    px.append(None)
                    ok.append(False)
                    _warn_skipped("rect", exc)
        else:
            left, top = b[:, 0], b[:, 1]
            xyxy = np.stack((left, top, left + (b[:, 2] - left), top + (b[:, 3] - top)), 1)
            good = np.isfinite(xyxy).all(1)
            px = np.rint(np.clip(np.where(good[:, None], xyxy, 0.0), -_LIMIT, _LIMIT)).astype(np.int64).tolist()
            ok = good.tolist()
            if not good.all():
                _warn_skipped("rect", InvalidShape("non-finite box coordinates"))
        looks: dict = {}
        box = self._box
        for xyxy, good, style in zip(px, ok, table.styles):
            if not good or style is None:
                continue
            x1, y1, x2, y2 = xyxy
            look = looks.get(id(style))  # styles are shared (one per class): resolved once a frame
            if look is None:
                try:
                    bw = _width(style.border_width, 0)
                except InvalidShape as exc:
                    _warn_skipped("rect", exc)
                    bw = 0
                look = looks[id(style)] = (bw, _paint(*style.border_color) if bw > 0 else None,
                                           _paint(*style.bg_color) if style.bg_color is not None else None)
            bw = min(look[0], max(x2 - x1, y2 - y1, 0))
            box(frame, px32, x1, y1, x2, y2, bw, look[1] if bw > 0 else None, look[2])

    def table_texts(self, frame: np.ndarray, px32: np.ndarray, table) -> None:
        """Draw the labels of a frame's object table (as :meth:`texts` draws their structs)."""
        paste = self._paste
        offsets = table.text_offsets.tolist()
        for s, (x, y), style in zip(table.texts, offsets, table.styles):
            if not s or style is None:
                continue
            try:
                lab = _label(s, style.font_name or "Serif", style.font_size, tuple(style.font_color),
                             tuple(style.text_bg_color) if style.text_bg_color is not None else None)
            except InvalidShape as exc:
                _warn_skipped("text", exc)
                continue
            if lab is not None:
                paste(frame, px32, _px(x), _px(y), lab)

    def line(self, frame, ln) -> None:
        rgb, a = _rgb(ln.line_color)
        p1, p2 = (_px(ln.x1), _px(ln.y1)), (_px(ln.x2), _px(ln.y2))
        wd = _width(ln.line_width)

        def fn(img, color, offset=(0, 0)):
            cv2.line(img, (p1[0] - offset[0], p1[1] - offset[1]), (p2[0] - offset[0], p2[1] - offset[1]),
                     color, wd, cv2.LINE_AA if img.ndim == 2 else cv2.LINE_8)

        _shape(frame, fn, rgb, a, (min(p1[0], p2[0]) - wd, min(p1[1], p2[1]) - wd,
                                   max(p1[0], p2[0]) + wd, max(p1[1], p2[1]) + wd))

    def arrow(self, frame, ar) -> None:
        rgb, a = _rgb(ar.arrow_color)
        p1, p2 = (_px(ar.x1), _px(ar.y1)), (_px(ar.x2), _px(ar.y2))
        wd = _width(ar.arrow_width)
        head = int(ar.arrow_head)
        length = max(math.hypot(p2[0] - p1[0], p2[1] - p1[1]), 1.0)
        tip = min(0.3, 15.0 / length)

        def fn(img, color, offset=(0, 0)):
            a1 = (p1[0] - offset[0], p1[1] - offset[1])
            a2 = (p2[0] - offset[0], p2[1] - offset[1])
            if head in (1, 2):  # END_HEAD / BOTH_HEAD: head at (x2, y2)
                cv2.arrowedLine(img, a1, a2, color, wd, cv2.LINE_8, 0, tip)
            if head in (0, 2):  # START_HEAD / BOTH_HEAD: head at (x1, y1)
                cv2.arrowedLine(img, a2, a1, color, wd, cv2.LINE_8, 0, tip)

        pad = wd + 20
        _shape(frame, fn, rgb, a, (min(p1[0], p2[0]) - pad, min(p1[1], p2[1]) - pad,
                                   max(p1[0], p2[0]) + pad, max(p1[1], p2[1]) + pad))

    def circle(self, frame, c) -> None:
        center, radius = (_px(c.xc), _px(c.yc)), min(max(_px(c.radius), 0), _LIMIT)
        box = (center[0] - radius - 2, center[1] - radius - 2, center[0] + radius + 2, center[1] + radius + 2)
        if c.has_bg_color:
            rgb, a = _rgb(c.bg_color)
            _shape(frame, lambda img, color, offset=(0, 0): cv2.circle(
                img, (center[0] - offset[0], center[1] - offset[1]), radius, color, -1), rgb, a, box)
        rgb, a = _rgb(c.circle_color)
        _shape(frame, lambda img, color, offset=(0, 0): cv2.circle(
            img, (center[0] - offset[0], center[1] - offset[1]), radius, color, 2), rgb, a, box)

    def mask(self, frame, obj) -> None:
        mp = obj.mask_params
        if mp.data is None or not mp.width or not mp.height:
            return
        r = obj.rect_params
        w, h = _px(r.width), _px(r.height)
        if w <= 0 or h <= 0 or w * h > frame.shape[0] * frame.shape[1] * 16:
            return
        m = np.asarray(mp.get_mask_array()).reshape(int(mp.height), int(mp.width))
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
        cov = (m > mp.threshold).astype(np.float32)
        rgb, _ = _rgb(r.border_color)
        blend_mask(frame, _px(r.left), _px(r.top), cov, rgb, 0.5)

    def clock(self, frame) -> None:
        o = self.opt
        text = time.strftime("%H:%M:%S")
        mask = text_mask(text, o.clock_font, int(o.clock_font_size * 1.33))
        rgb = np.array(o.clock_color[:3], np.float32) * 255
        blend_mask(frame, o.clock_x, o.clock_y, mask, rgb, o.clock_color[3])
