"""MobileNetV2 (torchvision layout) state dict → ONNX classifier, built from the weights' own
shapes (no torch needed). Output ``probs``: softmax over the classes."""

from __future__ import annotations

import re

import numpy as np

from estuary.errors import ModelError

__all__ = ["mobilenet_v2_to_onnx"]


def mobilenet_v2_to_onnx(sd: dict, out_path: str | None = None, size: int = 224, opset: int = 13):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = [0]

    def const(arr):
        counter[0] += 1
        name = f"c{counter[0]}"
        inits.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
        return name

    def conv_bn(x, conv_key, bn_key, stride, relu):
        w = sd[conv_key + ".weight"]
        g, b = sd[bn_key + ".weight"], sd[bn_key + ".bias"]
        m, v = sd[bn_key + ".running_mean"], sd[bn_key + ".running_var"]
        k = g / np.sqrt(v + 1e-5)
        wf, bf = w * k[:, None, None, None], b - m * k
        out_c, in_per_group, kh, _ = w.shape
        groups = 1 if in_per_group != 1 or out_c == 1 else out_c
        pad = (kh - 1) // 2
        y = f"t{len(nodes)}"
        nodes.append(helper.make_node("Conv", [x, const(wf), const(bf)], [y], kernel_shape=[kh, kh],
                                      strides=[stride, stride], pads=[pad] * 4, group=groups))
        if relu:
            y2 = f"t{len(nodes)}"
            nodes.append(helper.make_node("Clip", [y, const(np.float32(0)), const(np.float32(6))], [y2]))
            y = y2
        return y

    if "features.0.0.weight" not in sd or "classifier.1.weight" not in sd:
        raise ModelError("not a torchvision MobileNetV2 state dict")
    x = conv_bn("input", "features.0.0", "features.0.1", 2, True)
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"features\.(\d+)\.conv\.", k))})
    strides = {}
    # stride-2 blocks of MobileNetV2 (first block of stages with s=2)
    for i in (2, 4, 7, 14):
        strides[i] = 2
    in_c = 32
    for i in blocks:
        p = f"features.{i}.conv"
        expand = f"{p}.0.0.weight" in sd and sd[f"{p}.0.0.weight"].shape[2] == 1 and f"{p}.3.weight" in sd
        s = strides.get(i, 1)
        h = x
        if expand:
            h = conv_bn(h, f"{p}.0.0", f"{p}.0.1", 1, True)
            h = conv_bn(h, f"{p}.1.0", f"{p}.1.1", s, True)
            h = conv_bn(h, f"{p}.2", f"{p}.3", 1, False)
        else:
            h = conv_bn(h, f"{p}.0.0", f"{p}.0.1", s, True)
            h = conv_bn(h, f"{p}.1", f"{p}.2", 1, False)
        out_c = sd[f"{p}.{3 if expand else 2}.weight"].shape[0]
        if s == 1 and in_c == out_c:
            y = f"t{len(nodes)}"
            nodes.append(helper.make_node("Add", [x, h], [y]))
            h = y
        x, in_c = h, out_c
    last = max(int(m.group(1)) for k in sd if (m := re.match(r"features\.(\d+)\.0\.weight", k)))
    x = conv_bn(x, f"features.{last}.0", f"features.{last}.1", 1, True)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"]))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], axis=1))
    W, b = sd["classifier.1.weight"], sd["classifier.1.bias"]
    nodes.append(helper.make_node("Gemm", ["flat", const(W), const(b)], ["logits"], transB=1))
    nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1))
    graph = helper.make_graph(
        nodes, "mobilenet_v2",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", W.shape[0]])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="estuary-mobilenet")
    model.ir_version = min(model.ir_version, 8)
    onnx.checker.check_model(model)
    if out_path:
        onnx.save(model, out_path)
    return model
