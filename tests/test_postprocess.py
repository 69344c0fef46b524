"""nvdspostprocess: DeepStream's postprocess YAML config, parsing nvinfer's tensor meta without
GStreamer, and in pipelines (nvinfer network-type=100 output-tensor-meta=1 ! nvdspostprocess gives
what nvinfer gives parsing itself), also from gst-launch-1.0."""

import os
import re
import subprocess

import numpy as np
import pytest

import pyds
from conftest import run_pipeline
from estuary import data
from estuary.errors import ConfigError
from estuary.gst import Gst
from estuary.infer.layouts import family_of
from estuary.infer.postprocess import Postprocessor, load_postprocess_config
from estuary.infer.preprocess import NetInput
from estuary.infer.writer import write_tensor_meta
from estuary.meta.core import NvDsBatchMeta

MODELS = os.path.dirname(data.model_path(data.PRIMARY_CONFIG))

DETECTOR_YAML = """\
# a DeepStream config_detector.yml for the bundled YOLOv3-tiny
property:
  gpu-id: 0
  process-mode: 1
  gie-unique-id: 1
  network-type: 0
  num-detected-classes: 80
  labelfile-path: {models}/coco_labels.txt
  parse-bbox-func-name: yolo
  ## 1=DBSCAN, 2=NMS, 3=DBSCAN+NMS, 4=none
  cluster-mode: 2
  maintain-aspect-ratio: {keep}
  symmetric-padding: {keep}
class-attrs-all:
  pre-cluster-threshold: {thr}
  nms-iou-threshold: 0.45
  topk: 100
class-attrs-2:
  pre-cluster-threshold: 0.3
"""

CLASSIFIER_YAML = """\
property:
  gpu-id: 0
  process-mode: 2
  gie-unique-id: 2
  network-type: 1
  labelfile-path: {models}/vehicletypes_labels.txt
  classifier-threshold: 0.25
  classifier-type: vehicletype
"""


