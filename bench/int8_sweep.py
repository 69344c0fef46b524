"""INT8 recipes compared (issue #23): for each quantization recipe, the INT8 model's box agreement
with FP32 on the bundled clip (engine level: all 250 frames, recall/precision at IoU 0.5 with the
same class, as tests/test_openvino.py measures) and the model alone on OpenVINO (two single-threaded
requests side by side, as nvinfer runs it; batch 1; the best of 3 rounds, the recipes interleaved).

    .venv/bin/python bench/int8_sweep.py                      # every recipe below
    .venv/bin/python bench/int8_sweep.py --recipes r3,r1 --ort # also ONNX Runtime's agreement

OpenVINO runs each model twice: the float layers (those the recipe keeps out of INT8) in FP32,
and in BF16 where the CPU has it (what nvinfer does there; ``--floats f32`` elsewhere).

A recipe: which convolutions stay FP32 (``keep``: the detector heads, plus the first N), the
calibration method (ONNX Runtime's MinMax, Entropy, Percentile), the calibration frames (N of the
clip, evenly spread, lossless) and whether activations are symmetric (INT8 around 0, not UINT8).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

#: name → (convolutions kept FP32 besides the heads: N = the first N, or a set of indices in graph
#: order; method, percentile, calibration frames, symmetric activations)
RECIPES = {
    "r3": (4, "minmax", None, 16, False),
    "r2": (2, "minmax", None, 16, False),
    "r1": (0, "minmax", None, 16, False),
    "stem1": (1, "minmax", None, 16, False),
    "first3": (3, "minmax", None, 16, False),
    "r2-mm8": (2, "minmax", None, 8, False),
    "r2-mm24": (2, "minmax", None, 24, False),
    "r2-mm32": (2, "minmax", None, 32, False),
    "r2-p99.999": (2, "percentile", 99.999, 16, False),
    "first3-mm8": (3, "minmax", None, 8, False),
    "first3-mm24": (3, "minmax", None, 24, False),
    "first3-mm32": (3, "minmax", None, 32, False),
    "first3-mm64": (3, "minmax", None, 64, False),
    "first3-p99.999": (3, "percentile", 99.999, 16, False),
    "first3-p99.99": (3, "percentile", 99.99, 16, False),
    "first3-entropy": (3, "entropy", None, 16, False),
    "r3-mm8": (4, "minmax", None, 8, False),
    "r3-mm32": (4, "minmax", None, 32, False),
    "r3-mm64": (4, "minmax", None, 64, False),
    "c023": ({0, 2, 3}, "minmax", None, 16, False),
    "c03": ({0, 3}, "minmax", None, 16, False),
    "c02": ({0, 2}, "minmax", None, 16, False),
    "c123": ({1, 2, 3}, "minmax", None, 16, False),
    "r3-sym": (4, "minmax", None, 16, True),
    "c023-sym": ({0, 2, 3}, "minmax", None, 16, True),
    "stem1-sym": (1, "minmax", None, 16, True),
    "r1-p99.99": (0, "percentile", 99.99, 16, False),
    "r1-p99.999": (0, "percentile", 99.999, 16, False),
    "r1-entropy": (0, "entropy", None, 16, False),
    "r1-mm64": (0, "minmax", None, 64, False),
    "r1-sym": (0, "minmax", None, 16, True),
    "stem1-p99.999": (1, "percentile", 99.999, 16, False),
    "stem1-entropy": (1, "entropy", None, 16, False),
}


def frames_rgba():
    import cv2
    from estuary import data
    cap = cv2.VideoCapture(data.media_path("bikes.mp4"))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGBA))


def config(folder):
    import shutil
    from estuary import data
    shutil.copy(data.model_path("yolov3-tiny-ds4.onnx"), os.path.join(folder, "m.onnx"))
    text = open(data.model_path("config_infer_primary_ds4.txt")).read()
    lines = [ln for ln in text.splitlines() if not ln.startswith(("onnx-file", "labelfile-path", "network-mode"))]
    lines.insert(lines.index("[property]") + 1, f"onnx-file=m.onnx\nlabelfile-path={data.model_path('ds4_labels.txt')}")
    path = os.path.join(folder, "pgie.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def build(src, dst, calib, input_name, keep, method, pct, symmetric):
    """A QDQ model of ``src`` by ``recipe`` (ONNX Runtime's quantize_static, as estuary.infer.int8)."""
    from estuary.infer import int8
    from estuary.native import import_cxx
    onnx = import_cxx("onnx")
    import_cxx("onnxruntime")
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    model = onnx.load(src)
    for i, n in enumerate(model.graph.node):
        if not n.name:
            n.name = f"{n.op_type}_{i}"
    exclude = int8._fp32_nodes(model, 0)  # the heads
    convs = [n.name for n in model.graph.node if n.op_type == "Conv" and n.name not in exclude]
    exclude += [convs[i] for i in (range(keep) if isinstance(keep, int) else sorted(keep))]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calib)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {input_name: x}

    extra = {"ActivationSymmetric": symmetric}
    if pct:
        extra["CalibPercentile"] = pct
    cm = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
          "percentile": CalibrationMethod.Percentile}[method]
    with tempfile.TemporaryDirectory() as tmp:
        named = os.path.join(tmp, "m.onnx")
        onnx.save(model, named)
        quantize_static(named, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, op_types_to_quantize=["Conv", "MatMul", "Gemm"],
                        nodes_to_exclude=exclude, calibrate_method=cm, extra_options=extra)


