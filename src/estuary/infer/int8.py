"""INT8 on the CPU (``network-mode=1``): the ONNX model quantized once, cached beside it.

Like DeepStream, which builds a TensorRT engine on first use and keeps it as ``model-engine-file``,
Estuary quantizes the ONNX model on first use — static QDQ quantization with ONNX Runtime's tools:
per-channel INT8 weights, UINT8 activations whose ranges come from calibration images — and writes
``<model>.int8-<key>.onnx`` beside the model (in ``~/.cache/estuary/int8`` when that folder is not
writable). ``<key>`` hashes the model's bytes, the pre-processing settings, the calibration data and
the quantization recipe: the cached model is reused while they match and rebuilt when any changes.

Calibration data: ``int8-calib-file`` names a folder of images, or a text file listing image paths
(one a line, relative to the list's folder; ``#`` starts a comment). Up to :data:`MAX_CALIB_IMAGES`
are used, evenly spread. A missing path, a folder without images, a list naming a missing or
unreadable image is a :class:`ConfigError`; a TensorRT calibration table (DeepStream's
``cal_trt.bin``) is not usable here and is treated as no file, with a warning. Without a file, the element calibrates on the first frames it sees
(:data:`CALIB_FRAMES` frames, one every :data:`CALIB_STRIDE`), inferring them in FP32 meanwhile,
and warns: such a model is only as good as those frames are typical.

Which layers: the inputs of convolutions and matrix products, except the convolutions whose outputs
feed no activation (detector heads: their outputs are box coordinates and scores, which lose
accuracy in 8 bits) and the first few convolutions (the stem: few channels, large images; measured
to carry most of the quantization error); everything else stays in float. How many stem
convolutions depends on the float the runtime runs the rest in (:func:`float_precision`): FP32
(ONNX Runtime; OpenVINO on CPUs without BF16) keeps :data:`FP32_FIRST_CONVS` (:data:`RECIPE`);
OpenVINO on a CPU with AVX-512 BF16 or AMX runs the float layers in BF16 (faster there) and
keeps :data:`BF16_FIRST_CONVS` (:data:`RECIPE_BF16`). Each recipe was chosen as the fastest
whose boxes agree ≥ 0.95 with FP32's on the bundled clip (``bench/int8_sweep.py``, docs/cpu.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile

import numpy as np

from estuary.errors import ConfigError, ModelError

__all__ = ["Int8Plan", "load_calibration", "quantize", "float_precision", "CALIB_FRAMES", "CALIB_STRIDE",
           "MAX_CALIB_IMAGES", "RECIPE", "RECIPE_BF16"]

log = logging.getLogger("estuary.infer")

CALIB_FRAMES = 16
CALIB_STRIDE = 5
MAX_CALIB_IMAGES = 64
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
#: the quantization recipe for runtimes that run the float layers in FP32; part of the cache key,
#: so that a change of recipe rebuilds
RECIPE = {"format": "QDQ", "weights": "int8-per-channel", "activations": "uint8", "calibration": "minmax",
          "ops": ["Conv", "MatMul", "Gemm"], "keep_fp32": "heads+first-4-convs", "version": 3}
#: the recipe for OpenVINO on CPUs with BF16: the float layers run in BF16, one stem convolution
#: fewer is kept in float (measured: keeping four there loses boxes, three keeps agreement ≥ 0.95)
RECIPE_BF16 = {**RECIPE, "keep_fp32": "heads+first-3-convs", "float": "bf16", "version": 4}
#: the config keys that change what the network sees
_PREPROCESS_KEYS = ("net-scale-factor", "offsets", "model-color-format", "infer-dims", "maintain-aspect-ratio",
                    "symmetric-padding", "scaling-filter", "network-input-order")


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Int8Plan:
    """Where the INT8 model of an nvinfer config lives, and whether it is built."""

    def __init__(self, cfg, float_precision: str = "f32"):
        """``float_precision``: what the runtime runs the layers left in float in, "f32" or "bf16"
        (:func:`float_precision`); it picks the recipe, and so the file."""
        self.cfg = cfg
        self.float_precision = float_precision
        self.recipe = RECIPE_BF16 if float_precision == "bf16" else RECIPE
        self.first_convs = BF16_FIRST_CONVS if float_precision == "bf16" else FP32_FIRST_CONVS
        self.onnx_file = cfg.onnx_file
        self.calib_file = cfg.values.get("int8-calib-file")
        self.images = _calibration_images(cfg) if self.calib_file else []
        if self.images:
            calib = [[os.path.basename(p), _sha256_file(p)] for p in self.images]
        else:
            calib = f"first {CALIB_FRAMES} frames, every {CALIB_STRIDE}th"
        settings = {"model": _sha256_file(self.onnx_file), "recipe": self.recipe, "calibration": calib,
                    "preprocess": {k: cfg.values.get(k) for k in _PREPROCESS_KEYS}}
        self.key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        stem = os.path.splitext(os.path.basename(self.onnx_file))[0]
        name = f"{stem}.int8-{self.key}.onnx"
        folder = os.path.dirname(os.path.abspath(self.onnx_file))
        if not os.access(folder, os.W_OK):
            folder = os.path.join(os.path.expanduser("~"), ".cache", "estuary", "int8")
        self.path = os.path.join(folder, name)

    @property
    def ready(self) -> bool:
        return os.path.isfile(self.path)

    def build(self, calibration: list[np.ndarray], input_name: str) -> str:
        """Quantize with ``calibration`` (network inputs, each with a batch dim); return the path."""
        quantize(self.onnx_file, self.path, calibration, input_name, first_convs=self.first_convs)
        return self.path


def _calibration_images(cfg) -> list[str]:
    """The image files named by ``int8-calib-file``, or a ConfigError saying what is wrong."""
    src = cfg.values["int8-calib-file"]
    where = {"path": cfg.path, "line": cfg.lines.get("int8-calib-file"), "key": "property/int8-calib-file"}
    what = "a folder of images or a text file listing image paths, one a line"
    if not os.path.exists(src):
        raise ConfigError(f"int8-calib-file not found: {src}", hint=f"int8-calib-file names {what}", **where)
    if os.path.isdir(src):
        images = sorted(os.path.join(src, n) for n in os.listdir(src) if n.lower().endswith(IMAGE_EXTENSIONS))
        if not images:
            raise ConfigError(f"int8-calib-file: no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {src}",
                              hint=f"int8-calib-file names {what}", **where)
    else:
        with open(src, "rb") as f:
            raw = f.read(1 << 20)
        if raw.startswith(b"TRT-"):  # DeepStream's cal_trt.bin: a config that ran there still runs
            log.warning("esinfer: %s is a TensorRT calibration table, which Estuary cannot use: "
                        "calibrating on the first frames instead (int8-calib-file may name %s)", src, what)
            return []
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"int8-calib-file {src} is neither a folder nor a text list of images",
                              hint=f"int8-calib-file names {what}", **where) from None
        images = []
        base = os.path.dirname(os.path.abspath(src))
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            p = line if os.path.isabs(line) else os.path.join(base, line)
            if not os.path.isfile(p):
                raise ConfigError(f"int8-calib-file {src}:{n}: image not found: {line}",
                                  hint="paths in the list are relative to the list's folder", **where)
            images.append(p)
        if not images:
            raise ConfigError(f"int8-calib-file {src} lists no images", hint=f"int8-calib-file names {what}",
                              **where)
    if len(images) > MAX_CALIB_IMAGES:
        images = [images[i] for i in np.linspace(0, len(images) - 1, MAX_CALIB_IMAGES).astype(int)]
    return images


def load_calibration(plan: Int8Plan, net) -> list[np.ndarray]:
    """The calibration images of ``plan`` as network inputs (prepared like frames are)."""
    import cv2

    from estuary.infer.preprocess import prepare
    out = []
    for p in plan.images:
        bgr = cv2.imread(p, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ConfigError(f"int8-calib-file: cannot read image {p}", path=plan.cfg.path,
                              line=plan.cfg.lines.get("int8-calib-file"), key="property/int8-calib-file",
                              hint="remove it from the calibration set or replace it with a readable image")
        out.append(prepare([cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)], net)[0])
    return out


#: convolutions nearest the input kept in FP32. Measured on the bundled clip (OpenVINO, all 250
#: frames, 97 FP32 boxes, 16 calibration frames), quantizing one convolution at a time: the mean
#: absolute error it adds to the scores of FP32 boxes is 0.014 and 0.013 for the 3rd and 4th
#: convolutions (32 and 64 input channels at 104x104 and 52x52), 0.002-0.008 for each later one;
#: 29 of the 97 boxes score within 0.05 above the 0.4 threshold, so that error decides which
#: boxes survive. Box agreement with FP32 (recall/precision at IoU 0.5, both runtimes): heads
#: only 0.89/0.89; first two convolutions also kept 0.94/0.93 (score error 0.021); first four
#: 0.97/0.98 (score error 0.011), at 1.1-1.2x the time of the first-two recipe and still ~2.1x
#: faster than FP32 (one thread). Bias correction (NNCF-style, fast), NNCF itself and
#: SmoothQuant-style channel scaling were measured too and were no better (docs/cpu.md).
FP32_FIRST_CONVS = 4
#: the same with the float layers in BF16 (OpenVINO on CPUs with AVX-512 BF16/AMX). Measured the
#: same way (bench/int8_sweep.py, 2026-12-01, 16 calibration frames): heads + first four in
#: float, BF16 elsewhere, 0.91 / 1.00 (BF16's own rounding of the stem and heads lowers scores
#: near the threshold); first three 0.96 / 0.97 at ~1.35x the speed of recipe 3 in FP32
#: (OpenVINO, two single-threaded requests); first two 0.948 / 0.96 (92 of 97 boxes). Like recipe
#: 3, it depends on the calibration set: with 8, 24, 32 or 64 frames 0.93-0.94 recall (recipe 3
#: in FP32: 0.94-0.97). ESTUARY_INT8_FLOAT=f32 keeps FP32 float layers and recipe 3.
BF16_FIRST_CONVS = 3


def float_precision(backend: str | None) -> str:
    """What the layers an INT8 model leaves in float run in, for nvinfer's ``backend`` choice
    (None/"auto" as :func:`estuary.infer.backends.create_backend` resolves it): "bf16" where
    OpenVINO will run the model on a CPU with BF16, else "f32"."""
    from estuary.infer.backends import ov_int8_float_precision
    return ov_int8_float_precision(backend)


def _fp32_nodes(model, first: int = FP32_FIRST_CONVS) -> list[str]:
    """Names of the convolutions kept in float: those feeding no activation (detector heads) and
    the first ``first`` in graph order (the stem, where quantization error starts and then
    propagates through the whole network)."""
    consumers: dict[str, list[str]] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.op_type)
    acts = {"Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Clip", "PRelu", "Elu", "Mish",
            "Tanh", "Mul", "BatchNormalization"}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    heads = [n.name for n in convs if not acts & set(consumers.get(n.output[0], []))]
    stem = [n.name for n in convs[:first] if n.name not in heads]
    return heads + stem


def quantize(onnx_file: str, out_path: str, calibration: list[np.ndarray], input_name: str,
             first_convs: int = FP32_FIRST_CONVS) -> None:
    """Write the static-QDQ INT8 model of ``onnx_file`` calibrated on ``calibration`` to
    ``out_path`` (atomically: a half-written file is never left under that name), the heads and
    the first ``first_convs`` convolutions left in float."""
    from estuary.native import import_cxx
    onnx = import_cxx("onnx")
    import_cxx("onnxruntime")  # before its quantization tools (see estuary.native)
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    if not calibration:
        raise ModelError("INT8 calibration needs at least one image")
    model = onnx.load(onnx_file)
    for i, n in enumerate(model.graph.node):  # the quantizer excludes nodes by name
        if not n.name:
            n.name = f"{n.op_type}_{i}"

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calibration)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {input_name: x}

    folder = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="estuary-int8-") as tmp:
        named = os.path.join(tmp, "model.onnx")
        onnx.save(model, named)
        fd, part = tempfile.mkstemp(prefix=".int8-", suffix=".onnx.part", dir=folder)
        os.close(fd)
        try:
            quantize_static(named, part, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=RECIPE["ops"], nodes_to_exclude=_fp32_nodes(model, first_convs),
                            calibrate_method=CalibrationMethod.MinMax)
            os.replace(part, out_path)
        except Exception as exc:  # noqa: BLE001 - the quantizer's own errors
            raise ModelError(f"INT8 quantization of {onnx_file} failed: {exc}") from None
        finally:
            if os.path.exists(part):
                os.unlink(part)
    log.info("esinfer: INT8 model of %s written to %s (%d calibration images)",
             os.path.basename(onnx_file), out_path, len(calibration))
