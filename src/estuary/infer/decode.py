"""Raw network outputs → detections or classifications: parsing, mapping to source pixels,
clustering, class filtering, instance masks, top-1 classification.

Shared by :class:`~estuary.infer.engine.InferEngine` (nvinfer parsing its own outputs) and
:mod:`estuary.infer.postprocess` (nvdspostprocess parsing nvinfer's tensor meta), so both give
the same boxes for the same tensors."""

from __future__ import annotations

import numpy as np

from estuary.infer.cluster import cluster
from estuary.infer.parsers import Candidates, softmax_if_needed

__all__ = ["Detections", "Classification", "instance_masks", "decode_detections", "classify_outputs",
           "min_pre_threshold"]


class Detections(Candidates):
    """Detections of one frame in source pixels (xyxy), with labels."""

    __slots__ = ()


class Classification:
    __slots__ = ("class_id", "prob", "label")

    def __init__(self, class_id: int, prob: float, label: str):
        self.class_id, self.prob, self.label = class_id, prob, label

    def __repr__(self):
        return f"Classification({self.label!r}, {self.prob:.3f})"


def instance_masks(coeffs: np.ndarray, protos: np.ndarray, net) -> list:
    """YOLO-style instance masks: per detection, sigmoid(coefficients · prototypes) cropped to its
    box (``coeffs[:, :4]``, network pixels), box-relative at the prototypes' resolution (what
    ``mask_params`` holds; nvdsosd scales it to the object's rectangle)."""
    k, ph, pw = protos.shape
    sx, sy = pw / net.width, ph / net.height
    flat = protos.reshape(k, -1)
    out = []
    for row in coeffs:
        x1, y1, x2, y2 = row[:4]
        c0, c1 = int(np.clip(np.floor(x1 * sx), 0, pw - 1)), int(np.clip(np.ceil(x2 * sx), 1, pw))
        r0, r1 = int(np.clip(np.floor(y1 * sy), 0, ph - 1)), int(np.clip(np.ceil(y2 * sy), 1, ph))
        c1, r1 = max(c1, c0 + 1), max(r1, r0 + 1)
        logits = (row[4:] @ flat).reshape(ph, pw)[r0:r1, c0:c1]
        out.append((1.0 / (1.0 + np.exp(-logits))).astype(np.float32))
    return out


def min_pre_threshold(cfg) -> float:
    """The lowest ``pre-cluster-threshold`` of any class (what parsers may drop below)."""
    vals = [a.pre_cluster_threshold for a in cfg.class_attrs.values()] or [0.2]
    return min(vals)


def decode_detections(per: dict, parser, net, num_classes: int, transform, frame_hw: tuple, cfg,
                      masks: bool = False, min_score: float | None = None) -> Detections:
    """Detections of one image from its outputs ``per`` (layer → array without the batch dim).

    ``parser(per, net, num_classes, min_score)`` gives candidates in network pixels;
    ``transform`` (:class:`~estuary.infer.preprocess.Transform`) maps them to the source, where
    they are clipped to ``frame_hw`` = (height, width); then ``cfg``'s cluster-mode, per-class
    thresholds and filter-out-class-ids apply. ``masks``: compute instance masks where the
    parser gives mask coefficients."""
    thr = min_pre_threshold(cfg) if min_score is None else min_score
    cand = parser(per, net, num_classes, thr)
    h, w = frame_hw
    if len(cand):
        cand = Candidates(transform.to_source(cand.boxes), cand.scores, cand.class_ids,
                          cand.coeffs, cand.protos)
        cand.boxes[:, 0::2] = np.clip(cand.boxes[:, 0::2], 0, w)
        cand.boxes[:, 1::2] = np.clip(cand.boxes[:, 1::2], 0, h)
    cand = cluster(cand, cfg.effective_cluster_mode, cfg.attrs_for, h)
    filt = cfg.filter_out_class_ids
    if filt and len(cand):
        cand = cand[~np.isin(cand.class_ids, filt)]
    det = Detections(cand.boxes, cand.scores, cand.class_ids)
    if cand.coeffs is not None and cand.protos is not None and masks:
        det.masks = instance_masks(cand.coeffs, cand.protos, net)
    return det


def classify_outputs(outputs: dict, labels: list, threshold: float | None, hook=None) -> list:
    """Top-1 class of each image of a batch (``outputs``: layer → array with the batch dim), or
    None where its probability is below ``threshold``. ``hook`` (parse-classifier-func-name, a
    Python ``module:function``) replaces the built-in reading: ``hook(outputs, labels, threshold)``."""
    if hook is not None:
        return list(hook(outputs, labels, threshold))
    probs = softmax_if_needed(next(iter(outputs.values())))
    out = []
    thr = threshold or 0.0
    for p in probs:
        k = int(p.argmax())
        if p[k] < thr:
            out.append(None)
            continue
        label = labels[k] if k < len(labels) else str(k)
        out.append(Classification(k, float(p[k]), label))
    return out
