"""Network input preparation: scale frames or object crops to the network size (stretch or
letterbox), convert colour, normalise ``y = net_scale_factor * (x - offsets)``; vectorised."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Transform", "NetInput", "prepare", "fit_transform", "roi_box", "crop_roi", "INTERPOLATION"]

INTERPOLATION = {0: cv2.INTER_NEAREST, 1: cv2.INTER_LINEAR, 2: cv2.INTER_CUBIC, 3: cv2.INTER_AREA,
                 4: cv2.INTER_LANCZOS4, 5: cv2.INTER_LINEAR, 6: cv2.INTER_LINEAR}


@dataclass(frozen=True)
class Transform:
    """Maps network coordinates back to the source: ``x_src = (x_net - ox) / sx + left``."""

    sx: float
    sy: float
    ox: float
    oy: float
    left: float = 0.0
    top: float = 0.0

    def to_source(self, boxes: np.ndarray) -> np.ndarray:
        """(N, 4) xyxy in network pixels → source pixels."""
        out = np.empty_like(boxes, dtype=np.float32)
        out[:, 0::2] = (boxes[:, 0::2] - self.ox) / self.sx + self.left
        out[:, 1::2] = (boxes[:, 1::2] - self.oy) / self.sy + self.top
        return out


@dataclass(frozen=True)
class NetInput:
    """How the network wants its input."""

    width: int
    height: int
    channels: int = 3
    color_format: int = 0  # 0 RGB, 1 BGR, 2 GRAY
    scale: float = 1.0
    offsets: tuple = (0.0, 0.0, 0.0)
    keep_aspect: bool = False
    symmetric: bool = False
    interpolation: int = 1
    nhwc: bool = False


def fit_transform(w: int, h: int, net: NetInput, left: float = 0.0, top: float = 0.0) -> Transform:
    """How a ``w`` × ``h`` image (at ``left``, ``top`` in its frame) is scaled into the network
    input: stretched, or letterboxed (``keep_aspect``) into the top-left corner or the centre
    (``symmetric``). The Transform maps network pixels back to the frame."""
    W, H = net.width, net.height
    if not net.keep_aspect:
        return Transform(W / w, H / h, 0.0, 0.0, left, top)
    s = min(W / w, H / h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    ox, oy = ((W - nw) // 2, (H - nh) // 2) if net.symmetric else (0, 0)
    return Transform(s, s, float(ox), float(oy), left, top)


def channel_offsets(offsets, channels: int) -> list[float]:
    """The config's ``offsets`` as one float32 value per channel: one value is every channel's,
    missing ones are 0."""
    offs = [float(np.float32(o)) for o in (offsets[:channels] if offsets else [0.0] * channels)]
    if len(offs) == 1:
        offs = offs * channels  # one offset for every channel
    return offs + [0.0] * (channels - len(offs))


def _scale_into(img, net: NetInput, interp, out: np.ndarray):
    """``img`` scaled into ``out`` ((H, W) or (H, W, channels)) as :func:`fit_transform` says —
    stretched, or letterboxed with the margins zeroed — written in place; returns (out,
    transform)."""
    H, W = out.shape[:2]
    h, w = img.shape[:2]
    tr = fit_transform(w, h, net)
    if not net.keep_aspect:
        cv2.resize(img, (W, H), dst=out, interpolation=interp)
        return out, tr
    nw, nh = max(1, round(w * tr.sx)), max(1, round(h * tr.sy))
    ox, oy = int(tr.ox), int(tr.oy)
    inner = out[oy: oy + nh, ox: ox + nw]
    got = cv2.resize(img, (nw, nh), dst=inner, interpolation=interp)
    if got is not inner:  # (OpenCV writes a view in place; should a build not, keep it correct)
        inner[...] = got
    out[:oy] = 0
    out[oy + nh:] = 0
    out[oy: oy + nh, :ox] = 0
    out[oy: oy + nh, ox + nw:] = 0
    return out, tr


def crop_roi(img, roi):
    """``img`` (H, W, C: numpy or torch) cropped to ``roi`` = (left, top, w, h), clipped to the
    image and at least 1×1; returns (crop, left, top). No ROI: the image itself at (0, 0)."""
    if roi is None:
        return img, 0, 0
    l, t, w, h = roi_box(roi, img.shape[1], img.shape[0])
    return img[t: t + h, l: l + w], l, t


def roi_box(roi, width: int, height: int) -> tuple[int, int, int, int]:
    """``roi`` = (left, top, w, h) rounded to whole pixels and clipped to a ``width`` ×
    ``height`` image, at least 1×1: the crop an object's inference sees."""
    l, t, w, h = (int(round(v)) for v in roi)
    l, t = max(l, 0), max(t, 0)
    w = max(1, min(w, width - l))
    h = max(1, min(h, height - t))
    return l, t, w, h


