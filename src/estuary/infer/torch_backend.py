"""Run an ONNX graph with PyTorch on the GPU (FP16 by default): a small interpreter for the
operators Estuary's bundled models and common detectors use, so no ONNX-to-TensorRT or
onnxruntime-gpu install is needed. Inputs may be torch CUDA tensors (no host round trip).

Every node is checked when the model loads: an operator, an attribute or an attribute value
this interpreter does not implement exactly raises :class:`~estuary.errors.ConfigError` naming
the op, the attribute and the value (never a silently different result). What it does run
matches onnxruntime on the CPU (tests/test_torch_backend.py, op by op and per bundled model).
"""

from __future__ import annotations

import math
import os
import threading
import time

import numpy as np

from estuary.errors import ConfigError
from estuary.infer.backend import Backend

__all__ = ["TorchBackend", "SUPPORTED_OPS", "compile_node", "slice_indices", "resize_source_coords"]

_HINT = "run this model with onnxruntime (ESTUARY_BACKEND=onnxruntime)"


def _attrs(node) -> dict:
    from onnx import helper
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _unsupported(node, attr: str | None, value, why: str = "") -> ConfigError:
    where = f"{node.op_type} node {node.name!r}" if node.name else f"{node.op_type} node"
    if attr is None:
        msg = f"the torch backend does not run {where}" + (f": {why}" if why else "")
    else:
        msg = f"the torch backend does not support {where} attribute {attr}={value!r}" + (f" ({why})" if why else "")
    return ConfigError(msg, key=node.op_type, hint=_HINT)


class _Checker:
    """Validates one node's attributes against what an op implementation honours."""

    def __init__(self, node, opset: int):
        self.node, self.opset, self.at = node, opset, _attrs(node)
        self.used: set[str] = set()

    def get(self, name, default=None, allowed=None, why=""):
        self.used.add(name)
        v = self.at.get(name, default)
        if allowed is not None and v not in allowed:
            raise _unsupported(self.node, name, v, why or f"supported: {sorted(map(str, allowed))}")
        return v

    def ignore(self, *names):
        """Attributes that change nothing here (documented per call)."""
        self.used.update(names)

    def done(self):
        extra = sorted(set(self.at) - self.used)
        if extra:
            raise _unsupported(self.node, extra[0], self.at[extra[0]], "unknown or not implemented")


# -- pure index maths (CPU-testable) ----------------------------------------------------------

def slice_indices(start: int, end: int, step: int, dim: int) -> range:
    """The indices ONNX ``Slice`` takes along one axis (clamping as the ONNX spec says, which
    differs from Python's slice for out-of-range negative starts with a negative step)."""
    if step == 0:
        raise ConfigError("Slice step 0 is invalid", key="Slice")
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return range(start, end, step)


def resize_source_coords(out_len: int, in_len: int, scale: float, mode: str) -> np.ndarray:
    """ONNX Resize ``coordinate_transformation_mode``: the source coordinate (float32, as
    onnxruntime computes it) of each output index along one axis."""
    x = np.arange(out_len, dtype=np.float32)
    s = np.float32(scale)
    if mode == "half_pixel":
        return (x + np.float32(0.5)) / s - np.float32(0.5)
    if mode == "pytorch_half_pixel":
        return (x + np.float32(0.5)) / s - np.float32(0.5) if out_len > 1 else np.zeros(out_len, np.float32)
    if mode == "asymmetric":
        return x / s
    if mode == "align_corners":
        if out_len == 1:
            return np.zeros(1, np.float32)
        return x * np.float32(in_len - 1) / np.float32(out_len - 1)
    raise ValueError(mode)


def _nearest(x: np.ndarray, nearest_mode: str, in_len: int) -> np.ndarray:
    if nearest_mode == "round_prefer_floor":
        i = np.ceil(x - np.float32(0.5))
    elif nearest_mode == "round_prefer_ceil":
        i = np.floor(x + np.float32(0.5))
    elif nearest_mode == "floor":
        i = np.floor(x)
    else:
        i = np.ceil(x)
    return np.clip(i, 0, in_len - 1).astype(np.int64)


