"""TensorFlow Lite flatbuffer → ONNX for small float CNNs, written from the TFLite schema.

Made for MediaPipe's selfie segmentation model (``selfie_segmentation.tflite`` in
``mediapipe==0.10.14``), whose operators ``tflite2onnx`` does not convert (HARD_SWISH, and
MediaPipe's custom ``Convolution2DTransposeBias``). The flatbuffer is read with the ``tflite``
package (generated from TensorFlow's schema); the ONNX graph is written with ``onnx.helper``.

Layout: TFLite activations are NHWC; the ONNX graph keeps every 4-D activation NCHW (the layout
nvinfer feeds), so the input becomes ``(1, C, H, W)`` and weights are transposed once here.

Only what was verified against a reference is converted (tests/test_segmentation_models.py
compares with the TFLite interpreter): CONV_2D, DEPTHWISE_CONV_2D, ADD, MUL, RELU, RELU6,
LOGISTIC, HARD_SWISH, global AVERAGE_POOL_2D, RESIZE_BILINEAR, DEQUANTIZE of float16 weights and
``Convolution2DTransposeBias`` whose kernel equals its stride. Anything else raises
:class:`~estuary.errors.ModelError` naming the operator.

The emitted operators are all ones that Estuary's torch (GPU) backend also runs: HARD_SWISH is
written as ``x * Clip(x / 6 + 0.5, 0, 1)`` and the transposed convolution as a 1×1 convolution
followed by a depth-to-space made of Reshape/Transpose (exact: with kernel == stride each output
pixel receives exactly one input pixel's contribution).
"""

from __future__ import annotations

import numpy as np

from estuary.errors import ModelError
from estuary_build import rename_value

__all__ = ["tflite_to_onnx"]

_OPSET = 13


