"""What the OSD draws with: values from user metadata checked (coordinates, widths, font sizes,
colours), and colours and labels composited once per value (cached), for :mod:`estuary.osd.draw`
and :mod:`estuary.osd.gpu`."""

from __future__ import annotations

import functools
import logging
import math

import numpy as np

from estuary.osd.fonts import text_mask

log = logging.getLogger("estuary.osd")

# -- user values ------------------------------------------------------------------------------
# Coordinates are clamped to ±_LIMIT and line widths to OpenCV's MAX_THICKNESS: a wild value
# from user metadata (1e30, 2**40) draws clipped instead of failing inside OpenCV; NaN and inf
# cannot be placed at all, so that one shape is skipped with a warning (once per kind).
_LIMIT = 1 << 20
_MAX_THICKNESS = 32767
_MAX_FONT = 512
_warned: set = set()
_PLAIN = (int, float)


class InvalidShape(ValueError):
    """A shape whose geometry cannot be drawn (NaN or infinite coordinates, not a number)."""


def _px(v) -> int:
    """A pixel coordinate from user metadata: rounded, clamped; NaN/inf raise InvalidShape."""
    if type(v) in _PLAIN and -_LIMIT <= v <= _LIMIT:  # the common case (False for NaN and inf)
        return round(v)
    try:
        v = float(v)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidShape(f"coordinate {v!r} is not a number") from exc
    if not math.isfinite(v):
        raise InvalidShape(f"non-finite coordinate {v}")
    return int(round(min(max(v, -_LIMIT), _LIMIT)))


def _end(start, length) -> int:
    """The far edge ``start + length`` of a box, summed in floats as DeepStream's C does."""
    try:
        return _px(float(start) + float(length))
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidShape(f"box edge {start!r} + {length!r} is not a number") from exc


def _width(v, minimum: int = 1) -> int:
    return min(max(_px(v), minimum), _MAX_THICKNESS)


def _warn_skipped(kind: str, exc: Exception) -> None:
    if kind not in _warned:
        _warned.add(kind)
        log.warning("nvdsosd: skipped a %s that cannot be drawn (%s); further ones are "
                    "skipped silently", kind, exc)


def draw_safely(draw, frame, item) -> None:
    """Draw one shape; a shape that cannot be placed is skipped (warned once per kind).

    Shared by the CPU :class:`Drawer` and the GPU drawing in :mod:`estuary.osd.gpu`."""
    try:
        draw(frame, item)
    except InvalidShape as exc:
        _warn_skipped(draw.__name__.strip("_"), exc)


def font_pixels(font_size) -> int:
    """Pixel height of a font size in points (96 dpi), 12 pt when unset, clamped."""
    try:
        size = min(max(int(font_size), 0), _MAX_FONT) or 12
    except (TypeError, ValueError, OverflowError) as exc:  # NaN, inf, not a number
        raise InvalidShape(f"font size {font_size!r} is not a number") from exc
    return int(round(size * 1.33))


def _unit(v) -> float:
    """A colour channel or alpha from user metadata as 0..1 (clamped; NaN is 0)."""
    v = float(v)
    return min(max(v, 0.0), 1.0) if v == v else 0.0


# -- colours and labels, composited once per value (cached) ------------------------------------
@functools.lru_cache(maxsize=256)
def _colour(r: float, g: float, b: float) -> np.ndarray:
    c = np.array([r, g, b], np.float32) * 255.0
    c.setflags(write=False)
    return c


def _rgb(c) -> tuple[np.ndarray, float]:
    """(RGB as float32 0..255, alpha) of a ColorParams; arrays shared per colour (read-only)."""
    return _colour(_unit(c.red), _unit(c.green), _unit(c.blue)), _unit(c.alpha)


def _rgba(rgb: np.ndarray) -> np.ndarray:
    """A colour as float32 RGBA 0..255 with alpha 255: the alpha channel composites over too."""
    return np.append(rgb, np.float32(255.0))


