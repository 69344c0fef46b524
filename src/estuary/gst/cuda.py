"""GPU surfaces: CUDA-memory GStreamer buffers (NVDEC output) viewed as torch tensors with no
host copy, and NV12 → RGBA conversion and scaling on the GPU: one fused CUDA kernel per batch
(:class:`Nv12BatchConverter`, CuPy), and the older per-frame torch version
(:func:`nv12_buffer_to_rgba`, kept as the fallback where CuPy is not installed)."""

from __future__ import annotations

import numpy as np

from estuary.errors import SurfaceError
from estuary.gst import capi
from estuary.surface.nv12 import PARAMS_DTYPE

__all__ = ["CudaView", "Nv12BatchConverter", "cupy_available", "nv12_buffer_to_rgba", "torch_available"]

#: one thread per output pixel; blockIdx.z is the frame. Same maths as
#: estuary.surface.nv12.nv12_to_rgba_reference (float32 throughout).
_KERNEL = r"""
struct FrameParams {
    unsigned long long y_ptr, uv_ptr;
    int y_pitch, uv_pitch, src_w, src_h;
    int ox, oy, nw, nh;
    float m[9];
    float off[3];
    float hsite, vsite;
    int sample_bytes;  // 1: NV12, 2: P010_10LE / P016_LE
    int pad;
};

// T: the sample type, unsigned char (NV12) or unsigned short (P010_10LE, P016_LE: the sample
// in the high bits, so v / 256 is its value on the 8-bit scale: 10-bit 64..940 -> 16..235)
template <typename T>
__device__ __forceinline__ float bilinear1(const unsigned char* p, int pitch, int w, int h,
                                           float x, float y) {
    x = fminf(fmaxf(x, 0.0f), (float)(w - 1));
    y = fminf(fmaxf(y, 0.0f), (float)(h - 1));
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    int x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1);
    float fx = x - (float)x0, fy = y - (float)y0;
    const T* r0 = (const T*)(p + (size_t)y0 * pitch);
    const T* r1 = (const T*)(p + (size_t)y1 * pitch);
    float a = r0[x0], b = r0[x1], c = r1[x0], d = r1[x1];
    float top = a + (b - a) * fx, bot = c + (d - c) * fx;
    return top + (bot - top) * fy;
}

// V: a pair of samples, uchar2 or ushort2 (one load for Cb and Cr)
template <typename V>
__device__ __forceinline__ float2 bilinear2(const unsigned char* p, int pitch, int w, int h,
                                            float x, float y) {
    x = fminf(fmaxf(x, 0.0f), (float)(w - 1));
    y = fminf(fmaxf(y, 0.0f), (float)(h - 1));
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    int x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1);
    float fx = x - (float)x0, fy = y - (float)y0;
    const V* r0 = (const V*)(p + (size_t)y0 * pitch);
    const V* r1 = (const V*)(p + (size_t)y1 * pitch);
    V a = r0[x0], b = r0[x1], c = r1[x0], d = r1[x1];
    float tu = a.x + ((float)b.x - a.x) * fx, bu = c.x + ((float)d.x - c.x) * fx;
    float tv = a.y + ((float)b.y - a.y) * fx, bv = c.y + ((float)d.y - c.y) * fx;
    return make_float2(tu + (bu - tu) * fy, tv + (bv - tv) * fy);
}

__device__ __forceinline__ unsigned char to_u8(float v) {
    return (unsigned char)fminf(fmaxf(floorf(v + 0.5f), 0.0f), 255.0f);
}

// WIDE: frames may hold 16-bit samples (sample_bytes 2). The 8-bit-only instance is what a batch
// of NV12 frames runs: measured on an H200, the per-frame test alone cost it 4 % (0.51 against
// 0.49 ms for 64 1080p frames, bench/nv12_kernel.py)
template <bool WIDE>
__device__ __forceinline__ void convert(const FrameParams* __restrict__ params, unsigned char* __restrict__ out,
                                        int out_w, int out_h, long long frame_bytes) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= out_w || y >= out_h) return;
    const FrameParams& p = params[blockIdx.z];
    uchar4* o = (uchar4*)(out + (long long)blockIdx.z * frame_bytes) + (size_t)y * out_w + x;
    int lx = x - p.ox, ly = y - p.oy;
    if (lx < 0 || ly < 0 || lx >= p.nw || ly >= p.nh) {
        *o = make_uchar4(0, 0, 0, 255);
        return;
    }
    float sx = ((float)lx + 0.5f) * ((float)p.src_w / (float)p.nw) - 0.5f;
    float sy = ((float)ly + 0.5f) * ((float)p.src_h / (float)p.nh) - 0.5f;
    float cx = (sx - p.hsite) * 0.5f, cy = (sy - p.vsite) * 0.5f;
    const unsigned char* yp = (const unsigned char*)p.y_ptr;
    const unsigned char* uvp = (const unsigned char*)p.uv_ptr;
    float Y;
    float2 C;
    if (WIDE && p.sample_bytes == 2) {  // the same for a whole frame (blockIdx.z): no divergence
        Y = bilinear1<unsigned short>(yp, p.y_pitch, p.src_w, p.src_h, sx, sy) * (1.0f / 256.0f);
        C = bilinear2<ushort2>(uvp, p.uv_pitch, p.src_w >> 1, p.src_h >> 1, cx, cy);
        C.x *= 1.0f / 256.0f;
        C.y *= 1.0f / 256.0f;
    } else {
        Y = bilinear1<unsigned char>(yp, p.y_pitch, p.src_w, p.src_h, sx, sy);
        C = bilinear2<uchar2>(uvp, p.uv_pitch, p.src_w >> 1, p.src_h >> 1, cx, cy);
    }
    float a = Y - p.off[0], b = C.x - p.off[1], c = C.y - p.off[2];
    float r = p.m[0] * a + p.m[1] * b + p.m[2] * c;
    float g = p.m[3] * a + p.m[4] * b + p.m[5] * c;
    float bl = p.m[6] * a + p.m[7] * b + p.m[8] * c;
    *o = make_uchar4(to_u8(r), to_u8(g), to_u8(bl), 255);
}

extern "C" __global__ void nv12_to_rgba_batch(const FrameParams* __restrict__ params,
                                              unsigned char* __restrict__ out,
                                              int out_w, int out_h, long long frame_bytes) {
    convert<false>(params, out, out_w, out_h, frame_bytes);
}

extern "C" __global__ void yuv420_any_depth_to_rgba_batch(const FrameParams* __restrict__ params,
                                                          unsigned char* __restrict__ out,
                                                          int out_w, int out_h, long long frame_bytes) {
    convert<true>(params, out, out_w, out_h, frame_bytes);
}
"""


