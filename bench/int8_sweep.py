"""INT8 recipes compared (issue #23): for each quantization recipe, the INT8 model's box agreement
with FP32 on the bundled clip (engine level: all 250 frames, recall/precision at IoU 0.5 with the
same class, as tests/test_openvino.py measures) and the model alone on OpenVINO (two single-threaded
requests side by side, as nvinfer runs it; batch 1; the best of 3 rounds, the recipes interleaved).

    .venv/bin/python bench/int8_sweep.py                      # every recipe below
    .venv/bin/python bench/int8_sweep.py --recipes r3,r1 --ort # also ONNX Runtime's agreement

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
    from estuary.infer.cluster import iou_matrix
    tp = n_ref = n_got = 0
    for a, b in zip(ref, got):
        n_ref, n_got = n_ref + len(a.boxes), n_got + len(b.boxes)
        if len(a.boxes) and len(b.boxes):
            m = iou_matrix(a.boxes, b.boxes) * (a.class_ids[:, None] == b.class_ids[None, :])
            used = set()
            for i in np.argsort(-m.max(1)):
                j = int(m[i].argmax())
                if m[i, j] >= 0.5 and j not in used:
                    used.add(j)
                    tp += 1
    return tp / max(n_ref, 1), tp / max(n_got, 1), n_ref, n_got


def model_fps(path, rounds=3):
    """Two single-threaded OpenVINO requests side by side (nvinfer's set-up), best of ``rounds``."""
    from concurrent.futures import ThreadPoolExecutor
    from estuary.infer.backends import OpenVinoBackend
    x = np.random.default_rng(0).random((1, 3, 416, 416), dtype=np.float32)
    first = OpenVinoBackend(path, threads=1, precision="int8", streams=2)
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--ort", action="store_true", help="also measure agreement on ONNX Runtime")
    ap.add_argument("--fps-rounds", type=int, default=2, help="interleaved speed rounds (0: none)")
    a = ap.parse_args(argv)
    from estuary.infer.backends import create_backend
    from estuary.infer.engine import InferEngine
    from estuary.infer.preprocess import prepare
    names = a.recipes.split(",")
    folder = tempfile.mkdtemp(prefix="int8-sweep-")
    frames = frames_rgba()
    cfg = config(folder)
    backends = ["openvino"] + (["onnxruntime"] if a.ort else [])
    eng = {b: InferEngine(cfg, backend=b) for b in backends}
    ref = {b: [e.detect([f])[0] for f in frames] for b, e in eng.items()}
    net = eng["openvino"].net
    paths = {}
    for name in names:
        keep, method, pct, n, sym = RECIPES[name]
        calib = [prepare([frames[i]], net)[0] for i in np.linspace(0, len(frames) - 1, n).astype(int)]
        paths[name] = os.path.join(folder, f"{name}.onnx")
        t = time.perf_counter()
        build(os.path.join(folder, "m.onnx"), paths[name], calib, eng["openvino"].backend.input_name,
              keep, method, pct, sym)
        built = time.perf_counter() - t
        row = [f"{name:15s} built {built:5.1f} s"]
        for b, e in eng.items():
            fp32 = e.backend
            e.backend = create_backend(paths[name], precision="int8", prefer=b)
            got = [e.detect([f])[0] for f in frames]
            e.backend = fp32
            r, p, nr, ng = agreement(ref[b], got)
            row.append(f"{b} R/P {r:.3f}/{p:.3f} ({nr}/{ng} boxes)")
        print("  ".join(row), flush=True)
    fps = {n: [] for n in names}
    for _ in range(a.fps_rounds):
        for name in names:
            fps[name].append(model_fps(paths[name]))
    if a.fps_rounds:
        ld = os.getloadavg()[0]
        print(f"OpenVINO INT8 model alone, 2 single-threaded requests, fps per round (load {ld:.1f}):")
        for name in names:
            print(f"  {name:15s} " + " ".join(f"{v:6.1f}" for v in fps[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