_local = threading.local()


def _work(name: str, shape: tuple, dtype=np.uint8) -> np.ndarray:
    """This thread's work array ``name`` of ``shape``, kept from call to call. Arrays of a few
    hundred KB made fresh each frame cost more in page faults than the arithmetic on them (on
    this project's VM: prepare 1.3-3.8 ms a 416×416 frame with fresh arrays, 0.4 ms reusing)."""
    ws = getattr(_local, "ws", None)
    if ws is None:
        ws = _local.ws = {}
    a = ws.get(name)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = ws[name] = np.empty(shape, dtype)
    return a


def _tensor(shape: tuple, reuse: bool, dtype=np.float32) -> np.ndarray:
    """The input tensor: this thread's own with ``reuse``, else a new one."""
    return _work(f"tensor-{np.dtype(dtype).name}", shape, dtype) if reuse else np.empty(shape, dtype)


def prepare(images: list[np.ndarray], net: NetInput, rois=None,
            reuse: bool = False, u8: bool = False) -> tuple[np.ndarray, list[Transform]]:
    """Stack RGBA frames (optionally cropped to ``rois`` = (left, top, w, h) each) into one
    float32 NCHW (or NHWC) tensor; returns it with the per-image back-transforms.

    ``reuse``: the tensor is this thread's work array, overwritten by its next ``reuse`` call
    (for a caller that runs the network on it at once). ``u8``: the scaled pixels as uint8, the
    offsets and scale left to the runtime (an OpenVINO model made to take uint8 input does that
    arithmetic inside: estuary.infer.backends._u8_input)."""
    W, H, C = net.width, net.height, net.channels
    interp = INTERPOLATION.get(net.interpolation, cv2.INTER_LINEAR)
    code = {0: cv2.COLOR_RGBA2RGB, 1: cv2.COLOR_RGBA2BGR, 2: cv2.COLOR_RGBA2GRAY}[net.color_format]
    offs = channel_offsets(net.offsets, C)
    scale = np.float32(net.scale)
    # written straight into the tensor, channel by channel: no float intermediates (two fresh
    # 2 MB arrays a frame at 416×416 before)
    x = _tensor((len(images), H, W, C) if net.nhwc else (len(images), C, H, W), reuse,
                np.uint8 if u8 else np.float32)
    transforms = []
    for i, img in enumerate(images):
        img, left, top = crop_roi(img, rois[i] if rois is not None else None)
        if C == 3 and img.ndim == 3 and img.shape[2] == 4:
            # RGBA scaled as it is, its colour channels picked after: scaling works on each
            # channel alone, so the pixels are those of converting first, but the conversion's
            # full-frame pass and the letterbox's fresh array are gone (in the INT8 pipeline
            # 0.62 -> 0.3 ms a 640x272 frame; docs/benchmarks.md, session 9)
            scaled, tr = _scale_into(img, net, interp, _work("scaled4", (H, W, 4)))
            four = cv2.split(scaled, [_work(f"plane{c}", (H, W)) for c in range(4)])
            planes = [four[k] for k in ((0, 1, 2) if net.color_format == 0 else (2, 1, 0))]
        else:
            img = np.ascontiguousarray(img)
            conv = cv2.cvtColor(img, code, dst=_work("conv", img.shape[:2] + ((3,) if C == 3 else ())))
            scaled, tr = _scale_into(conv, net, interp, _work("scaled", (H, W, 3) if C == 3 else (H, W)))
            scaled = scaled.reshape(H, W, C)
            planes = ([scaled[..., 0]] if C == 1 else
                      cv2.split(scaled, [_work(f"plane{c}", (H, W)) for c in range(C)]))
        transforms.append(Transform(tr.sx, tr.sy, tr.ox, tr.oy, left, top))
        for c, plane in enumerate(planes):
            dst = x[i, ..., c] if net.nhwc else x[i, c]
            # float32(pixel) - offset, then × scale, in float32: the same arithmetic as before
            if u8:
                dst[...] = plane
            elif offs[c]:
                np.subtract(plane, np.float32(offs[c]), out=dst, dtype=np.float32)
                if scale != 1.0:
                    np.multiply(dst, scale, out=dst)
            elif scale != 1.0:
                np.multiply(plane, scale, out=dst, dtype=np.float32)
            else:
                dst[...] = plane
    return x, transforms


