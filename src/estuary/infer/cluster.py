"""Box clustering as nvinfer's cluster-mode: GroupRectangles (0), DBSCAN (1), NMS (2),
DBSCAN + NMS (3), none (4); per-class thresholds, size filters, ROI offsets and top-k."""

from __future__ import annotations

import cv2
import numpy as np

from estuary.boxes import iou_matrix  # noqa: F401 - re-exported
from estuary.infer.parsers import Candidates

__all__ = ["iou_matrix", "nms", "dbscan", "group_rectangles", "cluster"]


def nms(c: Candidates, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS, best score first."""
    order = np.argsort(-c.scores, kind="stable")
    boxes = c.boxes[order]
    keep = []
    suppressed = np.zeros(len(order), bool)
    ious = iou_matrix(boxes, boxes) if len(order) <= 4096 else None
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(order[i])
        row = ious[i] if ious is not None else iou_matrix(boxes[i: i + 1], boxes)[0]
        suppressed |= row > iou_threshold
    return np.asarray(keep, np.int64)


def dbscan(c: Candidates, eps: float, min_boxes: int, min_score: float) -> Candidates:
    """DBSCAN with distance 1 - IoU; each cluster becomes its confidence-weighted mean box."""
    n = len(c)
    if n == 0:
        return c
    dist = 1.0 - iou_matrix(c.boxes, c.boxes)
    neigh = dist <= eps
    labels = np.full(n, -1)
    cluster_id = 0
    for i in range(n):
        if labels[i] != -1 or neigh[i].sum() < max(min_boxes, 1):
            continue
        stack = [i]
        labels[i] = cluster_id
        while stack:
            j = stack.pop()
            if neigh[j].sum() >= max(min_boxes, 1):
                for k in np.nonzero(neigh[j] & (labels == -1))[0]:
                    labels[k] = cluster_id
                    stack.append(k)
        cluster_id += 1
    boxes, scores, cls = [], [], []
    for k in range(cluster_id):
        m = labels == k
        w = c.scores[m]
        if w.sum() < min_score:
            continue
        boxes.append((c.boxes[m] * w[:, None]).sum(0) / w.sum())
        scores.append(w.max())
        cls.append(c.class_ids[m][0])
    return Candidates(boxes, scores, cls) if boxes else Candidates.empty()


def group_rectangles(c: Candidates, group_threshold: int, eps: float) -> Candidates:
    """OpenCV groupRectangles; confidences are not kept (reported as -0.1, as nvinfer does)."""
    if len(c) == 0:
        return c
    rects = [[int(b[0]), int(b[1]), int(b[2] - b[0]), int(b[3] - b[1])] for b in c.boxes]
    cls = int(c.class_ids[0])
    grouped, _ = cv2.groupRectangles(rects * 2 if group_threshold == 0 else rects,
                                     max(group_threshold, 1), eps)
    if len(grouped) == 0:
        return Candidates.empty()
    g = np.asarray(grouped, np.float32)
    boxes = np.stack([g[:, 0], g[:, 1], g[:, 0] + g[:, 2], g[:, 1] + g[:, 3]], 1)
    return Candidates(boxes, np.full(len(g), -0.1), np.full(len(g), cls))


def cluster(c: Candidates, mode: int, attrs_for, frame_h: float | None = None) -> Candidates:
    """Apply per-class thresholds and clustering; ``attrs_for(class_id)`` gives ClassAttrs."""
    out = []
    for cid in np.unique(c.class_ids):
        a = attrs_for(int(cid))
        sub = c[(c.class_ids == cid) & (c.scores >= a.pre_cluster_threshold)]
        if len(sub) == 0:
            continue
        if mode == 2:
            sub = sub[nms(sub, a.nms_iou_threshold)]
        elif mode == 1:
            sub = dbscan(sub, a.eps, a.min_boxes, a.dbscan_min_score)
        elif mode == 3:
            sub = dbscan(sub, a.eps, a.min_boxes, a.dbscan_min_score)
            sub = sub[nms(sub, a.nms_iou_threshold)]
        elif mode == 0:
            sub = group_rectangles(sub, a.group_threshold, a.eps)
        if len(sub) == 0:
            continue
        if mode != 0:
            sub = sub[sub.scores >= a.post_cluster_threshold]
        w = sub.boxes[:, 2] - sub.boxes[:, 0]
        h = sub.boxes[:, 3] - sub.boxes[:, 1]
        keep = (w > 0) & (h > 0)
        if a.detected_min_w:
            keep &= w >= a.detected_min_w
        if a.detected_min_h:
            keep &= h >= a.detected_min_h
        if a.detected_max_w:
            keep &= w <= a.detected_max_w
        if a.detected_max_h:
            keep &= h <= a.detected_max_h
        if a.roi_top_offset:
            keep &= sub.boxes[:, 1] >= a.roi_top_offset
        if a.roi_bottom_offset and frame_h is not None:
            keep &= sub.boxes[:, 3] <= frame_h - a.roi_bottom_offset
        sub = sub[keep]
        if a.topk > 0 and len(sub) > a.topk:
            sub = sub[np.argsort(-sub.scores, kind="stable")[: a.topk]]
        out.append(sub)
    if not out:
        return Candidates.empty()
    coeffs = (np.concatenate([o.coeffs for o in out]) if all(o.coeffs is not None for o in out)
              else None)  # DBSCAN and grouping merge boxes: their instance masks are dropped
    return Candidates(np.concatenate([o.boxes for o in out]), np.concatenate([o.scores for o in out]),
                      np.concatenate([o.class_ids for o in out]), coeffs, c.protos)