def _pixel(levels) -> int:
    """RGBA uint8 levels as one pixel of the frame's uint32 view (native byte order)."""
    return int(np.asarray(levels, np.uint8).view(np.uint32)[0])


@functools.lru_cache(maxsize=256)
def _paint(r, g, b, a):
    """How a ColorParams' values fill an area: None (invisible), an int (an opaque pixel as the
    frame's uint32, its colour in the whole levels a fill always left: truncated) or
    ``(pixel, alpha)`` (translucent: ``out = src·(1−α) + pixel·α``, the colour rounded to whole
    levels, alpha 255 so that the frame's alpha composites over)."""
    rgb, a = _colour(_unit(r), _unit(g), _unit(b)), _unit(a)
    if a <= 0.0:
        return None
    px = np.full(4, 255, np.uint8)
    if a >= 1.0:
        px[:3] = rgb  # numpy truncates float32 to whole levels here, as fills always did
        return _pixel(px)
    px[:3] = np.rint(rgb)
    return _pixel(px), a


def _paint_of(c):
    return _paint(c.red, c.green, c.blue, c.alpha)


class _Label:
    """A label as drawn: ``block`` (opaque uint32 pixels, copied), or ``colour`` (uint8 RGBA)
    blended over the frame with the float32 weights ``keep`` (the frame's) and ``cover``
    (the colour's, ``1 − keep``): text through its coverage, a translucent background."""

    __slots__ = ("h", "w", "block", "colour", "keep", "cover")

    def __init__(self, h, w, block=None, colour=None, keep=None, cover=None):
        self.h, self.w, self.block = h, w, block
        self.colour, self.keep, self.cover = colour, keep, cover


@functools.lru_cache(maxsize=1024)
def _label(text: str, font: str, size, fg: tuple, bg: tuple | None) -> _Label | None:
    """Composite a label once: text of colour ``fg`` (r, g, b, a in 0..1) on background ``bg``
    (same, or None). The pixels are those of a background fill followed by the text blended
    through its coverage mask (:func:`blend_fill`, :func:`blend_mask`): exactly when the
    background is opaque (the block is those pixels), within one level otherwise (one
    ``cv2.blendLinear`` of a colour in whole levels, the fill and the text folded into it)."""
    mask = text_mask(text, font, font_pixels(size))
    h, w = mask.shape
    fg_rgb, fa = _colour(*(_unit(v) for v in fg[:3])), _unit(fg[3])
    m = (mask * np.float32(fa))[..., None]  # the text's coverage × its alpha, (h, w, 1)
    ba = _unit(bg[3]) if bg is not None else 0.0
    bg_rgb = _colour(*(_unit(v) for v in bg[:3])) if bg is not None else None
    if ba >= 1.0:
        # the background as a fill leaves it (whole levels), then the text blended over it
        levels = bg_rgb.astype(np.uint8).astype(np.float32)
        block = np.full((h, w, 4), 255, np.uint8)
        block[..., :3] = levels * (1.0 - m) + fg_rgb * m + 0.5
        block = block.view(np.uint32)[..., 0]
        block.setflags(write=False)
        return _Label(h, w, block=block)
    if fa <= 0.0 and ba <= 0.0:
        return None
    # out = frame·keep + add: the text over the frame, or over the translucent background
    # (fill and text folded into one blend)
    keep = 1.0 - m
    add = _rgba(fg_rgb) * m
    if ba > 0.0:
        add = add + _rgba(bg_rgb) * np.float32(ba) * keep
        keep = keep * np.float32(1.0 - ba)
    cover = 1.0 - keep
    # as blendLinear takes it: the colour that ``add`` is ``cover`` of, in whole levels
    colour = np.rint(np.divide(add, cover, out=np.zeros_like(add), where=cover > 0))
    colour = np.clip(colour, 0, 255).astype(np.uint8)
    keep, cover = np.ascontiguousarray(keep[..., 0]), np.ascontiguousarray(cover[..., 0])
    for a in (colour, keep, cover):
        a.setflags(write=False)
    return _Label(h, w, colour=colour, keep=keep, cover=cover)
