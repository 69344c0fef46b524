"""The main demo: 4 synthetic streams of different sizes → esmux → a probe that draws into
the frames through ``pyds`` → estiler 2×2 → esconvert → H.264 MP4, with FPS lines and a PNG
snapshot of the mosaic. (The detector/tracker/OSD stages join as they land.)"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

__all__ = ["run_demo", "build_demo_pipeline"]

SOURCES = (("smpte", 640, 360), ("ball", 320, 240), ("snow", 480, 270), ("pinwheel", 640, 480))


def build_demo_pipeline(output: str, frames: int):
    import pyds  # noqa: F401 - registers the elements
    from estuary.gst import Gst
    srcs = " ".join(
        f"videotestsrc pattern={pat} num-buffers={frames} ! "
        f"video/x-raw,width={w},height={h},framerate=30/1 ! queue ! m.sink_{i}"
        for i, (pat, w, h) in enumerate(SOURCES))
    desc = (f"nvstreammux name=m batch-size={len(SOURCES)} width=640 height=360 ! "
            "queue ! nvmultistreamtiler name=tiler rows=2 columns=2 width=1280 height=720 ! "
            "nvvideoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast tune=zerolatency ! "
            f"h264parse ! mp4mux ! filesink location={output} {srcs}")
    return Gst.parse_launch(desc)


def run_demo(output: str = "out/demo.mp4", frames: int = 300) -> int:
    import pyds
    from estuary.gst import Gst
    from estuary.perf import FpsMeter
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    pipeline = build_demo_pipeline(output, frames)
    meter = FpsMeter(interval=2.0)
    snapshot = {}

    def probe(pad, info):
        gst_buffer = info.get_buffer()
        batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(gst_buffer))
        l_frame = batch_meta.frame_meta_list
        while l_frame is not None:
            frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
            frame = pyds.get_nvds_buf_surface(hash(gst_buffer), frame_meta.batch_id)
            # a moving marker drawn straight into the zero-copy RGBA surface
            x = (frame_meta.frame_num * 4) % (frame.shape[1] - 40)
            frame[20:60, x:x + 40] = (255, 64, 0, 255)
            meter.tick(frame_meta.source_id)
            l_frame = l_frame.next
        return Gst.PadProbeReturn.OK

    def snap(pad, info):
        gst_buffer = info.get_buffer()
        batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(gst_buffer))
        if batch_meta.frames and batch_meta.frames[0].frame_num == frames // 2:
            snapshot["png"] = np.array(pyds.get_nvds_buf_surface(hash(gst_buffer), 0), copy=True)
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("tiler").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    pipeline.get_by_name("tiler").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, snap)
    t0 = time.monotonic()
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    status = 0
    try:
        while True:
            msg = bus.timed_pop_filtered(Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
            if msg is None:
                continue
            if msg.type == Gst.MessageType.ERROR:
                err, dbg = msg.parse_error()
                print(f"ERROR from {msg.src.get_name()}: {err.message}", file=sys.stderr)
                status = 1
            break
    except KeyboardInterrupt:
        pipeline.send_event(Gst.Event.new_eos())
        bus.timed_pop_filtered(10 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    finally:
        pipeline.set_state(Gst.State.NULL)
    dt = time.monotonic() - t0
    totals = meter.totals
    n = sum(totals.values())
    print(FpsMeter.format({s: (0.0, c / dt) for s, c in totals.items()}))
    print(f"frames per source: {dict(sorted(totals.items()))}; {n} frames in {dt:.1f} s "
          f"({n / dt:.1f} fps total)")
    if "png" in snapshot:
        import cv2
        png = os.path.splitext(output)[0] + ".png"
        cv2.imwrite(png, cv2.cvtColor(snapshot["png"], cv2.COLOR_RGBA2BGR))
        print(f"snapshot: {png}")
    print(f"annotated video: {output}")
    return status
