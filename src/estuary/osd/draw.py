"""Drawing of boxes, fills, labels, lines, arrows, circles and masks into RGBA numpy frames,
with correct alpha blending (``out = src·(1−α) + colour·α``). OpenCV does the rasterising."""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from estuary.osd.fonts import text_mask

log = logging.getLogger("estuary.osd")

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


@functools.lru_cache(maxsize=256)
def _colour(r: float, g: float, b: float) -> np.ndarray:
    c = np.array([r, g, b], np.float32) * 255.0
    c.setflags(write=False)
    return c


def _rgb(c) -> tuple[np.ndarray, float]:
    """(RGB as float32 0..255, alpha) of a ColorParams; arrays shared per colour (read-only)."""
    return _colour(float(c.red), float(c.green), float(c.blue)), float(c.alpha)


@functools.lru_cache(maxsize=1024)
def _label_block(text: str, font: str, px: int, fg: tuple, bg: tuple) -> np.ndarray:
    """An opaque label — text of colour ``fg`` on background ``bg`` — composited once (uint8).

    DeepStream-style labels (opaque text on an opaque background) are the common case: drawing
    one becomes a single copy instead of a fill and a per-pixel blend."""
    mask = text_mask(text, font, px)[..., None]
    # the background as a fill would leave it (whole levels), then the text blended over it
    bg_levels = (np.asarray(bg, np.float32) * 255.0).astype(np.uint8).astype(np.float32)
    block = bg_levels * (1.0 - mask) + np.asarray(fg, np.float32) * 255.0 * mask + 0.5
    block = block.astype(np.uint8)
    block.setflags(write=False)
    return block


def _opaque_border(frame: np.ndarray, x1: int, y1: int, x2: int, y2: int, bw: int, rgb) -> None:
    """The four bands of an opaque border of width ``bw`` inside (x1, y1)-(x2, y2), clipped once
    (the same pixels as four :func:`blend_fill` calls at alpha 1, with less work per box)."""
    h, w = frame.shape[:2]
    cx1, cx2 = max(x1, 0), min(x2, w)
    if cx2 <= cx1:
        return
    for ya, yb in ((y1, y1 + bw), (y2 - bw, y2)):
        ya, yb = max(ya, 0), min(yb, h)
        if yb > ya:
            frame[ya:yb, cx1:cx2, :3] = rgb
    ya, yb = max(y1 + bw, 0), min(y2 - bw, h)
    if yb > ya:
        for xa, xb in ((x1, x1 + bw), (x2 - bw, x2)):
            xa, xb = max(xa, 0), min(xb, w)
            if xb > xa:
                frame[ya:yb, xa:xb, :3] = rgb


def paste(frame: np.ndarray, x: int, y: int, block: np.ndarray) -> None:
    """Copy an (h, w, 3) uint8 block into the frame's RGB at (x, y), clipped."""
    h, w = frame.shape[:2]
    bh, bw = block.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + bw, w), min(y + bh, h)
    if x2 > x1 and y2 > y1:
        frame[y1:y2, x1:x2, :3] = block[y1 - y: y2 - y, x1 - x: x2 - x]


def blend_fill(frame: np.ndarray, x1: int, y1: int, x2: int, y2: int, rgb: np.ndarray, alpha: float) -> None:
    """Fill a rectangle with a colour at ``alpha``."""
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if x2 <= x1 or y2 <= y1 or alpha <= 0:
        return
    roi = frame[y1:y2, x1:x2, :3]
    if alpha >= 1.0:
        roi[...] = rgb  # numpy rounds nothing here: colours are whole levels or truncated as before
    else:
        roi[...] = (roi.astype(np.float32) * (1 - alpha) + rgb * alpha + 0.5).astype(np.uint8)


def blend_mask(frame: np.ndarray, x: int, y: int, mask: np.ndarray, rgb: np.ndarray, alpha: float) -> None:
    """Blend a colour through a coverage mask (0..1) placed at (x, y)."""
    h, w = frame.shape[:2]
    mh, mw = mask.shape
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + mw, w), min(y + mh, h)
    if x2 <= x1 or y2 <= y1:
        return
    m = mask[y1 - y: y2 - y, x1 - x: x2 - x, None] * np.float32(alpha)
    roi = frame[y1:y2, x1:x2, :3]
    roi[...] = (roi.astype(np.float32) * (1 - m) + rgb * m + 0.5).astype(np.uint8)


def _shape(frame, draw_fn, rgb, alpha, bbox):
    """Rasterise with OpenCV; blend through a coverage mask when the colour is translucent."""
    if alpha >= 1.0:
        draw_fn(frame, tuple(int(v) for v in rgb) + (255,))
        return
    h, w = frame.shape[:2]
    x1, y1, x2, y2 = (max(int(bbox[0]), 0), max(int(bbox[1]), 0), min(int(bbox[2]) + 1, w), min(int(bbox[3]) + 1, h))
    if x2 <= x1 or y2 <= y1:
        return
    mask = np.zeros((y2 - y1, x2 - x1), np.uint8)
    draw_fn(mask, 255, offset=(x1, y1))
    blend_mask(frame, x1, y1, mask.astype(np.float32) / 255.0, rgb, alpha)


