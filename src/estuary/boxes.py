"""Box maths shared by inference (NMS, clustering), tracking and evaluation: boxes are xyxy."""

from __future__ import annotations

import numpy as np

__all__ = ["iou_matrix", "box_agreement"]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` with every box of ``b`` (both (N, 4) xyxy); (len(a), len(b))."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def box_agreement(frames) -> tuple[float, float, int, int]:
    """How well one detector's boxes agree with a reference's: ``frames`` yields, per frame,
    ``(ref_boxes, ref_classes, boxes, classes)`` (xyxy). A box matches a reference box of the
    same class at IoU ≥ 0.5, greedily from the reference boxes' best IoU down, each box once.
    Returns (recall, precision, reference boxes, boxes)."""
    tp = n_ref = n_got = 0
    for ra, ca, rb, cb in frames:
        ra, rb = np.asarray(ra, np.float64).reshape(-1, 4), np.asarray(rb, np.float64).reshape(-1, 4)
        n_ref, n_got = n_ref + len(ra), n_got + len(rb)
        if not len(ra) or not len(rb):
            continue
        m = iou_matrix(ra, rb) * (np.asarray(ca).reshape(-1)[:, None] == np.asarray(cb).reshape(-1)[None, :])
        used = set()
        for i in np.argsort(-m.max(1)):
            j = int(m[i].argmax())
            if m[i, j] >= 0.5 and j not in used:
                used.add(j)
                tp += 1
    return tp / max(n_ref, 1), tp / max(n_got, 1), n_ref, n_got
