"""YOLOv5-seg checkpoint (``.pt``, a pickled ``SegmentationModel``) → ONNX, without torch and
without the YOLOv5 source.

A YOLOv5 checkpoint pickles whole modules (``models.yolo.SegmentationModel``,
``models.common.C3``…), so it cannot be read as a plain state dict. :func:`load_module_tree`
reads it with a restricted unpickler that turns every class into an inert record of its
attributes (no code from the checkpoint runs) and tensors into numpy arrays. The ONNX graph is
then written from that module tree with ``onnx.helper``: the layer list (each layer's ``f``
"from" indices and ``type`` name, as YOLOv5's model builder records them), Conv+BatchNorm folded
into one convolution, SiLU, C3, SPPF, nearest upsampling, Concat, and the Segment head decoded in
the graph like YOLOv5's export:

* ``output0`` (1, N, 5 + classes + masks): cx, cy, w, h in input pixels, objectness and class
  probabilities (sigmoid), then the raw mask coefficients — what Estuary's ``yolov5`` parser
  reads (mask coefficients after the classes, prototypes in the second output);
* ``output1`` (1, masks, H/4, W/4): the mask prototypes.

Every operator used is one the torch (GPU) backend also runs.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile

import numpy as np

from estuary.errors import ModelError
from estuary_build import rename_value

__all__ = ["load_module_tree", "state_dict", "yolov5_seg_to_onnx"]

_STORAGES = {"FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
             "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


class Record:
    """An unpickled module or object: its class name and the attributes it was pickled with."""

    def __init__(self, *args, **kwargs):
        self.__dict__["_args"] = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)

    def __repr__(self):
        return f"<{self._cls}>"


class _Tensor:
    __slots__ = ("key", "dtype", "offset", "size", "stride")

    def __init__(self, storage, offset, size, stride):
        (self.key, self.dtype), self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


def _rebuild_tensor(storage, offset, size, stride, *_):
    return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, *_):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, f):
        super().__init__(f)
        self.records: dict[tuple[str, str], type] = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGES:
            return np.dtype(_STORAGES[name])
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module in ("__builtin__", "builtins") and name in ("set", "frozenset", "slice"):
            return {"set": set, "frozenset": frozenset, "slice": slice}[name]
        if module in ("__builtin__", "builtins") and name == "getattr":
            # YOLOv5 pickles ``Segment.detect = Detect.forward`` as getattr(Detect, "forward"):
            # answered with a name, never a real attribute look-up
            return lambda obj, attr: f"{obj!r}.{attr}"
        if module.startswith(("torch", "models.", "utils.", "numpy")) or module == "models":
            key = (module, name)
            if key not in self.records:  # an inert class per pickled class name
                self.records[key] = type(name, (Record,), {"_cls": f"{module}.{name}"})
            return self.records[key]
        raise ModelError(f"the checkpoint names {module}.{name}, which a YOLOv5 model does not")

    def persistent_load(self, pid):
        _typename, dtype, key, _location, *_ = pid
        return (key, dtype)


def _materialise(obj, storages, seen=None):
    seen = set() if seen is None else seen
    if isinstance(obj, _Tensor):
        base = storages[obj.key]
        item = base.dtype.itemsize
        return np.lib.stride_tricks.as_strided(base[obj.offset:], shape=obj.size,
                                               strides=tuple(s * item for s in obj.stride)).copy()
    if id(obj) in seen:
        return obj
    seen.add(id(obj))
    if isinstance(obj, dict):
        for k, v in obj.items():
            obj[k] = _materialise(v, storages, seen)
    elif isinstance(obj, list):
        obj[:] = [_materialise(v, storages, seen) for v in obj]
    elif isinstance(obj, tuple):
        return tuple(_materialise(v, storages, seen) for v in obj)
    elif isinstance(obj, Record):
        for k, v in list(obj.__dict__.items()):
            obj.__dict__[k] = _materialise(v, storages, seen)
    return obj


def _tensor_keys(obj, out, seen=None):
    seen = set() if seen is None else seen
    if isinstance(obj, _Tensor):
        out[obj.key] = obj.dtype
        return
    if id(obj) in seen:
        return
    seen.add(id(obj))
    vals = (obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple))
            else obj.__dict__.values() if isinstance(obj, Record) else ())
    for v in vals:
        _tensor_keys(v, out, seen)


def load_module_tree(data: bytes):
    """The object pickled in a (zip-format) PyTorch checkpoint, modules as :class:`Record` s
    and tensors as numpy arrays."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelError("not a zip-format PyTorch checkpoint")
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        pkl = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
        if pkl is None:
            raise ModelError("the checkpoint has no data.pkl")
        root = pkl[: -len("data.pkl")]
        obj = _Unpickler(io.BytesIO(z.read(pkl))).load()
        keys: dict = {}
        _tensor_keys(obj, keys)
        storages = {k: np.frombuffer(z.read(f"{root}data/{k}"), dt) for k, dt in keys.items()}
    return _materialise(obj, storages)


