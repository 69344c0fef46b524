"""Run an ONNX graph with PyTorch on the GPU (FP16 by default): a small interpreter for the
operators Estuary's bundled models and common detectors use, so no ONNX-to-TensorRT or
onnxruntime-gpu install is needed. Inputs may be torch CUDA tensors (no host round trip)."""

from __future__ import annotations

import numpy as np

from estuary.errors import ModelError
from estuary.infer.backends import Backend

__all__ = ["TorchBackend", "SUPPORTED_OPS"]


def _attrs(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class TorchBackend(Backend):
    """ONNX graph → a sequence of torch ops on ``cuda:<gpu_id>``."""

    def __init__(self, path: str, gpu_id: int = 0, fp16: bool = True):
        import onnx
        import torch
        from onnx import numpy_helper
        self.torch = torch
        self.device = torch.device(f"cuda:{gpu_id}" if torch.cuda.is_available() else "cpu")
        self.dtype = torch.float16 if fp16 and self.device.type == "cuda" else torch.float32
        model = onnx.load(path)
        g = model.graph
        self.consts = {}
        host_inputs = {n.input[k] for n in g.node if n.op_type in ("Resize", "Clip") for k in range(1, len(n.input))}
        for init in g.initializer:
            arr = np.array(numpy_helper.to_array(init))  # a writable copy
            t = torch.from_numpy(arr)
            if t.is_floating_point() and init.name not in host_inputs:
                t = t.to(self.device, self.dtype)  # weights live on the GPU
            # integer constants (shapes, slice bounds, indices) stay on the host: reading them
            # back for every run would be a device-to-host copy each time
            self.consts[init.name] = t
        self.nodes = list(g.node)
        unknown = {n.op_type for n in self.nodes} - set(SUPPORTED_OPS)
        if unknown:
            raise ModelError(f"the torch backend does not run {sorted(unknown)}; use onnxruntime")
        inits = {i.name for i in g.initializer}
        inp = next(i for i in g.input if i.name not in inits)
        self.input_name = inp.name
        self.input_shape = [d.dim_value if d.HasField("dim_value") else d.dim_param
                            for d in inp.type.tensor_type.shape.dim]
        self.output_names = [o.name for o in g.output]
        b = self.input_shape[0]
        self.fixed_batch = b if isinstance(b, int) and b > 0 else None
        self.name = f"torch {torch.__version__} ({self.device}, {str(self.dtype).split('.')[-1]})"
        self._attrs = [_attrs(n) for n in self.nodes]

    def run(self, x, as_numpy: bool = True) -> dict:
        torch = self.torch
        if self.fixed_batch == 1 and x.shape[0] > 1:  # a graph exported for batch 1: image by image
            parts = [self.run(x[i: i + 1], as_numpy) for i in range(x.shape[0])]
            cat = np.concatenate if as_numpy else torch.cat
            return {k: cat([p[k] for p in parts]) for k in parts[0]}
        with torch.inference_mode():
            if not isinstance(x, torch.Tensor):
                x = torch.from_numpy(np.ascontiguousarray(x))
            env = dict(self.consts)
            env[self.input_name] = x.to(self.device, self.dtype, non_blocking=True)
            for node, at in zip(self.nodes, self._attrs):
                args = [env[i] if i else None for i in node.input]
                out = SUPPORTED_OPS[node.op_type](torch, args, at)
                env[node.output[0]] = out
            outs = {n: env[n] for n in self.output_names}
            if as_numpy:
                return {k: v.float().cpu().numpy() for k, v in outs.items()}
            return outs


def _conv(torch, a, at):
    import torch.nn.functional as F
    x, w = a[0], a[1]
    b = a[2] if len(a) > 2 else None
    p = at.get("pads", [0, 0, 0, 0])
    if p[0] != p[2] or p[1] != p[3]:
        x = F.pad(x, (p[1], p[3], p[0], p[2]))
        pad = 0
    else:
        pad = (p[0], p[1])
    return F.conv2d(x, w, b, stride=tuple(at.get("strides", [1, 1])), padding=pad,
                    groups=at.get("group", 1), dilation=tuple(at.get("dilations", [1, 1])))


def _maxpool(torch, a, at):
    import torch.nn.functional as F
    p = at.get("pads", [0, 0, 0, 0])
    x = a[0]
    if any(p):
        x = F.pad(x, (p[1], p[3], p[0], p[2]), value=float("-inf"))
    return F.max_pool2d(x, tuple(at["kernel_shape"]), tuple(at.get("strides", at["kernel_shape"])))


def _resize(torch, a, at):
    import torch.nn.functional as F
    scales = a[2] if len(a) > 2 and a[2] is not None and a[2].numel() else None
    if scales is not None:
        s = [float(v) for v in scales.float().cpu()]  # host constant: no device copy
        return F.interpolate(a[0], scale_factor=tuple(s[2:]), mode="nearest")
    sizes = [int(v) for v in a[3].cpu()]
    return F.interpolate(a[0], size=tuple(sizes[2:]), mode="nearest")


def _slice(torch, a, at):
    x = a[0]
    starts, ends = a[1].tolist(), a[2].tolist()
    axes = a[3].tolist() if len(a) > 3 and a[3] is not None else list(range(len(starts)))
    idx = [slice(None)] * x.dim()
    for s, e, ax in zip(starts, ends, axes):
        idx[ax] = slice(s, min(e, x.shape[ax]))
    return x[tuple(idx)]


def _reshape(torch, a, at):
    shape = [int(v) for v in a[1].tolist()]
    shape = [a[0].shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return a[0].reshape(shape)


SUPPORTED_OPS = {
    "Conv": _conv,
    "LeakyRelu": lambda t, a, at: t.nn.functional.leaky_relu(a[0], at.get("alpha", 0.01)),
    "Relu": lambda t, a, at: t.relu(a[0]),
    "MaxPool": _maxpool,
    "Resize": _resize,
    "Concat": lambda t, a, at: t.cat(a, dim=at["axis"]),
    "Reshape": _reshape,
    "Transpose": lambda t, a, at: a[0].permute(*at["perm"]),
    "Slice": _slice,
    "Sigmoid": lambda t, a, at: t.sigmoid(a[0]),
    "Exp": lambda t, a, at: t.exp(a[0]),
    "Mul": lambda t, a, at: a[0] * a[1],
    "Add": lambda t, a, at: a[0] + a[1],
    "Gather": lambda t, a, at: t.index_select(a[0], at.get("axis", 0),
                                              a[1].reshape(-1).long().to(a[0].device, non_blocking=True)),
    "ReduceMax": lambda t, a, at: a[0].amax(dim=tuple(at["axes"]), keepdim=bool(at.get("keepdims", 1))),
    "Clip": lambda t, a, at: t.clamp(a[0], float(a[1]) if a[1] is not None else None,
                                     float(a[2]) if len(a) > 2 and a[2] is not None else None),
    "GlobalAveragePool": lambda t, a, at: a[0].mean(dim=(2, 3), keepdim=True),
    "Flatten": lambda t, a, at: a[0].flatten(at.get("axis", 1)),
    "Gemm": lambda t, a, at: t.nn.functional.linear(a[0], a[1] if at.get("transB", 0) else a[1].t(), a[2]),
    "Softmax": lambda t, a, at: t.softmax(a[0].float(), dim=at.get("axis", -1)).to(a[0].dtype),
}
