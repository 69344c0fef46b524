"""Colorimetry of raw video: which YUV→RGB matrix and range a stream uses, from its caps.

Engine-free: takes the caps' ``colorimetry`` string (as GStreamer writes it) and the frame size,
and returns the affine map the CPU and GPU conversions both apply, so the two paths agree by
construction. Facts from GStreamer's video-color/video-info code and ITU-R BT.601/709/2020:

- named colorimetries: ``bt601`` (limited, BT.601), ``bt709`` (limited, BT.709), ``bt2020``,
  ``smpte240m``, ``sRGB``/``jpeg`` (full range); otherwise ``range:matrix:transfer:primaries``
  with range 1 = full (0..255), 2 = limited (16..235) and matrix 1 RGB, 2 FCC, 3 BT.709, 4 BT.601,
  5 SMPTE 240M, 6 BT.2020;
- with no (or an unknown) colorimetry, GStreamer picks by height: ≥ 2160 rows BT.2020, > 576
  rows BT.709, else BT.601, limited range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Colorimetry", "colorimetry_from_caps", "yuv_to_rgb_affine", "yuv_to_rgb_matrix34"]

#: luma weights (Kr, Kb) per matrix name
_KRKB = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
    "smpte240m": (0.212, 0.087),
    "fcc": (0.30, 0.11),
}
_MATRIX_CODES = {2: "fcc", 3: "bt709", 4: "bt601", 5: "smpte240m", 6: "bt2020"}
_NAMED = {  # name → (matrix, full_range)
    "bt601": ("bt601", False),
    "bt709": ("bt709", False),
    "bt2020": ("bt2020", False),
    "bt2020-10": ("bt2020", False),  # GStreamer's name for 10-bit BT.2020 (HEVC Main10 HDR cameras)
    "bt2100-pq": ("bt2020", False),
    "bt2100-hlg": ("bt2020", False),
    "smpte240m": ("smpte240m", False),
    "jpeg": ("bt601", True),
}


@dataclass(frozen=True)
class Colorimetry:
    """The part of a stream's colorimetry that decides YUV→RGB: matrix and range."""

    matrix: str = "bt601"
    full_range: bool = False


def default_matrix(height: int) -> str:
    """GStreamer's default YUV matrix for a frame height when the caps name none."""
    if height >= 2160:
        return "bt2020"
    return "bt709" if height > 576 else "bt601"


def colorimetry_from_caps(colorimetry: str | None, height: int) -> Colorimetry:
    """Matrix and range of a YUV stream from its caps' ``colorimetry`` field (may be None)."""
    default = default_matrix(height)
    if not colorimetry:
        return Colorimetry(default, False)
    name = colorimetry.strip().lower()
    if name in _NAMED:
        matrix, full = _NAMED[name]
        return Colorimetry(matrix, full)
    parts = name.split(":")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        rng, mat = int(parts[0]), int(parts[1])
        matrix = _MATRIX_CODES.get(mat, default)  # 0 (unknown) and 1 (RGB) fall back
        return Colorimetry(matrix, rng == 1)
    return Colorimetry(default, False)


def yuv_to_rgb_affine(c: Colorimetry) -> tuple[np.ndarray, np.ndarray]:
    """(M, offset) with ``rgb = M @ (yuv - offset)`` for 8-bit Y, Cb, Cr in 0..255 → RGB 0..255.

    Unclamped; callers clamp and round.
    """
    kr, kb = _KRKB[c.matrix]
    kg = 1.0 - kr - kb
    if c.full_range:
        sy, sc, oy = 255.0, 255.0, 0.0
    else:
        sy, sc, oy = 219.0, 224.0, 16.0
    # normalised Y' in 0..1 and Pb, Pr in -0.5..0.5, then the inverse of the luma/chroma definition
    m = np.array([
        [1.0, 0.0, 2.0 * (1.0 - kr)],
        [1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg],
        [1.0, 2.0 * (1.0 - kb), 0.0],
    ])
    scale = np.diag([255.0 / sy, 255.0 / sc, 255.0 / sc])
    return (m @ scale).astype(np.float32), np.array([oy, 128.0, 128.0], dtype=np.float32)


def yuv_to_rgb_matrix34(c: Colorimetry) -> np.ndarray:
    """The same map as one 3×4 matrix ``[M | -M @ offset]`` (as ``cv2.transform`` takes it)."""
    m, off = yuv_to_rgb_affine(c)
    return np.hstack([m, -(m @ off)[:, None]]).astype(np.float32)
