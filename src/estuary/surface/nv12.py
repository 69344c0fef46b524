"""Batch NV12 → RGBA conversion with scaling: the per-frame parameter table and the index maths.
NV12's 16-bit twins (P010_10LE from 10-bit HEVC, P016_LE from 12-bit: the same two-plane layout
with each sample in the high bits of a 16-bit word) go the same way, read as ``sample / 256``.

Engine-free and GPU-free: :func:`batch_params` packs, for every frame of a batch, where its
planes are (device pointers, pitches), its size, where it lands in the output (letterbox
rectangle) and its YUV→RGB affine map (from :mod:`estuary.surface.colorimetry`) into one array
that the CUDA kernel (:mod:`estuary.gst.cuda`) reads; :func:`nv12_to_rgba_reference` is the
same per-pixel maths in numpy (float32, like the kernel), so the kernel is tested against it.

Per output pixel (x, y) of frame b, inside the frame's rectangle (ox, oy, nw, nh):

- source luma position ``sx = (x - ox + 0.5) * src_w / nw - 0.5`` (pixel centres, as
  bilinear scalers do), same for ``sy``; clamped to the frame;
- Y is bilinear at (sx, sy); Cb, Cr bilinear at ``((sx - hs) / 2, (sy - vs) / 2)`` in the
  half-size chroma plane, where hs, vs = 0.5 for centre-sited chroma (videoconvert's default for
  NV12 caps without ``chroma-site``, JPEG) and 0 for co-sited (``mpeg2`` is co-sited
  horizontally); unscaled, this is the linear chroma upsampling of videoconvert;
- ``rgb = M @ (yuv - offset)``, rounded half up and clamped to 0..255; alpha 255.

Outside the rectangle (letterbox padding) the pixel is opaque black.
"""

from __future__ import annotations

import numpy as np

from estuary.surface.colorimetry import Colorimetry, yuv_to_rgb_affine

__all__ = ["PARAMS_DTYPE", "SAMPLE_BYTES", "Nv12Frame", "chroma_siting", "letterbox", "batch_params",
           "nv12_to_rgba_reference"]

#: one row per frame; the CUDA kernel's ``FrameParams`` struct has this exact layout (112 bytes)
PARAMS_DTYPE = np.dtype([
    ("y_ptr", "<u8"), ("uv_ptr", "<u8"),
    ("y_pitch", "<i4"), ("uv_pitch", "<i4"), ("src_w", "<i4"), ("src_h", "<i4"),
    ("ox", "<i4"), ("oy", "<i4"), ("nw", "<i4"), ("nh", "<i4"),
    ("m", "<f4", (9,)), ("off", "<f4", (3,)),
    ("hsite", "<f4"), ("vsite", "<f4"), ("sample_bytes", "<i4"), ("pad", "<i4"),
])
assert PARAMS_DTYPE.itemsize == 112

#: the two-plane 4:2:0 formats the kernel reads, and their bytes a sample
SAMPLE_BYTES = {"NV12": 1, "P010_10LE": 2, "P016_LE": 2, "P012_LE": 2}


class Nv12Frame:
    """Where one decoded NV12 frame is (device or host addresses) and how to read its colours."""

    __slots__ = ("y_ptr", "uv_ptr", "y_pitch", "uv_pitch", "width", "height", "colorimetry", "siting",
                 "sample_bytes")

    def __init__(self, y_ptr: int, uv_ptr: int, y_pitch: int, uv_pitch: int, width: int, height: int,
                 colorimetry: Colorimetry, siting: tuple[float, float] = (0.5, 0.5), sample_bytes: int = 1):
        self.y_ptr, self.uv_ptr = int(y_ptr), int(uv_ptr)
        self.y_pitch, self.uv_pitch = int(y_pitch), int(uv_pitch)
        self.width, self.height = int(width), int(height)
        self.colorimetry, self.siting = colorimetry, siting
        if sample_bytes not in (1, 2):
            raise ValueError(f"sample_bytes must be 1 (NV12) or 2 (P010_10LE, P016_LE), got {sample_bytes}")
        self.sample_bytes = sample_bytes


def chroma_siting(chroma_site: str | None) -> tuple[float, float]:
    """(hs, vs) chroma sample offsets in luma pixels from a caps ``chroma-site`` string:
    0.5 = centred between luma samples, 0 = co-sited with the first one."""
    s = (chroma_site or "").lower()
    if s in ("", "jpeg", "none", "unknown"):
        return 0.5, 0.5
    if s == "mpeg2":
        return 0.0, 0.5
    if s in ("dv", "cosited"):
        return 0.0, 0.0
    parts = set(s.replace("+", " ").split())
    return (0.0 if "h-cosited" in parts else 0.5), (0.0 if "v-cosited" in parts else 0.5)


