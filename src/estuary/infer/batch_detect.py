"""YOLO detections of a whole batch at once: parsing, mapping to the source, clipping and
per-class greedy NMS (nvinfer's cluster-mode 2) vectorised over every frame and class.

The per-frame path (``parse_yolo`` → ``Transform.to_source`` → clip → ``cluster``) costs a few
dozen small numpy calls per frame and class; at 100+ streams that Python was a sixth of the
streaming thread. This module gives exactly the same detections, in the same order (per frame:
classes ascending, each class's boxes in NMS order), for the common case the engine checks
(:func:`eligible`): a plain YOLO output, cluster-mode 2, one set of class attributes for all
classes, and every frame of the batch the same size with the same transform.

Greedy NMS is computed as the unique fixed point of "a box is kept unless an earlier kept box
of its group overlaps it by more than the threshold", iterated on all groups at once from
"everything kept" (after k rounds every box at suppression depth < k is final), with the IoU
computed by the same float64 formula as :func:`estuary.boxes.iou_matrix`.
"""

from __future__ import annotations

import numpy as np

from estuary.infer.parsers import Candidates

__all__ = ["yolo_batch", "group_nms"]

#: above this many IoU entries (groups × largest group²) the groups are handled one by one
_MAX_PADDED = 4_000_000


def group_nms(boxes: np.ndarray, group: np.ndarray, threshold: float) -> np.ndarray:
    """Keep mask of greedy NMS within groups. ``boxes`` (M, 4) xyxy; rows of a group are
    contiguous and in the order NMS visits them (score descending, ties by position)."""
    m = len(boxes)
    if m == 0:
        return np.zeros(0, bool)
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    sizes = np.diff(np.r_[starts, m])
    g, s = len(starts), int(sizes.max())
    if g * s * s > _MAX_PADDED:
        from estuary.infer.cluster import nms
        keep = np.zeros(m, bool)
        for a, n in zip(starts, sizes):
            sub = Candidates(boxes[a: a + n], -np.arange(n, dtype=np.float32), np.zeros(n))
            keep[a + nms(sub, threshold)] = True
        return keep
    gid = np.repeat(np.arange(g), sizes)
    pos = np.arange(m) - starts[gid]
    a = np.zeros((g, s, 4), np.float64)
    a[gid, pos] = boxes
    valid = np.zeros((g, s), bool)
    valid[gid, pos] = True
    ix1 = np.maximum(a[:, :, None, 0], a[:, None, :, 0])
    iy1 = np.maximum(a[:, :, None, 1], a[:, None, :, 1])
    ix2 = np.minimum(a[:, :, None, 2], a[:, None, :, 2])
    iy2 = np.minimum(a[:, :, None, 3], a[:, None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    iou = inter / np.maximum(area[:, :, None] + area[:, None, :] - inter, 1e-9)
    # over[g, i, j]: box i (earlier) suppresses box j if i is kept
    over = (iou > threshold) & np.triu(np.ones((s, s), bool), 1)[None]
    over &= valid[:, :, None] & valid[:, None, :]
    keep = valid
    for _ in range(s + 1):
        new = valid & ~(over & keep[:, :, None]).any(1)
        if np.array_equal(new, keep):
            break
        keep = new
    return keep[gid, pos]


def yolo_batch(rows: list[np.ndarray], min_score: float, transform, frame_w: float, frame_h: float,
               attrs, filter_out=None) -> list[Candidates]:
    """Detections of each frame from its YOLO rows ``(R, 5 + C)`` (network pixels): what
    ``parse_yolo``, ``to_source``, clipping to ``frame_w`` × ``frame_h``, ``cluster`` with
    mode 2 and ``attrs`` for every class, and ``filter_out`` class ids give frame by frame."""
    n = len(rows)
    counts = np.array([len(r) for r in rows])
    if n == 0:
        return []
    if not counts.sum():
        return [Candidates.empty() for _ in range(n)]
    out = np.concatenate([np.asarray(r) for r in rows if len(r)])
    frame = np.repeat(np.arange(n), counts)
    # parse_yolo
    keep = out[:, 4] >= min_score
    out, frame = out[keep], frame[keep]
    cls_scores = out[:, 5:] * out[:, 4:5]
    cid = cls_scores.argmax(1)
    score = cls_scores[np.arange(len(cid)), cid]
    b = out[:, :4]
    xyxy = np.empty_like(b, dtype=np.float32)
    xyxy[:, 0] = b[:, 0] - b[:, 2] / 2
    xyxy[:, 1] = b[:, 1] - b[:, 3] / 2
    xyxy[:, 2] = b[:, 0] + b[:, 2] / 2
    xyxy[:, 3] = b[:, 1] + b[:, 3] / 2
    c = Candidates(xyxy, score, cid)
    # to the source, clipped to the frame
    if len(c):
        c = Candidates(transform.to_source(c.boxes), c.scores, c.class_ids)
        c.boxes[:, 0::2] = np.clip(c.boxes[:, 0::2], 0, frame_w)
        c.boxes[:, 1::2] = np.clip(c.boxes[:, 1::2], 0, frame_h)
    # cluster, mode 2: pre-cluster threshold, NMS per (frame, class) in score order
    sel = c.scores >= attrs.pre_cluster_threshold
    c, frame = c[sel], frame[sel]
    idx = np.arange(len(c))
    order = np.lexsort((idx, -c.scores, c.class_ids, frame))
    c, frame = c[order], frame[order]
    group = frame * (int(c.class_ids.max()) + 1 if len(c) else 1) + c.class_ids
    k = group_nms(c.boxes, group, attrs.nms_iou_threshold)
    k &= c.scores >= attrs.post_cluster_threshold
    w = c.boxes[:, 2] - c.boxes[:, 0]
    h = c.boxes[:, 3] - c.boxes[:, 1]
    k &= (w > 0) & (h > 0)
    if attrs.detected_min_w:
        k &= w >= attrs.detected_min_w
    if attrs.detected_min_h:
        k &= h >= attrs.detected_min_h
    if attrs.detected_max_w:
        k &= w <= attrs.detected_max_w
    if attrs.detected_max_h:
        k &= h <= attrs.detected_max_h
    if attrs.roi_top_offset:
        k &= c.boxes[:, 1] >= attrs.roi_top_offset
    if attrs.roi_bottom_offset:
        k &= c.boxes[:, 3] <= frame_h - attrs.roi_bottom_offset
    c, frame, group = c[k], frame[k], group[k]
    if attrs.topk > 0 and len(c):
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        sizes = np.diff(np.r_[starts, len(c)])
        rank = np.arange(len(c)) - np.repeat(starts, sizes)
        top = rank < attrs.topk
        c, frame = c[top], frame[top]
    if filter_out and len(c):
        k = ~np.isin(c.class_ids, filter_out)
        c, frame = c[k], frame[k]
    bounds = np.searchsorted(frame, np.arange(n + 1))
    return [c[bounds[i]: bounds[i + 1]] for i in range(n)]