def agreement(ref, got):
    from estuary.boxes import box_agreement
    return box_agreement((a.boxes, a.class_ids, b.boxes, b.class_ids) for a, b in zip(ref, got))


def model_fps(path, float_precision, rounds=3):
    """Two single-threaded OpenVINO requests side by side (nvinfer's set-up), best of ``rounds``;
    the float layers in ``float_precision`` ("f32" or "bf16")."""
    from concurrent.futures import ThreadPoolExecutor
    x = np.random.default_rng(0).random((1, 3, 416, 416), dtype=np.float32)
    first = ov_backend(path, float_precision, threads=1, streams=2)
    reqs = [first, first.fork()]
    for r in reqs:
        r.run(x)
    best = 0.0
    with ThreadPoolExecutor(2) as pool:
        for _ in range(rounds):
            t = time.perf_counter()
            list(pool.map(lambda r: [r.run(x) for _ in range(20)], reqs))
            best = max(best, 40 / (time.perf_counter() - t))
    return best


def ov_backend(path, float_precision, **kw):
    """An OpenVINO backend running the QDQ model ``path`` with its float layers in FP32 or BF16
    (its quantized layers run INT8 either way)."""
    from estuary.infer.backends import OpenVinoBackend
    b = OpenVinoBackend(path, precision="int8" if float_precision == "bf16" else "fp32", **kw)
    if float_precision == "bf16" and b.int8_float != "bf16":
        raise SystemExit("this CPU has no BF16: run with --floats f32")
    return b


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--floats", default="f32,bf16", help="OpenVINO's float precision for the float layers")
    ap.add_argument("--ort", action="store_true", help="also measure agreement on ONNX Runtime")
    ap.add_argument("--fps-rounds", type=int, default=2, help="interleaved speed rounds (0: none)")
    a = ap.parse_args(argv)
    from estuary.infer.backends import OrtBackend
    from estuary.infer.engine import InferEngine
    from estuary.infer.preprocess import prepare
    names = a.recipes.split(",")
    floats = a.floats.split(",")
    folder = tempfile.mkdtemp(prefix="int8-sweep-")
    frames = frames_rgba()
    cfg = config(folder)
    eng = InferEngine(cfg, backend="openvino")
    ref = {"openvino": [eng.detect([f])[0] for f in frames]}
    if a.ort:
        ort = InferEngine(cfg, backend="onnxruntime")
        ref["onnxruntime"] = [ort.detect([f])[0] for f in frames]
    net = eng.net
    paths = {}
    print(f"agreement with FP32 (recall/precision, IoU 0.5, {len(frames)} frames):", flush=True)
    for name in names:
        keep, method, pct, n, sym = RECIPES[name]
        calib = [prepare([frames[i]], net)[0] for i in np.linspace(0, len(frames) - 1, n).astype(int)]
        paths[name] = os.path.join(folder, f"{name}.onnx")
        build(os.path.join(folder, "m.onnx"), paths[name], calib, eng.backend.input_name, keep, method, pct, sym)
        row = [f"{name:15s}"]
        runs = [(f"OpenVINO {fp}", "openvino", lambda p, fp=fp: ov_backend(p, fp)) for fp in floats]
        if a.ort:
            runs.append(("ONNX Runtime", "onnxruntime", lambda p: OrtBackend(p, precision="int8")))
        for label, rt, make in runs:
            fp32 = eng.backend
            eng.backend = make(paths[name])
            got = [eng.detect([f])[0] for f in frames]
            eng.backend = fp32
            r, p, nr, ng = agreement(ref[rt], got)
            row.append(f"{label} {r:.3f}/{p:.3f} ({ng} of {nr})")
        print("  ".join(row), flush=True)
    fps = {(n, fp): [] for n in names for fp in floats}
    for _ in range(a.fps_rounds):
        for name in names:
            for fp in floats:
                fps[name, fp].append(model_fps(paths[name], fp))
    if a.fps_rounds:
        print(f"OpenVINO INT8 model alone, 2 single-threaded requests, fps per round "
              f"(load {os.getloadavg()[0]:.1f}):")
        for name in names:
            print(f"  {name:15s} " + "  ".join(f"{fp}: " + " ".join(f"{v:6.1f}" for v in fps[name, fp])
                                               for fp in floats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
