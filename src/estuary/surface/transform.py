"""nvvideoconvert's geometry, without GStreamer: ``src-crop``, ``flip-method`` and ``dest-crop``.

Facts (DeepStream's nvvideoconvert): ``src-crop`` / ``dest-crop`` are ``"left:top:width:height"``
in pixels (``"0:0:0:0"``: none); the source crop is clamped to the image, cropped, transformed
and scaled into the output (or into the ``dest-crop`` rectangle of it). ``flip-method``
(GstNvDsVideoFlipMethod): 0 none, 1 counter-clockwise 90°, 2 180°, 3 clockwise 90°, 4
horizontal flip, 5 flip across the upper-right/lower-left diagonal, 6 vertical flip, 7 flip
across the upper-left/lower-right diagonal.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["Crop", "parse_crop", "flip", "flipped_size", "Geometry"]

Crop = tuple[int, int, int, int]  # left, top, width, height

#: flip-methods that exchange width and height
_TURNS = {1, 3, 5, 7}


def parse_crop(text: str, name: str = "crop") -> Crop | None:
    """``"left:top:width:height"`` → a crop; empty or all zero → None. Raises ValueError naming
    ``name`` and the expected form for anything else."""
    text = (text or "").strip()
    if not text:
        return None
    parts = text.split(":")
    try:
        if len(parts) != 4:
            raise ValueError
        left, top, width, height = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"{name} {text!r}: expected left:top:width:height in pixels, e.g. 0:0:640:360") from None
    if min(left, top, width, height) < 0:
        raise ValueError(f"{name} {text!r}: values must not be negative")
    if (left, top, width, height) == (0, 0, 0, 0):
        return None
    if width == 0 or height == 0:
        raise ValueError(f"{name} {text!r}: width and height must be more than 0")
    return left, top, width, height


def clamp_crop(crop: Crop, width: int, height: int) -> Crop:
    """``crop`` clamped to a ``width`` × ``height`` image (at least 1×1), as nvvideoconvert does."""
    left, top = min(crop[0], width - 1), min(crop[1], height - 1)
    return left, top, max(1, min(crop[2], width - left)), max(1, min(crop[3], height - top))


def flipped_size(width: int, height: int, method: int) -> tuple[int, int]:
    """The size of a ``width`` × ``height`` image after ``flip-method``."""
    return (height, width) if method in _TURNS else (width, height)


def flip(img: np.ndarray, method: int) -> np.ndarray:
    """``img`` (H, W[, C]) turned or mirrored as ``flip-method`` says (a new contiguous array,
    or ``img`` itself for 0)."""
    if method == 0:
        return img
    if method == 1:
        return cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE)
    if method == 2:
        return cv2.rotate(img, cv2.ROTATE_180)
    if method == 3:
        return cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    if method == 4:
        return cv2.flip(img, 1)
    if method == 6:
        return cv2.flip(img, 0)
    if method == 7:  # across the main diagonal: the transpose
        return np.ascontiguousarray(img.swapaxes(0, 1))
    if method == 5:  # across the other diagonal: the transpose turned half way
        return cv2.rotate(np.ascontiguousarray(img.swapaxes(0, 1)), cv2.ROTATE_180)
    raise ValueError(f"flip-method {method}: expected 0-7")


class Geometry:
    """One nvvideoconvert's ``src-crop``, ``flip-method`` and ``dest-crop``, applied to RGBA
    frames on their way to an output of a given size."""

    def __init__(self, src_crop: Crop | None = None, method: int = 0, dest_crop: Crop | None = None):
        self.src_crop, self.method, self.dest_crop = src_crop, method, dest_crop

    def __bool__(self) -> bool:
        return bool(self.src_crop or self.method or self.dest_crop)

    def default_size(self, width: int, height: int) -> tuple[int, int]:
        """The output size when downstream leaves it open: the input's, turned with the picture
        (a source crop is scaled back to it, as nvvideoconvert does without output caps)."""
        return flipped_size(width, height, self.method)

    def apply(self, rgba: np.ndarray, out: np.ndarray) -> None:
        """Write ``rgba`` (H, W, 4), cropped, turned and scaled, into ``out`` (its dest-crop
        rectangle; the rest black)."""
        h, w = rgba.shape[:2]
        if self.src_crop:
            left, top, cw, ch = clamp_crop(self.src_crop, w, h)
            rgba = rgba[top: top + ch, left: left + cw]
        pic = flip(np.ascontiguousarray(rgba), self.method)
        target = out
        if self.dest_crop:
            oh, ow = out.shape[:2]
            left, top, dw, dh = clamp_crop(self.dest_crop, ow, oh)
            out[...] = 0
            target = out[top: top + dh, left: left + dw]
        if target.shape[:2] == pic.shape[:2]:
            target[...] = pic
        else:
            target[...] = cv2.resize(pic, (target.shape[1], target.shape[0]), interpolation=cv2.INTER_LINEAR)
