"""Raw video buffers ↔ numpy: caps parsing and scoped plane views through ctypes maps."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from estuary.errors import StreamError
from estuary.gst import Gst, GstVideo, capi
from estuary.surface.colorimetry import Colorimetry, colorimetry_from_caps
from estuary.surface.convert import frame_to_rgba, plane_views

__all__ = ["VideoFormat", "video_format", "mapped_planes", "meta_layout", "buffer_to_rgba", "NVMM"]

NVMM = "memory:NVMM"


@dataclass(frozen=True)
class VideoFormat:
    """What caps say about a raw video stream."""

    format: str
    width: int
    height: int
    fps_n: int
    fps_d: int
    strides: tuple
    offsets: tuple
    size: int
    nvmm: bool
    batch_size: int
    cuda: bool = False
    #: the caps' colorimetry as GStreamer reads it (e.g. ``bt709``, ``1:4:0:0``); None: not said
    colorimetry: str | None = None
    #: the caps' chroma-site (``jpeg``, ``mpeg2``, ...); None: not said
    chroma_site: str | None = None

    @property
    def color(self) -> Colorimetry:
        """YUV→RGB matrix and range of this stream (GStreamer's default when the caps say none)."""
        return colorimetry_from_caps(self.colorimetry, self.height)

    @property
    def frame_duration(self) -> int:
        if self.fps_n <= 0:
            return Gst.CLOCK_TIME_NONE
        return Gst.util_uint64_scale_int(Gst.SECOND, self.fps_d, self.fps_n)


def video_format(caps: Gst.Caps) -> VideoFormat:
    """Parse raw video caps (with or without the ``memory:NVMM`` feature)."""
    if caps is None or caps.get_size() == 0:
        raise StreamError("no caps negotiated")
    st = caps.get_structure(0)
    feats = caps.get_features(0)
    nvmm = feats is not None and feats.contains(NVMM)
    plain = Gst.Caps.new_empty()
    st2 = st.copy()
    st2.remove_field("batch-size")
    plain.append_structure(st2)
    vi = GstVideo.VideoInfo.new_from_caps(plain)
    if vi is None:
        raise StreamError(f"cannot parse video caps {caps.to_string()}")
    ok, batch = st.get_int("batch-size")
    cuda = feats is not None and feats.contains("memory:CUDAMemory")
    colorimetry = st.get_string("colorimetry") if st.has_field("colorimetry") else None
    chroma_site = st.get_string("chroma-site") if st.has_field("chroma-site") else None
    return VideoFormat(GstVideo.VideoFormat.to_string(vi.finfo.format), vi.width, vi.height,
                       vi.fps_n, vi.fps_d, tuple(vi.stride), tuple(vi.offset), vi.size, nvmm,
                       batch if ok else 0, cuda, colorimetry, chroma_site)


def meta_layout(buf, fmt: VideoFormat) -> tuple[tuple, tuple]:
    """(strides, offsets) of a buffer's planes: its GstVideoMeta's when it has one (padded or
    cropped frames from decoders and cameras), else those the caps imply."""
    vmeta = GstVideo.buffer_get_video_meta(buf)
    if vmeta is None:
        return fmt.strides, fmt.offsets
    return tuple(vmeta.stride), tuple(vmeta.offset)


@contextmanager
def mapped_planes(buf: Gst.Buffer, fmt: VideoFormat, write: bool = False):
    """Plane views of a raw frame, valid inside the block."""
    strides, offsets = meta_layout(buf, fmt)
    with capi.map_buffer(hash(buf), write=write) as info:
        data = capi.as_array(info)
        yield plane_views(data, fmt.format, fmt.width, fmt.height, strides, offsets)


def buffer_to_rgba(buf: Gst.Buffer, fmt: VideoFormat, out: np.ndarray | None = None) -> np.ndarray:
    """Convert one raw frame to RGBA (a new array, or into ``out``)."""
    with mapped_planes(buf, fmt) as planes:
        rgba = frame_to_rgba(planes, fmt.format, out=out, colorimetry=fmt.color, chroma_site=fmt.chroma_site)
        if out is None and fmt.format == "RGBA":
            rgba = rgba.copy()
        return rgba