def _children(m: Record) -> collections.OrderedDict:
    return m.__dict__.get("_modules") or collections.OrderedDict()


def state_dict(m: Record, prefix: str = "") -> dict[str, np.ndarray]:
    """``name → array`` of a module tree's parameters and buffers, named as torch names them."""
    out = {}
    for group in ("_parameters", "_buffers"):
        for k, v in (m.__dict__.get(group) or {}).items():
            if v is not None:
                out[prefix + k] = v
    for k, child in _children(m).items():
        if child is not None:
            out.update(state_dict(child, f"{prefix}{k}."))
    return out


class _Graph:
    def __init__(self):
        self.nodes, self.inits, self._n = [], [], 0

    def name(self, hint):
        self._n += 1
        return f"{hint}_{self._n}"

    def const(self, arr, hint="c"):
        from onnx import numpy_helper
        n = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def op(self, op_type, inputs, hint, **attrs):
        from onnx import helper
        out = self.name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _pair(v):
    return list(v) if isinstance(v, (list, tuple)) else [v, v]


def _conv2d(g: _Graph, x: str, conv: Record, hint: str, bn: Record | None = None) -> str:
    p = conv._parameters
    w = p["weight"].astype(np.float32)
    b = p["bias"].astype(np.float32) if p.get("bias") is not None else np.zeros(w.shape[0], np.float32)
    if bn is not None:  # fold BatchNorm: y = gamma * (conv - mean) / sqrt(var + eps) + beta
        bp, bb = bn._parameters, bn._buffers
        scale = bp["weight"].astype(np.float32) / np.sqrt(bb["running_var"].astype(np.float32) + bn.eps)
        w = w * scale[:, None, None, None]
        b = (b - bb["running_mean"].astype(np.float32)) * scale + bp["bias"].astype(np.float32)
    if getattr(conv, "padding_mode", "zeros") != "zeros":
        raise ModelError(f"{hint}: padding_mode {conv.padding_mode!r} is not converted")
    pad = conv.padding
    if isinstance(pad, str):
        raise ModelError(f"{hint}: string padding {pad!r} is not converted")
    ph, pw = _pair(pad)
    return g.op("Conv", [x, g.const(w, hint + "_w"), g.const(b, hint + "_b")], hint,
                kernel_shape=list(w.shape[2:]), strides=_pair(conv.stride), pads=[ph, pw, ph, pw],
                dilations=_pair(conv.dilation), group=int(conv.groups))


def _silu(g: _Graph, x: str, hint: str) -> str:
    return g.op("Mul", [x, g.op("Sigmoid", [x], hint + "_sig")], hint + "_silu")


def _conv_block(g: _Graph, x: str, m: Record, hint: str) -> str:
    """models.common.Conv: Conv2d (no bias) + BatchNorm2d + SiLU."""
    c = _children(m)
    y = _conv2d(g, x, c["conv"], hint, c.get("bn"))
    act = c.get("act")
    kind = getattr(act, "_cls", "")
    if kind.endswith(".SiLU"):
        return _silu(g, y, hint)
    if kind.endswith(".Identity") or act is None:
        return y
    raise ModelError(f"{hint}: activation {kind} is not converted")