# -- op implementations: compile(node, checker, consts) → run(torch, args) --------------------

def _pads_2d(c: _Checker, name="pads"):
    """Returns a function (input H, W, kernel eff. sizes, strides) → (top, left, bottom, right)."""
    auto = c.get("auto_pad", "NOTSET", {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"})
    pads = list(c.get(name, [0, 0, 0, 0]))
    if len(pads) != 4:
        raise _unsupported(c.node, name, pads, "only 2-D (4 pad values)")
    if auto != "NOTSET" and any(pads):
        raise _unsupported(c.node, name, pads, "pads given together with auto_pad")

    def compute(h, w, keff, strides):
        if auto == "NOTSET":
            return pads
        if auto == "VALID":
            return [0, 0, 0, 0]
        out = []
        for size, k, s in zip((h, w), keff, strides):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            small = total // 2
            out.append((small, total - small) if auto == "SAME_UPPER" else (total - small, small))
        return [out[0][0], out[1][0], out[0][1], out[1][1]]
    return compute


def _conv(node, c, consts):
    strides = list(c.get("strides", [1, 1]))
    dil = list(c.get("dilations", [1, 1]))
    group = c.get("group", 1)
    ks = c.get("kernel_shape")
    if len(strides) != 2 or len(dil) != 2 or (ks is not None and len(ks) != 2):
        raise _unsupported(node, "kernel_shape", ks, "only 2-D convolutions")
    w = consts.get(node.input[1])
    if w is not None and w.dim() != 4:
        raise _unsupported(node, "kernel_shape", list(w.shape[2:]), "only 2-D convolutions")
    pads_of = _pads_2d(c)

    def run(torch, a):
        import torch.nn.functional as F
        x, wt = a[0], a[1]
        b = a[2] if len(a) > 2 else None
        keff = [(wt.shape[2] - 1) * dil[0] + 1, (wt.shape[3] - 1) * dil[1] + 1]
        p = pads_of(x.shape[2], x.shape[3], keff, strides)
        if p[0] != p[2] or p[1] != p[3]:
            x = F.pad(x, (p[1], p[3], p[0], p[2]))
            pad = 0
        else:
            pad = (p[0], p[1])
        return F.conv2d(x, wt, b, stride=tuple(strides), padding=pad, groups=group, dilation=tuple(dil))
    return run


def _maxpool(node, c, consts):
    ks = list(c.get("kernel_shape"))
    if len(ks) != 2:
        raise _unsupported(node, "kernel_shape", ks, "only 2-D pooling")
    strides = list(c.get("strides", [1, 1]))
    dil = list(c.get("dilations", [1, 1]))
    ceil = bool(c.get("ceil_mode", 0, {0, 1}))
    c.ignore("storage_order")  # only affects the Indices output, which is refused below
    if len([o for o in node.output if o]) > 1:
        raise _unsupported(node, None, None, "the Indices output is not implemented")
    keff = [(ks[0] - 1) * dil[0] + 1, (ks[1] - 1) * dil[1] + 1]
    pads_of = _pads_2d(c)

    def run(torch, a):
        import torch.nn.functional as F
        x = a[0]
        p = pads_of(x.shape[2], x.shape[3], keff, strides)
        if p[0] == p[2] and p[1] == p[3] and p[0] <= ks[0] // 2 and p[1] <= ks[1] // 2:
            pad = (p[0], p[1])  # torch pads with -inf itself (and counts it for ceil_mode as ONNX)
        else:
            x = F.pad(x, (p[1], p[3], p[0], p[2]), value=float("-inf"))
            pad = 0
        return F.max_pool2d(x, tuple(ks), tuple(strides), padding=pad, dilation=tuple(dil), ceil_mode=ceil)
    return run


def _resize(node, c, consts):
    if c.opset < 11:
        raise _unsupported(node, None, None, f"Resize of opset {c.opset} (< 11) is not implemented")
    mode = c.get("mode", "nearest", {"nearest", "linear"})
    coord = c.get("coordinate_transformation_mode", "half_pixel",
                  {"half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners"})
    nmode = c.get("nearest_mode", "round_prefer_floor", {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"})
    c.get("exclude_outside", 0, {0})
    c.get("antialias", 0, {0})
    c.get("keep_aspect_ratio_policy", "stretch", {"stretch"})
    c.ignore("cubic_coeff_a")  # only used by mode=cubic, which is refused
    c.ignore("extrapolation_value")  # only used by tf_crop_and_resize, which is refused
    if "axes" in c.at:
        raise _unsupported(node, "axes", c.at["axes"], "not implemented")
    cache: dict = {}

    def plan(torch, shape, scales, sizes, dev, dtype):
        """Per resized axis: (axis, index tensor(s), weights) on the device — computed once per
        input shape (an index upload per run would be a host→device copy that waits for the
        stream, each time)."""
        key = (tuple(shape), scales, sizes, dev, dtype)
        if key in cache:
            return cache[key]
        steps = []
        for ax, n in enumerate(shape):
            if sizes is not None:
                out = int(sizes[ax])
                scale = out / n if n else 1.0
            else:
                scale = float(scales[ax])
                out = int(math.floor(n * scale))
            x = resize_source_coords(out, n, scale, coord)
            ident = np.arange(n)
            if mode == "nearest":
                i0 = _nearest(x, nmode, n)
                if out != n or not np.array_equal(i0, ident):
                    steps.append((ax, torch.as_tensor(i0, device=dev), None, None))
            else:
                xc = np.clip(x, 0, n - 1)
                i0 = np.floor(xc).astype(np.int64)
                i1 = np.minimum(i0 + 1, n - 1)
                w = (xc - i0).astype(np.float32)
                if out != n or not np.array_equal(i0, ident) or w.any():
                    shape_w = [1] * len(shape)
                    shape_w[ax] = len(w)
                    steps.append((ax, torch.as_tensor(i0, device=dev), torch.as_tensor(i1, device=dev),
                                  torch.as_tensor(w, device=dev).to(dtype).reshape(shape_w)))
        cache[key] = steps
        return steps

    def run(torch, a):
        x = a[0]
        scales = a[2] if len(a) > 2 and a[2] is not None and a[2].numel() else None
        sizes = a[3] if len(a) > 3 and a[3] is not None and a[3].numel() else None
        steps = plan(torch, x.shape, tuple(float(v) for v in scales.tolist()) if scales is not None else None,
                     tuple(int(v) for v in sizes.tolist()) if sizes is not None else None, x.device, x.dtype)
        for ax, i0, i1, w in steps:
            if i1 is None:
                x = x.index_select(ax, i0)
            else:
                lo = x.index_select(ax, i0)
                hi = x.index_select(ax, i1)
                x = lo + (hi - lo) * w
        return x
    return run


def _slice(node, c, consts):
    if c.opset < 10:
        starts, ends = list(c.get("starts")), list(c.get("ends"))
        axes_attr = c.get("axes")
    else:
        starts = ends = axes_attr = None

    def run(torch, a):
        x = a[0]
        if starts is not None:
            s, e, axes, steps = starts, ends, axes_attr, None
        else:
            s, e = a[1].tolist(), a[2].tolist()
            axes = a[3].tolist() if len(a) > 3 and a[3] is not None else None
            steps = a[4].tolist() if len(a) > 4 and a[4] is not None else None
        axes = list(range(len(s))) if axes is None else [ax % x.dim() for ax in axes]
        steps = steps or [1] * len(s)
        idx = [slice(None)] * x.dim()
        gathers = []
        for st, en, ax, sp in zip(s, e, axes, steps):
            r = slice_indices(int(st), int(en), int(sp), x.shape[ax])
            if sp > 0:
                idx[ax] = slice(r.start, max(r.stop, r.start), r.step)
            else:
                gathers.append((ax, list(r)))
        x = x[tuple(idx)]
        for ax, ind in gathers:
            x = x.index_select(ax, torch.as_tensor(ind, dtype=torch.long, device=x.device))
        return x
    return run


def _reshape(node, c, consts):
    allowzero = c.get("allowzero", 0, {0, 1})

    def run(torch, a):
        shape = [int(v) for v in a[1].tolist()]
        if not allowzero:
            shape = [a[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
        return a[0].reshape(shape)
    return run


def _gemm(node, c, consts):
    alpha = float(c.get("alpha", 1.0))
    beta = float(c.get("beta", 1.0))
    ta = c.get("transA", 0, {0, 1})
    tb = c.get("transB", 0, {0, 1})
    if c.opset < 7:
        raise _unsupported(node, None, None, f"Gemm of opset {c.opset} (< 7, legacy broadcast)")

    def run(torch, a):
        A = a[0].t() if ta else a[0]
        B = a[1].t() if tb else a[1]
        y = A @ B
        if alpha != 1.0:
            y = y * alpha
        if len(a) > 2 and a[2] is not None:
            y = y + (a[2] if beta == 1.0 else beta * a[2])
        return y
    return run


def _softmax(node, c, consts):
    legacy = c.opset < 13
    axis = c.get("axis", 1 if legacy else -1)

    def run(torch, a):
        x = a[0]
        ax = axis % x.dim()
        xf = x.float()
        if legacy:  # opset < 13: the input is coerced to 2-D at axis; softmax over the trailing part
            y = torch.softmax(xf.reshape(int(np.prod(x.shape[:ax], dtype=np.int64)), -1), dim=1).reshape(x.shape)
        else:
            y = torch.softmax(xf, dim=ax)
        return y.to(x.dtype)
    return run


def _gather(node, c, consts):
    axis = c.get("axis", 0)
    cache: dict = {}  # constant indices: normalised and on the device once

    def run(torch, a):
        x, ind = a[0], a[1]
        ax = axis % x.dim()
        key = (id(ind), x.shape[ax], x.device)
        flat = cache.get(key) if node.input[1] in consts else None
        if flat is None:
            flat = ind.reshape(-1).long()
            flat = torch.where(flat < 0, flat + x.shape[ax], flat).to(x.device, non_blocking=True)
            if node.input[1] in consts:
                cache[key] = flat
        y = x.index_select(ax, flat)
        return y.reshape(tuple(x.shape[:ax]) + tuple(ind.shape) + tuple(x.shape[ax + 1:]))
    return run


def _reducemax(node, c, consts):
    keep = bool(c.get("keepdims", 1, {0, 1}))
    if c.opset < 18:
        axes_attr = c.get("axes")
        noop = 0
    else:
        axes_attr = None
        noop = c.get("noop_with_empty_axes", 0, {0, 1})

    def run(torch, a):
        x = a[0]
        if c.opset < 18:
            axes = axes_attr
        else:
            axes = a[1].tolist() if len(a) > 1 and a[1] is not None and a[1].numel() else None
            if axes is None and noop:
                return x
        dims = tuple(range(x.dim())) if not axes else tuple(int(v) % x.dim() for v in axes)
        return x.amax(dim=dims, keepdim=keep)
    return run


def _clip(node, c, consts):
    if c.opset < 11:
        lo, hi = c.get("min"), c.get("max")
    else:
        lo = hi = None

    def run(torch, a):
        if c.opset < 11:
            mn, mx = lo, hi
        else:
            mn = float(a[1]) if len(a) > 1 and a[1] is not None else None
            mx = float(a[2]) if len(a) > 2 and a[2] is not None else None
        return torch.clamp(a[0], mn, mx)
    return run


def _flatten(node, c, consts):
    axis = c.get("axis", 1)

    def run(torch, a):
        x = a[0]
        ax = axis + x.dim() if axis < 0 else axis
        lead = int(np.prod(x.shape[:ax], dtype=np.int64))
        return x.reshape(lead, int(np.prod(x.shape[ax:], dtype=np.int64)))
    return run


def _concat(node, c, consts):
    axis = c.get("axis")
    if axis is None:
        raise _unsupported(node, "axis", None, "Concat needs an axis")
    return lambda torch, a: torch.cat([t for t in a if t is not None], dim=axis)


def _transpose(node, c, consts):
    perm = c.get("perm")
    return lambda torch, a: a[0].permute(*(perm if perm is not None else reversed(range(a[0].dim()))))


def _leaky(node, c, consts):
    alpha = float(c.get("alpha", 0.01))
    return lambda torch, a: torch.nn.functional.leaky_relu(a[0], alpha)


def _noattr(fn):
    def compile_(node, c, consts):
        return fn
    return compile_


#: op → compile(node, checker, constants) → run(torch, inputs); ops with no attributes at all
#: get their attributes refused by the checker (e.g. opset-6 ``Add(broadcast=1)``)
SUPPORTED_OPS = {
    "Conv": _conv,
    "LeakyRelu": _leaky,
    "Relu": _noattr(lambda t, a: t.relu(a[0])),
    "MaxPool": _maxpool,
    "Resize": _resize,
    "Concat": _concat,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Slice": _slice,
    "Sigmoid": _noattr(lambda t, a: t.sigmoid(a[0])),
    "Exp": _noattr(lambda t, a: t.exp(a[0])),
    "Mul": _noattr(lambda t, a: a[0] * a[1]),
    "Add": _noattr(lambda t, a: a[0] + a[1]),
    "Gather": _gather,
    "ReduceMax": _reducemax,
    "Clip": _clip,
    "GlobalAveragePool": _noattr(lambda t, a: a[0].mean(dim=tuple(range(2, a[0].dim())), keepdim=True)),
    "Flatten": _flatten,
    "Gemm": _gemm,
    "Softmax": _softmax,
}

#: inputs read on the host (shapes, bounds, scales): kept off the GPU so no device→host copy
#: happens per run; op → input positions
_HOST_INPUTS = {"Resize": (1, 2, 3), "Clip": (1, 2), "Slice": (1, 2, 3, 4), "Reshape": (1,),
                "ReduceMax": (1,)}


def compile_node(node, opset: int, consts: dict):
    """Validate one node (raising ConfigError for anything not implemented exactly) and return
    its ``run(torch, inputs) → output`` function."""
    if node.domain not in ("", "ai.onnx"):
        raise _unsupported(node, None, None, f"operator domain {node.domain!r}")
    make = SUPPORTED_OPS.get(node.op_type)
    if make is None:
        raise _unsupported(node, None, None, "operator not implemented")
    if len([o for o in node.output if o]) > 1:
        raise _unsupported(node, None, None, "more than one output")
    c = _Checker(node, opset)
    fn = make(node, c, consts)
    c.done()
    return fn


#: CUDA graph captures, one at a time in the process
_CAPTURE_LOCK = threading.Lock()


def default_channels_last(device_type: str) -> bool:
    """Whether a network runs channels-last by default: on CUDA, unless ``ESTUARY_CHANNELS_LAST=0``."""
    return device_type == "cuda" and os.environ.get("ESTUARY_CHANNELS_LAST", "1") != "0"


class TorchBackend(Backend):
    """ONNX graph → a sequence of torch ops on ``cuda:<gpu_id>`` (or ``device``)."""

    def __init__(self, path: str, gpu_id: int = 0, fp16: bool = True, device: str | None = None,
                 channels_last: bool | None = None):
        import onnx
        import torch
        from onnx import numpy_helper
        self.torch = torch
        if device is None:
            device = f"cuda:{gpu_id}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.dtype = torch.float16 if fp16 and self.device.type == "cuda" else torch.float32
        model = onnx.load(path)
        g = model.graph
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        host_inputs = {n.input[k] for n in g.node for k in _HOST_INPUTS.get(n.op_type, ())
                       if k < len(n.input) and n.input[k]}
        self.consts = {}
        for init in g.initializer:
            arr = np.array(numpy_helper.to_array(init))  # a writable copy
            t = torch.from_numpy(arr)
            if t.is_floating_point() and init.name not in host_inputs:
                t = t.to(self.device, self.dtype)  # weights live on the GPU
            elif t.is_floating_point():
                t = t.float()
            # integer constants (shapes, slice bounds, indices) stay on the host: reading them
            # back for every run would be a device-to-host copy each time
            self.consts[init.name] = t
        # channels-last (NHWC) activations and 4-D weights: cuDNN's FP16 tensor-core convolutions
        # work in that layout (on an H200 at batch 64: YOLOv3-tiny alone 10,800 → 13,850 fps,
        # MobileNetV2 3.09 → 2.35 ms). Default on CUDA; ESTUARY_CHANNELS_LAST=0 turns it off.
        # Both layouts agree with onnxruntime FP32 on real crops (tests/test_torch_backend.py).
        if channels_last is None:
            channels_last = default_channels_last(self.device.type)
        self.channels_last = bool(channels_last)
        if self.channels_last:
            conv_weights = {n.input[1] for n in g.node if n.op_type == "Conv" and len(n.input) > 1}
            for name in conv_weights:
                t = self.consts.get(name)
                if t is not None and t.dim() == 4:
                    self.consts[name] = t.contiguous(memory_format=torch.channels_last)
        self.nodes = list(g.node)
        self._fns = [compile_node(n, opset, self.consts) for n in self.nodes]
        inits = {i.name for i in g.initializer}
        inp = next(i for i in g.input if i.name not in inits)
        self.input_name = inp.name
        self.input_shape = [d.dim_value if d.HasField("dim_value") else d.dim_param
                            for d in inp.type.tensor_type.shape.dim]
        self.output_names = [o.name for o in g.output]
        b = self.input_shape[0] if self.input_shape else None
        self.fixed_batch = b if isinstance(b, int) and b > 0 else None
        self.name = (f"torch {torch.__version__} ({self.device}, {str(self.dtype).split('.')[-1]}"
                     f"{', channels-last' if self.channels_last else ''})")

    #: CUDA graphs: a batch shape is captured once it has come this many times (a stream's
    #: last, partial batches run eagerly), and at most this many shapes are kept
    GRAPH_AFTER, GRAPH_MAX = 3, 4

    def enable_cuda_graphs(self) -> None:
        """Replay the network as a CUDA graph for recurring batch shapes (CUDA tensors, run
        with ``as_numpy=False``): one launch instead of one Python dispatch per ONNX node. A
        shape whose capture fails runs eagerly from then on (logged once)."""
        if self.device.type == "cuda" and getattr(self, "_graphs", None) is None:
            self._graphs, self._graph_seen, self._graph_failed = {}, {}, set()
            self.capture_seconds = 0.0  # spent capturing (waiting for the lock included)

    def warm_up(self, batch_sizes) -> list[int]:
        """Run the network once, eagerly on zeros, at each of these batch sizes and wait: cuDNN
        picks (and may compile) its kernels for every convolution at each new input shape, so
        the first batch of each shape would stall the stream by that much. Called when the
        element starts, before any frame waits, as DeepStream builds its engines before playing.
        CUDA only; ``ESTUARY_WARM_UP=0`` skips it. Returns the sizes run."""
        torch = self.torch
        dims = self.input_shape[1:]
        if (self.device.type != "cuda" or len(dims) != 3 or not all(isinstance(d, int) and d > 0 for d in dims)
                or os.environ.get("ESTUARY_WARM_UP") == "0"):
            return []
        done = []
        # a model exported for one batch size only ever runs at that size (padded or image by image)
        sizes = {self.fixed_batch} if self.fixed_batch and batch_sizes else set(batch_sizes)
        with torch.inference_mode():
            for b in sorted(sizes):
                x = torch.zeros((b, *dims), device=self.device, dtype=self.dtype)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                self._eager(x)
                done.append(b)
            torch.cuda.synchronize(self.device)
        return done

    def _graph(self, x):
        """Outputs of the captured graph for ``x`` (already on the device, in self.dtype), or
        None when this shape runs eagerly."""
        torch = self.torch
        key = tuple(x.shape)
        entry = self._graphs.get(key)
        if entry is None:
            if key in self._graph_failed or len(self._graphs) >= self.GRAPH_MAX:
                return None
            self._graph_seen[key] = self._graph_seen.get(key, 0) + 1
            if self._graph_seen[key] < self.GRAPH_AFTER:
                return None
            # one capture at a time in the process (torch's rule): classifiers on tee branches
            # or after a queue capture from other streaming threads
            t0 = time.perf_counter()
            with _CAPTURE_LOCK:
                try:
                    static_in = x.clone()
                    side = torch.cuda.Stream(self.device)
                    side.wait_stream(torch.cuda.current_stream(self.device))
                    with torch.cuda.stream(side):  # warm-up off the capture, as torch requires
                        self._eager(static_in)
                    torch.cuda.current_stream(self.device).wait_stream(side)
                    graph = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                        outs = self._eager(static_in)
                    entry = self._graphs[key] = (graph, static_in, outs)
                    self.capture_seconds += time.perf_counter() - t0
                except Exception as e:  # noqa: BLE001 - an op that cannot be captured: stay eager
                    import logging
                    logging.getLogger("estuary.infer").warning("CUDA graph capture failed for batch shape %s "
                                                               "(running eagerly): %s", key, e)
                    self._graph_failed.add(key)
                    return None
        graph, static_in, outs = entry
        static_in.copy_(x)
        graph.replay()
        # the next replay overwrites the graph's outputs: hand out copies (on the GPU, in order)
        return {k: v.clone() for k, v in outs.items()}

    def _eager(self, x) -> dict:
        env = dict(self.consts)
        env[self.input_name] = x
        torch = self.torch
        for node, fn in zip(self.nodes, self._fns):
            args = [env[i] if i else None for i in node.input]
            env[node.output[0]] = fn(torch, args)
        return {n: env[n] for n in self.output_names}

    def run(self, x, as_numpy: bool = True) -> dict:
        torch = self.torch
        if self.fixed_batch == 1 and x.shape[0] > 1:  # a graph exported for batch 1: image by image
            parts = [self.run(x[i: i + 1], as_numpy) for i in range(x.shape[0])]
            cat = np.concatenate if as_numpy else torch.cat
            return {k: cat([p[k] for p in parts]) for k in parts[0]}
        with torch.inference_mode():
            if not isinstance(x, torch.Tensor):
                x = torch.from_numpy(np.ascontiguousarray(x))
            x = x.to(self.device, self.dtype, non_blocking=True)
            if self.channels_last and x.dim() == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            outs = None
            if not as_numpy and getattr(self, "_graphs", None) is not None and x.is_cuda:
                outs = self._graph(x)
            if outs is None:
                outs = self._eager(x)
            if as_numpy:
                return {k: v.float().cpu().numpy() if v.is_floating_point() else v.cpu().numpy()
                        for k, v in outs.items()}
            return outs