def cupy_available() -> bool:
    try:
        import cupy  # noqa: F401
        return True
    except ImportError:
        return False


class Nv12BatchConverter:
    """One kernel launch converts a whole batch of NV12 frames — or P010_10LE / P016_LE, 10- and
    12-bit streams' (anywhere in device memory, each with its own pitch, size, colorimetry and
    sample size) into an (N, out_h, out_w, 4) uint8 torch tensor,
    on torch's current CUDA stream (no host synchronisation)."""

    def __init__(self, device):
        import cupy
        import torch
        self.torch, self.cupy = torch, cupy
        self.device = torch.device(device)
        with cupy.cuda.Device(self.device.index or 0):
            self._kernel = cupy.RawKernel(_KERNEL, "nv12_to_rgba_batch")  # 8-bit frames only
            self._wide_kernel = cupy.RawKernel(_KERNEL, "yuv420_any_depth_to_rgba_batch")

    def convert(self, params: np.ndarray, out_w: int, out_h: int, out=None):
        """``params``: ``PARAMS_DTYPE`` rows (estuary.surface.nv12.batch_params). Returns the
        output tensor; the source planes must stay valid until the stream reaches this work."""
        torch, cupy = self.torch, self.cupy
        if params.dtype != PARAMS_DTYPE:
            raise SurfaceError("params must be estuary.surface.nv12.PARAMS_DTYPE rows")
        n = len(params)
        if out is None:
            out = torch.empty((n, out_h, out_w, 4), dtype=torch.uint8, device=self.device)
        elif tuple(out.shape) != (n, out_h, out_w, 4) or not out.is_contiguous():
            raise SurfaceError(f"output must be a contiguous ({n}, {out_h}, {out_w}, 4) uint8 tensor")
        if n == 0:
            return out
        host = torch.from_numpy(params.view(np.uint8)).pin_memory()
        dev_params = host.to(self.device, non_blocking=True)  # pinned: an async copy in stream order
        stream = torch.cuda.current_stream(self.device)
        block = (32, 8, 1)
        grid = ((out_w + 31) // 32, (out_h + 7) // 8, n)
        kernel = self._wide_kernel if (params["sample_bytes"] != 1).any() else self._kernel
        with cupy.cuda.Device(self.device.index or 0), cupy.cuda.ExternalStream(stream.cuda_stream):
            kernel(grid, block, (np.uint64(dev_params.data_ptr()), np.uint64(out.data_ptr()),
                                       np.int32(out_w), np.int32(out_h), np.int64(out_h * out_w * 4)))
        # dev_params is freed to torch's caching allocator in stream order: safe to drop here
        return out


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
    """Map a CUDA-memory NV12 (or P010_10LE / P016_LE) buffer, convert to an (out_h, out_w, 4)
    uint8 RGBA tensor on the GPU."""
    import torch
    import torch.nn.functional as F
    from estuary.gst import GstVideo
    from estuary.surface.nv12 import SAMPLE_BYTES
    vmeta = GstVideo.buffer_get_video_meta(buf)
    strides = tuple(vmeta.stride) if vmeta is not None else fmt.strides
    offsets = tuple(vmeta.offset) if vmeta is not None else fmt.offsets
    h, w = fmt.height, fmt.width
    n = SAMPLE_BYTES.get(fmt.format)
    if n is None:
        raise SurfaceError(f"cannot convert {fmt.format} CUDA memory (takes {', '.join(SAMPLE_BYTES)})")
    with capi.map_buffer(hash(buf), write=False, flags=capi.GST_MAP_CUDA) as info:
        ptr = int(info.data)
        typestr = "|u1" if n == 1 else "<i2"  # int16 (torch's uint16 has few kernels): masked below
        y = torch.as_tensor(CudaView(ptr + offsets[0], (h, w), (strides[0], n), typestr), device=device)
        uv = torch.as_tensor(CudaView(ptr + offsets[1], (h // 2, w // 2, 2), (strides[1], 2 * n, n), typestr),
                             device=device)
        if n == 2:  # 16-bit samples on the 8-bit scale (float32: 65520 is past float16's range)
            yf = (y.to(torch.int32) & 0xFFFF).to(torch.float32) / 256.0 - 16.0
            uvf = (uv.to(torch.int32) & 0xFFFF).to(torch.float32) / 256.0 - 128.0
        else:
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