def write(tmp_path, text, name="pp.yml"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def detector_yaml(tmp_path, thr=0.4, keep=0):
    return write(tmp_path, DETECTOR_YAML.format(models=MODELS, thr=thr, keep=keep))


# -- the YAML config -------------------------------------------------------------------------------

def test_detector_config_reads_deepstream_keys(tmp_path):
    cfg = load_postprocess_config(detector_yaml(tmp_path, thr=0.35))
    assert (cfg.gie_unique_id, cfg.process_mode, cfg.num_detected_classes, cfg.cluster_mode) == (1, 1, 80, 2)
    assert cfg.labels[:3] == ["person", "bicycle", "car"] and len(cfg.labels) == 80
    assert cfg.attrs_for(0).pre_cluster_threshold == 0.35 and cfg.attrs_for(0).topk == 100
    # a class group starts from class-attrs-all and overrides what it names
    assert cfg.attrs_for(2).pre_cluster_threshold == 0.3 and cfg.attrs_for(2).nms_iou_threshold == 0.45


def test_lists_booleans_and_deepstream_parser_names(tmp_path):
    path = write(tmp_path, "property:\n  num-detected-classes: 4\n  output-blob-names: [output_cov/Sigmoid, "
                           "output_bbox/BiasAdd]\n  parse-bbox-func-name: NvDsPostProcessParseCustomResnet\n"
                           "  operate-on-class-ids: [0, 2]\n  maintain-aspect-ratio: true\n")
    cfg = load_postprocess_config(path)
    assert cfg.output_blob_names == ["output_cov/Sigmoid", "output_bbox/BiasAdd"]
    assert cfg.operate_on_class_ids == [0, 2] and cfg.maintain_aspect_ratio is True
    assert family_of(Postprocessor(cfg)._name) == "detectnet"


@pytest.mark.parametrize("text,match,line", [
    (None, "postprocess config file not found", None),
    ("property:\n  gie-unique-id: [1\n", "not valid YAML", None),
    ("- a\n- b\n", "YAML map of groups", 1),
    ("class-attrs-all:\n  pre-cluster-threshold: 0.2\n", "no property group", None),
    ("property: 3\n", "must be a map", 1),
    ("property:\n  num-detected-classes: 3\n  cluster-mod: 2\n", r"unknown key 'cluster-mod'.*did you mean 'cluster-mode'", 3),
    ("property:\n  num-detected-classes: three\n", "invalid value 'three'", 2),
    ("property:\n  num-detected-classes: 3\n  parse-bbox-func-name: NvDsParseMyNet\n",
     r"\[property/parse-bbox-func-name\] unknown parser 'NvDsParseMyNet'", 3),
    ("property:\n  network-type: 100\n", "network-type=100 cannot be post-processed.*hint: network-type=100 belongs in nvinfer", 2),
    ("property:\n  network-type: 0\n", "detectors need num-detected-classes", None),
    ("property:\n  network-type: 0\n  num-detected-classes: 0\n", "num-detected-classes must be >= 1", 3),
    ("property:\n  process-mode: 2\n  num-detected-classes: 2\n", "process-mode=2 .* classifiers", 2),
    ("property:\n  network-type: 1\n  labelfile-path: nowhere.txt\n", "label file not found", 3),
    ("property:\n  network-type: 1\n  parse-classifier-func-name: NvDsParseCustomClassifier\n",
     "a C function cannot be loaded", 3),
    ("property:\n  num-detected-classes: 2\nclass-attrs-x:\n  eps: 0.2\n", r"bad group name \[class-attrs-x\]", None),
    ("property:\n  num-detected-classes: 2\nclass-attrs-all:\n  pre-cluster-treshold: 0.2\n",
     "did you mean 'pre-cluster-threshold'", 4),
])
def test_bad_configs_are_clear_errors(tmp_path, text, match, line):
    path = str(tmp_path / "missing.yml") if text is None else write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as exc:
        load_postprocess_config(path)
    assert isinstance(exc.value, ValueError) and exc.value.path == path
    if line is not None:
        assert exc.value.line == line


def test_nvinfer_only_keys_are_accepted_with_a_warning(tmp_path, caplog):
    path = write(tmp_path, "property:\n  num-detected-classes: 2\n  net-scale-factor: 0.5\n  onnx-file: x.onnx\n")
    cfg = load_postprocess_config(path)
    assert cfg.num_detected_classes == 2
    assert "net-scale-factor, onnx-file ignored by nvdspostprocess" in caplog.text


# -- parsing tensors without GStreamer ---------------------------------------------------------------

def _yolo_rows(boxes_cxcywh, cls, nc, score=0.9):
    rows = np.zeros((len(boxes_cxcywh), 5 + nc), np.float32)
    rows[:, :4] = boxes_cxcywh
    rows[:, 4] = 1.0
    rows[np.arange(len(cls)), 5 + np.asarray(cls)] = score
    return rows


def test_wrong_num_detected_classes_against_the_output_shape(tmp_path):
    path = write(tmp_path, "property:\n  num-detected-classes: 20\n  parse-bbox-func-name: yolo\n")
    post = Postprocessor(load_postprocess_config(path))
    outputs = {"detections": _yolo_rows([[50, 50, 20, 20]], [3], nc=80)}
    with pytest.raises(ConfigError, match=r"85 columns = 4 box \+ 1 objectness \+ 80 classes, but "
                                          r"num-detected-classes=20.*hint: if the model has 80 classes") as exc:
        post.detections(outputs, NetInput(416, 416), (640, 480))
    assert exc.value.key == "property/num-detected-classes" and exc.value.line == 2


S = 416 / 640  # a 640x208 frame in a 416x416 network, letterboxed: 416x135


@pytest.mark.parametrize("keep,symmetric,pad_top,want", [
    (0, 0, 0, [40 / S, 20 / 2, 80 / S, 60 / 2]),          # stretched: x / 0.65, y / 2
    (1, 0, 0, [40 / S, 20 / S, 80 / S, 60 / S]),          # letterboxed into the top-left corner
    (1, 1, 140, [40 / S, 20 / S, 80 / S, 60 / S]),        # centred: (416 - 135) // 2 rows above
])
def test_boxes_map_back_to_frame_pixels(tmp_path, keep, symmetric, pad_top, want):
    path = write(tmp_path, f"property:\n  num-detected-classes: 3\n  parse-bbox-func-name: yolo\n  cluster-mode: 4\n"
                           f"  maintain-aspect-ratio: {keep}\n  symmetric-padding: {symmetric}\n")
    post = Postprocessor(load_postprocess_config(path))
    rows = _yolo_rows([[60, 40 + pad_top, 40, 40]], [1], nc=3)  # x 40..80, y 20..60 of the image
    det = post.detections({"out": rows}, NetInput(416, 416), (640, 208))
    assert det.class_ids.tolist() == [1]
    assert det.boxes[0] == pytest.approx(want, abs=0.01)


def test_output_blob_names_select_layers(tmp_path):
    path = write(tmp_path, "property:\n  num-detected-classes: 3\n  parse-bbox-func-name: yolo\n"
                           "  output-blob-names: yolo_out\n")
    post = Postprocessor(load_postprocess_config(path))
    rows = _yolo_rows([[60, 40, 40, 40]], [2], nc=3)
    det = post.detections({"aux": np.zeros((7, 2), np.float32), "yolo_out": rows}, NetInput(416, 416), (416, 416))
    assert det.class_ids.tolist() == [2]
    with pytest.raises(ConfigError, match="output-blob-names names yolo_out, the tensor meta has aux"):
        post.detections({"aux": rows}, NetInput(416, 416), (416, 416))


def _frame_batch(width=416, height=416):
    b = NvDsBatchMeta(1)
    f = b.acquire_frame()
    f.pipeline_width, f.pipeline_height = width, height
    b.add_frame(f)
    return b, f


def test_process_batch_writes_objects_from_frame_tensor_meta(tmp_path):
    post = Postprocessor(load_postprocess_config(detector_yaml(tmp_path)))
    b, f = _frame_batch()
    rows = _yolo_rows([[60, 40, 40, 40], [300, 300, 50, 80]], [2, 0], nc=80)
    write_tensor_meta(b, {"detections": rows}, f.add_user_meta, unique_id=1, network=(416, 416, 3))
    write_tensor_meta(b, {"detections": rows}, f.add_user_meta, unique_id=9, network=(416, 416, 3))  # another gie
    assert post.process_batch(b, lambda fr: (416, 416)) == 1
    assert sorted((o.obj_label, o.unique_component_id) for o in f.objects) == [("car", 1), ("person", 1)]
    car = next(o for o in f.objects if o.class_id == 2)
    r = car.rect_params
    assert (r.left, r.top, r.width, r.height) == pytest.approx((40, 20, 40, 40))
    assert pyds.get_string(car.text_params.display_text) == "car" and r.border_width == 3


def test_process_batch_classifies_objects(tmp_path):
    post = Postprocessor(load_postprocess_config(write(tmp_path, CLASSIFIER_YAML.format(models=MODELS))))
    b, f = _frame_batch()
    cars = []
    for logit_at in (3, 7):
        o = b.acquire_object()
        o.obj_label, o.class_id, o.unique_component_id = "car", 2, 1
        logits = np.zeros(len(post.labels), np.float32)
        logits[logit_at] = 12.0
        write_tensor_meta(b, {"logits": logits}, o.user_meta.append, unique_id=2, network=(224, 224, 3))
        f.add_object(o)
        cars.append(o)
    plain = b.acquire_object()  # no tensor meta: left alone
    f.add_object(plain)
    assert post.process_batch(b, lambda fr: (416, 416)) == 2
    for o, k in zip(cars, (3, 7)):
        (cm,) = o.classifiers
        li = cm.labels[0]
        assert cm.unique_component_id == 2 and cm.classifier_type == "vehicletype"
        assert li.result_class_id == k and li.result_label == post.labels[k] and li.result_prob > 0.99
        assert pyds.get_string(o.text_params.display_text) == f"car {post.labels[k]}"
    assert plain.classifiers == []


# -- pipelines -----------------------------------------------------------------------------------------

def _nvinfer_config(tmp_path, name, network_type, keep):
    """A copy of a bundled nvinfer config with absolute paths, the given network-type and
    letterboxing."""
    src = data.model_path(name)
    lines = []
    for ln in open(src).read().splitlines():
        key = ln.split("=", 1)[0]
        if key in ("onnx-file", "labelfile-path"):
            ln = f"{key}={os.path.join(MODELS, ln.split('=', 1)[1])}"
        elif key == "network-type":
            ln = f"network-type={network_type}"
        elif key == "pre-cluster-threshold":
            ln = "pre-cluster-threshold=0.25"
        lines.append(ln)
    text = "\n".join(lines).replace("[property]", f"[property]\nmaintain-aspect-ratio={keep}\n"
                                                  f"symmetric-padding={keep}", 1)
    if "[class-attrs-all]" in text:  # the same per-class threshold as DETECTOR_YAML
        text += "\n[class-attrs-2]\npre-cluster-threshold=0.3"
    return write(tmp_path, text + "\n", f"{network_type}-{os.path.basename(src)}")


def _objects_per_frame(desc, frames):
    src = f"filesrc location={data.media_path('bikes.mp4')} ! qtdemux ! h264parse ! nvv4l2decoder"
    p = Gst.parse_launch(f"{src} ! identity eos-after={frames} ! m.sink_0 nvstreammux name=m batch-size=1 "
                         f"width=640 height=272 ! {desc} ! fakesink name=sink")
    seen = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            objs = []
            for o in f.objects:
                r = o.rect_params
                labels = [(cm.unique_component_id, li.result_label, round(li.result_prob, 4))
                          for cm in o.classifiers for li in cm.labels]
                objs.append((o.unique_component_id, o.class_id, o.obj_label, round(o.confidence, 4),
                             round(r.left, 2), round(r.top, 2), round(r.width, 2), round(r.height, 2),
                             pyds.get_string(o.text_params.display_text), labels))
            seen.append((f.frame_num, sorted(objs)))
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    msg = run_pipeline(p, timeout=300)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    return seen


def test_nvinfer_tensor_meta_then_postprocess_gives_nvinfer_own_results(tmp_path):
    frames = 60
    pgie, sgie = data.PRIMARY_CONFIG, data.SECONDARY_CONFIG
    # nvinfer parsing itself: detector, then the vehicle-type classifier on its cars
    alone = _objects_per_frame(
        f"nvinfer config-file-path={_nvinfer_config(tmp_path, pgie, 0, 1)} ! "
        f"nvinfer config-file-path={_nvinfer_config(tmp_path, sgie, 1, 0)}", frames)
    # DeepStream's split: each nvinfer only attaches its tensors, nvdspostprocess parses them
    det_yaml = detector_yaml(tmp_path, thr=0.25, keep=1)
    cls_yaml = write(tmp_path, CLASSIFIER_YAML.format(models=MODELS), "cls.yml")
    split = _objects_per_frame(
        f"nvinfer config-file-path={_nvinfer_config(tmp_path, pgie, 100, 1)} output-tensor-meta=1 ! "
        f"nvdspostprocess postprocesslib-config-file={det_yaml} postprocesslib-name=libpostprocess_impl.so ! "
        f"nvinfer config-file-path={_nvinfer_config(tmp_path, sgie, 100, 0)} output-tensor-meta=1 ! "
        f"nvdspostprocess postprocesslib-config-file={cls_yaml}", frames)
    assert len(alone) >= frames and [n for n, _ in split] == [n for n, _ in alone]
    objects = [o for _, objs in alone for o in objs]
    assert len(objects) >= 20 and sum(bool(o[-1]) for o in objects) >= 5, "the clip has cars to classify"
    assert split == alone


def test_postprocess_config_error_reaches_the_bus(tmp_path):
    bad = write(tmp_path, "property:\n  network-type: 0\n")
    p = Gst.parse_launch("videotestsrc num-buffers=2 ! m.sink_0 nvstreammux name=m batch-size=1 width=64 "
                         f"height=48 ! nvdspostprocess name=pp postprocesslib-config-file={bad} ! fakesink")
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.ERROR
    err, _ = msg.parse_error()
    assert "detectors need num-detected-classes" in err.message and msg.src.get_name() == "pp"


def test_gst_launch_runs_nvdspostprocess(tmp_path):
    from test_gst_plugin import gst_env
    frames = 20
    det_yaml = detector_yaml(tmp_path, thr=0.25)
    pipeline = (f"filesrc location={data.media_path('bikes.mp4')} ! qtdemux ! h264parse ! nvv4l2decoder ! "
                f"identity eos-after={frames} ! m.sink_0 nvstreammux name=m batch-size=1 width=640 height=272 ! "
                f"nvinfer config-file-path={_nvinfer_config(tmp_path, data.PRIMARY_CONFIG, 100, 0)} "
                f"output-tensor-meta=1 ! nvdspostprocess postprocesslib-config-file={det_yaml} ! "
                f"nvdsosd ! fakesink")
    env = gst_env(tmp_path, GST_DEBUG="nvdspostprocess:6", GST_DEBUG_NO_COLOR="1")
    r = subprocess.run(["gst-launch-1.0", "-e", *pipeline.split()], capture_output=True, text=True, env=env,
                       timeout=300)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert "CRITICAL" not in log and "Traceback" not in log
    assert re.search(r"DEBUG +nvdspostprocess .*config .*pp\.yml: network-type 0, process-mode 1", log)
    parsed = re.findall(r"LOG +nvdspostprocess .*batch of 1 frames: (\d+) tensor metas parsed", log)
    assert len(parsed) >= frames and all(n == "1" for n in parsed)
    inspect = subprocess.run(["gst-inspect-1.0", "nvdspostprocess"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert inspect.returncode == 0 and "postprocesslib-config-file" in inspect.stdout
    assert "Estuary post-processing" in inspect.stdout