def prepare_torch(images, net: NetInput, rois=None, dtype=None):
    """:func:`prepare` for (H, W, 4) uint8 CUDA tensors: everything stays on the GPU.

    Frames of one size with no ROIs (a primary detector on the muxer's batch) are scaled as
    one batch: a handful of kernels per batch instead of per frame."""
    import torch
    import torch.nn.functional as F
    W, H = net.width, net.height
    mode = "nearest" if net.interpolation == 0 else "bilinear"
    ch = [2, 1, 0] if net.color_format == 1 else [0, 1, 2]

    def scale(img, left, top):
        """(B, h, w, 4) uint8 → (B, C, H, W) float and the frames' Transform."""
        x = img[..., ch].permute(0, 3, 1, 2).float()
        if net.color_format == 2:
            x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
        ih, iw = x.shape[2:]
        if net.keep_aspect:
            s = min(W / iw, H / ih)
            nw, nh = max(1, round(iw * s)), max(1, round(ih * s))
            ox, oy = ((W - nw) // 2, (H - nh) // 2) if net.symmetric else (0, 0)
            canvas = torch.zeros((x.shape[0], x.shape[1], H, W), device=x.device)
            canvas[:, :, oy: oy + nh, ox: ox + nw] = F.interpolate(x, size=(nh, nw), mode=mode,
                                                                   align_corners=False if mode == "bilinear" else None)
            return canvas, Transform(s, s, float(ox), float(oy), left, top)
        x = F.interpolate(x, size=(H, W), mode=mode, align_corners=False if mode == "bilinear" else None)
        return x, Transform(W / iw, H / ih, 0.0, 0.0, left, top)

    if rois is None and len(images) > 1 and all(i.shape == images[0].shape for i in images):
        x, tr = scale(_as_batch(torch, list(images)), 0, 0)
        transforms = [tr] * len(images)
    elif rois is not None and len(images) > 1 and not net.keep_aspect and net.color_format != 2 \
            and all(i.shape == images[0].shape for i in images) and os.environ.get("ESTUARY_BATCH_CROPS") != "0" \
            and _boxes_inside(rois, images[0].shape[1], images[0].shape[0]):
        # a classifier's objects: every crop scaled in one gather (crop_resize_batch), instead
        # of a slice, a permute, a conversion and an interpolate per object
        frames, index = [], {}
        for img in images:
            if id(img) not in index:
                index[id(img)] = len(frames)
                frames.append(img)
        fh, fw = images[0].shape[:2]
        boxes = [roi_box(r, fw, fh) for r in rois]
        x = crop_resize_batch(torch, _as_batch(torch, frames), [index[id(i)] for i in images], boxes,
                              H, W, ch, mode)
        transforms = [Transform(W / w, H / h, 0.0, 0.0, left, top) for left, top, w, h in boxes]
    else:
        outs, transforms = [], []
        for i, img in enumerate(images):
            img, left, top = crop_roi(img, rois[i] if rois is not None else None)
            x1, tr = scale(img.unsqueeze(0), left, top)
            outs.append(x1)
            transforms.append(tr)
        x = torch.cat(outs, 0)
    offs = tuple(net.offsets[: net.channels]) if net.offsets else ()
    if any(offs):
        key = (offs, x.device)
        t = _OFFSETS.get(key)
        if t is None:  # uploaded once: a per-batch upload would wait for the GPU each time
            t = _OFFSETS[key] = torch.tensor(offs, device=x.device).view(1, -1, 1, 1)
        x = x - t
    if net.scale != 1.0:
        x = x * net.scale
    if net.nhwc:
        x = x.permute(0, 2, 3, 1)
    return x.contiguous(), transforms


_OFFSETS: dict = {}


def _boxes_inside(rois, width: int, height: int) -> bool:
    """Whether every ROI starts inside the frame (else the per-object path says what is wrong)."""
    return all(roi_box(r, width, height)[0] < width and roi_box(r, width, height)[1] < height for r in rois)


def _source_index(torch, size, out: int, mode: str, device):
    """Per crop, PyTorch's source coordinates for resizing ``size`` (N,) pixels to ``out``
    (``F.interpolate``, align_corners=False): (i0, i1, weight of i1), each (N, out)."""
    n = size.to(torch.float32).unsqueeze(1)
    dst = torch.arange(out, device=device, dtype=torch.float32).unsqueeze(0)
    scale = n / out
    last = size.unsqueeze(1) - 1
    if mode == "nearest":
        i0 = torch.minimum(torch.floor(dst * scale).to(torch.int64), last)
        return i0, i0, None
    src = torch.clamp(scale * (dst + 0.5) - 0.5, min=0.0)
    i0 = torch.floor(src).to(torch.int64)
    i0 = torch.minimum(i0, last)
    i1 = i0 + (i0 < last).to(torch.int64)
    return i0, i1, src - i0.to(torch.float32)


def crop_resize_batch(torch, frames, frame_of, boxes, out_h: int, out_w: int, channels, mode: str):
    """Every object's crop of ``frames`` (B, H, W, 4) uint8, scaled to ``out_h`` × ``out_w``, in
    a few batched gathers: (N, C, out_h, out_w) float, what cropping each box = (left, top, w, h)
    (:func:`roi_box`) and ``F.interpolate`` (bilinear, align_corners=False, or nearest) gives,
    with the crop's own edge pixels repeated at its border (not its neighbours in the frame)."""
    dev = frames.device
    B, FH, FW, FC = frames.shape
    bx = torch.tensor(boxes, dtype=torch.int64).to(dev, non_blocking=True)  # (N, 4): l, t, w, h
    fi = torch.tensor(frame_of, dtype=torch.int64).to(dev, non_blocking=True)
    y0, y1, wy = _source_index(torch, bx[:, 3], out_h, mode, dev)
    x0, x1, wx = _source_index(torch, bx[:, 2], out_w, mode, dev)
    rows0 = (fi.unsqueeze(1) * FH + bx[:, 1:2] + y0) * FW  # (N, out_h): the rows' first pixels
    rows1 = (fi.unsqueeze(1) * FH + bx[:, 1:2] + y1) * FW
    cols0, cols1 = bx[:, 0:1] + x0, bx[:, 0:1] + x1          # (N, out_w)
    # the frames' pixels as rows (a view); channels are picked from the gathered crop pixels,
    # not from every pixel of every frame first (that was a copy of the whole batch per call)
    flat = frames.reshape(-1, FC)                             # (B*H*W, FC) uint8
    chans = list(channels)
    pick = slice(chans[0], chans[-1] + 1) if chans == list(range(chans[0], chans[-1] + 1)) else chans

    def at(rows, cols):  # (N, C, out_h, out_w) float
        idx = rows.unsqueeze(2) + cols.unsqueeze(1)
        return flat[idx][..., pick].permute(0, 3, 1, 2).float()

    if mode == "nearest":
        return at(rows0, cols0)
    wx1 = wx.view(len(boxes), 1, 1, out_w)
    wy1 = wy.view(len(boxes), 1, out_h, 1)
    wx0, wy0 = 1.0 - wx1, 1.0 - wy1
    # PyTorch's own order of operations (upsample_bilinear2d)
    return wy0 * (wx0 * at(rows0, cols0) + wx1 * at(rows0, cols1)) + \
        wy1 * (wx0 * at(rows1, cols0) + wx1 * at(rows1, cols1))


def _as_batch(torch, images):
    """(N, H, W, C) from same-shape frames: no copy when they are consecutive views of one
    tensor (the muxer's GPU batch), else a stack."""
    t0 = images[0]
    step = t0.numel() * t0.element_size()
    if t0.is_contiguous() and all(
            t.is_contiguous() and t.data_ptr() == t0.data_ptr() + k * step
            and t.untyped_storage().data_ptr() == t0.untyped_storage().data_ptr()
            for k, t in enumerate(images)):
        return t0.as_strided((len(images),) + tuple(t0.shape), (t0.numel(),) + tuple(t0.stride()))
    return torch.stack(images)