def _bottleneck(g, x, m, hint):
    c = _children(m)
    y = _conv_block(g, _conv_block(g, x, c["cv1"], hint + "_cv1"), c["cv2"], hint + "_cv2")
    return g.op("Add", [x, y], hint + "_add") if m.add else y


def _c3(g, x, m, hint):
    c = _children(m)
    a = _conv_block(g, x, c["cv1"], hint + "_cv1")
    for k, b in _children(c["m"]).items():
        a = _bottleneck(g, a, b, f"{hint}_m{k}")
    b = _conv_block(g, x, c["cv2"], hint + "_cv2")
    return _conv_block(g, g.op("Concat", [a, b], hint + "_cat", axis=1), c["cv3"], hint + "_cv3")


def _sppf(g, x, m, hint):
    c = _children(m)
    x = _conv_block(g, x, c["cv1"], hint + "_cv1")
    pool = c["m"]
    k = int(pool.kernel_size if not isinstance(pool.kernel_size, (list, tuple)) else pool.kernel_size[0])
    p = int(pool.padding if not isinstance(pool.padding, (list, tuple)) else pool.padding[0])
    ys = [x]
    for i in range(3):
        ys.append(g.op("MaxPool", [ys[-1]], f"{hint}_pool{i}", kernel_shape=[k, k], strides=[1, 1], pads=[p] * 4))
    return _conv_block(g, g.op("Concat", ys, hint + "_cat", axis=1), c["cv2"], hint + "_cv2")