def _same_pads(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (begin, end) along one axis."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


class _Converter:
    def __init__(self, data: bytes):
        try:
            import tflite
        except ImportError as e:  # pragma: no cover - a dependency of the package
            raise ModelError("converting a TFLite model needs the 'tflite' package: pip install tflite") from e
        self.tfl = tflite
        if len(data) < 8 or data[4:8] != b"TFL3":  # the flatbuffer's file identifier
            raise ModelError("not a TFLite model (no 'TFL3' file identifier)")
        try:
            self.model = tflite.Model.GetRootAsModel(data, 0)
            self.graph = self.model.Subgraphs(0)
        except Exception as e:  # a flatbuffer that is not a TFLite model fails anywhere in here
            raise ModelError(f"not a TFLite model: {e}") from e
        if self.model.SubgraphsLength() != 1:
            raise ModelError("only single-subgraph TFLite models are converted")
        self.data = data
        self.ops = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        self.nodes: list = []
        self.inits: list = []
        self.consts: dict[int, np.ndarray] = {}  # tensor index → constant value (TFLite layout)
        self.names: dict[int, str] = {}  # tensor index → ONNX value name (NCHW when 4-D)
        self._n = 0

    # -- helpers ----------------------------------------------------------------------------------
    def tensor(self, i: int):
        return self.graph.Tensors(i)

    def shape(self, i: int) -> list[int]:
        t = self.tensor(i)
        return [int(x) for x in t.ShapeAsNumpy()] if t.ShapeLength() else []

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def buffer(self, i: int) -> np.ndarray | None:
        t = self.tensor(i)
        buf = self.model.Buffers(t.Buffer())
        raw = None
        if buf.DataLength():
            raw = buf.DataAsNumpy().tobytes()
        elif buf.Offset() > 1:  # large models keep buffers after the flatbuffer
            raw = self.data[buf.Offset(): buf.Offset() + buf.Size()]
        if raw is None:
            return None
        T = self.tfl.TensorType
        dtypes = {T.FLOAT32: np.float32, T.FLOAT16: np.float16, T.INT32: np.int32, T.INT64: np.int64}
        if t.Type() not in dtypes:
            raise ModelError(f"TFLite tensor {t.Name().decode()!r}: type {t.Type()} is not converted "
                             "(quantized models are not supported)")
        return np.frombuffer(raw, dtypes[t.Type()]).reshape(self.shape(i))

    def const(self, i: int) -> np.ndarray:
        if i not in self.consts:
            raise ModelError(f"TFLite tensor {self.tensor(i).Name().decode()!r} must be a constant")
        return self.consts[i]

    def init(self, arr: np.ndarray, hint: str) -> str:
        from onnx import numpy_helper
        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs) -> str:
        from onnx import helper
        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def value(self, i: int) -> str:
        """The ONNX value for a TFLite tensor, making a (NCHW) initializer for constants."""
        if i in self.names:
            return self.names[i]
        arr = self.const(i).astype(np.float32)
        if arr.ndim == 4:
            arr = arr.transpose(0, 3, 1, 2)
        elif arr.ndim == 1:  # broadcast over NHWC's last axis = NCHW's channel axis
            arr = arr.reshape(-1, 1, 1)
        self.names[i] = self.init(arr, self.tensor(i).Name().decode().replace("/", "_"))
        return self.names[i]

    def activation(self, x: str, fused: int, hint: str) -> str:
        A = self.tfl.ActivationFunctionType
        if fused == A.NONE:
            return x
        if fused == A.RELU:
            return self.node("Relu", [x], hint + "_relu")
        bounds = {A.RELU6: (0.0, 6.0), A.RELU_N1_TO_1: (-1.0, 1.0)}
        if fused in bounds:
            lo, hi = bounds[fused]
            return self.node("Clip", [x, self.init(np.float32(lo), "lo"), self.init(np.float32(hi), "hi")],
                             hint + "_clip")
        raise ModelError(f"fused activation {fused} is not converted")

    def options(self, op, cls):
        table = op.BuiltinOptions()
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        return opts

    # -- operators --------------------------------------------------------------------------------
    def conv(self, op, ins, hint, depthwise: bool):
        x_shape, w = self.shape(ins[0]), self.const(ins[1]).astype(np.float32)
        opts = self.options(op, self.tfl.DepthwiseConv2DOptions if depthwise else self.tfl.Conv2DOptions)
        sh, sw = opts.StrideH(), opts.StrideW()
        dh, dw = opts.DilationHFactor() or 1, opts.DilationWFactor() or 1
        if depthwise:  # [1, KH, KW, C*M] → [C*M, 1, KH, KW], one group per input channel
            kh, kw = w.shape[1], w.shape[2]
            weight, group = w.transpose(3, 0, 1, 2), x_shape[3]
        else:  # [O, KH, KW, I] → [O, I, KH, KW]
            kh, kw = w.shape[1], w.shape[2]
            weight, group = w.transpose(0, 3, 1, 2), 1
        if opts.Padding() == self.tfl.Padding.SAME:
            (pt, pb), (pl, pr) = _same_pads(x_shape[1], kh, sh, dh), _same_pads(x_shape[2], kw, sw, dw)
        else:
            pt = pb = pl = pr = 0
        inputs = [self.value(ins[0]), self.init(weight, hint + "_w")]
        if len(ins) > 2 and ins[2] >= 0:
            inputs.append(self.init(self.const(ins[2]).astype(np.float32), hint + "_b"))
        y = self.node("Conv", inputs, hint, kernel_shape=[kh, kw], strides=[sh, sw],
                      dilations=[dh, dw], pads=[pt, pl, pb, pr], group=group)
        return self.activation(y, opts.FusedActivationFunction(), hint)

    def transpose_conv_bias(self, op, ins, out_shape, hint):
        """MediaPipe's Convolution2DTransposeBias: custom options are TfLiteTransposeConvParams
        (int32 padding, stride_width, stride_height); weights [O, KH, KW, I], bias [O]."""
        params = op.CustomOptionsAsNumpy().view(np.int32) if op.CustomOptionsLength() >= 12 else None
        if params is None:
            raise ModelError("Convolution2DTransposeBias without its stride options")
        stride_w, stride_h = int(params[1]), int(params[2])
        w, b = self.const(ins[1]).astype(np.float32), self.const(ins[2]).astype(np.float32)
        o, kh, kw, i = w.shape
        _, h, wd, _ = self.shape(ins[0])
        if (kh, kw) != (stride_h, stride_w) or out_shape[1:3] != [h * kh, wd * kw]:
            raise ModelError(f"Convolution2DTransposeBias with kernel {kh}x{kw} and stride "
                             f"{stride_h}x{stride_w} is not converted (only kernel == stride)")
        # 1x1 conv: channel (o, dy, dx) = sum_i x[i] * w[o, dy, dx, i] (+ bias of o)
        weight = w.reshape(o * kh * kw, i, 1, 1)
        bias = np.repeat(b, kh * kw)
        y = self.node("Conv", [self.value(ins[0]), self.init(weight, hint + "_w"), self.init(bias, hint + "_b")],
                      hint + "_1x1", kernel_shape=[1, 1])
        # depth to space: (1, o, kh, kw, h, w) → (1, o, h, kh, w, kw) → (1, o, h*kh, w*kw)
        y = self.node("Reshape", [y, self.init(np.array([1, o, kh, kw, h, wd], np.int64), "shape")], hint + "_r1")
        y = self.node("Transpose", [y], hint + "_t", perm=[0, 1, 4, 2, 5, 3])
        return self.node("Reshape", [y, self.init(np.array([1, o, h * kh, wd * kw], np.int64), "shape")], hint)

    def convert_op(self, op, k: int) -> None:
        code_t = self.model.OperatorCodes(op.OpcodeIndex())
        code = max(code_t.BuiltinCode(), code_t.DeprecatedBuiltinCode())
        name = self.ops.get(code, str(code))
        ins = [int(x) for x in op.InputsAsNumpy()]
        outs = [int(x) for x in op.OutputsAsNumpy()]
        hint = self.tensor(outs[0]).Name().decode().replace("/", "_") or f"op{k}"
        B = self.tfl.BuiltinOperator
        if code == B.DEQUANTIZE:
            src = self.const(ins[0]) if ins[0] in self.consts else None
            if src is None or src.dtype != np.float16:
                raise ModelError("DEQUANTIZE is converted only for float16 constant weights")
            self.consts[outs[0]] = src.astype(np.float32)
            return
        if code in (B.CONV_2D, B.DEPTHWISE_CONV_2D):
            y = self.conv(op, ins, hint, depthwise=code == B.DEPTHWISE_CONV_2D)
        elif code in (B.ADD, B.MUL):
            cls = self.tfl.AddOptions if code == B.ADD else self.tfl.MulOptions
            y = self.node("Add" if code == B.ADD else "Mul", [self.value(ins[0]), self.value(ins[1])], hint)
            y = self.activation(y, self.options(op, cls).FusedActivationFunction(), hint)
        elif code == B.RELU:
            y = self.node("Relu", [self.value(ins[0])], hint)
        elif code == B.RELU6:
            y = self.activation(self.value(ins[0]), self.tfl.ActivationFunctionType.RELU6, hint)
        elif code == B.LOGISTIC:
            y = self.node("Sigmoid", [self.value(ins[0])], hint)
        elif code == B.HARD_SWISH:  # x * relu6(x + 3) / 6
            x = self.value(ins[0])
            g = self.node("Mul", [x, self.init(np.float32(1 / 6), "sixth")], hint + "_s")
            g = self.node("Add", [g, self.init(np.float32(0.5), "half")], hint + "_o")
            g = self.node("Clip", [g, self.init(np.float32(0), "lo"), self.init(np.float32(1), "hi")], hint + "_c")
            y = self.node("Mul", [x, g], hint)
        elif code == B.AVERAGE_POOL_2D:
            opts = self.options(op, self.tfl.Pool2DOptions)
            _, h, w, _ = self.shape(ins[0])
            if (opts.FilterHeight(), opts.FilterWidth()) != (h, w) or opts.Padding() != self.tfl.Padding.VALID:
                raise ModelError("AVERAGE_POOL_2D is converted only as a global average (filter = input, VALID)")
            y = self.node("GlobalAveragePool", [self.value(ins[0])], hint)
            y = self.activation(y, opts.FusedActivationFunction(), hint)
        elif code == B.RESIZE_BILINEAR:
            opts = self.options(op, self.tfl.ResizeBilinearOptions)
            oh, ow = (int(v) for v in self.const(ins[1]))
            n, _, _, c = self.shape(ins[0])
            mode = ("align_corners" if opts.AlignCorners() else
                    "half_pixel" if opts.HalfPixelCenters() else "asymmetric")
            sizes = self.init(np.array([n, c, oh, ow], np.int64), "sizes")
            y = self.node("Resize", [self.value(ins[0]), "", "", sizes], hint, mode="linear",
                          coordinate_transformation_mode=mode)
        elif code == B.CUSTOM and code_t.CustomCode() == b"Convolution2DTransposeBias":
            y = self.transpose_conv_bias(op, ins, self.shape(outs[0]), hint)
        else:
            custom = f" ({code_t.CustomCode().decode()})" if code == B.CUSTOM else ""
            raise ModelError(f"TFLite operator {name}{custom} is not converted (operator {k})")
        self.names[outs[0]] = y

    def run(self, two_class_output: bool, output_name: str):
        from onnx import TensorProto, helper
        for i in range(self.graph.TensorsLength()):
            arr = self.buffer(i)
            if arr is not None:
                self.consts[i] = arr
        inputs = []
        for i in self.graph.InputsAsNumpy():
            shape = self.shape(int(i))
            if len(shape) != 4:
                raise ModelError(f"only NHWC image inputs are converted (input shape {shape})")
            name = self.tensor(int(i)).Name().decode()
            self.names[int(i)] = name
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                        [shape[0], shape[3], shape[1], shape[2]]))
        for k in range(self.graph.OperatorsLength()):
            self.convert_op(self.graph.Operators(k), k)
        outs = [int(i) for i in self.graph.OutputsAsNumpy()]
        if len(outs) != 1 or len(self.shape(outs[0])) != 4:
            raise ModelError("only models with one NHWC output are converted")
        n, h, w, c = self.shape(outs[0])
        y = self.names[outs[0]]
        if two_class_output:
            if c != 1:
                raise ModelError(f"two_class_output needs a one-channel probability output (it has {c})")
            # 1 - p as Mul/Add (operators the torch backend runs)
            bg = self.node("Mul", [y, self.init(np.float32(-1.0), "minus_one")], "background_neg")
            bg = self.node("Add", [bg, self.init(np.float32(1.0), "one")], "background")
            y, c = self.node("Concat", [bg, y], "classes", axis=1), 2
        rename_value(self.nodes, y, output_name)
        graph = helper.make_graph(self.nodes, "tflite", inputs,
                                  [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [n, c, h, w])],
                                  self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)],
                                  producer_name="estuary-tflite")
        model.ir_version = min(model.ir_version, 8)
        return model


def tflite_to_onnx(data: bytes, out_path: str | None = None, *, two_class_output: bool = False,
                   output_name: str = "output"):
    """Convert a TFLite model (its bytes); returns the ONNX ``ModelProto`` (saved to ``out_path``
    if given). The input keeps its TFLite name, as ``(N, C, H, W)``; the one output is named
    ``output_name``, also NCHW.

    ``two_class_output``: a one-channel probability map ``p`` becomes two channels ``[1 - p, p]``
    (background, foreground) — the per-class probability layout of nvinfer's semantic
    segmentation (``network-type=2``), whose class map is the arg-max over channels."""
    import onnx
    model = _Converter(data).run(two_class_output, output_name)
    onnx.checker.check_model(model)
    if out_path:
        onnx.save(model, out_path)
    return model
