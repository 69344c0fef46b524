"""Detections on JPEG and PNG photos decoded by GStreamer (jpegdec gives full-range I420, pngdec
RGB) equal those of a reference implementation of the same model, OpenCV DNN's Darknet loader on
the same files: precision and recall >= 0.97 at IoU 0.5. Before the colour conversion honoured
the caps' colorimetry, full-range JPEG frames lost detections."""

import cv2
import numpy as np
import pytest

import pyds
from estuary import data
from estuary.gst import Gst

from conftest import run_pipeline
from test_infer import bikes_frames, darknet_reference


def photos(tmp_path):
    out = [data.media_path("bus.jpg")]
    idx = [20, 60, 100, 120, 140, 150, 180, 220]
    for i, frame in zip(idx, bikes_frames(idx)):
        p = tmp_path / f"bikes{i}.jpg"
        cv2.imwrite(str(p), frame, [cv2.IMWRITE_JPEG_QUALITY, 95])
        out.append(str(p))
    return out


THR = 0.25  # lower than the bundled config's 0.4: more boxes to compare


def config(tmp_path) -> str:
    """The bundled YOLOv3-tiny config with pre-cluster-threshold=THR."""
    text = open(data.model_path(data.PRIMARY_CONFIG)).read()
    text = text.replace("onnx-file=yolov3-tiny.onnx", f"onnx-file={data.model_path('yolov3-tiny.onnx')}")
    text = text.replace("labelfile-path=coco_labels.txt", f"labelfile-path={data.model_path('coco_labels.txt')}")
    text = text.replace("pre-cluster-threshold=0.4", f"pre-cluster-threshold={THR}")
    assert f"pre-cluster-threshold={THR}" in text
    (tmp_path / "pgie.txt").write_text(text)
    return str(tmp_path / "pgie.txt")


def pipeline_detections(path: str, cfg: str):
    h, w = cv2.imread(path).shape[:2]
    # islow: the IDCT OpenCV's libjpeg uses (jpegdec defaults to ifast), so only the conversion differs
    dec = "jpegdec idct-method=islow" if path.endswith(".jpg") else "pngdec"
    p = Gst.parse_launch(
        f'filesrc location="{path}" ! {dec} ! m.sink_0 nvstreammux name=m batch-size=1 width={w} height={h} ! '
        f'nvinfer config-file-path="{cfg}" ! fakesink name=sink')
    dets = []

    def probe(pad, info):
        batch = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in batch.frames:
            for o in f.objects:
                r = o.rect_params
                dets.append((o.class_id, o.confidence, np.array([r.left, r.top, r.left + r.width,
                                                                  r.top + r.height])))
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    return dets


def _iou(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def matched(ours, ref):
    used, n = set(), 0
    for cid, _, box in ours:
        best = max(((j, _iou(box, rb)) for j, (rc, _, rb) in enumerate(ref) if rc == cid and j not in used),
                   key=lambda t: t[1], default=(None, 0.0))
        if best[1] >= 0.5:
            used.add(best[0])
            n += 1
    return n


@pytest.mark.parametrize("kind", ["jpg", "png"])
def test_photo_detections_match_the_reference(tmp_path, kind):
    paths = photos(tmp_path)
    if kind == "png":
        pngs = []
        for p in paths:
            q = tmp_path / (p.rsplit("/", 1)[-1].rsplit(".", 1)[0] + ".png")
            cv2.imwrite(str(q), cv2.imread(p))
            pngs.append(str(q))
        paths = pngs
    cfg = config(tmp_path)
    # a box whose score lies within ±0.02 of the threshold may fall on either side in two
    # implementations (float rounding, the JPEG decoders' last bits): it is no error either way
    tp_p = tp_r = n_ours = n_ref = 0
    for p in paths:
        bgr = cv2.imread(p)
        ref_low, ref_high = darknet_reference(bgr, thr=THR - 0.02), darknet_reference(bgr, thr=THR + 0.02)
        ours = pipeline_detections(p, cfg)
        tp_p += matched(ours, ref_low)
        tp_r += matched(ref_high, ours)
        n_ours, n_ref = n_ours + len(ours), n_ref + len(ref_high)
    precision, recall = tp_p / max(n_ours, 1), tp_r / max(n_ref, 1)
    print(f"{kind}: {n_ref} reference boxes, {n_ours} ours, precision {precision:.3f} recall {recall:.3f}")
    assert n_ref >= 10
    assert precision >= 0.97 and recall >= 0.97
