"""Frame and batch surfaces: where the pixels of a batch live.

A batched buffer carries no pixel memory itself. Its :class:`BatchSurface` (on the batch meta)
holds one :class:`FrameSurface` per frame, each referencing the ``Gst.Buffer`` whose memory
holds that frame's RGBA pixels (the muxer's input buffer when no scaling was needed: zero copy).
A memory normally belongs to exactly one buffer, so it is mapped for writing in place, also
from a pad probe, and writes are seen downstream (like DeepStream's shared NvBufSurface). When a
batch is copied (a drawing element on one branch of a tee copies the batch it was handed), the
copy's frames share the memory; writing then copies it first (copy on write), so the other
branch never sees the drawing.

Pixels are reached through scoped context managers (:meth:`FrameSurface.pixels`), or through
the persistent mapping that ``pyds.get_nvds_buf_surface`` needs (released by
:meth:`BatchSurface.unmap_frame` or when the batch is released).
"""

from __future__ import annotations

import ctypes
from contextlib import contextmanager

import numpy as np

from estuary.errors import SurfaceError
from estuary.gst import capi
from estuary.meta.enums import NvBufSurfaceColorFormat, NvBufSurfaceMemType
from estuary.surface.nvbuf import NvBufSurface, NvBufSurfaceParams

__all__ = ["FrameSurface", "BatchSurface", "new_rgba_buffer"]

_FORMAT_CODES = {"RGBA": NvBufSurfaceColorFormat.NVBUF_COLOR_FORMAT_RGBA,
                 "RGB": NvBufSurfaceColorFormat.NVBUF_COLOR_FORMAT_RGB,
                 "NV12": NvBufSurfaceColorFormat.NVBUF_COLOR_FORMAT_NV12,
                 "I420": NvBufSurfaceColorFormat.NVBUF_COLOR_FORMAT_YUV420}


def new_rgba_buffer(width: int, height: int):
    """A new system-memory ``Gst.Buffer`` sized for one tightly packed RGBA frame."""
    from estuary.gst import Gst
    return Gst.Buffer.new_allocate(None, int(width) * int(height) * 4, None)


class FrameSurface:
    """One frame's pixels: an RGBA image of ``width`` × ``height`` in ``buffer``'s memory 0."""

    __slots__ = ("buffer", "width", "height", "pitch", "color_format", "offset", "device",
                 "_tensor", "ready", "_mapping")

    def __init__(self, buffer, width: int, height: int, pitch: int | None = None,
                 color_format: str = "RGBA", offset: int = 0, device: str = "cpu", tensor=None):
        self.buffer = buffer
        self.width, self.height = int(width), int(height)
        self.pitch = int(pitch) if pitch else self.width * 4
        self.color_format = color_format
        self.offset = offset
        self.device = device
        self._tensor = tensor
        #: GPU frames: a CUDA event recorded once ``tensor`` holds the frame's pixels (the
        #: muxer's conversion), so that work on another CUDA stream can wait for exactly that and
        #: not for everything queued since; None = unknown (wait for the whole current stream).
        #: Whoever replaces or writes ``tensor`` on the GPU sets it to None (or a newer event).
        self.ready = None
        self._mapping = None

    @property
    def tensor(self):
        """GPU frames: the (H, W, 4) uint8 CUDA tensor of the pixels (None for CPU frames)."""
        return self._tensor

    @tensor.setter
    def tensor(self, value):
        self._tensor = value
        self.ready = None  # new pixels: whoever reads them on another stream waits for everything

    @property
    def channels(self) -> int:
        return 3 if self.color_format == "RGB" else 4

    def _view(self, info) -> np.ndarray:
        if self.color_format not in ("RGBA", "RGB"):
            raise SurfaceError(
                "get_nvds_buf_Surface: Currently we only support RGBA color Format "
                f"(this surface is {self.color_format}; convert with nvvideoconvert/esconvert)")
        need = self.offset + self.pitch * (self.height - 1) + self.width * self.channels
        if info.size < need:
            raise SurfaceError(f"surface memory too small: {info.size} < {need}")
        raw = (ctypes.c_uint8 * info.size).from_address(info.data)
        flat = np.frombuffer(raw, np.uint8)
        return np.lib.stride_tricks.as_strided(
            flat[self.offset:], shape=(self.height, self.width, self.channels),
            strides=(self.pitch, self.channels, 1), writeable=True)

    @contextmanager
    def pixels(self, write: bool = True):
        """A (H, W, 4) uint8 view of the frame, valid inside the ``with`` block only."""
        if self.device != "cpu":
            raise SurfaceError("this surface lives on the GPU: use .tensor or get_nvds_buf_surface_gpu")
        if write and not capi.gst_mini_object_is_writable(hash(self.buffer)):
            # someone else holds this very buffer: write into our own (copy on write below)
            from estuary.gst.batchmeta import shallow_copy
            self.buffer = shallow_copy(self.buffer)
        with capi.map_memory(hash(self.buffer), 0, write=write) as info:
            arr = self._view(info)
            if not write:
                arr.flags.writeable = False
            yield arr

    def map(self) -> np.ndarray:
        """A writable view kept mapped until :meth:`unmap` (what get_nvds_buf_surface returns)."""
        if self.device == "cuda":
            raise SurfaceError("this frame lives in GPU memory: use pyds.get_nvds_buf_surface_gpu "
                               "(or set nvbuf-memory-type to CPU memory)")
        if self._mapping is None:
            cm = self.pixels(write=True)
            arr = cm.__enter__()
            self._mapping = (cm, arr)
        return self._mapping[1]

    def unmap(self) -> None:
        """Release the mapping made by :meth:`map` (no-op if none)."""
        if self._mapping is not None:
            cm, _ = self._mapping
            self._mapping = None
            cm.__exit__(None, None, None)

    def clone(self) -> "FrameSurface":
        """The same pixels in a new buffer that shares the memory: writes to either copy it
        first. GPU frames share their tensor."""
        from estuary.gst.batchmeta import shallow_copy
        buf = shallow_copy(self.buffer) if self.buffer is not None and self.device == "cpu" else self.buffer
        out = FrameSurface(buf, self.width, self.height, pitch=self.pitch, color_format=self.color_format,
                           offset=self.offset, device=self.device, tensor=self.tensor)
        out.ready = self.ready
        return out

    def copy(self) -> np.ndarray:
        """A private copy of the pixels (downloaded from the GPU for GPU surfaces)."""
        if self.device == "cuda":
            return self.tensor.cpu().numpy()
        with self.pixels(write=False) as a:
            return np.array(a, copy=True, order="C")

    def params(self) -> NvBufSurfaceParams:
        p = NvBufSurfaceParams(width=self.width, height=self.height, pitch=self.pitch,
                               colorFormat=_FORMAT_CODES.get(self.color_format,
                                                             NvBufSurfaceColorFormat.NVBUF_COLOR_FORMAT_INVALID),
                               dataSize=self.pitch * self.height)
        p.planeParams.num_planes = 1
        p.planeParams.width[0], p.planeParams.height[0] = self.width, self.height
        p.planeParams.pitch[0] = self.pitch
        p.planeParams.bytesPerPix[0] = self.channels
        p.dataPtr = self.buffer
        return p


