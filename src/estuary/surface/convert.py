"""Engine-free pixel conversions (numpy + OpenCV): raw video planes → RGBA, scaling,
letterboxing. Everything is vectorised; nothing loops over pixels in Python."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from estuary.errors import StreamError
from estuary.surface import cvthreads
from estuary.surface.colorimetry import Colorimetry, colorimetry_from_caps, yuv_to_rgb_matrix34

cvthreads.apply()  # one thread per OpenCV call: the pipeline's threads are the parallelism

__all__ = ["SUPPORTED_FORMATS", "INPUT_FORMATS", "frame_to_rgba", "resize_into", "plane_views", "rgba_to"]

#: raw formats Estuary converts from and to, with their plane layout.
SUPPORTED_FORMATS = ("RGBA", "BGRA", "RGBx", "BGRx", "RGB", "BGR", "I420", "NV12", "GRAY8")
#: the packed 4:2:2 formats of USB (UVC) cameras and the chroma-swapped 4:2:0 ones
#: (``v4l2src ! nvvideoconvert`` with no videoconvert between, as DeepStream's nvvideoconvert
#: takes them): read, not written
_PACKED_422 = {"YUY2": (0, 1, 3), "UYVY": (1, 0, 2), "YVYU": (0, 3, 1)}  # byte of Y0, U, V in each 4
INPUT_FORMATS = SUPPORTED_FORMATS + ("YUY2", "UYVY", "YVYU", "NV21", "YV12")


def plane_views(data: np.ndarray, fmt: str, width: int, height: int, strides, offsets):
    """numpy views of the planes of a mapped frame (no copies)."""
    def plane(i, rows, cols_bytes):
        start = offsets[i]
        stride = strides[i]
        need = start + stride * (rows - 1) + cols_bytes
        if need > data.size:
            raise StreamError(f"{fmt} frame {width}x{height} needs {need} bytes, buffer has {data.size}")
        return np.lib.stride_tricks.as_strided(data[start:], shape=(rows, cols_bytes),
                                               strides=(stride, 1))
    if fmt in ("RGBA", "BGRA", "RGBx", "BGRx"):
        return [plane(0, height, width * 4).reshape(height, width, 4)]
    if fmt in ("RGB", "BGR"):
        return [plane(0, height, width * 3).reshape(height, width, 3)]
    if fmt == "GRAY8":
        return [plane(0, height, width)]
    ch, cw = (height + 1) // 2, (width + 1) // 2
    if fmt in _PACKED_422:
        # the luma samples (every other byte: a (height, width) view, so the width is known for
        # odd ones) and the packed pairs
        rows = plane(0, height, cw * 4)
        return [rows[:, _PACKED_422[fmt][0]::2][:, :width], rows.reshape(height, cw, 4)]
    if fmt in ("I420", "YV12"):  # (YV12: plane 1 is V, plane 2 U; the offsets say where)
        return [plane(0, height, width), plane(1, ch, cw), plane(2, ch, cw)]
    if fmt in ("NV12", "NV21"):
        return [plane(0, height, width), plane(1, ch, cw * 2)]
    raise StreamError(f"unsupported raw video format {fmt}; supported: {', '.join(INPUT_FORMATS)}")


def frame_to_rgba(planes, fmt: str, out: np.ndarray | None = None,
                  colorimetry: Colorimetry | None = None, chroma_site: str | None = None) -> np.ndarray:
    """Convert plane views of one frame to a (H, W, 4) RGBA array.

    YUV frames are converted with ``colorimetry``'s matrix and range (from the caps, see
    :func:`estuary.surface.colorimetry.colorimetry_from_caps`); None means GStreamer's default
    for the frame height (BT.601 up to 576 rows, BT.709 above, limited range). ``chroma_site``
    (the caps' ``chroma-site``): ``jpeg`` chroma sits between the luma samples and is
    interpolated (as libjpeg does); otherwise I420 chroma is repeated, as videoconvert does."""
    if fmt == "RGBA" or fmt == "RGBx":
        rgba = planes[0]
        if fmt == "RGBx":
            rgba = rgba.copy()
            rgba[..., 3] = 255
        if out is not None:
            out[...] = rgba
            return out
        return rgba
    if fmt in ("BGRA", "BGRx"):
        res = cv2.cvtColor(np.ascontiguousarray(planes[0]), cv2.COLOR_BGRA2RGBA, dst=out)
        if fmt == "BGRx":
            res[..., 3] = 255
        return res
    if fmt == "RGB":
        return cv2.cvtColor(np.ascontiguousarray(planes[0]), cv2.COLOR_RGB2RGBA, dst=out)
    if fmt == "BGR":
        return cv2.cvtColor(np.ascontiguousarray(planes[0]), cv2.COLOR_BGR2RGBA, dst=out)
    if fmt == "GRAY8":
        return cv2.cvtColor(np.ascontiguousarray(planes[0]), cv2.COLOR_GRAY2RGBA, dst=out)
    if fmt == "YV12":  # I420 with its chroma planes the other way round
        fmt, planes = "I420", [planes[0], planes[2], planes[1]]
    if fmt in _PACKED_422:
        return _packed_422_to_rgba(planes[1], planes[0].shape[1], fmt, out, colorimetry)
    y = planes[0]
    h, w = y.shape
    # odd sizes (JPEG photos, 4:4:4 video made 4:2:0) have a last chroma row/column for one luma
    # row/column: chroma is scaled to twice its size as for even frames, then cropped
    ch, cw = (h + 1) // 2, (w + 1) // 2
    if colorimetry is None:
        colorimetry = colorimetry_from_caps(None, h)
    ws = _workspace(h, w)
    if (fmt == "I420" and chroma_site != "jpeg" and colorimetry == _BT601_LIMITED
            and not (h % 2 or w % 2) and int(y.min()) >= 16):
        # OpenCV's own I420 conversion is this matrix and range with repeated chroma, in fixed
        # point: within 1 level of the exact formula and about 8× faster than the general path
        # below — except that it clamps luma below 16 ("super-black") to 16, hence the check
        i420 = _flat_i420(planes, h, w)
        if i420 is None:  # padded rows or planes apart: gather them (decoders mostly give them flat)
            i420 = ws["i420"]
            # planes laid out flat (Y, then U, then V): a chroma plane is not a whole number of
            # rows of width w when h % 4 == 2
            flat, cs = i420.reshape(-1), (h // 2) * (w // 2)
            flat[: h * w].reshape(h, w)[...] = y
            flat[h * w: h * w + cs].reshape(h // 2, w // 2)[...] = planes[1][: h // 2, : w // 2]
            flat[h * w + cs:].reshape(h // 2, w // 2)[...] = planes[2][: h // 2, : w // 2]
        return cv2.cvtColor(i420, cv2.COLOR_YUV2RGBA_I420, dst=out)
    if fmt == "I420":
        # chroma repeated (as videoconvert's I420 fast path does), or interpolated where it sits
        # between the luma samples (JPEG)
        uv = cv2.merge([np.ascontiguousarray(planes[1][:ch, :cw]),
                        np.ascontiguousarray(planes[2][:ch, :cw])], dst=ws["uv_small"])
        interp = cv2.INTER_LINEAR if chroma_site == "jpeg" else cv2.INTER_NEAREST
    elif fmt in ("NV12", "NV21"):
        uv = np.ascontiguousarray(planes[1][:ch, : 2 * cw]).reshape(ch, cw, 2)
        if fmt == "NV21":
            uv = np.ascontiguousarray(uv[..., ::-1])
        interp = cv2.INTER_LINEAR  # videoconvert's generic path interpolates chroma
    else:
        raise StreamError(f"unsupported raw video format {fmt}")
    # work buffers are reused per thread and frame size: fresh 1080p arrays each frame cost more
    # in page faults than the arithmetic
    uv_full, yuv, rgb = ws["uv_full"], ws["yuv"], ws["rgb"]
    cv2.resize(uv, (2 * cw, 2 * ch), dst=uv_full, interpolation=interp)
    cv2.mixChannels([np.ascontiguousarray(y), np.ascontiguousarray(uv_full[:h, :w])], [yuv], [0, 0, 1, 1, 2, 2])
    cv2.transform(yuv, yuv_to_rgb_matrix34(colorimetry), dst=rgb)  # rounds and saturates to 0..255
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA, dst=out)


def _packed_422_to_rgba(packed: np.ndarray, w: int, fmt: str, out: np.ndarray | None,
                        colorimetry: Colorimetry | None) -> np.ndarray:
    """YUY2 / UYVY / YVYU ((H, ceil(W/2), 4) bytes: two pixels' Y and their shared U and V)
    to RGBA with the caps' matrix and range. Chroma is interpolated as GStreamer's videoconvert
    does for these formats (each sample centred on its pair: a linear 2× resize of each row)."""
    h, cw = packed.shape[:2]
    iy, iu, iv = _PACKED_422[fmt]
    if colorimetry is None:
        colorimetry = colorimetry_from_caps(None, h)
    uv = cv2.resize(np.ascontiguousarray(packed[..., [iu, iv]]), (2 * cw, h), interpolation=cv2.INTER_LINEAR)
    y = np.ascontiguousarray(packed[..., [iy, iy + 2]]).reshape(h, 2 * cw)
    yuv = np.empty((h, w, 3), np.uint8)
    cv2.mixChannels([np.ascontiguousarray(y[:, :w]), np.ascontiguousarray(uv[:, :w])], [yuv], [0, 0, 1, 1, 2, 2])
    rgb = cv2.transform(yuv, yuv_to_rgb_matrix34(colorimetry))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA, dst=out)


def _flat_i420(planes, h: int, w: int) -> np.ndarray | None:
    """The frame's I420 planes as the one (h * 3/2, w) array OpenCV reads, without copying, when
    they already lie that way in memory (tight rows, U right after Y, V right after U); else None."""
    y, u, v = planes
    cs = (h // 2) * (w // 2)
    if y.strides != (w, 1) or u.strides != (w // 2, 1) or v.strides != (w // 2, 1):
        return None
    start = y.__array_interface__["data"][0]
    if (u.__array_interface__["data"][0] != start + h * w
            or v.__array_interface__["data"][0] != start + h * w + cs):
        return None
    return np.lib.stride_tricks.as_strided(y, shape=(h * 3 // 2, w), strides=(w, 1))


_BT601_LIMITED = Colorimetry("bt601", False)
_local = threading.local()


def _workspace(h: int, w: int) -> dict:
    """This thread's work buffers for (h, w) frames (the last size used is kept)."""
    ws = getattr(_local, "ws", None)
    if ws is None or ws["size"] != (h, w):
        ch, cw = (h + 1) // 2, (w + 1) // 2
        ws = {"size": (h, w), "uv_small": np.empty((ch, cw, 2), np.uint8),
              "uv_full": np.empty((2 * ch, 2 * cw, 2), np.uint8), "yuv": np.empty((h, w, 3), np.uint8),
              "rgb": np.empty((h, w, 3), np.uint8), "i420": np.empty((h * 3 // 2, w), np.uint8)}
        _local.ws = ws
    return ws


def rgba_to(rgba: np.ndarray, fmt: str) -> np.ndarray:
    """Convert an RGBA frame to a packed buffer of ``fmt`` (tight strides)."""
    if fmt == "RGBA":
        return np.ascontiguousarray(rgba)
    if fmt == "RGBx":
        return np.ascontiguousarray(rgba)
    if fmt in ("BGRA", "BGRx"):
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
    if fmt == "RGB":
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)
    if fmt == "BGR":
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)
    if fmt == "I420":
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2YUV_I420)
    if fmt == "NV12":
        i420 = cv2.cvtColor(rgba, cv2.COLOR_RGBA2YUV_I420)
        h, w = rgba.shape[:2]
        out = np.empty_like(i420)
        src, dst, cs = i420.reshape(-1), out.reshape(-1), (h // 2) * (w // 2)
        dst[: h * w] = src[: h * w]
        # flat offsets: a chroma plane is not a whole number of rows when h % 4 == 2
        dst[h * w::2], dst[h * w + 1::2] = src[h * w: h * w + cs], src[h * w + cs:]
        return out
    if fmt == "GRAY8":
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY)
    raise StreamError(f"cannot convert RGBA to {fmt}")


def resize_into(src: np.ndarray, dst: np.ndarray, keep_aspect: bool = False,
                symmetric: bool = True) -> tuple[float, float, int, int]:
    """Scale ``src`` into ``dst`` (same channels). With ``keep_aspect`` the image is
    letterboxed (black padding). Returns (scale_x, scale_y, offset_x, offset_y) mapping
    src coordinates to dst: ``x_dst = x_src * scale_x + offset_x``."""
    sh, sw = src.shape[:2]
    dh, dw = dst.shape[:2]
    if not keep_aspect:
        if (sh, sw) == (dh, dw):
            dst[...] = src
        else:
            cv2.resize(src, (dw, dh), dst=dst, interpolation=cv2.INTER_LINEAR)
        return dw / sw, dh / sh, 0, 0
    s = min(dw / sw, dh / sh)
    nw, nh = max(1, round(sw * s)), max(1, round(sh * s))
    ox, oy = ((dw - nw) // 2, (dh - nh) // 2) if symmetric else (0, 0)
    dst[...] = 0
    if dst.shape[-1] == 4 if dst.ndim == 3 else False:
        dst[..., 3] = 255
    cv2.resize(src, (nw, nh), dst=dst[oy: oy + nh, ox: ox + nw], interpolation=cv2.INTER_LINEAR)
    return s, s, ox, oy
