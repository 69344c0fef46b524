"""Frame buffers reused instead of allocated per frame.

A converted frame is hundreds of kilobytes (640×272 RGBA: 680 KiB; 1080p: 8 MiB). Allocated
per frame, glibc serves such sizes with ``mmap`` and frees them with ``munmap`` (a TLB flush on
every core) in whichever thread drops the last reference, and every page of the new memory
faults on first touch: on the 2-core machine, the page faults, ``munmap`` and ``mmap`` of the
converter's and muxer's threads were ~8 % of decode → convert → mux. A ``GstBufferPool`` hands
the same memory out again once downstream is done with a frame.

GStreamer's pool keeps the copy-on-write rules intact: a buffer comes back to the pool only if
its memory is still its own and unmodified (a frame whose pixels were shared with a copy, or
whose memory was replaced, is freed instead), and it comes back without the metas added
downstream.
"""

from __future__ import annotations

from estuary.errors import StreamError
from estuary.gst import Gst

__all__ = ["FramePool"]


class FramePool:
    """System-memory buffers of ``size`` bytes, as many as are in use at once."""

    def __init__(self, size: int):
        self.size = int(size)
        self._pool = Gst.BufferPool.new()
        cfg = self._pool.get_config()
        Gst.BufferPool.config_set_params(cfg, None, self.size, 0, 0)  # 0 max: no limit, never waits
        if not self._pool.set_config(cfg) or not self._pool.set_active(True):
            raise StreamError(f"could not set up a buffer pool of {self.size}-byte frames")

    def acquire(self) -> Gst.Buffer:
        """A buffer of ``size`` bytes (its contents are left over from an earlier frame)."""
        ret, buf = self._pool.acquire_buffer(None)
        if ret != Gst.FlowReturn.OK or buf is None:
            raise StreamError(f"buffer pool: no {self.size}-byte buffer ({ret.value_nick})")
        return buf

    def close(self) -> None:
        """Free the idle buffers; buffers still out are freed when downstream lets them go."""
        self._pool.set_active(False)
