"""GPU surfaces: CUDA-memory GStreamer buffers (NVDEC output) viewed as torch tensors with no
host copy, and NV12 → RGBA conversion and scaling on the GPU."""

from __future__ import annotations

from estuary.gst import capi

__all__ = ["CudaView", "nv12_buffer_to_rgba", "torch_available"]


def torch_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


class CudaView:
    """``__cuda_array_interface__`` over a device pointer (for torch.as_tensor)."""

    def __init__(self, ptr: int, shape, strides, typestr="|u1"):
        self.__cuda_array_interface__ = {"shape": tuple(shape), "strides": tuple(strides),
                                         "typestr": typestr, "data": (int(ptr), False), "version": 3}


def nv12_buffer_to_rgba(buf, fmt, out_w: int, out_h: int, device, keep_aspect: bool = False):
    """Map a CUDA-memory NV12 buffer, convert to an (out_h, out_w, 4) uint8 RGBA tensor on the GPU."""
    import torch
    import torch.nn.functional as F
    from estuary.gst import GstVideo
    vmeta = GstVideo.buffer_get_video_meta(buf)
    strides = tuple(vmeta.stride) if vmeta is not None else fmt.strides
    offsets = tuple(vmeta.offset) if vmeta is not None else fmt.offsets
    h, w = fmt.height, fmt.width
    with capi.map_buffer(hash(buf), write=False, flags=capi.GST_MAP_CUDA) as info:
        ptr = int(info.data)
        y = torch.as_tensor(CudaView(ptr + offsets[0], (h, w), (strides[0], 1)), device=device)
        uv = torch.as_tensor(CudaView(ptr + offsets[1], (h // 2, w // 2, 2), (strides[1], 2, 1)), device=device)
        yf = y.to(torch.float16) - 16.0
        uvf = uv.to(torch.float16) - 128.0
        uvf = uvf.permute(2, 0, 1).unsqueeze(0)
        uvf = F.interpolate(uvf, size=(h, w), mode="nearest")[0]
        u, v = uvf[0], uvf[1]
        r = 1.164 * yf + 1.596 * v
        g = 1.164 * yf - 0.392 * u - 0.813 * v
        b = 1.164 * yf + 2.017 * u
        rgb = torch.stack([r, g, b], 0).clamp_(0, 255)
    if (out_w, out_h) != (w, h):
        rgb = F.interpolate(rgb.unsqueeze(0), size=(out_h, out_w), mode="bilinear", align_corners=False)[0]
    out = torch.empty((out_h, out_w, 4), dtype=torch.uint8, device=device)
    out[..., :3] = rgb.round().permute(1, 2, 0).to(torch.uint8)
    out[..., 3] = 255
    return out
