"""Muxer overhead benchmark: N x 1080p H.264 decode -> esmux -> fakesink, against the same
decode without the muxer, in the same run. Prints fps and the muxer's cost per frame.

    .venv/bin/python bench/mux_overhead.py [--frames 300] [--streams 1 4 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import pyds  # noqa: F401 - registers the elements
from estuary.gst import Gst


def run(desc: str) -> float:
    p = Gst.parse_launch(desc)
    t0 = time.perf_counter()
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    dt = time.perf_counter() - t0
    p.set_state(Gst.State.NULL)
    if msg is None or msg.type == Gst.MessageType.ERROR:
        raise RuntimeError(msg.parse_error()[0].message if msg else "timeout")
    return dt


def make_clip(path: str, frames: int) -> None:
    run(f"videotestsrc num-buffers={frames} pattern=smpte horizontal-speed=8 ! "
        "video/x-raw,width=1920,height=1080,framerate=30/1 ! x264enc speed-preset=ultrafast "
        "bitrate=6000 key-int-max=60 ! video/x-h264,profile=high ! h264parse ! mp4mux ! "
        f"filesink location={path}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 4, 8])
    args = ap.parse_args()
    d = tempfile.mkdtemp()
    clip = os.path.join(d, "1080p.mp4")
    print(f"encoding a {args.frames}-frame 1080p H.264 clip ...", flush=True)
    make_clip(clip, args.frames)
    dec = f"filesrc location={clip} ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! video/x-raw,format=RGBA"
    print(f"{'streams':>7} {'decode-only fps':>16} {'decode+esmux fps':>17} {'mux cost/frame':>15}")
    for n in args.streams:
        base = " ".join(f"{dec} ! queue ! fakesink" for _ in range(n))
        muxed = (f"esmux name=m batch-size={n} width=1920 height=1080 ! fakesink " +
                 " ".join(f"{dec} ! queue ! m.sink_{i}" for i in range(n)))
        t_base = run(base)
        t_mux = run(muxed)
        frames = n * args.frames
        cost_us = max(t_mux - t_base, 0) / frames * 1e6
        print(f"{n:>7} {frames / t_base:>16.1f} {frames / t_mux:>17.1f} {cost_us:>12.1f} us", flush=True)


if __name__ == "__main__":
    main()
