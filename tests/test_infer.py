"""Inference: configs, parsers, clustering, accuracy against reference implementations, and
nvinfer in pipelines with real models."""

import os
import textwrap
from collections import Counter

import cv2
import numpy as np
import pytest

import pyds
from estuary import data
from estuary.errors import ConfigError
from estuary.gst import Gst
from estuary.infer.cluster import cluster, dbscan, group_rectangles, iou_matrix, nms
from estuary.infer.config import CLASS_ATTR_KEYS, PROPERTY_KEYS, ClassAttrs, load_infer_config
from estuary.infer.engine import InferEngine
from estuary.infer.parsers import Candidates, parse_yolo, parse_yolov8

from conftest import run_pipeline


@pytest.fixture(scope="module")
def detector():
    return InferEngine(data.model_path(data.PRIMARY_CONFIG))


@pytest.fixture(scope="module")
def classifier():
    return InferEngine(data.model_path(data.SECONDARY_CONFIG))


def rgba(path):
    return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGBA)


def bikes_frames(indices):
    cap = cv2.VideoCapture(data.media_path("bikes.mp4"))
    frames, i = {}, 0
    while len(frames) < len(indices):
        ok, f = cap.read()
        if not ok:
            break
        if i in indices:
            frames[i] = f
        i += 1
    return [frames[i] for i in indices]


def darknet_reference(bgr, thr=0.4, nms_thr=0.45):
    """OpenCV's own Darknet importer on the original cfg/weights, decoded and NMS-ed."""
    net = cv2.dnn.readNetFromDarknet(data.model_path("yolov3-tiny.cfg"), data.model_path("yolov3-tiny.weights"))
    H, W = bgr.shape[:2]
    net.setInput(cv2.dnn.blobFromImage(bgr, 1 / 255.0, (416, 416), swapRB=True, crop=False))
    out = np.concatenate(net.forward(net.getUnconnectedOutLayersNames()))
    cls, sc = out[:, 5:].argmax(1), out[:, 5:].max(1)
    boxes = [[(r[0] - r[2] / 2) * W, (r[1] - r[3] / 2) * H, r[2] * W, r[3] * H] for r in out]
    idx = cv2.dnn.NMSBoxesBatched(boxes, sc.tolist(), cls.tolist(), thr, nms_thr)
    return [(int(cls[i]), float(sc[i]), np.array([boxes[i][0], boxes[i][1], boxes[i][0] + boxes[i][2],
                                                  boxes[i][1] + boxes[i][3]])) for i in idx]


# -- accuracy against references -----------------------------------------------------------------

@pytest.mark.parametrize("image", ["bus.jpg", "bikes:20", "bikes:120", "bikes:140", "bikes:150"])
def test_detector_matches_opencv_darknet_reference(detector, image):
    if image.startswith("bikes:"):
        bgr = bikes_frames([int(image.split(":")[1])])[0]
    else:
        bgr = cv2.imread(data.media_path(image))
    ref = darknet_reference(bgr)
    det = detector.detect([cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)])[0]
    assert len(ref) > 0, "reference found nothing: pick another image"
    assert len(det) == len(ref)
    ious = iou_matrix(np.array([r[2] for r in ref], np.float32), det.boxes)
    for i, (cid, score, _) in enumerate(ref):
        j = int(ious[i].argmax())
        assert ious[i, j] >= 0.9, (image, i, ious[i])
        assert int(det.class_ids[j]) == cid
        assert abs(float(det.scores[j]) - score) <= 0.02


def test_bus_image_finds_people(detector):
    det = detector.detect([rgba(data.media_path("bus.jpg"))])[0]
    labels = Counter(detector.label(int(c)) for c in det.class_ids)
    assert labels["person"] >= 3


