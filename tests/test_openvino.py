"""The CPU runtimes of nvinfer (issue #23): OpenVINO where installed, ONNX Runtime as fallback,
and INT8 (network-mode=1) quantized on first use and cached beside the model."""

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
import time

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import pyds
from estuary import data
from estuary.errors import ConfigError
from estuary.gst import Gst
from estuary.infer.backends import create_backend
from estuary.infer.config import load_infer_config
from estuary.infer.engine import InferEngine

from conftest import run_pipeline

# (not importorskip: importing openvino here would send OpenVINO's usage telemetry from the test
# run; estuary imports it without, see test_openvino_sends_no_telemetry_and_forks_nothing)
if importlib.util.find_spec("openvino") is None:
    pytest.skip("OpenVINO is a dependency on x86-64 only", allow_module_level=True)

#: INT8 against FP32 detections on the bundled clip, recall and precision at IoU 0.5: the issue's
#: target, 0.95, measured as `estuary bench` does (all 250 frames, 97 FP32 boxes, 16 calibration
#: frames of the clip, lossless). Recipe 3 (heads and first four convolutions in FP32) measured
#: 0.97 / 0.98 there (recipe 2: 0.94 / 0.93). A third of the FP32 boxes score within 0.05 above
#: the 0.4 threshold, so each box is 1 % and the calibration set matters: with 8 JPEG frames 0.93 /
#: 0.95, with 32 frames 0.94 / 0.96 (docs/cpu.md).
INT8_AGREEMENT = 0.95
SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")


def bikes_rgba(step=1, limit=None):
    cap = cv2.VideoCapture(data.media_path("bikes.mp4"))
    out, i = [], 0
    while True:
        ok, f = cap.read()
        if not ok or (limit and len(out) >= limit):
            break
        if i % step == 0:
            out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGBA))
        i += 1
    return out


def config_in(tmp_path, extra="", model="yolov3-tiny-ds4.onnx"):
    """The bundled 4-class detector's config, with its model copied into ``tmp_path`` (so that the
    INT8 cache is written there)."""
    shutil.copy(data.model_path(model), tmp_path / model)
    text = open(data.model_path("config_infer_primary_ds4.txt")).read()
    lines = [ln for ln in text.splitlines() if not ln.startswith(("onnx-file", "labelfile-path", "network-mode"))]
    lines.insert(lines.index("[property]") + 1,
                 f"onnx-file={model}\nlabelfile-path={data.model_path('ds4_labels.txt')}\n{extra}")
    path = tmp_path / "pgie.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def agreement(ref, got):
    """Recall and precision of ``got`` against ``ref`` (per frame, same class, IoU ≥ 0.5, greedy)."""
    from estuary.boxes import box_agreement
    return box_agreement((a.boxes, a.class_ids, b.boxes, b.class_ids) for a, b in zip(ref, got))[:3]


