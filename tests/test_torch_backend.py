"""The torch ONNX interpreter (estuary.infer.torch_backend), op by op against onnxruntime on the
CPU: every supported op/attribute combination gives onnxruntime's result, every unsupported one
is refused at load time with a ConfigError naming op, attribute and value. Runs wherever torch
is importable (CPU is enough); elsewhere skipped with the reason."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from estuary import data
from estuary.errors import ConfigError
from estuary.infer.torch_backend import resize_source_coords, slice_indices

torch = pytest.importorskip("torch", reason="the torch backend needs PyTorch (pip install 'estuary[torch]')")

from estuary.infer.torch_backend import TorchBackend  # noqa: E402


def make_model(op, attrs, x_shape, consts=(), opset=13, domain="", n_outputs=1, seed=0):
    """A one-node graph: input X (float32 of x_shape) and constant inputs (arrays, or None for
    an empty optional input) → output Y."""
    names = ["X"]
    inits = []
    for k, c in enumerate(consts):
        if c is None:
            names.append("")
            continue
        nm = f"c{k}"
        names.append(nm)
        inits.append(numpy_helper.from_array(np.asarray(c), nm))
    outs = ["Y"] + [f"Y{k}" for k in range(1, n_outputs)]
    node = helper.make_node(op, names, outs, domain=domain, **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs], initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=9)
    return m


def rnd(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


i64 = lambda *v: np.array(v, dtype=np.int64)  # noqa: E731
f32 = lambda *v: np.array(v, dtype=np.float32)  # noqa: E731

W = rnd(4, 3, 3, 3, seed=2)
WG = rnd(4, 2, 3, 3, seed=3)
B = rnd(4, seed=4)

# (id, op, attrs, input shape, constant inputs, opset)
CASES = [
    ("conv-sym-pads", "Conv", {"pads": [1, 1, 1, 1]}, (2, 3, 9, 11), [W, B], 13),
    ("conv-asym-pads", "Conv", {"pads": [0, 1, 2, 0]}, (1, 3, 9, 11), [W, B], 13),
    ("conv-stride2-nobias", "Conv", {"strides": [2, 2], "pads": [1, 1, 1, 1]}, (1, 3, 10, 9), [W], 13),
    ("conv-dilation", "Conv", {"dilations": [2, 2]}, (1, 3, 10, 9), [W, B], 13),
    ("conv-group", "Conv", {"group": 2, "kernel_shape": [3, 3]}, (1, 4, 7, 7), [WG, B], 13),
    ("conv-same-upper", "Conv", {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, (1, 3, 10, 9), [W, B], 13),
    ("conv-same-lower", "Conv", {"auto_pad": "SAME_LOWER", "strides": [2, 2]}, (1, 3, 10, 9), [W, B], 13),
    ("conv-valid", "Conv", {"auto_pad": "VALID"}, (1, 3, 8, 8), [W, B], 13),
    ("maxpool-2x2", "MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}, (2, 3, 8, 9), [], 13),
    ("maxpool-yolo-asym", "MaxPool", {"kernel_shape": [2, 2], "strides": [1, 1], "pads": [0, 0, 1, 1]},
     (1, 3, 7, 7), [], 13),
    ("maxpool-pads-sym", "MaxPool", {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1]},
     (1, 2, 6, 5), [], 13),
    ("maxpool-ceil", "MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, (1, 2, 8, 8), [], 13),
    ("maxpool-ceil-pads", "MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1,
                                      "pads": [1, 1, 1, 1]}, (1, 2, 9, 10), [], 13),
    ("maxpool-dilation", "MaxPool", {"kernel_shape": [2, 2], "dilations": [2, 2]}, (1, 2, 8, 8), [], 13),
    ("maxpool-same-upper", "MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
     (1, 2, 9, 8), [], 13),
    ("resize-nearest-default", "Resize", {"mode": "nearest"}, (1, 2, 4, 5), [None, f32(1, 1, 2, 2)], 13),
    ("resize-nearest-asym-floor", "Resize", {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                                             "nearest_mode": "floor"}, (1, 2, 4, 5), [None, f32(1, 1, 1.7, 2.4)], 13),
    ("resize-nearest-down-ceil", "Resize", {"mode": "nearest", "nearest_mode": "round_prefer_ceil"},
     (1, 2, 8, 10), [None, f32(1, 1, 0.5, 0.6)], 13),
    ("resize-nearest-ceil", "Resize", {"mode": "nearest", "nearest_mode": "ceil"},
     (1, 2, 5, 6), [None, f32(1, 1, 1.5, 0.7)], 13),
    ("resize-nearest-sizes-align", "Resize", {"mode": "nearest", "coordinate_transformation_mode": "align_corners"},
     (1, 2, 4, 4), [None, None, i64(1, 2, 5, 7)], 13),
    ("resize-linear-half-pixel", "Resize", {"mode": "linear"}, (1, 2, 4, 5), [None, f32(1, 1, 2, 2)], 13),
    ("resize-linear-down", "Resize", {"mode": "linear"}, (1, 2, 9, 10), [None, f32(1, 1, 0.5, 0.6)], 13),
    ("resize-linear-align", "Resize", {"mode": "linear", "coordinate_transformation_mode": "align_corners"},
     (1, 2, 4, 5), [None, None, i64(1, 2, 7, 3)], 13),
    ("resize-linear-asym", "Resize", {"mode": "linear", "coordinate_transformation_mode": "asymmetric"},
     (1, 2, 4, 5), [None, f32(1, 1, 1.5, 2.5)], 13),
    ("resize-linear-pytorch-hp", "Resize", {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"},
     (1, 2, 6, 5), [None, None, i64(1, 2, 1, 8)], 13),
    ("resize-roi-scales-opset11", "Resize", {"mode": "nearest"}, (1, 2, 3, 3), [f32(), f32(1, 1, 2, 3)], 11),
    ("slice-basic", "Slice", {}, (3, 10, 4), [i64(1, 2), i64(3, 8), i64(0, 1)], 13),
    ("slice-steps", "Slice", {}, (3, 10, 4), [i64(0, 1), i64(3, 10), i64(0, 1), i64(2, 3)], 13),
    ("slice-negative-step", "Slice", {}, (3, 10, 4), [i64(-1, 8), i64(-100, 1), i64(1, 2), i64(-1, -3)], 13),
    ("slice-negative-axes", "Slice", {}, (3, 10, 4), [i64(-3), i64(2**62), i64(-1)], 13),
    ("slice-neg-start-neg-step", "Slice", {}, (3, 6, 4), [i64(-100), i64(-200), i64(1), i64(-1)], 13),
    ("slice-opset9-attrs", "Slice", {"starts": [1, 0], "ends": [2, -1], "axes": [0, 2]}, (3, 10, 4), [], 9),
    ("gemm-plain", "Gemm", {}, (3, 5), [rnd(5, 4, seed=5), rnd(4, seed=6)], 13),
    ("gemm-transA-transB-alpha-beta", "Gemm", {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0},
     (5, 3), [rnd(4, 5, seed=7), rnd(3, 4, seed=8)], 13),
    ("gemm-no-c", "Gemm", {"transB": 1, "alpha": 3.0}, (3, 5), [rnd(4, 5, seed=9)], 13),
    ("softmax-opset11-coerced-2d", "Softmax", {"axis": 1}, (2, 3, 4), [], 11),
    ("softmax-opset11-default", "Softmax", {}, (2, 3, 4), [], 11),
    ("softmax-opset13-axis1", "Softmax", {"axis": 1}, (2, 3, 4), [], 13),
    ("softmax-opset13-default", "Softmax", {}, (2, 3, 4), [], 13),
    ("gather-scalar", "Gather", {"axis": 1}, (3, 5, 2), [np.array(2, dtype=np.int64)], 13),
    ("gather-2d-negative", "Gather", {"axis": 2}, (3, 5, 4), [i64(-1, 0, 2, 1).reshape(2, 2)], 13),
    ("reducemax-keep", "ReduceMax", {"axes": [2], "keepdims": 1}, (2, 3, 4), [], 13),
    ("reducemax-nokeep-multi", "ReduceMax", {"axes": [0, -1], "keepdims": 0}, (2, 3, 4), [], 13),
    ("reducemax-all", "ReduceMax", {}, (2, 3, 4), [], 13),
    ("reducemax-opset18-input", "ReduceMax", {"keepdims": 0}, (2, 3, 4), [i64(1)], 18),
    ("clip-inputs", "Clip", {}, (2, 3, 4), [np.float32(-0.5), np.float32(0.7)], 13),
    ("clip-min-only", "Clip", {}, (2, 3, 4), [np.float32(0.1)], 13),
    ("clip-opset6-attrs", "Clip", {"min": -0.2, "max": 0.3}, (2, 3, 4), [], 6),
    ("flatten-axis0", "Flatten", {"axis": 0}, (2, 3, 4), [], 13),
    ("flatten-axis2", "Flatten", {"axis": 2}, (2, 3, 4, 5), [], 13),
    ("flatten-axis-neg", "Flatten", {"axis": -1}, (2, 3, 4), [], 13),
    ("concat-neg", "Concat", {"axis": -1}, (2, 3, 4), [rnd(2, 3, 2, seed=10)], 13),
    ("reshape-zero-minus1", "Reshape", {}, (2, 3, 4), [i64(0, -1, 2)], 13),
    ("transpose-default", "Transpose", {}, (2, 3, 4), [], 13),
    ("transpose-perm", "Transpose", {"perm": [1, 2, 0]}, (2, 3, 4), [], 13),
    ("leakyrelu", "LeakyRelu", {"alpha": 0.2}, (2, 3, 4), [], 13),
    ("relu", "Relu", {}, (2, 3, 4), [], 13),
    ("sigmoid", "Sigmoid", {}, (2, 3, 4), [], 13),
    ("exp", "Exp", {}, (2, 3, 4), [], 13),
    ("mul-broadcast", "Mul", {}, (2, 3, 4), [rnd(3, 1, seed=11)], 13),
    ("add-broadcast", "Add", {}, (2, 3, 4), [rnd(4, seed=12)], 13),
    ("globalavgpool", "GlobalAveragePool", {}, (2, 3, 4, 5), [], 13),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_op_matches_onnxruntime(case, tmp_path):
    _, op, attrs, shape, consts, opset = case
    m = make_model(op, attrs, shape, consts, opset)
    path = str(tmp_path / "m.onnx")
    onnx.save(m, path)
    x = rnd(*shape, seed=42)
    ref = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
    got = TorchBackend(path, fp16=False, device="cpu").run(x)["Y"]
    assert got.shape == ref.shape, (got.shape, ref.shape)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


# (id, op, attrs, input shape, constants, opset, words the error must contain)
REFUSED = [
    ("resize-cubic", "Resize", {"mode": "cubic"}, (1, 1, 4, 4), [None, f32(1, 1, 2, 2)], 13, ["Resize", "mode", "cubic"]),
    ("resize-tf-crop", "Resize", {"coordinate_transformation_mode": "tf_crop_and_resize"}, (1, 1, 4, 4),
     [f32(0, 0, 0, 0, 1, 1, 1, 1), f32(1, 1, 2, 2)], 13, ["coordinate_transformation_mode", "tf_crop_and_resize"]),
    ("resize-exclude-outside", "Resize", {"exclude_outside": 1}, (1, 1, 4, 4), [None, f32(1, 1, 2, 2)], 13,
     ["exclude_outside", "1"]),
    ("resize-antialias", "Resize", {"mode": "linear", "antialias": 1}, (1, 1, 4, 4), [None, f32(1, 1, .5, .5)], 18,
     ["antialias"]),
    ("resize-opset10", "Resize", {"mode": "nearest"}, (1, 1, 4, 4), [f32(1, 1, 2, 2)], 10, ["Resize", "opset 10"]),
    ("conv-1d", "Conv", {}, (1, 3, 8), [rnd(2, 3, 3)], 13, ["Conv", "kernel_shape", "2-D"]),
    ("maxpool-indices", "MaxPool", {"kernel_shape": [2, 2]}, (1, 1, 4, 4), [], 13, ["MaxPool", "more than one output"]),
    ("maxpool-3d", "MaxPool", {"kernel_shape": [2, 2, 2]}, (1, 1, 4, 4, 4), [], 13, ["kernel_shape", "[2, 2, 2]"]),
    ("add-legacy-broadcast", "Add", {"broadcast": 1}, (2, 3), [rnd(3)], 6, ["Add", "broadcast", "1"]),
    ("relu-unknown-attr", "Relu", {"foo": 3}, (2, 3), [], 13, ["Relu", "foo", "3"]),
    ("unknown-op", "ConvTranspose", {}, (1, 3, 4, 4), [rnd(3, 2, 3, 3)], 13, ["ConvTranspose", "not implemented"]),
    ("custom-domain", "Relu", {}, (2, 3), [], 13, ["domain"]),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_unsupported_op_or_attribute_is_refused_at_load(case, tmp_path):
    cid, op, attrs, shape, consts, opset, words = case
    m = make_model(op, attrs, shape, consts, opset, domain="com.example" if cid == "custom-domain" else "",
                   n_outputs=2 if cid == "maxpool-indices" else 1)
    if cid == "custom-domain":
        m.opset_import.append(helper.make_opsetid("com.example", 1))
    path = str(tmp_path / "m.onnx")
    onnx.save(m, path)
    with pytest.raises(ConfigError) as ei:
        TorchBackend(path, fp16=False, device="cpu")
    for w in words:
        assert w in str(ei.value), (w, str(ei.value))
    assert "onnxruntime" in str(ei.value)  # the hint says what to do instead


@pytest.mark.parametrize("name", ["yolov3-tiny.onnx", "yolov3-tiny-ds4.onnx", "mobilenet_v2.onnx"])
def test_bundled_model_matches_onnxruntime(name, tmp_path):
    from estuary.errors import SourceError
    try:
        src = data.model_path(name)
    except SourceError as exc:  # the GPU machine carries only some of the models
        pytest.skip(str(exc))
    m = onnx.load(src)
    for init in m.graph.initializer:  # FP16 copies (as carried to the GPU machine) → FP32
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float16:
            init.CopyFrom(numpy_helper.from_array(arr.astype(np.float32), init.name))
    path = str(tmp_path / name)
    onnx.save(m, path)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    shape = [d if isinstance(d, int) and d > 0 else 2 for d in sess.get_inputs()[0].shape]
    x = np.random.default_rng(7).random(shape, dtype=np.float32)
    refs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: x})))
    got = TorchBackend(path, fp16=False, device="cpu").run(x)
    assert set(got) == set(refs)
    for k, ref in refs.items():
        assert got[k].shape == ref.shape
        rel = np.linalg.norm(got[k].astype(np.float64) - ref) / np.linalg.norm(ref)
        assert rel < 1e-4, (k, rel)


def test_bundled_ssd_model_is_refused_naming_the_op():
    from estuary.errors import SourceError
    try:
        path = data.model_path("yolov3-tiny-ssd.onnx")
    except SourceError as exc:  # the GPU machine carries only some of the models
        pytest.skip(str(exc))
    with pytest.raises(ConfigError, match="ArgMax|TopK|Sub|Unsqueeze|Tile|GatherElements|Cast|Greater|ReduceSum"):
        TorchBackend(path, fp16=False, device="cpu")


def test_slice_index_maths_follows_the_onnx_clamping_rules():
    assert list(slice_indices(1, 3, 1, 5)) == [1, 2]
    assert list(slice_indices(-1, -100, -1, 4)) == [3, 2, 1, 0]
    assert list(slice_indices(-100, -200, -1, 5)) == [0]  # Python's slice would give []
    assert list(slice_indices(0, 2**62, 2, 5)) == [0, 2, 4]
    assert list(slice_indices(10, 0, -2, 5)) == [4, 2]
    with pytest.raises(ConfigError):
        slice_indices(0, 1, 0, 3)


def test_resize_coordinates_follow_the_onnx_formulas():
    np.testing.assert_allclose(resize_source_coords(4, 2, 2.0, "half_pixel"), [-0.25, 0.25, 0.75, 1.25])
    np.testing.assert_allclose(resize_source_coords(4, 2, 2.0, "asymmetric"), [0, 0.5, 1, 1.5])
    np.testing.assert_allclose(resize_source_coords(3, 2, 1.5, "align_corners"), [0, 0.5, 1])
    np.testing.assert_allclose(resize_source_coords(1, 5, 0.2, "pytorch_half_pixel"), [0])


def test_batched_gpu_preprocessing_equals_per_frame():
    """prepare_torch scales same-size frames as one batch; the result equals frame by frame
    (the ROI path) and the numpy path, for letterboxed and stretched inputs (CPU tensors)."""
    from estuary.infer.preprocess import NetInput, prepare, prepare_torch
    rng = np.random.default_rng(5)
    imgs = [rng.integers(0, 256, (72, 128, 4), dtype=np.uint8) for _ in range(3)]
    ts = [torch.as_tensor(i) for i in imgs]
    for keep in (False, True):
        net = NetInput(width=64, height=64, channels=3, scale=1 / 255.0, offsets=(1.0, 2.0, 3.0),
                       color_format=0, keep_aspect=keep, interpolation=1)
        xb, trb = prepare_torch(ts, net)
        batch = torch.stack(ts)  # the muxer's layout: frames are consecutive views of one tensor
        xv, _ = prepare_torch([batch[i] for i in range(3)], net)
        assert torch.equal(xv, xb)
        full = [(0, 0, 128, 72)] * 3  # whole-frame ROIs take the per-frame path
        xf, trf = prepare_torch(ts, net, rois=full)
        assert trb == trf
        np.testing.assert_allclose(xb.numpy(), xf.numpy(), atol=1e-6)
        xn, _ = prepare(imgs, net)
        assert np.abs(xb.numpy() - xn).max() < 2.5 / 255  # cv2 vs torch bilinear rounding


@pytest.mark.parametrize("model", ["yolov3-tiny.onnx", "mobilenet_v2.onnx"])
def test_channels_last_layout_gives_the_same_outputs(model):
    """The GPU default keeps activations and convolution weights channels-last (NHWC memory
    order, for cuDNN's tensor-core kernels): a layout only, so every output equals NCHW's.
    Checked on the CPU in float32 (the same torch ops run on CUDA tensors there)."""
    from estuary import data
    from estuary.infer.torch_backend import TorchBackend
    path = data.model_path(model)
    nchw = TorchBackend(path, fp16=False, device="cpu", channels_last=False)
    nhwc = TorchBackend(path, fp16=False, device="cpu", channels_last=True)
    assert not nchw.channels_last and nhwc.channels_last and "channels-last" in nhwc.name
    c, h, w = nchw.input_shape[1:]
    x = np.random.default_rng(0).random((2, c, h, w), dtype=np.float32)
    a, b = nchw.run(x), nhwc.run(x)
    assert set(a) == set(b)
    # the automatic choice: off on the CPU
    assert not TorchBackend(path, fp16=False, device="cpu").channels_last
    for k in a:
        assert a[k].shape == b[k].shape
        np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-4)



@pytest.mark.parametrize("device,env,expected", [
    ("cuda", None, True), ("cuda", "0", False), ("cuda", "1", True), ("cpu", None, False), ("cpu", "1", False)])
def test_channels_last_default(device, env, expected, monkeypatch):
    """Channels-last on CUDA by default (grouped convolutions included: MobileNetV2 agrees with
    onnxruntime in both layouts on the H200), never on the CPU; ESTUARY_CHANNELS_LAST=0 turns it off."""
    from estuary.infer.torch_backend import default_channels_last
    if env is None:
        monkeypatch.delenv("ESTUARY_CHANNELS_LAST", raising=False)
    else:
        monkeypatch.setenv("ESTUARY_CHANNELS_LAST", env)
    assert default_channels_last(device) is expected


def _classifier_inputs(n: int = 128) -> np.ndarray:
    """MobileNetV2 inputs from real pixels: crops of the street clip's frames scaled to 224 and
    normalised as the bundled classifier config does (offsets, net-scale-factor)."""
    import cv2
    from estuary import data
    cap = cv2.VideoCapture(data.media_path("bikes.mp4"))
    frames = []
    while len(frames) < 4:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    assert frames, "cannot read the street clip"
    rng = np.random.default_rng(7)
    out = []
    for k in range(n):
        img = frames[k % len(frames)]
        h, w = img.shape[:2]
        bw, bh = int(rng.integers(24, w // 2)), int(rng.integers(24, h // 2))
        x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        crop = cv2.resize(img[y0: y0 + bh, x0: x0 + bw], (224, 224), interpolation=cv2.INTER_LINEAR)
        out.append((crop.astype(np.float32) - np.array([123.675, 116.28, 103.53], np.float32)) * 0.017352074)
    return np.ascontiguousarray(np.stack(out).transpose(0, 3, 1, 2))


def _fp32_model(path: str) -> bytes:
    """The ONNX model with any FP16 weights widened to FP32 (exactly): the GPU machine carries the
    models with FP16 weights (scripts/gpu/half_onnx.py), which onnxruntime refuses to load beside
    FP32 activations; the reference then runs the very weights the GPU runs."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    for init in m.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float16:
            init.CopyFrom(numpy_helper.from_array(arr.astype(np.float32), init.name))
    return m.SerializeToString()


def _agreement_with_onnxruntime(model: str, device: str, channels_last: bool | None = None) -> tuple[float, float]:
    """(top-1 agreement, largest probability difference) of the torch backend on ``device``
    (FP16 on CUDA; the layout it picks, or ``channels_last``) against onnxruntime FP32 on the CPU."""
    import onnxruntime as ort
    from estuary import data
    from estuary.infer.torch_backend import TorchBackend
    path = data.model_path(model)
    x = _classifier_inputs()
    got = TorchBackend(path, device=device, channels_last=channels_last).run(x)
    sess = ort.InferenceSession(_fp32_model(path), providers=["CPUExecutionProvider"])
    ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {sess.get_inputs()[0].name: x})))
    name = next(iter(ref))
    a, b = np.asarray(got[name], np.float32), ref[name]
    # top-1 only where the reference is clear about it (many crops of street scenery are not:
    # ImageNet probabilities of a few per cent, whose order any rounding may swap)
    top2 = np.sort(b, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) >= 0.1
    assert clear.sum() >= 10, "too few crops with a clear top-1 to compare"
    return float(np.mean(a.argmax(1)[clear] == b.argmax(1)[clear])), float(np.abs(a - b).max())