def test_classifier_top1_agrees_with_reference(classifier):
    img = rgba(data.media_path("bus.jpg"))
    roi = (0, 230, 810, 670)
    # reference: the same ONNX graph through OpenCV DNN with its own pre-processing
    crop = cv2.cvtColor(img[230:900, 0:810], cv2.COLOR_RGBA2RGB)
    blob = cv2.dnn.blobFromImage(crop, 1 / 58.395, (224, 224), (123.675, 116.28, 103.53), swapRB=False)
    net = cv2.dnn.readNetFromONNX(data.model_path("mobilenet_v2.onnx"))
    net.setInput(blob)
    ref = net.forward()[0]
    ours = classifier.classify([img], rois=[roi])[0]
    assert ours is not None and ours.class_id == int(ref.argmax())
    assert ours.class_id == 654  # ImageNet "minibus", as torchvision's MobileNetV2 says for this crop
    assert ours.label == "bus"  # mapped to a vehicle type


# -- configs -------------------------------------------------------------------------------------

def write_cfg(tmp_path, text, name="cfg.txt"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def test_every_documented_key_parses(tmp_path):
    onnx = data.model_path("yolov3-tiny.onnx")
    values = {"gpu-id": "0", "net-scale-factor": "0.5", "offsets": "1;2;3", "mean-file": "m.ppm",
              "model-color-format": "1", "uff-input-blob-name": "in", "uff-input-order": "0",
              "uff-input-dims": "3;4;5;0", "input-dims": "3;4;5;0", "infer-dims": "3;416;416",
              "onnx-file": onnx, "tlt-model-key": "k", "model-engine-file": "x.engine",
              "int8-calib-file": "c.bin", "batch-size": "4", "network-mode": "2", "workspace-size": "100",
              "force-implicit-batch-dim": "1", "output-blob-names": "a;b", "network-type": "0",
              "is-classifier": "0", "num-detected-classes": "80", "process-mode": "1", "interval": "2",
              "gie-unique-id": "3", "operate-on-gie-id": "1", "operate-on-class-ids": "0;2",
              "input-object-min-width": "8", "input-object-min-height": "8",
              "input-object-max-width": "900", "input-object-max-height": "900",
              "classifier-threshold": "0.5", "classifier-async-mode": "1",
              "secondary-reinfer-interval": "10", "cluster-mode": "2", "enable-dbscan": "0",
              "maintain-aspect-ratio": "1", "scaling-filter": "1", "scaling-compute-hw": "0",
              "parse-bbox-func-name": "yolo", "output-tensor-meta": "1", "output-instance-mask": "0",
              "segmentation-threshold": "0.5", "enable-dla": "0", "use-dla-core": "0", "parse-func": "0",
              "symmetric-padding": "1", "network-input-order": "0", "input-tensor-from-meta": "0",
              "filter-out-class-ids": "7", "classifier-type": "kind", "tensor-meta-pool-size": "6",
              "custom-network-config": "n.cfg", "engine-create-func-name": "f",
              "parse-classifier-func-name": "m:f", "parse-bbox-instance-mask-func-name": "g",
              "layer-device-precision": "x", "output-io-formats": "y", "segmentation-output-order": "0",
              "disable-output-host-copy": "0", "dump-input-tensor": "0", "dump-output-tensor": "0",
              "auto-inc-mem": "0", "max-gpu-mem-per": "50"}
    assert set(values) <= set(PROPERTY_KEYS)
    attrs = {k: "1" for k in CLASS_ATTR_KEYS}
    attrs.update({"border-color": "1;0;0;1", "bg-color": "0;0;0;1", "eps": "0.2"})
    text = "[property]\n" + "\n".join(f"{k}={v}" for k, v in values.items()) + \
        "\n[class-attrs-all]\n" + "\n".join(f"{k}={v}" for k, v in attrs.items()) + \
        "\n[class-attrs-2]\npre-cluster-threshold=0.7\n"
    cfg = load_infer_config(write_cfg(tmp_path, text))
    assert cfg.batch_size == 4 and cfg.offsets == [1.0, 2.0, 3.0] and cfg.infer_dims == [3, 416, 416]
    assert cfg.operate_on_class_ids == [0, 2] and cfg.output_blob_names == ["a", "b"]
    assert cfg.force_implicit_batch_dim is True and cfg.onnx_file == onnx
    assert cfg.mean_file == str(tmp_path / "m.ppm")  # relative paths resolve against the file
    assert cfg.attrs_for(2).pre_cluster_threshold == 0.7
    assert cfg.attrs_for(2).eps == 0.2  # class groups start from class-attrs-all
    assert cfg.attrs_for(5).pre_cluster_threshold == 1.0
    assert cfg.attrs_for(0).border_color == [1.0, 0.0, 0.0, 1.0]


@pytest.mark.parametrize("text,match,line", [
    ("[property]\nonnx-file={onnx}\nbatch-sizee=2\n", "unknown key 'batch-sizee'.*did you mean 'batch-size'", 3),
    ("[property]\nonnx-file={onnx}\nbatch-size=two\n", "invalid value 'two'", 3),
    ("[property]\nonnx-file={onnx}\nbatch-size=0\n", "must be >= 1", 3),
    ("[property]\nonnx-file={onnx}\nnetwork-type=7\n", "not one of", 3),
    ("[property]\nmodel-file=resnet10.caffemodel\nproto-file=resnet10.prototxt\n",
     "Caffe model.*onnx-file", 2),
    ("[property]\nonnx-file=missing.onnx\n", "model file not found", 2),
    ("[property]\nnum-detected-classes=4\n", "no model: set onnx-file", None),
    ("[propertee]\nonnx-file={onnx}\n", "no \\[property\\] group|unknown group", None),
    ("[property]\nonnx-file={onnx}\n[class-attrs-x]\neps=1\n", "bad group name", None),
    ("[property]\nonnx-file={onnx}\n[class-attrs-all]\npre-cluster-treshold=0.5\n", "did you mean", 4),
    ("onnx-file={onnx}\n", "before any \\[group\\]", 1),
])
def test_bad_configs_are_rejected_clearly(tmp_path, text, match, line):
    path = write_cfg(tmp_path, text.format(onnx=data.model_path("yolov3-tiny.onnx")))
    with pytest.raises(ConfigError, match=match) as ei:
        load_infer_config(path)
    assert str(path) in str(ei.value)
    if line is not None:
        assert ei.value.line == line and f":{line}:" in str(ei.value)
    assert isinstance(ei.value, ValueError)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_infer_config(str(tmp_path / "nope.txt"))


def test_repeated_group_merges_and_last_value_wins(tmp_path):
    onnx = data.model_path("yolov3-tiny.onnx")
    cfg = load_infer_config(write_cfg(tmp_path, f"[property]\nonnx-file={onnx}\nbatch-size=2\n"
                                      "[class-attrs-all]\nminBoxes=1\n[property]\nbatch-size=3\n"
                                      "[class-attrs-all]\nminBoxes=3\n"))
    assert cfg.batch_size == 3 and cfg.attrs_for(0).min_boxes == 3


def test_infer_dims_must_match_model(tmp_path):
    onnx = data.model_path("yolov3-tiny.onnx")
    path = write_cfg(tmp_path, f"[property]\nonnx-file={onnx}\ninfer-dims=3;320;320\nnum-detected-classes=80\n")
    with pytest.raises(ConfigError, match="do not match the model input"):
        InferEngine(path)


# -- parsers and clustering ----------------------------------------------------------------------

def test_yolo_parsers_decode_layouts():
    row = np.zeros((1, 2, 5 + 3), np.float32)
    row[0, 0, :5] = [50, 40, 20, 10, 0.9]
    row[0, 0, 5:] = [0.1, 0.8, 0.1]
    row[0, 1, :5] = [10, 10, 4, 4, 0.1]
    row[0, 1, 5:] = [1.0, 0, 0]
    c = parse_yolo({"o": row[0]}, None, 3)
    assert np.allclose(c.boxes[0], [40, 35, 60, 45]) and c.class_ids[0] == 1
    assert abs(c.scores[0] - 0.72) < 1e-6 and abs(c.scores[1] - 0.1) < 1e-6
    v8 = np.zeros((4 + 3, 2), np.float32)
    v8[:4, 0] = [50, 40, 20, 10]
    v8[4:, 0] = [0.2, 0.1, 0.9]
    c8 = parse_yolov8({"o": v8}, None, 3)
    assert c8.class_ids[0] == 2 and np.allclose(c8.boxes[0], [40, 35, 60, 45])


def test_nms_keeps_best_and_separates_far_boxes():
    c = Candidates([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], [0.5, 0.9, 0.8], [0, 0, 0])
    keep = nms(c, 0.5)
    assert list(keep) == [1, 2]


def test_dbscan_merges_overlapping_boxes():
    c = Candidates([[0, 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11], [100, 100, 110, 110]],
                   [0.5, 0.6, 0.7, 0.2], [1, 1, 1, 1])
    out = dbscan(c, eps=0.5, min_boxes=2, min_score=0.5)
    assert len(out) == 1 and out.scores[0] == pytest.approx(0.7)
    assert np.allclose(out.boxes[0], [0.333, 0.389, 10.333, 10.389], atol=0.01)


def test_group_rectangles_reports_minus_point_one():
    c = Candidates([[0, 0, 10, 10], [1, 1, 11, 11], [0, 1, 10, 11]], [0.5, 0.6, 0.7], [2, 2, 2])
    out = group_rectangles(c, 1, 0.2)
    assert len(out) == 1 and out.scores[0] == pytest.approx(-0.1) and out.class_ids[0] == 2


def test_cluster_filters_per_class():
    c = Candidates([[0, 0, 10, 10], [0, 0, 100, 100], [0, 0, 50, 50], [0, 300, 40, 340]],
                   [0.3, 0.9, 0.9, 0.9], [0, 0, 1, 1])
    attrs = {0: ClassAttrs(pre_cluster_threshold=0.5, detected_max_w=200),
             1: ClassAttrs(pre_cluster_threshold=0.1, roi_bottom_offset=50, topk=1)}
    out = cluster(c, 2, lambda k: attrs[k], frame_h=360)
    assert sorted(zip(out.class_ids.tolist(), out.boxes[:, 2].tolist())) == [(0, 100.0), (1, 50.0)]


def test_python_custom_parser_hook(tmp_path):
    (tmp_path / "myparser.py").write_text(textwrap.dedent("""
        import pyds
        def parse(outputs, net, num_classes):
            d = pyds.NvDsInferObjectDetectionInfo()
            d.classId, d.left, d.top, d.width, d.height, d.detectionConfidence = 3, 10, 20, 30, 40, 0.9
            return [d]
    """))
    onnx = data.model_path("yolov3-tiny.onnx")
    path = write_cfg(tmp_path, f"[property]\nonnx-file={onnx}\nnum-detected-classes=80\n"
                     f"custom-lib-path={tmp_path / 'myparser.py'}\nparse-bbox-func-name=myparser:parse\n"
                     "cluster-mode=4\n[class-attrs-all]\npre-cluster-threshold=0.5\n")
    eng = InferEngine(path)
    det = eng.detect([np.zeros((416, 416, 4), np.uint8)])[0]
    assert det.class_ids.tolist() == [3] and np.allclose(det.boxes[0], [10, 20, 40, 60])


# -- pipelines -----------------------------------------------------------------------------------

def bikes_pipeline(extra="", sgie=True, mux_batch=1, limit=None):
    src = f"filesrc location={data.media_path('bikes.mp4')} ! qtdemux ! h264parse ! nvv4l2decoder"
    if limit:
        src += f" ! identity eos-after={limit}"
    desc = (f"{src} ! m.sink_0 nvstreammux name=m batch-size={mux_batch} width=640 height=272 ! "
            f"nvinfer name=pgie config-file-path={data.model_path(data.PRIMARY_CONFIG)} {extra} ! ")
    if sgie:
        desc += f"nvinfer name=sgie config-file-path={data.model_path(data.SECONDARY_CONFIG)} ! "
    return Gst.parse_launch(desc + "fakesink name=sink")


def test_pipeline_detector_and_classifier_on_street_video():
    p = bikes_pipeline()
    objects, classified, infer_done = Counter(), Counter(), []

    def probe(pad, info):
        batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        l_frame = batch_meta.frame_meta_list
        while l_frame is not None:
            frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
            infer_done.append(frame_meta.bInferDone)
            l_obj = frame_meta.obj_meta_list
            while l_obj is not None:
                obj = pyds.NvDsObjectMeta.cast(l_obj.data)
                objects[obj.obj_label] += 1
                assert obj.unique_component_id == 1 and 0 < obj.confidence <= 1
                assert pyds.get_string(obj.text_params.display_text).startswith(obj.obj_label)
                l_cls = obj.classifier_meta_list
                while l_cls is not None:
                    cm = pyds.NvDsClassifierMeta.cast(l_cls.data)
                    assert cm.unique_component_id == 2 and obj.class_id in (2, 5, 7)
                    li = pyds.NvDsLabelInfo.cast(cm.label_info_list.data)
                    assert li.result_prob >= 0.25 and li.result_label
                    classified[li.result_label] += 1
                    l_cls = l_cls.next
                l_obj = l_obj.next
            l_frame = l_frame.next
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    msgs = []
    assert run_pipeline(p, timeout=120, on_message=msgs.append).type == Gst.MessageType.EOS
    assert len(infer_done) == 250 and all(infer_done)
    assert objects["person"] >= 20 and objects["car"] >= 20, objects
    assert sum(classified.values()) >= 1, classified
    started = [m for m in msgs if m.type == Gst.MessageType.ELEMENT
               and m.get_structure().has_name("esinfer-started")]
    # the CPU backend: OpenVINO where installed (a dependency on x86-64), else ONNX Runtime
    from estuary.infer.backends import cpu_backends
    assert started and started[0].get_structure().get_string("runtime") == cpu_backends()[0][0]
    assert started[0].get_structure().get_string("precision") == "FP32"


def test_interval_skips_batches():
    p = bikes_pipeline(extra="interval=2", sgie=False, limit=9)
    done = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        done.extend(f.bInferDone for f in bm.frames)
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    run_pipeline(p, timeout=60)
    assert len(done) >= 9 and done[:9] == [True, False, False] * 3


def test_output_tensor_meta_readable_like_ssd_parser_sample():
    p = bikes_pipeline(extra="output-tensor-meta=1", sgie=False, limit=3)
    rows = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            l_user = f.frame_user_meta_list
            while l_user is not None:
                user_meta = pyds.NvDsUserMeta.cast(l_user.data)
                if user_meta.base_meta.meta_type == pyds.NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META:
                    tensor_meta = pyds.NvDsInferTensorMeta.cast(user_meta.user_meta_data)
                    layer = pyds.get_nvds_LayerInfo(tensor_meta, 0)
                    n = layer.dims.d[0]
                    # column 4 of row 0 is the first box's objectness, read through get_detections
                    obj = pyds.get_detections(layer.buffer, 4)
                    rows.append((tensor_meta.unique_id, layer.layerName, int(n), obj,
                                 tensor_meta.network_info.width))
                l_user = l_user.next
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    run_pipeline(p, timeout=60)
    assert len(rows) >= 3
    uid, name, n, obj, w = rows[0]
    assert (uid, name, n, w) == (1, "detections", 2535, 416) and 0.0 <= obj <= 1.0


def test_missing_config_posts_clear_error():
    p = Gst.parse_launch("videotestsrc num-buffers=2 ! m.sink_0 nvstreammux name=m batch-size=1 "
                         "width=64 height=48 ! nvinfer name=pgie config-file-path=/nonexistent/cfg.txt ! fakesink")
    msgs = []
    bus = p.get_bus()
    ret = p.set_state(Gst.State.PLAYING)
    msg = bus.timed_pop_filtered(5 * Gst.SECOND, Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert ret == Gst.StateChangeReturn.FAILURE or msg is not None
    assert msg is not None
    err, dbg = msg.parse_error()
    assert "pgie" in err.message and "config file not found" in err.message and "/nonexistent/cfg.txt" in err.message


def test_ssd_and_detectnet_parsers():
    from estuary.infer.parsers import parse_detectnet, parse_ssd
    from estuary.infer.preprocess import NetInput
    net = NetInput(width=300, height=200)
    boxes = np.array([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 0.1, 0.1]], np.float32)  # ymin xmin ymax xmax
    c = parse_ssd({"boxes": boxes[None], "scores": np.array([[0.9, 0.1]], np.float32),
                   "classes": np.array([[3.0, 1.0]], np.float32)}, net, 90)
    assert np.allclose(c.boxes[0], [60, 20, 180, 100]) and c.class_ids.tolist() == [3, 1]
    # DetectNet grid: one cell of class 1 is covered; its bbox offsets encode a 40x30 box
    net = NetInput(width=64, height=32)
    cov = np.zeros((2, 2, 4), np.float32)
    cov[1, 1, 2] = 0.8
    bbox = np.zeros((8, 2, 4), np.float32)
    gx, gy = (2 * 16 + 0.5) / 35.0, (1 * 16 + 0.5) / 35.0
    bbox[4:8, 1, 2] = [gx - 10 / 35.0, gy - 5 / 35.0, 50 / 35.0 - gx, 35 / 35.0 - gy]
    d = parse_detectnet({"cov": cov, "bbox": bbox}, net, 2, 0.5)
    assert d.class_ids.tolist() == [1] and np.allclose(d.boxes[0], [10, 5, 50, 35], atol=1e-4)


def test_segmentation_network_end_to_end(tmp_path):
    """A 2-class segmentation net built for the test: class 1 where the red channel is bright."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = np.zeros((2, 3, 1, 1), np.float32)
    w[1, 0, 0, 0] = 1.0  # class-1 score = red; class-0 score = 0.5 constant
    b = np.array([0.5, 0.0], np.float32)
    g = helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["seg"])], "seg",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 32, 48])],
                          [helper.make_tensor_value_info("seg", TensorProto.FLOAT, ["n", 2, 32, 48])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "seg.onnx"))
    cfg = tmp_path / "seg.txt"
    cfg.write_text(f"[property]\nonnx-file={tmp_path / 'seg.onnx'}\nnet-scale-factor=0.0039215697906911373\n"
                   "network-type=2\nnum-detected-classes=2\nsegmentation-threshold=0.0\nscaling-filter=1\n")
    p = Gst.parse_launch(
        "videotestsrc pattern=red num-buffers=3 ! video/x-raw,width=96,height=64 ! m.sink_0 "
        "videotestsrc pattern=blue num-buffers=3 ! video/x-raw,width=96,height=64 ! m.sink_1 "
        f"nvstreammux name=m batch-size=2 width=96 height=64 ! nvinfer config-file-path={cfg} batch-size=2 ! "
        "fakesink name=sink")
    masks = {}

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            for um in f.user_meta:
                if um.base_meta.meta_type == pyds.NVDSINFER_SEGMENTATION_META:
                    seg = pyds.NvDsInferSegmentationMeta.cast(um.user_meta_data)
                    masks[f.source_id] = (seg.classes, pyds.get_segmentation_masks(seg))
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    assert masks[0][0] == 2 and masks[0][1].shape == (32, 48)
    assert (masks[0][1] == 1).all() and (masks[1][1] == 0).all()


def test_secondary_results_cached_per_tracked_object():
    from estuary.elements.infer import EsInfer
    el = Gst.ElementFactory.make("nvinfer", None)
    el.set_property("config-file-path", data.model_path(data.SECONDARY_CONFIG))
    el._load_config()
    el._start()
    calls = []
    real = el._engine.raw
    el._engine.raw = lambda *a, **k: calls.append(1) or real(*a, **k)
    bm = pyds.nvds_create_batch_meta(1)
    import cv2 as _cv2
    img = _cv2.cvtColor(_cv2.imread(data.media_path("bus.jpg")), _cv2.COLOR_BGR2RGBA)
    from estuary.gst.batchsurface import BatchSurface, FrameSurface, new_rgba_buffer
    from estuary.gst import capi
    h, w = img.shape[:2]
    buf = new_rgba_buffer(w, h)
    with capi.map_memory(hash(buf), 0) as info:
        capi.as_array(info).reshape(h, w, 4)[...] = img
    bm.surface = BatchSurface([FrameSurface(buf, w, h)], 1)
    for n in range(3):
        f = pyds.nvds_acquire_frame_meta_from_pool(bm)
        f.frame_num = n
        o = pyds.nvds_acquire_obj_meta_from_pool(bm)
        o.class_id, o.unique_component_id, o.object_id = 5, 1, 42
        o.rect_params.left, o.rect_params.top, o.rect_params.width, o.rect_params.height = 0, 230, 810, 670
        pyds.nvds_add_obj_meta_to_frame(f, o, None)
        pyds.nvds_add_frame_meta_to_batch(bm, f)
        el._secondary(bm)
        assert o.classifiers and o.classifiers[0].labels[0].result_label == "bus"
        pyds.nvds_remove_frame_meta_from_batch(bm, f)
    assert len(calls) == 1  # inferred once, reused for the same tracked object


def _detections_per_frame(workers, limit=120):
    p = bikes_pipeline(extra=f"infer-workers={workers}", sgie=False, limit=limit)
    seen = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            boxes = sorted((o.class_id, round(o.rect_params.left), round(o.rect_params.top),
                            round(o.rect_params.width)) for o in f.objects)
            seen.append((f.frame_num, f.bInferDone, boxes))
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    run_pipeline(p, timeout=120)
    return seen


def test_parallel_cpu_workers_keep_order_and_give_the_same_detections():
    one = _detections_per_frame(1)
    three = _detections_per_frame(3)
    assert len(one) >= 120 and [f[0] for f in three] == list(range(len(one))), "every frame, in order"
    assert all(done for _, done, _ in three)
    assert one == three
    assert sum(len(b) for _, _, b in three) > 10  # the street clip has objects to compare


def test_a_failing_worker_becomes_a_pipeline_error(tmp_path):
    # a Python parser hook that raises on the 5th frame: the error must come out of the worker
    # thread onto the bus, naming the element
    (tmp_path / "boom.py").write_text(textwrap.dedent("""
        calls = [0]
        def parse(outputs, net, num_classes):
            calls[0] += 1
            if calls[0] == 5:
                raise RuntimeError("parser exploded on call 5")
            return []
    """))
    path = tmp_path / "cfg.txt"
    path.write_text(f"[property]\nonnx-file={data.model_path('yolov3-tiny.onnx')}\nnum-detected-classes=80\n"
                    f"custom-lib-path={tmp_path / 'boom.py'}\nparse-bbox-func-name=boom:parse\n"
                    "cluster-mode=4\n[class-attrs-all]\npre-cluster-threshold=0.5\n")
    p = Gst.parse_launch(
        f"filesrc location={data.media_path('bikes.mp4')} ! qtdemux ! h264parse ! nvv4l2decoder ! "
        "m.sink_0 nvstreammux name=m batch-size=1 width=640 height=272 ! "
        f"nvinfer name=pgie infer-workers=2 config-file-path={path} ! fakesink")
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.ERROR | Gst.MessageType.EOS)
    p.set_state(Gst.State.NULL)
    assert msg is not None and msg.type == Gst.MessageType.ERROR
    assert "parser exploded on call 5" in msg.parse_error()[0].message


@pytest.mark.parametrize("live,interval,props,expected", [
    (False, 0, "", "cores"),            # files: two requests side by side on 2+ cores
    (True, 0, "", 1),                   # live: one request on every core (latency)
    (False, 2, "", 1),                  # interval: the frames after an inferred one wait for it
    (True, 0, "infer-workers=2", 2),    # what the app sets wins
])
def test_worker_count_follows_the_sources(live, interval, props, expected):
    expected = (2 if (os.cpu_count() or 1) >= 2 else 1) if expected == "cores" else expected
    p = Gst.parse_launch(
        f"videotestsrc is-live={str(live).lower()} num-buffers=4 ! video/x-raw,width=320,height=240,framerate=30/1 ! "
        "m.sink_0 nvstreammux name=m batch-size=1 width=320 height=240 ! "
        f"nvinfer config-file-path={data.model_path(data.PRIMARY_CONFIG)} interval={interval} {props} ! fakesink")
    msgs = []
    assert run_pipeline(p, timeout=120, on_message=msgs.append).type == Gst.MessageType.EOS
    started = [m.get_structure() for m in msgs if m.type == Gst.MessageType.ELEMENT
               and m.get_structure().has_name("esinfer-started")]
    assert started and started[0].get_value("workers") == expected
    # auto on OpenVINO keeps one request more than streams queued (a stream never waits for Python)
    extra = expected > 1 and not props and started[0].get_value("runtime") == "openvino"
    assert started[0].get_value("requests") == expected + extra


def test_stopping_while_a_batch_enters_leaves_no_worker_threads():
    # A batch that reaches nvinfer's chain while the pipeline goes to READY used to find the
    # workers already closed and the engine gone, start a new pool and leave its (daemon)
    # threads running: one still inside OpenCV when the interpreter exited aborted the process
    # (std::terminate from the thread's forced unwind). The probe holds the 10th batch at the
    # pad, the stream lock taken, while the main thread stops the pipeline.
    import threading
    import time
    p = bikes_pipeline(extra="infer-workers=2", sgie=False)
    held = threading.Event()
    seen = [0]

    def hold(pad, info):
        seen[0] += 1
        if seen[0] == 10:
            held.set()
            time.sleep(0.5)  # the main thread is in set_state(NULL) meanwhile
        return Gst.PadProbeReturn.OK

    p.get_by_name("pgie").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, hold)
    p.set_state(Gst.State.PLAYING)
    assert held.wait(60), "the pipeline never brought 10 batches"
    p.set_state(Gst.State.NULL)
    workers = [t.name for t in threading.enumerate() if t.name.startswith("pgie-worker")]
    assert workers == [], f"worker threads outlive the pipeline: {workers}"


@pytest.mark.parametrize("backend,env,expected", [
    ("auto", None, True), ("torch", None, True), ("onnxruntime", None, False), ("openvino", None, False),
    ("auto", "onnxruntime", False), ("auto", "openvino", False), ("auto", "torch", True),
])
def test_gpu_converted_copies_go_to_the_gpu_only_for_the_torch_backend(monkeypatch, backend, env, expected):
    """Frames the muxer converted on the GPU and handed over as system-memory copies (nvbuf-memory-type
    unified) are inferred on the GPU, unless a CPU runtime was asked for (element or environment):
    those keep running them on the CPU. (No onnxruntime-gpu here.)"""
    import pyds  # noqa: F401 - registers the elements
    from estuary.gst import Gst
    if env is None:
        monkeypatch.delenv("ESTUARY_BACKEND", raising=False)
    else:
        monkeypatch.setenv("ESTUARY_BACKEND", env)
    e = Gst.ElementFactory.make("nvinfer", None)
    e.set_property("backend", backend)
    assert e._torch_takes_copies() is expected
