"""Longer test clips for the benches, made from the bundled ones without re-encoding."""

from __future__ import annotations

import os

__all__ = ["repeat_clip"]


def repeat_clip(src: str, dst: str, times: int, timeout_s: int = 300) -> None:
    """Write the mp4 ``src`` ``times`` over, back to back, to ``dst``: its coded stream (H.264,
    or H.265 when the file name says 265) re-muxed through ``concat``. A RuntimeError names the
    clip if GStreamer fails."""
    from estuary.gst import Gst, ensure_init
    ensure_init()
    parse = "h265parse" if "265" in os.path.basename(src) else "h264parse"
    parts = " ".join(f"filesrc location={src} ! qtdemux ! {parse} ! c." for _ in range(times))
    p = Gst.parse_launch(f"concat name=c ! {parse} ! mp4mux ! filesink location={dst} {parts}")
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(timeout_s * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    if msg is None or msg.type != Gst.MessageType.EOS:
        raise RuntimeError(f"cannot repeat {src}: {msg.parse_error()[0].message if msg else 'timeout'}")