@pytest.mark.gpu
@pytest.mark.parametrize("channels_last", [None, True, False], ids=["default", "channels-last", "nchw"])
def test_classifier_on_the_gpu_agrees_with_onnxruntime_on_the_cpu(channels_last):
    """The secondary classifier as nvinfer runs it on CUDA (FP16, the layout the backend picks,
    and each layout forced) against onnxruntime FP32 on real crops: the same top-1 for ≥ 90 % of
    the crops with a clear top-1, probabilities within 0.05. (Comparing two GPU paths with each
    other cannot see a wrong layout: both are wrong.)"""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    agree, diff = _agreement_with_onnxruntime("mobilenet_v2.onnx", "cuda", channels_last)
    assert agree >= 0.9 and diff < 0.05, (agree, diff)


def test_classifier_agreement_check_on_the_cpu():
    """The check above, run with the torch backend on the CPU (FP32): it agrees fully, so a GPU
    failure is the GPU's numbers, not the check."""
    agree, diff = _agreement_with_onnxruntime("mobilenet_v2.onnx", "cpu")
    assert agree == 1.0 and diff < 1e-3, (agree, diff)



def test_warm_up_runs_only_on_cuda():
    """The start-time warm-up (each batch shape run once) is for CUDA, where cuDNN chooses
    kernels per shape; on the CPU it runs nothing and the backend works as before."""
    from estuary import data
    from estuary.infer.torch_backend import TorchBackend
    be = TorchBackend(data.model_path("mobilenet_v2.onnx"), device="cpu")
    assert be.warm_up([1, 2, 4]) == []
    assert next(iter(be.run(np.zeros((2, 3, 224, 224), np.float32)).values())).shape == (2, 1000)