class BatchSurface:
    """The NvBufSurface equivalent: ``frames[batch_id]`` are the frames of one batch."""

    __slots__ = ("frames", "batch_size", "mem_type", "gpu_id", "cuda_copies")

    def __init__(self, frames: list[FrameSurface], batch_size: int,
                 mem_type=NvBufSurfaceMemType.NVBUF_MEM_DEFAULT, gpu_id: int = 0, cuda_copies: bool = False):
        self.frames = frames
        self.batch_size = int(batch_size)
        self.mem_type = mem_type
        self.gpu_id = gpu_id
        #: the frames are system-memory copies of frames converted on GPU ``gpu_id`` (the muxer's
        #: nvbuf-memory-type CUDA pinned or unified, which DeepStream's memory the CPU can read
        #: too): the GPU is there, and work that DeepStream does on the GPU stays there
        self.cuda_copies = cuda_copies

    def clone(self) -> "BatchSurface":
        """A surface whose frames share this one's memory, copied on write (see FrameSurface.clone)."""
        return BatchSurface([f.clone() for f in self.frames], self.batch_size, self.mem_type, self.gpu_id,
                            self.cuda_copies)

    @property
    def num_filled(self) -> int:
        return len(self.frames)

    def frame(self, batch_id: int) -> FrameSurface:
        # no Python negative indexing: batch_id -1 is a caller's bug, not "the last frame"
        if not 0 <= batch_id < len(self.frames):
            raise SurfaceError(f"batch has {len(self.frames)} frames (batch_id 0..{len(self.frames) - 1}); "
                               f"no batch_id {batch_id}")
        return self.frames[batch_id]

    def map_frame(self, batch_id: int) -> np.ndarray:
        """Writable zero-copy RGBA view of a frame (checks the format of surface 0, as DeepStream)."""
        if self.frames and self.frames[0].color_format not in ("RGBA", "RGB"):
            raise SurfaceError("get_nvds_buf_Surface: Currently we only support RGBA color Format")
        return self.frame(batch_id).map()

    def unmap_frame(self, batch_id: int) -> None:
        if 0 <= batch_id < len(self.frames):
            self.frames[batch_id].unmap()

    def unmap_all(self) -> None:
        for f in self.frames:
            f.unmap()

    def gpu_frame_tuple(self, batch_id: int):
        """(dtype, shape, strides, data_ptr capsule, size) as ``get_nvds_buf_surface_gpu``."""
        f = self.frame(batch_id)
        if f.device != "cuda" or f.tensor is None:
            raise SurfaceError("get_nvds_buf_surface_gpu needs a GPU surface "
                               "(nvbuf-memory-type CUDA on a machine with an NVIDIA GPU)")
        t = f.tensor
        # the caller may write the pixels on any stream (CuPy's, the legacy default stream):
        # later readers on a stream of their own wait for everything queued instead of only
        # for the muxer's conversion
        f.ready = None
        ptr = t.data_ptr()
        from estuary import capsule
        strides = tuple(s * t.element_size() for s in t.stride())
        return (np.uint8, tuple(t.shape), strides, capsule.new(ptr),
                t.numel() * t.element_size())

    def as_nvbufsurface(self) -> NvBufSurface:
        s = NvBufSurface(gpuId=self.gpu_id, batchSize=self.batch_size, numFilled=self.num_filled,
                         memType=self.mem_type)
        s.surfaces.extend(f.params() for f in self.frames)
        return s

    def __del__(self):
        try:
            self.unmap_all()
        except Exception:  # noqa: BLE001
            pass
