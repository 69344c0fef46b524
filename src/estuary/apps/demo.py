"""The flagship demo (deepstream-test2 style) on the bundled street video:

    bikes.mp4 → decode → nvstreammux → nvinfer (YOLOv3-tiny, COCO) → nvtracker (ByteTrack-style)
    → nvinfer (MobileNetV2 vehicle types, on cars/buses/trucks) → nvdsosd → H.264 MP4

Frames are processed 640 pixels wide (narrower videos at their own width), at the video's
aspect ratio. The secondary classifier reports vehicle types only: its ImageNet outputs go
through the label map ``estuary.infer.labelmap:vehicle_types``.

Labels are laid out by :mod:`estuary.apps.labels` before the OSD: above their boxes, inside the
frame and clear of each other, in a font sized for the frame.

It prints FPS lines while running and, at the end, frames, objects per class, distinct tracks
and classifier results; it writes ``out/demo.mp4`` and a PNG snapshot of an annotated frame (the
first one showing the most objects and vehicle types)."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter

import numpy as np

__all__ = ["run_demo", "build_demo_pipeline", "output_size"]


def output_size(video: str, width: int = 640) -> tuple[int, int]:
    """The demo's processing size: ``width`` wide (or the video's own width when narrower), with
    the video's aspect ratio; even sizes, as the H.264 encoder wants."""
    import cv2
    cap = cv2.VideoCapture(video)
    try:
        w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    finally:
        cap.release()
    if not w or not h:
        from estuary.errors import SourceError
        from estuary.mp4 import unfinished_mp4
        raise SourceError(unfinished_mp4(video) or
                          f"cannot read the frame size of {video} (not a video OpenCV can open)")
    out_w = min(width, int(w)) // 2 * 2
    return out_w, max(2, int(round(out_w * h / w / 2)) * 2)


def build_demo_pipeline(output: str, video: str | None = None, frames: int = -1):
    import pyds  # noqa: F401 - registers the elements
    from estuary import data
    from estuary.elements.sinks import RECORDING_FILESINK, RECORDING_MUX, encoder_name
    from estuary.gst import Gst
    data.ensure()
    video = video or data.media_path("bikes.mp4")
    if not os.path.isfile(video):
        from estuary.errors import SourceError
        raise SourceError(f"no such video file: {video}")
    limit = f"identity eos-after={frames} ! " if frames and frames > 0 else ""
    width, height = output_size(video)
    enc = encoder_name()
    enc_opts = " speed-preset=ultrafast" if enc == "x264enc" else ""
    desc = (f'filesrc location="{video}" ! qtdemux ! h264parse ! nvv4l2decoder ! {limit}queue ! m.sink_0 '
            f"nvstreammux name=m batch-size=1 width={width} height={height} ! "
            f'nvinfer name=pgie config-file-path="{data.model_path(data.PRIMARY_CONFIG)}" ! '
            "nvtracker name=tracker ll-lib-file=libnvds_nvmultiobjecttracker.so ! "
            f'nvinfer name=sgie config-file-path="{data.model_path(data.VEHICLE_TYPES_CONFIG)}" ! '
            "nvdsosd name=osd ! queue ! nvvideoconvert ! video/x-raw,format=I420 ! "
            f'{enc}{enc_opts} ! h264parse ! {RECORDING_MUX} ! {RECORDING_FILESINK} location="{output}"')
    pipeline = Gst.parse_launch(desc)
    # labels above their boxes, inside the frame, clear of each other, sized for the frame
    # (the demo chooses the offsets, as an app's probe would; nvdsosd draws them where told)
    from estuary.apps.labels import add_label_layout
    from estuary.osd.placement import label_font_size
    add_label_layout(pipeline.get_by_name("osd").get_static_pad("sink"), frame_size=(width, height),
                     font_size=label_font_size(height))
    return pipeline


def run_demo(output: str = "out/demo.mp4", frames: int = -1, video: str | None = None,
             metrics_port: int | None = None, metrics_host: str = "127.0.0.1") -> int:
    import pyds
    from estuary.gst import Gst
    from estuary.perf import FpsMeter
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    pipeline = build_demo_pipeline(output, video, frames)
    meter = FpsMeter(interval=3.0)
    per_class, tracks, vehicle_types = Counter(), set(), Counter()
    best = {"score": (-1, -1), "img": None}

    def probe(pad, info):
        gst_buffer = info.get_buffer()
        batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(gst_buffer))
        l_frame = batch_meta.frame_meta_list
        while l_frame is not None:
            frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
            meter.tick(frame_meta.source_id)
            l_obj = frame_meta.obj_meta_list
            classified = 0
            while l_obj is not None:
                obj = pyds.NvDsObjectMeta.cast(l_obj.data)
                per_class[obj.obj_label] += 1
                if obj.object_id != pyds.UNTRACKED_OBJECT_ID:
                    tracks.add((obj.obj_label, obj.object_id))
                l_cls = obj.classifier_meta_list
                while l_cls is not None:
                    cm = pyds.NvDsClassifierMeta.cast(l_cls.data)
                    li = pyds.NvDsLabelInfo.cast(cm.label_info_list.data)
                    vehicle_types[li.result_label] += 1
                    classified += 1
                    l_cls = l_cls.next
                l_obj = l_obj.next
            score = (frame_meta.num_obj_meta, classified)  # a snapshot that shows every kind of label
            if score > best["score"]:
                best["score"] = score
                best["img"] = np.array(pyds.get_nvds_buf_surface(hash(gst_buffer), frame_meta.batch_id),
                                       copy=True)
            l_frame = l_frame.next
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("osd").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    t0 = time.monotonic()
    from estuary.runner import run
    status = run(pipeline, metrics_port=metrics_port, metrics_host=metrics_host)  # Ctrl-C / SIGTERM finish the MP4 through EOS
    dt = time.monotonic() - t0
    n = sum(meter.totals.values())
    from estuary.runner import EXIT_ERROR, EXIT_OK
    if n == 0:
        # nothing to summarise, and no video worth the name was written
        print(f"estuary demo: no frames were decoded from {video or 'the bundled clip'}"
              + (" (the pipeline failed: see the error above)" if status == EXIT_ERROR else ""),
              file=sys.stderr)
        return status if status != EXIT_OK else EXIT_ERROR
    print(f"frames: {n} in {dt:.1f} s ({n / max(dt, 1e-9):.1f} fps)")
    print("objects per class: " + ", ".join(f"{k}={v}" for k, v in per_class.most_common()))
    by_label = Counter(label for label, _ in tracks)
    print("distinct tracks: " + ", ".join(f"{k}={v}" for k, v in by_label.most_common()))
    print("vehicle types (secondary classifier): " +
          (", ".join(f"{k}={v}" for k, v in vehicle_types.most_common()) or "none"))
    if best["img"] is not None:
        import cv2
        png = os.path.splitext(output)[0] + ".png"
        cv2.imwrite(png, cv2.cvtColor(best["img"], cv2.COLOR_RGBA2BGR))
        print(f"snapshot: {png}")
    if status == EXIT_ERROR:
        print(f"estuary demo: the pipeline failed after {n} frames of {video or 'the bundled clip'}; "
              f"{output} is incomplete",
              file=sys.stderr)
    else:
        print(f"annotated video: {output}")
    return status