def letterbox(src_w: int, src_h: int, out_w: int, out_h: int, keep_aspect: bool):
    """(ox, oy, nw, nh) of the frame inside the output, and the muxer's geometry tuple
    (scale_x, scale_y, offset_x, offset_y) — the same numbers as the CPU path's resize_into."""
    if not keep_aspect:
        return (0, 0, out_w, out_h), (out_w / src_w, out_h / src_h, 0, 0)
    s = min(out_w / src_w, out_h / src_h)
    nw, nh = max(1, round(src_w * s)), max(1, round(src_h * s))
    ox, oy = (out_w - nw) // 2, (out_h - nh) // 2
    return (ox, oy, nw, nh), (s, s, ox, oy)


def batch_params(frames: list[Nv12Frame], out_w: int, out_h: int, keep_aspect: bool = False):
    """The kernel's parameter table (``PARAMS_DTYPE``, one row per frame) and each frame's
    geometry tuple for the frame meta."""
    p = np.zeros(len(frames), PARAMS_DTYPE)
    geos = []
    affine = {}
    for i, f in enumerate(frames):
        rect, geo = letterbox(f.width, f.height, out_w, out_h, keep_aspect)
        geos.append(geo)
        if f.colorimetry not in affine:
            affine[f.colorimetry] = yuv_to_rgb_affine(f.colorimetry)
        m, off = affine[f.colorimetry]
        p[i] = (f.y_ptr, f.uv_ptr, f.y_pitch, f.uv_pitch, f.width, f.height, *rect,
                m.reshape(9), off, f.siting[0], f.siting[1], f.sample_bytes, 0)
    return p, geos


def _bilinear(plane: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """plane (H, W) sampled at float32 positions (clamped), float32 result."""
    h, w = plane.shape
    x = np.clip(x, np.float32(0), np.float32(w - 1))
    y = np.clip(y, np.float32(0), np.float32(h - 1))
    x0 = np.floor(x).astype(np.int64)
    y0 = np.floor(y).astype(np.int64)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    fx = (x - x0).astype(np.float32)
    fy = (y - y0).astype(np.float32)
    p = plane.astype(np.float32)
    top = p[y0, x0] + (p[y0, x1] - p[y0, x0]) * fx
    bot = p[y1, x0] + (p[y1, x1] - p[y1, x0]) * fx
    return top + (bot - top) * fy


def nv12_to_rgba_reference(y: np.ndarray, uv: np.ndarray, out_w: int, out_h: int,
                           colorimetry: Colorimetry, siting: tuple[float, float] = (0.5, 0.5),
                           keep_aspect: bool = False) -> np.ndarray:
    """The kernel's maths in numpy: Y plane (H, W) and interleaved UV plane (H/2, W/2, 2),
    uint8 (NV12) or uint16 (P010_10LE, P016_LE: read as ``sample / 256``) → (out_h, out_w, 4)
    uint8 RGBA."""
    h, w = y.shape
    (ox, oy, nw, nh), _ = letterbox(w, h, out_w, out_h, keep_aspect)
    m, off = yuv_to_rgb_affine(colorimetry)
    out = np.zeros((out_h, out_w, 4), np.uint8)
    out[..., 3] = 255
    lx = np.arange(nw, dtype=np.float32)
    ly = np.arange(nh, dtype=np.float32)
    sx = (lx + np.float32(0.5)) * (np.float32(w) / np.float32(nw)) - np.float32(0.5)
    sy = (ly + np.float32(0.5)) * (np.float32(h) / np.float32(nh)) - np.float32(0.5)
    SX, SY = np.meshgrid(sx, sy)
    Y = _bilinear(y, SX, SY)
    cx = (SX - np.float32(siting[0])) * np.float32(0.5)
    cy = (SY - np.float32(siting[1])) * np.float32(0.5)
    U = _bilinear(uv[..., 0], cx, cy)
    V = _bilinear(uv[..., 1], cx, cy)
    if y.dtype == np.uint16:  # after the interpolation, as the kernel does
        scale = np.float32(1.0 / 256.0)
        Y, U, V = Y * scale, U * scale, V * scale
    yuv = np.stack([Y - off[0], U - off[1], V - off[2]], -1).astype(np.float32)
    rgb = np.einsum("ij,hwj->hwi", m.astype(np.float32), yuv)
    out[oy: oy + nh, ox: ox + nw, :3] = np.clip(np.floor(rgb + np.float32(0.5)), 0, 255).astype(np.uint8)
    return out
