"""Detector throughput: the bundled YOLOv3-tiny inside the pipeline (decode → esmux → nvinfer →
fakesink) against the same ONNX model called in a plain Python loop (OpenCV decode → blob →
ONNX Runtime → numpy decode + OpenCV NMS) on the same frames, in the same run.

    .venv/bin/python bench/infer_bench.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import onnxruntime as ort

import pyds  # noqa: F401
from estuary import data
from estuary.gst import Gst


def plain_loop(video: str, model: str) -> tuple[int, float, int]:
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    cap = cv2.VideoCapture(video)
    n = objs = 0
    t0 = time.perf_counter()
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        H, W = bgr.shape[:2]
        blob = cv2.dnn.blobFromImage(bgr, 1 / 255.0, (416, 416), swapRB=True, crop=False)
        out = sess.run(None, {"images": blob})[0][0]
        sc = out[:, 5:] * out[:, 4:5]
        cls, best = sc.argmax(1), sc.max(1)
        keep = best >= 0.4
        b = out[keep, :4]
        boxes = np.stack([(b[:, 0] - b[:, 2] / 2) * W / 416, (b[:, 1] - b[:, 3] / 2) * H / 416,
                          b[:, 2] * W / 416, b[:, 3] * H / 416], 1).tolist()
        idx = cv2.dnn.NMSBoxesBatched(boxes, best[keep].tolist(), cls[keep].tolist(), 0.4, 0.45)
        objs += len(idx)
        n += 1
    return n, time.perf_counter() - t0, objs


def pipeline(video: str, config: str) -> tuple[int, float, int]:
    p = Gst.parse_launch(
        f"filesrc location={video} ! qtdemux ! h264parse ! nvv4l2decoder ! queue ! m.sink_0 "
        f"nvstreammux name=m batch-size=1 width=640 height=272 ! nvinfer config-file-path={config} ! "
        "fakesink name=sink")
    counts = [0, 0]

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            counts[0] += 1
            counts[1] += f.num_obj_meta
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    p.set_state(Gst.State.PAUSED)
    p.get_state(Gst.CLOCK_TIME_NONE)
    t0 = time.perf_counter()
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    dt = time.perf_counter() - t0
    p.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        raise RuntimeError(msg.parse_error()[0].message)
    return counts[0], dt, counts[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    video = data.media_path("bikes.mp4")
    model = data.model_path("yolov3-tiny.onnx")
    config = data.model_path(data.PRIMARY_CONFIG)
    print(f"{'run':<28} {'frames':>6} {'seconds':>8} {'fps':>7} {'objects':>8}")
    best = {}
    for r in range(args.repeat):
        for name, fn, arg in (("plain Python loop", plain_loop, model), ("Estuary pipeline", pipeline, config)):
            n, dt, objs = fn(video, arg)
            best[name] = max(best.get(name, 0), n / dt)
            print(f"{name + f' #{r + 1}':<28} {n:>6} {dt:>8.2f} {n / dt:>7.1f} {objs:>8}", flush=True)
    ratio = best["Estuary pipeline"] / best["plain Python loop"]
    print(f"best fps: loop {best['plain Python loop']:.1f}, pipeline {best['Estuary pipeline']:.1f} "
          f"(pipeline/loop = {ratio:.2f})")


if __name__ == "__main__":
    main()