# Coordinates are clamped to ±_LIMIT and line widths to OpenCV's MAX_THICKNESS: a wild value
# from user metadata (1e30, 2**40) draws clipped instead of failing inside OpenCV; NaN and inf
# cannot be placed at all, so that one shape is skipped with a warning (once per kind).
_LIMIT = 1 << 20
_MAX_THICKNESS = 32767
_MAX_FONT = 512
_warned: set = set()


class InvalidShape(ValueError):
    """A shape whose geometry cannot be drawn (NaN or infinite coordinates)."""


def _px(v) -> int:
    """A pixel coordinate from user metadata: rounded, clamped; NaN/inf raise InvalidShape."""
    v = float(v)
    if not math.isfinite(v):
        raise InvalidShape(f"non-finite coordinate {v}")
    return int(round(min(max(v, -_LIMIT), _LIMIT)))


def _width(v, minimum: int = 1) -> int:
    return min(max(_px(v), minimum), _MAX_THICKNESS)


def draw_safely(draw, frame, item) -> None:
    """Draw one shape; a shape that cannot be placed is skipped (warned once per kind).

    Shared by the CPU :class:`Drawer` and the GPU drawing in :mod:`estuary.osd.gpu`."""
    try:
        draw(frame, item)
    except InvalidShape as exc:
        kind = draw.__name__.strip("_")
        if kind not in _warned:
            _warned.add(kind)
            log.warning("nvdsosd: skipped a %s that cannot be drawn (%s); further ones are "
                        "skipped silently", kind, exc)


def font_pixels(font_size) -> int:
    """Pixel height of a font size in points (96 dpi), 12 pt when unset, clamped."""
    size = min(max(int(font_size), 0), _MAX_FONT) or 12
    return int(round(size * 1.33))


class Drawer:
    """Draws the metadata of one frame into its RGBA pixels."""

    def __init__(self, options: DrawOptions | None = None):
        self.opt = options or DrawOptions()

    _safely = staticmethod(lambda draw, frame, item: draw_safely(draw, frame, item))

    # -- primitives -------------------------------------------------------------------------
    def rect(self, frame, r) -> None:
        x1, y1 = _px(r.left), _px(r.top)
        x2, y2 = _px(float(r.left) + float(r.width)), _px(float(r.top) + float(r.height))
        if r.has_bg_color:
            rgb, a = _rgb(r.bg_color)
            blend_fill(frame, x1, y1, x2, y2, rgb, a)
        bw = min(_width(r.border_width, 0), max(x2 - x1, y2 - y1, 0))
        if bw > 0:
            rgb, a = _rgb(r.border_color)
            if a >= 1.0:
                _opaque_border(frame, x1, y1, x2, y2, bw, rgb)
                return
            # four filled bands: exact pixels, no double blending at the corners
            for bx1, by1, bx2, by2 in ((x1, y1, x2, y1 + bw), (x1, y2 - bw, x2, y2),
                                       (x1, y1 + bw, x1 + bw, y2 - bw), (x2 - bw, y1 + bw, x2, y2 - bw)):
                blend_fill(frame, bx1, by1, bx2, by2, rgb, a)

    def text(self, frame, t) -> None:
        s = t.display_text_str
        if not s:
            return
        fp = t.font_params
        name = fp.font_name_str or "Serif"
        x, y = _px(t.x_offset), _px(t.y_offset)
        px = font_pixels(fp.font_size)
        fc = fp.font_color
        if t.set_bg_clr:
            bc = t.text_bg_clr
            if bc.alpha >= 1.0 and fc.alpha >= 1.0:
                paste(frame, x, y, _label_block(s, name, px, (fc.red, fc.green, fc.blue),
                                                (bc.red, bc.green, bc.blue)))
                return
            bg, ba = _rgb(bc)
        fg, fa = _rgb(fc)
        mask = text_mask(s, name, px)
        if t.set_bg_clr:
            blend_fill(frame, x, y, x + mask.shape[1], y + mask.shape[0], bg, ba)
        blend_mask(frame, x, y, mask, fg, fa)

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

    # -- a frame ------------------------------------------------------------------------------
    def draw(self, frame: np.ndarray, frame_meta) -> None:
        o = self.opt
        for obj in frame_meta.objects:
            if o.display_mask:
                self._safely(self.mask, frame, obj)
            if o.display_bbox:
                self._safely(self.rect, frame, obj.rect_params)
            if o.display_text:
                self._safely(self.text, frame, obj.text_params)
        for dm in frame_meta.display_metas:
            for r in dm.rect_params[: dm.num_rects]:
                self._safely(self.rect, frame, r)
            for ln in dm.line_params[: dm.num_lines]:
                self._safely(self.line, frame, ln)
            for ar in dm.arrow_params[: dm.num_arrows]:
                self._safely(self.arrow, frame, ar)
            for c in dm.circle_params[: dm.num_circles]:
                self._safely(self.circle, frame, c)
            for t in dm.text_params[: dm.num_labels]:
                self._safely(self.text, frame, t)
        if o.display_clock:
            self.clock(frame)
