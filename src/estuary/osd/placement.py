"""Where to put object labels so that they stay readable: above their box, inside the frame, and
clear of each other. Engine-free geometry (no GStreamer, no metadata).

The OSD draws a label exactly at the offsets its metadata gives (DeepStream's contract), so this is
for whoever *chooses* those offsets: an app's probe before ``nvdsosd`` (the flagship demo does it
through :mod:`estuary.apps.labels`), or a writer of annotated frames.

    positions = place_labels(boxes, sizes, bounds=(0, 0, 640, 360))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from estuary.errors import ConfigError
from estuary.osd.fonts import text_mask
from estuary.osd.paint import font_pixels

__all__ = ["place_labels", "label_size", "label_font_size", "rects_intersect"]

Box = tuple[float, float, float, float]  # left, top, width, height


def label_size(text: str, font_name: str | None, font_size: float) -> tuple[int, int]:
    """(width, height) in pixels of a label as the OSD draws it (the text's mask, background
    included), for a DeepStream font name and size in points."""
    h, w = text_mask(text, font_name, font_pixels(font_size)).shape
    return int(w), int(h)


def label_font_size(frame_height: int, lines: float = 24.0, smallest: int = 8, largest: int = 20) -> int:
    """A font size in points whose labels are about ``1/lines`` of the frame's height: small
    enough that labels of neighbouring objects fit, large enough to read (clamped)."""
    points = frame_height / float(lines) / 1.33
    return int(min(max(round(points), smallest), largest))


def rects_intersect(a: Box, b: Box) -> bool:
    """Whether two (left, top, width, height) rectangles share area (touching edges do not)."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _clamp(v, lo: float, hi: float):
    # a label larger than the bounds starts at their origin (hi < lo): its start stays visible
    return np.minimum(np.maximum(v, lo), max(hi, lo))


def place_labels(boxes: Sequence[Box], sizes: Sequence[tuple[int, int]],
                 bounds: Box, search: float = 4.0) -> list[tuple[int, int]]:
    """Top-left positions for one label per box.

    Each label wants to sit on top of its box, left-aligned (inside the box's top when there is no
    room above, as the frame's edge allows); it stays inside ``bounds`` (left, top, width, height)
    whenever it fits there. Labels are placed from the topmost box down; one that would overlap an
    already placed label moves to the nearest free place (Manhattan distance from where it wanted
    to be) within ``search`` label sizes around it. Only when there is no free place there does it
    keep its wanted place.

    The free places are searched exactly: a label's free positions are the bounds minus each
    placed label grown by the label's size, a union of axis-aligned regions whose corners all
    have coordinates from the edges of the bounds and of the placed labels; the corners are the
    candidates, so when a free position exists within the search window one is found."""
    if len(boxes) != len(sizes):
        raise ConfigError(f"place_labels: {len(boxes)} boxes but {len(sizes)} label sizes")
    bx, by, bw, bh = (float(v) for v in bounds)
    order = sorted(range(len(boxes)), key=lambda i: (float(boxes[i][1]), float(boxes[i][0]), i))
    placed = np.zeros((0, 4), np.float64)  # x1, y1, x2, y2 of the labels placed so far
    out: list[tuple[int, int] | None] = [None] * len(boxes)
    for i in order:
        left, top, width, height = (float(v) for v in boxes[i])
        lw, lh = (float(v) for v in sizes[i])
        x_lo, x_hi, y_lo, y_hi = bx, bx + bw - lw, by, by + bh - lh
        x0 = float(_clamp(left, x_lo, x_hi))
        y0 = float(_clamp(top - lh, y_lo, y_hi))
        x, y = x0, y0
        if len(placed) and _hits(placed, np.array([x0]), np.array([y0]), lw, lh)[0]:
            # the obstacles near the wanted place give the candidate coordinates
            rx, ry = search * (lw + lh), search * (lw + lh)
            near = placed[(placed[:, 2] > x0 - rx) & (placed[:, 0] < x0 + lw + rx)
                          & (placed[:, 3] > y0 - ry) & (placed[:, 1] < y0 + lh + ry)]
            xs = np.concatenate(([x0, x_lo, x_hi, left + width - lw], near[:, 2], near[:, 0] - lw))
            ys = np.concatenate(([y0, y_lo, y_hi, top, top + height], near[:, 3], near[:, 1] - lh))
            xs, ys = np.unique(_clamp(xs, x_lo, x_hi)), np.unique(_clamp(ys, y_lo, y_hi))
            xs = xs[np.abs(xs - x0) <= rx]
            ys = ys[np.abs(ys - y0) <= ry]
            cx, cy = (a.ravel() for a in np.meshgrid(xs, ys))
            free = ~_hits(placed, cx, cy, lw, lh)
            if free.any():
                cost = np.abs(cx - x0) + np.abs(cy - y0)
                cost[~free] = np.inf
                k = int(np.argmin(cost))
                x, y = float(cx[k]), float(cy[k])
        # whole pixels, rounded down inside the bounds so that the label does not leave them
        xi, yi = int(np.floor(x)), int(np.floor(y))
        out[i] = (xi, yi)
        placed = np.vstack((placed, [xi, yi, xi + lw, yi + lh]))
    return out  # type: ignore[return-value]


def _hits(placed: np.ndarray, cx: np.ndarray, cy: np.ndarray, lw: float, lh: float) -> np.ndarray:
    """For each candidate top-left (cx, cy): whether a (lw, lh) label there overlaps a placed one.
    Candidates are floored to whole pixels as they will be drawn."""
    cx, cy = np.floor(cx)[:, None], np.floor(cy)[:, None]
    return ((cx < placed[None, :, 2]) & (placed[None, :, 0] < cx + lw)
            & (cy < placed[None, :, 3]) & (placed[None, :, 1] < cy + lh)).any(axis=1)
