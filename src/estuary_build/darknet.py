"""Darknet (``.cfg`` + ``.weights``) → ONNX, written from the file formats (no torch needed).

Supports the layers of YOLOv3/YOLOv3-tiny style networks: convolutional (with batch norm folded
in), maxpool, upsample, route, shortcut and yolo. The YOLO heads are decoded inside the graph,
so the model has one output ``detections`` of shape (1, N, 5 + classes):
``cx, cy, w, h`` in input pixels, objectness, then per-class probabilities — the layout of
YOLOv5-style exports that :func:`estuary.infer.parsers.parse_yolo` reads.
"""

from __future__ import annotations

import numpy as np

from estuary.errors import ModelError

__all__ = ["parse_cfg", "darknet_to_onnx"]


def parse_cfg(text: str) -> list[dict]:
    """Sections of a Darknet cfg as dicts (``type`` holds the section name)."""
    sections = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append({"type": line.strip("[]").strip()})
        else:
            k, v = line.split("=", 1)
            sections[-1][k.strip()] = v.strip()
    return sections


def darknet_to_onnx(cfg_text: str, weights: bytes, out_path: str | None = None, opset: int = 13,
                    class_groups: list[list[int]] | None = None):
    """Convert; returns the ONNX ``ModelProto`` (and saves it to ``out_path`` if given).

    ``class_groups`` merges classes: output class k is the max over the source classes of
    group k (e.g. DeepStream's 4 classes Vehicle/TwoWheeler/Person/RoadSign from COCO)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    sections = parse_cfg(cfg_text)
    net = sections[0]
    if net["type"] != "net":
        raise ModelError("a Darknet cfg starts with [net]")
    H, W, C = int(net["height"]), int(net["width"]), int(net.get("channels", 3))
    header = np.frombuffer(weights[:12], np.int32)
    major, minor = int(header[0]), int(header[1])
    offset = 12 + (8 if major * 10 + minor >= 2 else 4)
    data = np.frombuffer(weights[offset:], np.float32)
    pos = 0

    def take(n):
        nonlocal pos
        if pos + n > data.size:
            raise ModelError("the weights file is shorter than the cfg needs (wrong cfg?)")
        arr = data[pos: pos + n]
        pos += n
        return arr

    nodes, inits = [], []
    outputs = []  # per layer: (tensor name, channels, h, w)
    x, ch, h, w = "images", C, H, W
    heads = []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    for i, s in enumerate(sections[1:]):
        t = s["type"]
        name = f"l{i}"
        if t == "convolutional":
            filters, size = int(s["filters"]), int(s["size"])
            stride = int(s.get("stride", 1))
            pad = (size - 1) // 2 if int(s.get("pad", 0)) else 0
            bn = int(s.get("batch_normalize", 0))
            if bn:
                beta, gamma, mean, var = take(filters), take(filters), take(filters), take(filters)
                wts = take(filters * ch * size * size).reshape(filters, ch, size, size)
                k = gamma / np.sqrt(var + 1e-6)
                wts = wts * k[:, None, None, None]
                bias = beta - mean * k
            else:
                bias = take(filters)
                wts = take(filters * ch * size * size).reshape(filters, ch, size, size)
            nodes.append(helper.make_node(
                "Conv", [x, const(f"{name}.w", wts.astype(np.float32)), const(f"{name}.b", bias.astype(np.float32))],
                [f"{name}.conv"], kernel_shape=[size, size], strides=[stride, stride],
                pads=[pad, pad, pad, pad]))
            y = f"{name}.conv"
            act = s.get("activation", "linear")
            if act == "leaky":
                nodes.append(helper.make_node("LeakyRelu", [y], [f"{name}.out"], alpha=0.1))
                y = f"{name}.out"
            elif act != "linear":
                raise ModelError(f"unsupported activation {act!r} in layer {i}")
            x, ch = y, filters
            h, w = (h + 2 * pad - size) // stride + 1, (w + 2 * pad - size) // stride + 1
        elif t == "maxpool":
            size, stride = int(s["size"]), int(s["stride"])
            if stride == 1:
                pads = [0, 0, size - 1, size - 1]  # Darknet pads right/bottom
                oh, ow = h, w
            else:
                pads = [0, 0, 0, 0]
                oh, ow = h // stride, w // stride
            nodes.append(helper.make_node("MaxPool", [x], [f"{name}.out"], kernel_shape=[size, size],
                                          strides=[stride, stride], pads=pads))
            x, h, w = f"{name}.out", oh, ow
        elif t == "upsample":
            st = int(s.get("stride", 2))
            nodes.append(helper.make_node(
                "Resize", [x, "", const(f"{name}.scales", np.array([1, 1, st, st], np.float32))],
                [f"{name}.out"], mode="nearest"))
            x, h, w = f"{name}.out", h * st, w * st
        elif t == "route":
            idx = [int(v) for v in s["layers"].split(",")]
            srcs = [outputs[j] if j >= 0 else outputs[i + j] for j in idx]
            if len(srcs) == 1:
                x, ch, h, w = srcs[0]
            else:
                nodes.append(helper.make_node("Concat", [sr[0] for sr in srcs], [f"{name}.out"], axis=1))
                x, ch, h, w = f"{name}.out", sum(sr[1] for sr in srcs), srcs[0][2], srcs[0][3]
        elif t == "shortcut":
            j = int(s["from"])
            other = outputs[j] if j >= 0 else outputs[i + j]
            nodes.append(helper.make_node("Add", [x, other[0]], [f"{name}.out"]))
            x = f"{name}.out"
        elif t == "yolo":
            mask = [int(v) for v in s["mask"].split(",")]
            anchors = [float(v) for v in s["anchors"].split(",")]
            anchors = np.array(anchors, np.float32).reshape(-1, 2)[mask]
            classes = int(s["classes"])
            heads.append(_yolo_head(helper, const, nodes, name, x, anchors, classes, h, w, H, W))
        else:
            raise ModelError(f"unsupported Darknet layer [{t}] (layer {i})")
        outputs.append((x, ch, h, w))
    if pos != data.size:
        raise ModelError(f"{data.size - pos} weights left over: the weights do not match the cfg")
    if not heads:
        raise ModelError("the network has no [yolo] layers")
    classes = int(next(s for s in sections if s["type"] == "yolo")["classes"])
    if class_groups:
        nodes.append(helper.make_node("Concat", heads, ["raw_detections"], axis=1))
        parts = [_slice(helper, const, nodes, "raw_detections", 0, 5, "box_obj")]
        for k, group in enumerate(class_groups):
            g = helper.make_node("Gather", ["raw_detections", const(f"group{k}", np.array([5 + c for c in group], np.int64))],
                                 [f"group{k}.g"], axis=2)
            nodes.append(g)
            nodes.append(helper.make_node("ReduceMax", [f"group{k}.g"], [f"group{k}.m"], axes=[2], keepdims=1))
            parts.append(f"group{k}.m")
        nodes.append(helper.make_node("Concat", parts, ["detections"], axis=2))
        classes = len(class_groups)
    else:
        nodes.append(helper.make_node("Concat", heads, ["detections"], axis=1))
    graph = helper.make_graph(
        nodes, "darknet",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", C, H, W])],
        [helper.make_tensor_value_info("detections", TensorProto.FLOAT, ["batch", None, 5 + classes])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="estuary-darknet")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    if out_path:
        onnx.save(model, out_path)
    return model


def _slice(helper, const, nodes, x, lo, hi, out):
    nodes.append(helper.make_node(
        "Slice", [x, const(f"{out}.s", np.array([lo], np.int64)), const(f"{out}.e", np.array([hi], np.int64)),
                  const(f"{out}.a", np.array([2], np.int64))], [out]))
    return out


def _yolo_head(helper, const, nodes, name, x, anchors, classes, h, w, H, W):
    """Decode one YOLO head: (1, A*(5+C), h, w) → (1, A*h*w, 5+C)."""
    a = len(anchors)
    k = 5 + classes
    nodes.append(helper.make_node("Reshape", [x, const(f"{name}.shape", np.array([-1, a, k, h, w], np.int64))],
                                  [f"{name}.r"]))
    nodes.append(helper.make_node("Transpose", [f"{name}.r"], [f"{name}.t"], perm=[0, 1, 3, 4, 2]))
    t = f"{name}.t"

    def sl(lo, hi, out):
        nodes.append(helper.make_node(
            "Slice", [t, const(f"{out}.s", np.array([lo], np.int64)), const(f"{out}.e", np.array([hi], np.int64)),
                      const(f"{out}.a", np.array([4], np.int64))], [out]))
        return out

    xy, wh, rest = sl(0, 2, f"{name}.xy"), sl(2, 4, f"{name}.wh"), sl(4, k, f"{name}.rest")
    gy, gx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    grid = np.stack([gx, gy], -1)[None, None]  # 1,1,h,w,2
    stride = np.array([W / w, H / h], np.float32)
    nodes.append(helper.make_node("Sigmoid", [xy], [f"{name}.sxy"]))
    nodes.append(helper.make_node("Add", [f"{name}.sxy", const(f"{name}.grid", grid)], [f"{name}.gxy"]))
    nodes.append(helper.make_node("Mul", [f"{name}.gxy", const(f"{name}.stride", stride)], [f"{name}.pxy"]))
    nodes.append(helper.make_node("Exp", [wh], [f"{name}.ewh"]))
    anc = anchors.reshape(1, a, 1, 1, 2).astype(np.float32)
    nodes.append(helper.make_node("Mul", [f"{name}.ewh", const(f"{name}.anchors", anc)], [f"{name}.pwh"]))
    nodes.append(helper.make_node("Sigmoid", [rest], [f"{name}.srest"]))
    nodes.append(helper.make_node("Concat", [f"{name}.pxy", f"{name}.pwh", f"{name}.srest"], [f"{name}.dec"], axis=4))
    nodes.append(helper.make_node("Reshape", [f"{name}.dec", const(f"{name}.oshape", np.array([0, -1, k], np.int64))],
                                  [f"{name}.out"]))
    return f"{name}.out"


def ssd_style_head(model, k: int = 100, size: int = 416):
    """Wrap a decoded YOLO model so that it outputs TF-Object-Detection-API-style tensors:
    ``num_detections`` (B,), ``detection_boxes`` (B, k, 4: ymin, xmin, ymax, xmax in 0..1),
    ``detection_scores`` (B, k) and ``detection_classes`` (B, k; 1-based class ids) — the
    layout the deepstream-ssd-parser sample parses in Python. No NMS inside (the sample does it)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    nodes, inits = list(g.node), list(g.initializer)

    def c(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def n(op, ins, outs, **kw):
        nodes.append(helper.make_node(op, ins, outs, **kw))
        return outs[0]

    def sl(x, lo, hi, name):
        return n("Slice", [x, c(name + ".s", np.array([lo], np.int64)), c(name + ".e", np.array([hi], np.int64)),
                           c(name + ".a", np.array([2], np.int64))], [name])

    d = "detections"
    cx, cy, w, h = (sl(d, i, i + 1, f"ssd.{nm}") for i, nm in enumerate(("cx", "cy", "w", "h")))
    obj = sl(d, 4, 5, "ssd.obj")
    cls = sl(d, 5, 10**6, "ssd.cls")
    prob = n("Mul", [cls, obj], ["ssd.prob"])
    score = n("ReduceMax", [prob], ["ssd.score"], axes=[2], keepdims=0)
    clsid = n("ArgMax", [prob], ["ssd.clsid"], axis=2, keepdims=0)
    half = c("ssd.half", np.array(0.5, np.float32))
    inv = c("ssd.inv", np.array(1.0 / size, np.float32))
    hw, hh = n("Mul", [w, half], ["ssd.hw"]), n("Mul", [h, half], ["ssd.hh"])
    ymin = n("Mul", [n("Sub", [cy, hh], ["ssd.y1p"]), inv], ["ssd.y1"])
    xmin = n("Mul", [n("Sub", [cx, hw], ["ssd.x1p"]), inv], ["ssd.x1"])
    ymax = n("Mul", [n("Add", [cy, hh], ["ssd.y2p"]), inv], ["ssd.y2"])
    xmax = n("Mul", [n("Add", [cx, hw], ["ssd.x2p"]), inv], ["ssd.x2"])
    boxes = n("Concat", [ymin, xmin, ymax, xmax], ["ssd.boxes"], axis=2)
    vals, idx = "detection_scores", "ssd.idx"
    nodes.append(helper.make_node("TopK", [score, c("ssd.k", np.array([k], np.int64))], [vals, idx], axis=1))
    idx3 = n("Unsqueeze", [idx, c("ssd.ax2", np.array([2], np.int64))], ["ssd.idx3"])
    idx4 = n("Tile", [idx3, c("ssd.rep", np.array([1, 1, 4], np.int64))], ["ssd.idx4"])
    n("GatherElements", [boxes, idx4], ["detection_boxes"], axis=1)
    cls_k = n("GatherElements", [clsid, idx], ["ssd.clsk"], axis=1)
    n("Add", [n("Cast", [cls_k], ["ssd.clsf"], to=TensorProto.FLOAT), c("ssd.one", np.array(1.0, np.float32))],
      ["detection_classes"])
    keep = n("Cast", [n("Greater", [vals, c("ssd.thr", np.array(0.3, np.float32))], ["ssd.gt"])], ["ssd.keepf"],
             to=TensorProto.FLOAT)
    n("ReduceSum", [keep, c("ssd.axes", np.array([1], np.int64))], ["num_detections"], keepdims=0)
    outs = [helper.make_tensor_value_info("num_detections", TensorProto.FLOAT, ["batch"]),
            helper.make_tensor_value_info("detection_boxes", TensorProto.FLOAT, ["batch", k, 4]),
            helper.make_tensor_value_info("detection_scores", TensorProto.FLOAT, ["batch", k]),
            helper.make_tensor_value_info("detection_classes", TensorProto.FLOAT, ["batch", k])]
    graph = helper.make_graph(nodes, "yolo-ssd-head", list(g.input), outs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="estuary-darknet")
    m.ir_version = min(m.ir_version, 8)
    onnx.checker.check_model(m)
    return m