def inverse_model(path):
    """A model OpenVINO cannot compile (com.microsoft.Inverse) but ONNX Runtime runs."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Inverse", ["x"], ["y"], domain="com.microsoft")
    m = helper.make_model(helper.make_graph([node], "g", [x], [y]),
                          opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    onnx.save(m, str(path))
    return str(path)


# -- backend selection ----------------------------------------------------------------------------

def test_auto_picks_openvino_on_the_cpu_and_a_backend_can_be_forced(monkeypatch):
    model = data.model_path("yolov3-tiny-ds4.onnx")
    monkeypatch.delenv("ESTUARY_BACKEND", raising=False)
    b = create_backend(model)
    assert b.kind == "openvino" and b.precision == "FP32" and not b.fallback
    assert b.input_shape[1:] == [3, 416, 416] and b.output_names == ["detections"]
    assert create_backend(model, prefer="onnxruntime").kind == "onnxruntime"
    monkeypatch.setenv("ESTUARY_BACKEND", "onnxruntime")
    assert create_backend(model).kind == "onnxruntime"  # auto defers to the environment
    assert create_backend(model, prefer="openvino").kind == "openvino"  # an explicit choice wins
    with pytest.raises(ConfigError, match="unknown backend 'tensorrt'"):
        create_backend(model, prefer="tensorrt")


def test_openvino_sends_no_telemetry_and_forks_nothing(tmp_path):
    """Importing openvino sends a usage event to Google Analytics (unless opted out or CI=true),
    from a process that openvino_telemetry forks from a thread: traffic off the machine, and a
    fork that deadlocked a deepstream-test2 run's child (the run never exited). Estuary's import
    leaves OpenVINO on its own no-op stub: in a process whose user never opted out (a fresh
    HOME, no CI variables) no fork, no connection, no consent or client-id files."""
    code = textwrap.dedent(f"""
        import sys
        events = []
        sys.addaudithook(lambda ev, args: events.append(ev) if ev in ("os.fork", "socket.connect",
                                                                       "subprocess.Popen") else None)
        from estuary.infer.backends import create_backend
        b = create_backend({data.model_path("yolov3-tiny-ds4.onnx")!r}, prefer="openvino")
        assert b.kind == "openvino", b.kind
        import openvino.tools.ovc.telemetry_utils as tu
        import openvino_telemetry  # importable again for whoever wants it after
        print(tu.tm.__name__, sorted(set(events)))
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "TF_BUILD", "JENKINS_URL")}
    env["HOME"] = str(tmp_path)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["openvino.tools.ovc.telemetry_stub", "[]"], r.stdout
    assert not (tmp_path / "intel").exists(), list((tmp_path / "intel").iterdir())


def test_a_model_openvino_cannot_compile_falls_back_to_onnxruntime(tmp_path, monkeypatch):
    monkeypatch.delenv("ESTUARY_BACKEND", raising=False)
    path = inverse_model(tmp_path / "inverse.onnx")
    b = create_backend(path)
    assert b.kind == "onnxruntime" and "Inverse" in b.fallback
    x = np.eye(8, dtype=np.float32)[None, None].repeat(3, 1) * 2
    assert np.allclose(b.run(x)["y"], x / 4)  # it really runs: the inverse of 2·I is I/2
    with pytest.raises(ConfigError, match="OpenVINO cannot compile"):
        create_backend(path, prefer="openvino")