def _upsample(g, x, m, hint):
    if getattr(m, "mode", "nearest") != "nearest" or m.scale_factor is None:
        raise ModelError(f"{hint}: only nearest upsampling by a scale factor is converted")
    s = float(m.scale_factor if not isinstance(m.scale_factor, (list, tuple)) else m.scale_factor[0])
    return g.op("Resize", [x, "", g.const(np.array([1, 1, s, s], np.float32), "scales")], hint,
                mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def _segment(g, feats, m, size, hint):
    """The Segment head: prototypes from the first level, decoded boxes from every level."""
    c = _children(m)
    proto = _children(c["proto"])
    p = _conv_block(g, feats[0], proto["cv1"], hint + "_proto_cv1")
    p = _upsample(g, p, proto["upsample"], hint + "_proto_up")
    p = _conv_block(g, p, proto["cv2"], hint + "_proto_cv2")
    p = _conv_block(g, p, proto["cv3"], hint + "_proto_cv3")
    nc, na, no, nm = int(m.nc), int(m.na), int(m.no), int(m.nm)
    strides = np.asarray(m.stride, np.float32).reshape(-1)
    anchors = np.asarray(m._buffers["anchors"], np.float32).reshape(len(feats), na, 2)  # in grid cells
    rows = []
    for i, (f, conv) in enumerate(zip(feats, _children(c["m"]).values())):
        s = float(strides[i])
        ny, nx = size[0] // int(s), size[1] // int(s)
        y = _conv2d(g, f, conv, f"{hint}_m{i}")
        y = g.op("Reshape", [y, g.const(np.array([1, na, no, ny, nx], np.int64), "shape")], f"{hint}_r{i}")
        y = g.op("Transpose", [y], f"{hint}_t{i}", perm=[0, 1, 3, 4, 2])  # (1, na, ny, nx, no)

        def part(t, a, b, tag):
            return g.op("Slice", [t, g.const(np.array([a], np.int64), "st"), g.const(np.array([b], np.int64), "en"),
                                  g.const(np.array([4], np.int64), "ax")], f"{hint}_{tag}{i}")
        sig = g.op("Sigmoid", [part(y, 0, 5 + nc, "pre")], f"{hint}_sig{i}")
        xv, yv = np.meshgrid(np.arange(nx, dtype=np.float32), np.arange(ny, dtype=np.float32))
        grid = (np.stack((xv, yv), 2) - 0.5)[None, None]  # (1, 1, ny, nx, 2)
        xy = g.op("Mul", [part(sig, 0, 2, "xy"), g.const(np.float32(2), "two")], f"{hint}_xy2{i}")
        xy = g.op("Add", [xy, g.const(grid.astype(np.float32), "grid")], f"{hint}_xyg{i}")
        xy = g.op("Mul", [xy, g.const(np.float32(s), "stride")], f"{hint}_xys{i}")
        wh = g.op("Mul", [part(sig, 2, 4, "wh"), g.const(np.float32(2), "two")], f"{hint}_wh2{i}")
        wh = g.op("Mul", [wh, wh], f"{hint}_whsq{i}")
        anchor_px = (anchors[i] * s).reshape(1, na, 1, 1, 2).astype(np.float32)
        wh = g.op("Mul", [wh, g.const(anchor_px, "anchors")], f"{hint}_wha{i}")
        rest = [part(sig, 4, 5 + nc, "conf"), part(y, 5 + nc, no, "mask")]
        y = g.op("Concat", [xy, wh, *rest], f"{hint}_cat{i}", axis=4)
        rows.append(g.op("Reshape", [y, g.const(np.array([1, na * ny * nx, no], np.int64), "shape")],
                         f"{hint}_rows{i}"))
    det = g.op("Concat", rows, hint + "_det", axis=1)
    return det, p, nc, nm


_LAYERS = {"Conv": _conv_block, "C3": _c3, "SPPF": _sppf}


def yolov5_seg_to_onnx(data: bytes, out_path: str | None = None, size: int = 640, opset: int = 13):
    """Convert a YOLOv5-seg checkpoint (its bytes) for a ``size``×``size`` input; returns the
    ONNX ``ModelProto`` (saved to ``out_path`` if given) and the class names."""
    import onnx
    from onnx import TensorProto, helper
    ckpt = load_module_tree(data)
    model = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else ckpt
    if not isinstance(model, Record) or "model" not in _children(model):
        raise ModelError("not a YOLOv5 checkpoint (no model.model layer list)")
    layers = list(_children(_children(model)["model"]).values())
    g = _Graph()
    outs: list[str] = []
    x = "images"
    result = None
    for i, layer in enumerate(layers):
        kind = layer._cls.rsplit(".", 1)[-1]
        f = layer.f
        if i == 0:
            src = x
        else:
            src = outs[f] if isinstance(f, int) else [outs[j] for j in f]
        if kind in _LAYERS:
            y = _LAYERS[kind](g, src, layer, f"l{i}")
        elif kind == "Upsample":
            y = _upsample(g, src, layer, f"l{i}")
        elif kind == "Concat":
            y = g.op("Concat", src, f"l{i}", axis=int(layer.d))
        elif kind == "Segment":
            result = _segment(g, src, layer, (size, size), f"l{i}")
            break
        else:
            raise ModelError(f"YOLOv5 layer {i} ({layer._cls}) is not converted")
        outs.append(y)
    if result is None:
        raise ModelError("the checkpoint has no Segment head (not a YOLOv5-seg model)")
    det, protos, nc, nm = result
    rename_value(g.nodes, det, "output0")
    rename_value(g.nodes, protos, "output1")
    n_rows = sum(len(np.asarray(layers[-1]._buffers["anchors"])[k]) * (size // int(s)) ** 2
                 for k, s in enumerate(np.asarray(layers[-1].stride).reshape(-1)))
    graph = helper.make_graph(
        g.nodes, "yolov5-seg", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, int(n_rows), 5 + nc + nm]),
         helper.make_tensor_value_info("output1", TensorProto.FLOAT, [1, nm, size // 4, size // 4])],
        g.inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                   producer_name="estuary-yolov5-seg")
    onnx_model.ir_version = min(onnx_model.ir_version, 8)
    onnx.checker.check_model(onnx_model)
    if out_path:
        onnx.save(onnx_model, out_path)
    names = getattr(model, "names", None)
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    return onnx_model, list(names or [])
