"""Detector output parsers on small ONNX graphs built here with known outputs: each layout users
bring (YOLOv5/v8 raw heads, end-to-end rows, EfficientNMS, YOLOX, DeepStream-Yolo names) gives the
right boxes, and each wrong config gives a ConfigError naming the shapes, the key and the fix."""

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from estuary import data
from estuary.errors import ConfigError
from estuary.infer.config import load_infer_config
from estuary.infer.engine import InferEngine
from estuary.infer.layouts import bind_parser
from estuary.infer.parsers import yolox_grid
from estuary.infer.preprocess import NetInput

H = W = 64  # network input = frame size, so network pixels are frame pixels


def const_model(path, outputs: dict, metadata: dict | None = None) -> str:
    """An ONNX model with a (1, 3, H, W) input whose outputs are the given constants."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], keepdims=0),
             helper.make_node("Mul", ["m", "zero"], ["z"])]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for name, arr in outputs.items():
        arr = np.asarray(arr)
        inits.append(numpy_helper.from_array(arr, f"{name}_c"))
        if arr.dtype == np.int32:
            nodes.append(helper.make_node("Cast", ["z"], [f"{name}_z"], to=TensorProto.INT32))
            nodes.append(helper.make_node("Add", [f"{name}_c", f"{name}_z"], [name]))
            et = TensorProto.INT32
        else:
            nodes.append(helper.make_node("Add", [f"{name}_c", "z"], [name]))
            et = TensorProto.FLOAT
        outs.append(helper.make_tensor_value_info(name, et, list(arr.shape)))
    g = helper.make_graph(nodes, "const", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, H, W])],
                          outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    for k, v in (metadata or {}).items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(path))
    return str(path)


def engine(tmp_path, outputs, parser, nc, cluster_mode=4, metadata=None, extra=""):
    model = const_model(tmp_path / "m.onnx", outputs, metadata)
    cfg = tmp_path / "cfg.txt"
    cfg.write_text(f"[property]\nonnx-file={model}\nnet-scale-factor=0.0039215697906911373\n"
                   f"num-detected-classes={nc}\ncluster-mode={cluster_mode}\n"
                   f"parse-bbox-func-name={parser}\n{extra}\n[class-attrs-all]\npre-cluster-threshold=0.25\n"
                   "nms-iou-threshold=0.45\n")
    return InferEngine(str(cfg), backend="onnxruntime")


def detect(eng):
    d = eng.detect([np.zeros((H, W, 4), np.uint8)])[0]
    order = np.argsort(-d.scores)
    return d.boxes[order], d.scores[order], d.class_ids[order]


def config_error(tmp_path, outputs, parser, nc, *needles, **kw):
    with pytest.raises(ConfigError) as e:
        engine(tmp_path, outputs, parser, nc, **kw)
    text = str(e.value)
    for n in needles:
        assert n in text, text
    return text


# -- layouts ---------------------------------------------------------------------------------------

def v8_head(nc=3, n=20, logits=False):
    out = np.zeros((1, 4 + nc, n), np.float32)
    out[0, :4, :] = [[5], [5], [2], [2]]
    out[0, :4, 3] = [20, 30, 10, 20]  # cx cy w h → 15, 20, 25, 40
    out[0, 4 + 2, 3] = 0.9
    out[0, :4, 7] = [50, 50, 8, 8]
    out[0, 4 + 0, 7] = 0.6
    if logits:
        out[0, 4:] = out[0, 4:] * 10 - 5
    return out


def test_yolov8_raw_head(tmp_path):
    boxes, scores, cls = detect(engine(tmp_path, {"output0": v8_head()}, "yolov8", 3, cluster_mode=2))
    assert cls.tolist() == [2, 0]
    assert np.allclose(boxes[0], [15, 20, 25, 40]) and np.allclose(boxes[1], [46, 46, 54, 54])
    assert np.allclose(scores, [0.9, 0.6])


def test_yolov8_wrong_class_count_names_shapes_key_and_fix(tmp_path):
    # the common copy-paste: an 80-class export with num-detected-classes=4
    text = config_error(tmp_path, {"output0": v8_head(nc=80, n=200)}, "yolov8", 4,
                        "output0 (1, 84, 200)", "[property/num-detected-classes]",
                        "84 attributes = 4 box", "80 classes", "num-detected-classes=80")
    assert "cfg.txt" in text


def test_yolov8_logits_are_an_error_not_boxes(tmp_path):
    config_error(tmp_path, {"output0": v8_head(logits=True)}, "yolov8", 3, "probabilities in 0..1", "-5..4")


def test_yolo11_alias_and_channel_last_export(tmp_path):
    out = np.ascontiguousarray(v8_head().transpose(0, 2, 1))  # (1, N, 4 + nc)
    boxes, _, cls = detect(engine(tmp_path, {"output0": out}, "yolo11", 3, cluster_mode=2))
    assert cls.tolist() == [2, 0] and np.allclose(boxes[0], [15, 20, 25, 40])


def v5_head(nc=3, n=12):
    out = np.zeros((1, n, 5 + nc), np.float32)
    out[0, :, :4] = [5, 5, 2, 2]
    out[0, 2, :5] = [32, 32, 16, 8, 0.9]
    out[0, 2, 5 + 1] = 0.8
    return out


def test_yolov5_raw_head(tmp_path):
    boxes, scores, cls = detect(engine(tmp_path, {"output0": v5_head()}, "yolov5", 3, cluster_mode=2))
    assert cls.tolist() == [1] and np.allclose(boxes[0], [24, 28, 40, 36]) and np.allclose(scores, [0.72])


def test_yolov5_wrong_class_count_and_wrong_parser(tmp_path):
    config_error(tmp_path, {"output0": v5_head(nc=80)}, "yolov5", 4, "(1, 12, 85)", "80 classes",
                 "num-detected-classes=80")
    # a YOLOv8 head read as YOLOv5: the hint names the parser that fits
    config_error(tmp_path, {"output0": v8_head(nc=80, n=200)}, "yolo", 80, "(1, 84, 200)",
                 "parse-bbox-func-name=yolov8")


def e2e_rows(n=300, cls=(2.0, 0.0)):
    out = np.zeros((1, n, 6), np.float32)  # zero-padded like Ultralytics nms=True
    out[0, 0] = [10, 12, 30, 40, 0.91, cls[0]]
    out[0, 1] = [40, 5, 60, 25, 0.55, cls[1]]
    return out


@pytest.mark.parametrize("parser", ["end2end", "yolov10", "yolo26", "NvDsInferParseYolo",
                                    "NvDsInferParseYoloCuda"])
def test_end_to_end_rows(tmp_path, parser):
    boxes, scores, cls = detect(engine(tmp_path, {"output0": e2e_rows()}, parser, 3))
    assert cls.tolist() == [2, 0] and np.allclose(scores, [0.91, 0.55])
    assert np.allclose(boxes, [[10, 12, 30, 40], [40, 5, 60, 25]])


def test_end_to_end_through_the_yolov8_parser_is_refused_with_the_fix(tmp_path):
    # the issue's ~9,800 "bicycle" boxes: now a load-time error pointing at end2end
    config_error(tmp_path, {"output0": e2e_rows()}, "yolov8", 80, "(1, 300, 6)",
                 "parse-bbox-func-name=end2end", "cluster-mode=4")


def test_end_to_end_class_id_beyond_class_count(tmp_path):
    config_error(tmp_path, {"output0": e2e_rows(cls=(56.0, 0.0))}, "end2end", 4, "class id 56",
                 "num-detected-classes=4", "[property/num-detected-classes]")


def test_ultralytics_metadata_names_cross_check(tmp_path):
    names = repr({i: f"c{i}" for i in range(80)})
    config_error(tmp_path, {"output0": e2e_rows()}, "end2end", 4, "metadata lists 80 class names",
                 "num-detected-classes=80", metadata={"names": names, "task": "detect"})


def test_yolov7_onnxruntime_nms_rows(tmp_path):
    rows = np.array([[0, 10, 12, 30, 40, 1, 0.8], [0, 40, 5, 60, 25, 2, 0.3]], np.float32)
    boxes, scores, cls = detect(engine(tmp_path, {"output": rows}, "yolov7-ort", 3))
    assert cls.tolist() == [1, 2] and np.allclose(scores, [0.8, 0.3]) and np.allclose(boxes[0], [10, 12, 30, 40])
    # score and class swapped (an Ultralytics-ordered 7th column) is caught
    bad = rows[:, [0, 1, 2, 3, 4, 6, 5]]
    config_error(tmp_path, {"output": bad}, "yolov7-ort", 3, "scores (column 6)", "gives 1..2")


def nms_outputs(count=2, cls=(1, 0), names=("num_dets", "det_boxes", "det_scores", "det_classes")):
    k = 10
    boxes = np.zeros((1, k, 4), np.float32)
    boxes[0, :2] = [[10, 12, 30, 40], [40, 5, 60, 25]]
    scores = np.zeros((1, k), np.float32)
    scores[0, :2] = [0.9, 0.5]
    classes = np.zeros((1, k), np.int32)
    classes[0, :2] = cls
    return dict(zip(names, [np.array([[count]], np.int32), boxes, scores, classes]))


@pytest.mark.parametrize("parser", ["efficientnms", "NvDsInferParseCustomEfficientNMS", "NvDsInferYoloNMS"])
def test_efficient_nms_outputs(tmp_path, parser):
    boxes, scores, cls = detect(engine(tmp_path, nms_outputs(), parser, 3))
    assert cls.tolist() == [1, 0] and np.allclose(scores, [0.9, 0.5])
    assert np.allclose(boxes, [[10, 12, 30, 40], [40, 5, 60, 25]])


def test_efficient_nms_by_shape_when_names_are_generic(tmp_path):
    outs = nms_outputs(names=("a", "b", "c", "d"))
    boxes, _, cls = detect(engine(tmp_path, outs, "efficientnms", 3))
    assert cls.tolist() == [1, 0] and np.allclose(boxes[0], [10, 12, 30, 40])


def test_efficient_nms_bad_count_and_class(tmp_path):
    config_error(tmp_path, nms_outputs(count=11), "efficientnms", 3, "detection count 11 is outside 0..10")
    config_error(tmp_path, nms_outputs(cls=(7, 0)), "efficientnms", 3, "class id 7", "num-detected-classes=3")
    config_error(tmp_path, {"output0": e2e_rows()}, "efficientnms", 3, "four outputs", "(1, 300, 6)")


def yolox_out(decoded=False, nc=2):
    xy, st = yolox_grid(W, H)
    out = np.zeros((1, len(xy), 5 + nc), np.float32)
    if decoded:
        out[0, :, :2] = (xy + 0.5) * st
        out[0, :, 2:4] = st
    i = int(np.flatnonzero((xy[:, 0] == 3) & (xy[:, 1] == 2) & (st[:, 0] == 8))[0])
    if decoded:
        out[0, i, :4] = [28, 20, 16, 8]
    else:
        out[0, i, :4] = [0.5, 0.5, math.log(2), 0.0]  # cx = 3.5·8, cy = 2.5·8, w = 2·8, h = 8
    out[0, i, 4:] = [0.9, 0.1, 0.8]
    return out


@pytest.mark.parametrize("decoded", [False, True])
def test_yolox_raw_and_decoded_exports(tmp_path, decoded):
    boxes, scores, cls = detect(engine(tmp_path, {"output": yolox_out(decoded)}, "yolox", 2, cluster_mode=2))
    assert cls.tolist() == [1] and np.allclose(scores, [0.72])
    assert np.allclose(boxes[0], [20, 16, 36, 24], atol=1e-4)


def test_yolox_wrong_candidate_count_and_classes(tmp_path):
    config_error(tmp_path, {"output": v5_head(n=3 * 84)}, "yolox", 3, "has 84 candidates", "gives 252",
                 "parse-bbox-func-name=yolov5")
    config_error(tmp_path, {"output": yolox_out()}, "yolox", 80, "7 columns", "num-detected-classes=2")


@pytest.mark.parametrize("parser,xyxy", [("NvDsInferParseYolo", False), ("NvDsInferParseYoloE", True)])
def test_deepstream_yolo_three_output_era(tmp_path, parser, xyxy):
    boxes = np.zeros((1, 50, 4), np.float32)
    boxes[0, 0] = [10, 12, 30, 40] if xyxy else [20, 26, 20, 28]
    scores = np.zeros((1, 50, 1), np.float32)
    scores[0, 0] = 0.8
    classes = np.zeros((1, 50, 1), np.float32)
    classes[0, 0] = 2
    b, s, c = detect(engine(tmp_path, {"boxes": boxes, "scores": scores, "classes": classes}, parser, 3))
    assert c.tolist() == [2] and np.allclose(b[0], [10, 12, 30, 40]) and np.allclose(s, [0.8])


def test_detectnet_class_count(tmp_path):
    cov = np.zeros((1, 3, 4, 4), np.float32)
    bbox = np.zeros((1, 12, 4, 4), np.float32)
    config_error(tmp_path, {"output_cov/Sigmoid": cov, "output_bbox/BiasAdd": bbox}, "NvDsInferParseCustomResnet",
                 4, "coverage has 3 planes", "num-detected-classes=3")


def test_unknown_deepstream_function_name_has_a_hint(tmp_path):
    config_error(tmp_path, {"output0": e2e_rows()}, "NvDsInferParseCustomSomething", 3,
                 "unknown parser", "NvDsInferParseYolo", "docs/byo-yolo.md")


def test_value_checks_also_run_on_the_first_stream_frames():
    """A model that is fine on the load-time grey frame but gives logits later is still caught."""
    cfg = load_infer_config(text="[property]\nnum-detected-classes=3\n", require_model=False)
    bound = bind_parser("yolov8", {"o": v8_head()}, 3, NetInput(width=W, height=H), cfg)
    assert len(bound({"o": v8_head()[0]}, None, 3, 0.25)) == 20
    with pytest.raises(ConfigError, match="probabilities in 0..1"):
        bound({"o": v8_head(logits=True)[0]}, None, 3, 0.25)


def test_bundled_yolov3_tiny_with_a_wrong_class_count(tmp_path):
    src = data.model_path(data.PRIMARY_CONFIG)
    text = open(src).read().replace("num-detected-classes=80", "num-detected-classes=4")
    text = text.replace("onnx-file=yolov3-tiny.onnx", f"onnx-file={data.model_path('yolov3-tiny.onnx')}")
    text = text.replace("labelfile-path=coco_labels.txt", "")
    cfg = tmp_path / "pgie.txt"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as e:
        InferEngine(str(cfg), backend="onnxruntime")
    assert "detections (1, 2535, 85)" in str(e.value) and "num-detected-classes=80" in str(e.value)


def test_byo_yolo_recipe(tmp_path):
    """The config block of docs/byo-yolo.md, with an ONNX graph of the YOLO11 raw layout."""
    import os
    import re
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "byo-yolo.md")).read()
    text = re.search(r"```ini\n(.*?)```", doc, re.S).group(1)
    head = v8_head(nc=80, n=8400)
    const_model(tmp_path / "yolo11n.onnx", {"output0": head}, {"names": repr({i: f"c{i}" for i in range(80)})})
    (tmp_path / "labels.txt").write_text("".join(f"c{i}\n" for i in range(80)))
    (tmp_path / "config.txt").write_text(text)
    eng = InferEngine(str(tmp_path / "config.txt"), backend="onnxruntime")
    d = eng.detect([np.zeros((H, W, 4), np.uint8)])[0]
    assert sorted(d.class_ids.tolist()) == [0, 2] and eng.label(2) == "c2"
    assert np.allclose(d.boxes[d.class_ids == 2][0], [15, 20, 25, 40])
    (tmp_path / "config.txt").write_text(text.replace("num-detected-classes=80", "num-detected-classes=4"))
    with pytest.raises(ConfigError, match=r"num-detected-classes=80"):
        InferEngine(str(tmp_path / "config.txt"), backend="onnxruntime")


def seg_outputs(nc=3, n=20, k=4):
    """A YOLOv8-seg head: one object (class 1, box 16..48) whose mask is the left half of its box."""
    out = np.zeros((1, 4 + nc + k, n), np.float32)
    out[0, :4, :] = [[5], [5], [2], [2]]
    out[0, :4, 3] = [32, 32, 32, 32]
    out[0, 4 + 1, 3] = 0.9
    out[0, 4 + nc, 3] = 1.0  # coefficient of prototype 0
    protos = np.zeros((1, k, H // 4, W // 4), np.float32)
    protos[0, 0, :, : W // 8] = 10.0   # left half of the image: inside
    protos[0, 0, :, W // 8:] = -10.0  # right half: outside
    return {"output0": out, "output1": protos}


def test_yolov8_seg_instance_masks(tmp_path):
    eng = engine(tmp_path, seg_outputs(), "yolov8", 3, cluster_mode=2,
                 extra="network-type=3\noutput-instance-mask=1\nsegmentation-threshold=0.5")
    d = eng.detect([np.zeros((H, W, 4), np.uint8)])[0]
    assert d.class_ids.tolist() == [1] and np.allclose(d.boxes[0], [16, 16, 48, 48])
    m = d.masks[0]
    assert m.shape == (8, 8)  # the box at the prototypes' 1/4 resolution
    assert (m[:, :4] > 0.99).all() and (m[:, 4:] < 0.01).all()


def test_yolov8_seg_masks_reach_mask_params(tmp_path):
    import pyds
    from estuary.gst import Gst
    from conftest import run_pipeline
    model = const_model(tmp_path / "seg.onnx", seg_outputs())
    cfg = tmp_path / "seg.txt"
    cfg.write_text(f"[property]\nonnx-file={model}\nnet-scale-factor=0.0039215697906911373\n"
                   "num-detected-classes=3\ncluster-mode=2\nparse-bbox-func-name=yolov8\nnetwork-type=3\n"
                   "output-instance-mask=1\nsegmentation-threshold=0.5\n[class-attrs-all]\n"
                   "pre-cluster-threshold=0.25\n")
    p = Gst.parse_launch(f"videotestsrc num-buffers=2 pattern=black ! video/x-raw,width={W},height={H} ! "
                         f"m.sink_0 nvstreammux name=m batch-size=1 width={W} height={H} ! "
                         f"nvinfer config-file-path={cfg} ! nvdsosd name=osd ! fakesink name=sink")
    got = []

    def probe(pad, info):
        batch = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in batch.frames:
            for o in f.objects:
                mp = o.mask_params
                got.append((mp.width, mp.height, mp.threshold, np.array(mp.get_mask_array())))
            got.append(pyds.get_nvds_buf_surface(hash(info.get_buffer()), f.batch_id).copy())
        return Gst.PadProbeReturn.OK

    p.get_by_name("osd").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    (w, h, thr, data), img = got[0], got[1]
    assert (w, h) == (8, 8) and abs(thr - 0.5) < 1e-6
    mask = data.reshape(8, 8)
    assert (mask[:, :4] > 0.99).all() and (mask[:, 4:] < 0.01).all()
    # nvdsosd blends the mask into the left half of the box only
    inner = img[20:44, :, :3].astype(int).sum(-1)
    assert inner[:, 20:30].min() > 0 and inner[:, 36:44].max() == 0


def test_yolov5_seg_instance_masks(tmp_path):
    v8 = seg_outputs()
    head = v8["output0"][0].T  # (N, 4 + nc + k) → YOLOv5 rows: insert objectness after the box
    rows = np.concatenate([head[:, :4], np.zeros((len(head), 1), np.float32), head[:, 4:]], 1)
    rows[3, 4] = 1.0
    eng = engine(tmp_path, {"output0": rows[None], "output1": v8["output1"]}, "yolov5", 3, cluster_mode=2,
                 extra="output-instance-mask=1")
    d = eng.detect([np.zeros((H, W, 4), np.uint8)])[0]
    assert d.class_ids.tolist() == [1] and np.allclose(d.scores, [0.9])
    assert (d.masks[0][:, :4] > 0.99).all() and (d.masks[0][:, 4:] < 0.01).all()