def _python(code, timeout=120):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("ESTUARY_BACKEND", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_without_openvino_auto_uses_onnxruntime():
    r = _python(f"""
        import sys
        sys.modules["openvino"] = None  # as on a machine without it
        from estuary.errors import ConfigError
        from estuary.infer.backends import create_backend
        b = create_backend({data.model_path('yolov3-tiny-ds4.onnx')!r})
        print(b.kind, "|", b.fallback)
        try:
            create_backend({data.model_path('yolov3-tiny-ds4.onnx')!r}, prefer="openvino")
        except ConfigError as e:
            print("forced:", e)
    """)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "onnxruntime | openvino is not installed" in r.stdout
    assert "forced:" in r.stdout and "not installed" in r.stdout


def test_an_import_order_that_breaks_cxx_exceptions_falls_back_instead_of_aborting():
    # numpy and cv2 (C++) loaded before GStreamer's libunwind: an exception thrown inside OpenVINO
    # would abort the process, so auto takes ONNX Runtime and says why
    r = _python(f"""
        import numpy, cv2
        import gi
        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
        Gst.init(None)
        from estuary.errors import ConfigError
        from estuary.infer.backends import create_backend
        b = create_backend({data.model_path('yolov3-tiny-ds4.onnx')!r})
        print(b.kind, "|", b.fallback)
        try:
            create_backend({data.model_path('yolov3-tiny-ds4.onnx')!r}, prefer="openvino")
        except ConfigError as e:
            print("forced:", e)
    """)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("onnxruntime | openvino cannot run in this process"), r.stdout
    assert "LD_PRELOAD=libgcc_s.so.1" in r.stdout and "forced:" in r.stdout


@pytest.mark.parametrize("backend", ["openvino", "auto"])
def test_corrupt_empty_or_truncated_onnx_is_a_model_error_not_a_crash(tmp_path, backend):
    whole = open(data.model_path("yolov3-tiny-ds4.onnx"), "rb").read()
    files = {"empty": b"", "truncated": whole[:1_000_000], "garbage": os.urandom(5000),
             "text": b"not a model\n"}
    for name, blob in files.items():
        (tmp_path / f"{name}.onnx").write_bytes(blob)
    # the situation that used to abort: OpenCV and GstVideo loaded, then a bad model
    r = _python(f"""
        import cv2
        import estuary
        from estuary.gst import Gst, GstVideo, ensure_init
        ensure_init()
        from estuary.errors import EstuaryError
        from estuary.infer.engine import InferEngine
        from estuary.infer.config import load_infer_config
        for name in {list(files)!r}:
            cfg = load_infer_config(text="[property]\\nonnx-file={tmp_path}/" + name + ".onnx\\n"
                                         "num-detected-classes=4\\ninfer-dims=3;416;416\\n")
            try:
                InferEngine(cfg, backend={backend!r})
                print(name, "LOADED")
            except EstuaryError as e:
                print(name, type(e).__name__ + ":", e)
        # a real OpenVINO exception in this process is caught too (libgcc_s preloaded)
        from estuary.infer.backends import OpenVinoBackend
        from estuary.errors import ModelError
        try:
            OpenVinoBackend({str(inverse_model(tmp_path / 'inv.onnx'))!r})
        except ModelError as e:
            print("caught:", str(e)[:60])
    """)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    lines = dict(ln.split(" ", 1) for ln in r.stdout.strip().splitlines())
    assert set(lines) == set(files) | {"caught:"}
    for name in files:
        assert lines[name].startswith("ModelError:") and f"{name}.onnx" in lines[name], lines[name]
    assert "is empty" in lines["empty"] and "not a valid ONNX model" in lines["truncated"]
    assert "OpenVINO cannot compile" in lines["caught:"]


def test_openvino_and_onnxruntime_give_the_same_fp32_boxes():
    frames = bikes_rgba(step=4)
    cfg = data.model_path("config_infer_primary_ds4.txt")
    ov_eng, ort_eng = InferEngine(cfg, backend="openvino"), InferEngine(cfg, backend="onnxruntime")
    assert ov_eng.backend.kind == "openvino" and ort_eng.backend.kind == "onnxruntime"
    a = [ort_eng.detect([f])[0] for f in frames]
    b = [ov_eng.detect([f])[0] for f in frames]
    assert sum(len(d.boxes) for d in a) >= 20  # the clip has objects to compare
    for da, db in zip(a, b):
        assert da.class_ids.tolist() == db.class_ids.tolist()
        assert np.abs(da.boxes - db.boxes).max(initial=0) < 0.5  # pixels
        assert np.abs(da.scores - db.scores).max(initial=0) < 1e-3


@pytest.mark.parametrize("extra", [
    "",  # the bundled detector's own: RGB, scale 1/255, no offsets, stretched
    "model-color-format=1\noffsets=103.939;116.779;123.68\nnet-scale-factor=0.017\nmaintain-aspect-ratio=1",
    "offsets=7.5\nnet-scale-factor=1.0\nmaintain-aspect-ratio=1\nsymmetric-padding=1",
])
def test_openvino_taking_uint8_pixels_runs_the_same_arithmetic_inside(tmp_path, extra):
    """nvinfer's frames go to OpenVINO as uint8 pixels, the offsets and scale done inside the model:
    the same outputs as float32 pre-processed in numpy — to the bit with a scale alone; with
    offsets OpenVINO folds the subtraction into the first convolution's bias (float rounding)."""
    cfg = load_infer_config(config_in(tmp_path, extra))
    floats, pixels = InferEngine(cfg, backend="openvino"), InferEngine(cfg, backend="openvino", u8_frames=True)
    assert floats.backend.input_dtype == np.float32 and pixels.backend.input_dtype == np.uint8
    assert InferEngine(cfg, backend="onnxruntime", u8_frames=True).backend.input_dtype == np.float32
    for f in bikes_rgba(step=25):
        a, _ = floats.raw([f])
        b, _ = pixels.raw([f])
        assert a.keys() == b.keys()
        for k in a:
            if "offsets" in extra:
                assert np.abs(a[k] - b[k]).max() <= 1e-5 * np.abs(a[k]).max(), k
            else:
                assert np.array_equal(a[k], b[k]), k


def test_adaptive_openvino_runs_each_compiled_model_once_before_the_first_frame():
    """A compiled model's first inference costs ~90 ms more than the next: the adaptive backend
    pays it for both of its models when it is made, not on a streaming frame."""
    from estuary.infer.backends import OpenVinoBackend
    b = OpenVinoBackend(data.model_path("yolov3-tiny-ds4.onnx"), threads=1, streams=2, adaptive=True)
    assert b.request.latency > 0 and b.request_one.latency > 0  # (ms of the last inference; 0: none)
    assert b.fork().request.latency == 0  # a fork's own request: the model is warm already


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_adaptive_backend_gives_the_same_outputs_on_either_request_from_any_worker(backend):
    """nvinfer's default with two workers: one request (OpenVINO) or session (ONNX Runtime) on
    every core while it keeps up, each worker's own one-core one under a backlog
    (RequestChooser) — the same numbers either way."""
    import threading
    path = data.model_path("yolov3-tiny-ds4.onnx")
    plain = create_backend(path, prefer=backend, threads=1, streams=2)
    adaptive = create_backend(path, prefer=backend, threads=1, streams=2, adaptive=True)
    assert plain.kind == adaptive.kind == backend
    other = adaptive.fork()
    assert other._busy is adaptive._busy
    if backend == "openvino":
        assert plain.compiled_one is None and adaptive.compiled_one is not None
        assert other.request_one is not adaptive.request_one
    else:
        assert plain.session_one is None and adaptive.session_one is not None
        assert other.session_one is adaptive.session_one and other.session is not adaptive.session
    rng = np.random.default_rng(5)
    xs = [rng.random((1, 3, 416, 416), dtype=np.float32) for _ in range(6)]
    refs = [plain.run(x) for x in xs]
    got, used = {}, []
    enter = adaptive._busy.enter

    def spy():
        one = enter()
        used.append(one)
        return one
    adaptive._busy.enter = spy

    def work(b, idx):
        for i in idx:
            got[i] = b.run(xs[i].copy())
    ts = [threading.Thread(target=work, args=(b, idx)) for b, idx in ((adaptive, [0, 2, 4]), (other, [1, 3, 5]))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    for _ in range(3):  # and alone, back to back: the one-stream request
        got[len(got)] = adaptive.run(xs[0])
        refs.append(refs[0])
    assert len(got) == 9 and True in used
    for i, ref in enumerate(refs):
        for k, v in ref.items():
            assert np.abs(got[i][k] - v).max() < 1e-3, (i, k)


def _batch_one_reshape_model(path):
    """A model whose graph fixes its batch inside: input [1,3,8,8] → Conv → Reshape to [1, -1]."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 3, 1, 1], np.ones(6, np.float32).tolist())
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, -1])
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Reshape", ["c", "shape"], ["y"])],
        "fixed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128])], initializer=[w, shape])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))


def test_openvino_runs_a_full_batch_as_one_inference_and_others_image_by_image(tmp_path):
    """nvinfer's batch-size on a model exported for batch 1: OpenVINO also compiles it for the
    batch (one inference for a full batch, 7-10 % more frames a second at 4 on 2 cores), with the
    same outputs as image by image; partial batches (EOS, a muxer's timeout) take the batch-1
    model, and a model whose graph fixes batch 1 inside keeps image by image."""
    from estuary.infer.backends import OpenVinoBackend
    path = data.model_path("yolov3-tiny-ds4.onnx")
    one = OpenVinoBackend(path, threads=1, streams=2)
    four = OpenVinoBackend(path, threads=1, streams=2, adaptive=True, batch=4)
    assert one.compiled_n is None and four.compiled_n is not None and four.compiled_one_n is not None
    assert four.fixed_batch == one.fixed_batch and four.batch == 4  # (the model's own shape stays)
    fork = four.fork()
    assert fork.request_n is not four.request_n and fork.request_one_n is not four.request_one_n
    used = []
    infer = four._infer
    four._infer = lambda req, x: used.append((req in (four.request_n, four.request_one_n), len(x))) or infer(req, x)
    rng = np.random.default_rng(3)
    for n in (4, 3, 4):
        x = rng.random((n, 3, 416, 416), dtype=np.float32)
        got, ref = four.run(x), one.run(x)
        assert got.keys() == ref.keys()
        for k in ref:
            assert got[k].shape == ref[k].shape and got[k].shape[0] == n
            assert np.abs(got[k] - ref[k]).max() < 1e-3, (n, k)
    # the bundled model's batch is dynamic: a partial batch runs at its own size on it
    partial = [(False, 1)] * 3 if one.fixed_batch == 1 else [(False, 3)]
    assert used == [(True, 4)] + partial + [(True, 4)], used
    _batch_one_reshape_model(tmp_path / "fixed.onnx")
    fixed = OpenVinoBackend(str(tmp_path / "fixed.onnx"), batch=4)
    assert fixed.compiled_n is None  # outputs without a batch of 4: image by image
    x = rng.random((4, 3, 8, 8), dtype=np.float32)
    out = fixed.run(x)["y"]
    assert out.shape == (4, 128)
    assert np.allclose(out, np.stack([fixed.run(x[i:i + 1])["y"][0] for i in range(4)]))


@pytest.mark.parametrize("size, mode, batch", [(4, 1, 4), (1, 1, 1), (4, 2, 1)])
def test_a_primarys_batch_size_reaches_openvino(tmp_path, size, mode, batch):
    """A primary's frames come in batches of batch-size; a secondary's objects in any number."""
    cfg = load_infer_config(config_in(tmp_path))
    cfg.set("batch-size", size)
    cfg.set("process-mode", mode)
    assert InferEngine(cfg, backend="openvino").backend.batch == batch


def test_fp16_says_what_it_runs_on_the_cpu(tmp_path):
    eng = InferEngine(config_in(tmp_path, "network-mode=2"), backend="openvino")
    assert eng.backend.precision in ("BF16", "FP16", "FP32 (this CPU has no faster float)")
    assert eng.backend.precision in eng.backend.name
    eng = InferEngine(config_in(tmp_path, "network-mode=2"), backend="onnxruntime")
    assert eng.backend.precision == "FP32 (onnxruntime has no FP16 arithmetic on the CPU)"


# -- nvinfer ------------------------------------------------------------------------------------------

def _pipeline(cfg, extra="", limit=None):
    src = f"filesrc location={data.media_path('bikes.mp4')} ! qtdemux ! h264parse ! nvv4l2decoder"
    if limit:
        src += f" ! identity eos-after={limit}"
    return Gst.parse_launch(f"{src} ! m.sink_0 nvstreammux name=m batch-size=1 width=640 height=272 ! "
                            f"nvinfer name=pgie config-file-path={cfg} {extra} ! fakesink name=sink")


def _started(msgs):
    return [m.get_structure() for m in msgs if m.type == Gst.MessageType.ELEMENT
            and m.get_structure().has_name("esinfer-started")]


def test_nvinfer_posts_its_backend_and_takes_a_forced_one(tmp_path):
    cfg = config_in(tmp_path)
    for backend, runtime in (("", "openvino"), ("backend=onnxruntime", "onnxruntime")):
        msgs = []
        assert run_pipeline(_pipeline(cfg, backend, limit=5), 60, msgs.append).type == Gst.MessageType.EOS
        st = _started(msgs)
        assert len(st) == 1 and st[0].get_string("runtime") == runtime, st
        assert st[0].get_string("precision") == "FP32" and runtime in st[0].get_string("backend")
    msg = run_pipeline(_pipeline(cfg, "backend=tensorrt", limit=5), 60)
    assert msg.type == Gst.MessageType.ERROR and "backend='tensorrt' is not one of" in msg.parse_error()[0].message


def test_inspect_lists_the_cpu_backends():
    from estuary.cli import main
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["inspect", "nvinfer"]) == 0
    text = out.getvalue()
    assert "CPU backends: openvino " in text and "onnxruntime " in text
    assert "(backend=auto uses openvino)" in text
    assert any(ln.split()[:1] == ["backend"] for ln in text.splitlines())  # the property itself


# -- INT8 ---------------------------------------------------------------------------------------------

def calib_folder(tmp_path, n=6, name="calib", ext="jpg"):
    """``n`` frames of the clip, evenly spread, as image files (JPEG: lossy): a calibration set."""
    folder = tmp_path / name
    folder.mkdir()
    frames = bikes_rgba()
    for k, i in enumerate(np.linspace(0, len(frames) - 1, n).astype(int)):
        cv2.imwrite(str(folder / f"f{k:02d}.{ext}"), cv2.cvtColor(frames[i], cv2.COLOR_RGBA2BGR))
    return folder


def int8_files(folder):
    return sorted(p for p in os.listdir(folder) if ".int8-" in p and p.endswith(".onnx"))


def test_int8_model_is_cached_beside_the_model_reused_and_rebuilt_when_the_onnx_changes(tmp_path):
    cfg = config_in(tmp_path, f"network-mode=1\nint8-calib-file={calib_folder(tmp_path, 4)}")
    t = time.perf_counter()
    first = InferEngine(cfg, backend="openvino")
    t_build = time.perf_counter() - t
    built = int8_files(tmp_path)
    assert len(built) == 1 and built[0].startswith("yolov3-tiny-ds4.int8-")
    assert first.model_path == str(tmp_path / built[0]) and first.backend.precision.startswith("INT8 (QDQ model")
    assert not first.int8_pending
    stamp = os.stat(tmp_path / built[0]).st_mtime_ns
    t = time.perf_counter()
    second = InferEngine(cfg, backend="openvino")
    t_reuse = time.perf_counter() - t
    assert second.model_path == first.model_path and second.backend.precision == first.backend.precision
    assert os.stat(tmp_path / built[0]).st_mtime_ns == stamp and int8_files(tmp_path) == built
    assert t_reuse < t_build  # no calibration the second time
    # ONNX Runtime runs the float layers in FP32: the same file where OpenVINO does too, else its own
    ort = InferEngine(cfg, backend="onnxruntime")
    assert ort.backend.precision == "INT8 (QDQ model)" and ort.int8.float_precision == "f32"
    if first.backend.int8_float == "f32":
        assert ort.model_path == first.model_path and int8_files(tmp_path) == built
    else:
        assert first.backend.precision == "INT8 (QDQ model, BF16 float layers)"
        assert ort.model_path != first.model_path and len(int8_files(tmp_path)) == 2
        assert InferEngine(cfg, backend="onnxruntime").model_path == ort.model_path  # reused too
        for f in int8_files(tmp_path):
            os.unlink(tmp_path / f)
        InferEngine(cfg, backend="openvino")
        built = int8_files(tmp_path)
    # the same network, different bytes: a new key, a new model
    m = onnx.load(str(tmp_path / "yolov3-tiny-ds4.onnx"))
    m.doc_string = "re-exported"
    onnx.save(m, str(tmp_path / "yolov3-tiny-ds4.onnx"))
    third = InferEngine(cfg, backend="openvino")
    assert len(int8_files(tmp_path)) == 2 and third.model_path != first.model_path
    # as do other calibration images
    cfg2 = config_in(tmp_path, f"network-mode=1\nint8-calib-file={calib_folder(tmp_path, 3, 'other')}")
    assert InferEngine(cfg2, backend="openvino").model_path not in (first.model_path, third.model_path)


def test_a_new_int8_recipe_means_a_new_cache_key(tmp_path, monkeypatch):
    from estuary.infer import int8
    cfg = load_infer_config(config_in(tmp_path, f"network-mode=1\nint8-calib-file={calib_folder(tmp_path, 2)}"))
    before = int8.Int8Plan(cfg)
    monkeypatch.setattr(int8, "RECIPE", {**int8.RECIPE, "version": int8.RECIPE["version"] + 1})
    after = int8.Int8Plan(cfg)
    assert after.key != before.key and after.path != before.path
    assert int8.RECIPE["keep_fp32"] == f"heads+first-{int8.FP32_FIRST_CONVS}-convs"
    # the BF16 recipe (OpenVINO on CPUs with BF16) has its own key, and its own version
    bf16 = int8.Int8Plan(cfg, "bf16")
    assert bf16.key not in (before.key, after.key) and bf16.first_convs == int8.BF16_FIRST_CONVS
    assert int8.RECIPE_BF16["keep_fp32"] == f"heads+first-{int8.BF16_FIRST_CONVS}-convs"
    monkeypatch.setattr(int8, "RECIPE_BF16", {**int8.RECIPE_BF16, "version": int8.RECIPE_BF16["version"] + 1})
    assert int8.Int8Plan(cfg, "bf16").key != bf16.key and int8.Int8Plan(cfg).key == after.key


def test_an_int8_model_keeps_the_heads_and_the_recipes_stem_convolutions_in_float(tmp_path):
    from estuary.infer import int8
    cfg = load_infer_config(config_in(tmp_path, f"network-mode=1\nint8-calib-file={calib_folder(tmp_path, 2)}"))
    for prec, first in (("f32", int8.FP32_FIRST_CONVS), ("bf16", int8.BF16_FIRST_CONVS)):
        plan = int8.Int8Plan(cfg, prec)
        eng = InferEngine(load_infer_config(config_in(tmp_path)), backend="onnxruntime")
        from estuary.infer.int8 import load_calibration
        plan.build(load_calibration(plan, eng.net), eng.backend.input_name)
        m = onnx.load(plan.path)
        # a quantized convolution's weight comes through DequantizeLinear
        made = {o for n in m.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
        quantized = [any(i in made for i in n.input[1:2]) for n in m.graph.node if n.op_type == "Conv"]
        assert len(quantized) == 13, len(quantized)  # the bundled YOLOv3-tiny
        assert quantized[:first] == [False] * first and all(quantized[first:9]), (prec, quantized)
        assert quantized.count(False) == first + 2, (prec, quantized)  # + the two detector heads


def test_a_runtime_fallback_gets_the_int8_recipe_made_for_it(tmp_path, monkeypatch):
    """The recipe follows the runtime that actually runs the model: asked for BF16 (OpenVINO on a
    BF16 CPU) but given ONNX Runtime (a fallback), the engine builds and runs the FP32 recipe."""
    from estuary.infer import int8
    monkeypatch.setattr(int8, "float_precision", lambda backend: "bf16")
    cfg = config_in(tmp_path, f"network-mode=1\nint8-calib-file={calib_folder(tmp_path, 2)}")
    eng = InferEngine(cfg, backend="onnxruntime")
    assert eng.int8.float_precision == "f32" and eng.model_path == eng.int8.path
    assert eng.int8.path == int8.Int8Plan(load_infer_config(cfg), "f32").path
    assert eng.backend.precision == "INT8 (QDQ model)" and len(int8_files(tmp_path)) == 1


@pytest.mark.parametrize("case", ["missing", "empty-folder", "list-missing-image", "unreadable-image",
                                  "binary", "empty-list"])
def test_a_bad_int8_calib_file_is_a_clear_config_error(tmp_path, case):
    calib = tmp_path / "calib"
    if case == "missing":
        calib = tmp_path / "nowhere"
    elif case == "empty-folder":
        calib.mkdir()
        (calib / "notes.txt").write_text("no images here")
    elif case == "list-missing-image":
        calib = tmp_path / "list.txt"
        cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
        calib.write_text("# frames\na.jpg\nb.jpg\n")
    elif case == "unreadable-image":
        calib.mkdir()
        (calib / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    elif case == "binary":
        calib = tmp_path / "calib.bin"
        calib.write_bytes(bytes(range(256)) * 4)
    elif case == "empty-list":
        calib = tmp_path / "list.txt"
        calib.write_text("# nothing yet\n\n")
    cfg = config_in(tmp_path, f"network-mode=1\nint8-calib-file={calib}")
    with pytest.raises(ConfigError) as e:
        InferEngine(cfg)
    text = str(e.value)
    assert "int8-calib-file" in text and "pgie.txt" in text, text
    expect = {"missing": "not found", "empty-folder": "no images", "list-missing-image": "list.txt:3: image not found: b.jpg",
              "unreadable-image": "cannot read image", "binary": "neither a folder nor a text list",
              "empty-list": "lists no images"}[case]
    assert expect in text, text
    assert not int8_files(tmp_path)


def test_a_tensorrt_calibration_table_means_calibrating_on_the_first_frames(tmp_path):
    table = tmp_path / "cal_trt.bin"
    table.write_text("TRT-8601-EntropyCalibration2\ninput_1: 3c010a14\n")
    eng = InferEngine(config_in(tmp_path, f"network-mode=1\nint8-calib-file={table}"))
    assert eng.int8_pending and eng.backend.precision == "FP32" and not int8_files(tmp_path)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_int8_detections_agree_with_fp32_on_the_bundled_clip(tmp_path, backend):
    frames = bikes_rgba()
    fp32 = InferEngine(config_in(tmp_path), backend=backend)
    calib = calib_folder(tmp_path, 16, ext="png")
    int8 = InferEngine(config_in(tmp_path, f"network-mode=1\nint8-calib-file={calib}"), backend=backend)
    assert int8.backend.precision.startswith("INT8 (QDQ model")
    ref = [fp32.detect([f])[0] for f in frames]
    got = [int8.detect([f])[0] for f in frames]
    recall, precision, n = agreement(ref, got)
    print(f"INT8 vs FP32: recall {recall:.3f} precision {precision:.3f} ({n} FP32 boxes)")
    assert n >= 90, n
    assert recall >= INT8_AGREEMENT and precision >= INT8_AGREEMENT, (recall, precision, n)


def test_nvinfer_int8_without_calibration_images_calibrates_on_the_first_frames(tmp_path):
    from estuary.infer.int8 import CALIB_FRAMES, CALIB_STRIDE
    cfg = config_in(tmp_path, "network-mode=1")
    msgs, seen = [], []
    p = _pipeline(cfg, limit=CALIB_FRAMES * CALIB_STRIDE + 20)

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        seen.extend(f.bInferDone for f in bm.frames)
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    assert run_pipeline(p, 180, msgs.append).type == Gst.MessageType.EOS
    warnings = [m.parse_warning()[0].message for m in msgs if m.type == Gst.MessageType.WARNING]
    assert any("calibrating on 16 of the first frames" in w for w in warnings), warnings
    st = _started(msgs)
    assert [s.get_string("precision")[:15] for s in st] == ["FP32", "INT8 (QDQ model"]
    assert len(int8_files(tmp_path)) == 1 and st[1].get_string("model-run").endswith(int8_files(tmp_path)[0])
    assert len(seen) >= CALIB_FRAMES * CALIB_STRIDE + 20 and all(seen)
    # the next start finds the cached model: INT8 from the first frame, no warning
    msgs = []
    assert run_pipeline(_pipeline(cfg, limit=5), 60, msgs.append).type == Gst.MessageType.EOS
    assert [s.get_string("precision")[:15] for s in _started(msgs)] == ["INT8 (QDQ model"]
    assert not [m for m in msgs if m.type == Gst.MessageType.WARNING]


def test_estuary_int8_float_f32_keeps_openvino_on_the_fp32_recipe(tmp_path, monkeypatch):
    from estuary.infer import int8
    from estuary.infer.backends import ov_int8_float_precision
    cfg = config_in(tmp_path, f"network-mode=1\nint8-calib-file={calib_folder(tmp_path, 2)}")
    monkeypatch.setenv("ESTUARY_INT8_FLOAT", "f32")
    assert ov_int8_float_precision("openvino") == "f32"
    eng = InferEngine(cfg, backend="openvino")
    assert eng.backend.kind == "openvino" and eng.backend.precision == "INT8 (QDQ model)"
    assert eng.int8.float_precision == "f32" and eng.int8.recipe is int8.RECIPE
    assert InferEngine(cfg, backend="onnxruntime").model_path == eng.model_path  # one file for both
    monkeypatch.setenv("ESTUARY_INT8_FLOAT", "fp8")
    with pytest.raises(ConfigError, match="ESTUARY_INT8_FLOAT='fp8'"):
        InferEngine(cfg, backend="openvino")
