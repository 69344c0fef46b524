"""Synthetic multi-object sequences with known ground truth, for tracker tests and benchmarks:
objects moving on straight lines that cross, occlusions that hide or weaken detections,
missed detections, false positives and box jitter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Sequence", "make_sequence", "mot15_sequence", "evaluate", "track_sequence"]


@dataclass
class Sequence:
    """``gt[f]`` = (ids, boxes); ``dets[f]`` = (boxes, scores, class_ids)."""

    gt: list
    dets: list
    width: int
    height: int


def make_sequence(n_objects=12, n_frames=200, width=1280, height=720, miss_rate=0.08,
                  false_positives=1.5, jitter=3.0, occlusion=True, seed=0) -> Sequence:
    rng = np.random.default_rng(seed)
    start = rng.uniform([0, 0], [width, height], (n_objects, 2))
    # half the objects cross the frame horizontally in opposite directions (crossing paths)
    vel = rng.uniform(-6, 6, (n_objects, 2))
    vel[: n_objects // 2, 0] = np.where(np.arange(n_objects // 2) % 2, 7.0, -7.0)
    start[: n_objects // 2, 0] = np.where(np.arange(n_objects // 2) % 2, 50.0, width - 100.0)
    start[: n_objects // 2, 1] = height / 2 + rng.uniform(-40, 40, n_objects // 2)
    size = rng.uniform([30, 60], [70, 140], (n_objects, 2))
    birth = rng.integers(0, n_frames // 3, n_objects)
    death = np.minimum(birth + rng.integers(n_frames // 2, n_frames, n_objects), n_frames)
    occl_start = rng.integers(min(10, n_frames // 4), max(n_frames - 30, n_frames // 4 + 1), n_objects)
    occl_len = rng.integers(6, 20, n_objects)
    gt, dets = [], []
    for f in range(n_frames):
        ids, boxes, dboxes, dscores = [], [], [], []
        for k in range(n_objects):
            if not birth[k] <= f < death[k]:
                continue
            c = start[k] + vel[k] * (f - birth[k])
            x1, y1 = c
            x2, y2 = x1 + size[k, 0], y1 + size[k, 1]
            if x2 < 0 or y2 < 0 or x1 > width or y1 > height:
                continue
            box = np.clip([x1, y1, x2, y2], [0, 0, 0, 0], [width, height, width, height])
            ids.append(k + 1)
            boxes.append(box)
            occluded = occlusion and occl_start[k] <= f < occl_start[k] + occl_len[k]
            if occluded and (f - occl_start[k]) % 3 == 0:
                continue  # fully hidden some frames
            if rng.random() < miss_rate:
                continue
            score = rng.uniform(0.15, 0.45) if occluded else rng.uniform(0.6, 0.95)
            dboxes.append(box + rng.normal(0, jitter, 4))
            dscores.append(score)
        for _ in range(rng.poisson(false_positives)):
            x, y = rng.uniform([0, 0], [width - 50, height - 100])
            dboxes.append([x, y, x + rng.uniform(20, 60), y + rng.uniform(40, 100)])
            dscores.append(rng.uniform(0.3, 0.7))
        gt.append((np.array(ids, np.int64), np.array(boxes, np.float64).reshape(-1, 4)))
        dets.append((np.array(dboxes, np.float64).reshape(-1, 4), np.array(dscores),
                     np.zeros(len(dscores), np.int64)))
    return Sequence(gt, dets, width, height)


def track_sequence(seq: Sequence, tracker, interval: int = 0) -> list:
    """Run ``tracker`` (a MultiObjectTracker) over a sequence's detections; returns the
    hypotheses ``evaluate`` takes: per frame (ids, boxes xyxy) of confirmed targets.
    ``interval``: as nvinfer's, the detector runs on one frame in ``interval + 1`` (the first
    included) and the tracker's predictions are the output on the others."""
    hyps = []
    for f, (boxes, scores, cls) in enumerate(seq.dets):
        if interval and f % (interval + 1):
            out = tracker.predict()
            hyps.append((out.det_track_ids, out.det_boxes))
            continue
        out = tracker.update(boxes, scores, cls)
        m = out.det_track_ids > 0
        hyps.append((out.det_track_ids[m], out.det_boxes[m]))
    return hyps


def evaluate(seq: Sequence, hypotheses: list) -> dict:
    """MOTA, IDF1 and friends with ``motmetrics``; ``hypotheses[f]`` = (ids, boxes xyxy)."""
    if not hasattr(np, "asfarray"):  # motmetrics 1.4 predates NumPy 2
        np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)
    import motmetrics as mm
    acc = mm.MOTAccumulator(auto_id=True)
    for (gid, gbox), (hid, hbox) in zip(seq.gt, hypotheses):
        def xywh(b):
            b = np.asarray(b, float).reshape(-1, 4)
            return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
        dist = mm.distances.iou_matrix(xywh(gbox), xywh(hbox), max_iou=0.5)
        acc.update(list(gid), list(hid), dist)
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=["mota", "idf1", "num_switches", "mostly_tracked", "num_false_positives",
                                 "num_misses"], name="seq")
    return {k: float(s[k].iloc[0]) for k in s.columns}


def _occlusion(boxes: np.ndarray) -> np.ndarray:
    """Per box, the fraction of its area covered by boxes nearer the camera (lower bottom edge
    in the image = nearer, as for people on a ground plane)."""
    n = len(boxes)
    out = np.zeros(n)
    if n < 2:
        return out
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-9)
    for i in range(n):
        front = boxes[boxes[:, 3] > boxes[i, 3]]
        if not len(front):
            continue
        # coverage by the union of the front boxes, on a coarse grid of the box
        xs = np.linspace(boxes[i, 0], boxes[i, 2], 12)
        ys = np.linspace(boxes[i, 1], boxes[i, 3], 24)
        gx, gy = np.meshgrid(xs, ys)
        inside = ((gx[..., None] >= front[:, 0]) & (gx[..., None] <= front[:, 2])
                  & (gy[..., None] >= front[:, 1]) & (gy[..., None] <= front[:, 3])).any(-1)
        out[i] = inside.mean() if area[i] > 0 else 0.0
    return out


def mot15_sequence(name: str, seed: int = 0, miss_rate: float = 0.05, false_positives: float = 1.0,
                   jitter: float = 0.04) -> Sequence:
    """Real pedestrian trajectories (MOT15 ``TUD-Campus`` or ``TUD-Stadtmitte`` ground truth, in
    the ``motmetrics`` wheel) with detections derived from them the way a detector behaves:
    the confidence falls with how much of the person is hidden by people nearer the camera
    (so many true boxes score below 0.5), heavily hidden people are often missed, boxes jitter
    by ``jitter`` × their size, and low-confidence false positives appear."""
    import os

    import motmetrics
    path = os.path.join(os.path.dirname(motmetrics.__file__), "data", name, "gt.txt")
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    rng = np.random.default_rng(seed)
    frames = rows[:, 0].astype(int)
    width = float((rows[:, 2] + rows[:, 4]).max())
    height = float((rows[:, 3] + rows[:, 5]).max())
    gt, dets = [], []
    for f in range(frames.min(), frames.max() + 1):
        r = rows[frames == f]
        ids = r[:, 1].astype(np.int64)
        boxes = np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], 1).reshape(-1, 4)
        occ = _occlusion(boxes)
        score = np.clip(0.92 - 0.9 * occ + rng.normal(0, 0.12, len(boxes)), 0.05, 0.99)
        seen = (rng.random(len(boxes)) >= miss_rate) & ~((occ > 0.7) & (rng.random(len(boxes)) < 0.5))
        size = np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, 1)
        dboxes = boxes + rng.normal(0, jitter, boxes.shape) * size
        dboxes, dscores = list(dboxes[seen]), list(score[seen])
        for _ in range(rng.poisson(false_positives)):
            w = rng.uniform(30, 90)
            x, y = rng.uniform([0, 0], [width - w, height - 2.5 * w])
            dboxes.append([x, y, x + w, y + 2.5 * w])
            dscores.append(rng.uniform(0.1, 0.5))
        gt.append((ids, boxes))
        dets.append((np.array(dboxes, np.float64).reshape(-1, 4), np.array(dscores),
                     np.zeros(len(dscores), np.int64)))
    return Sequence(gt, dets, int(width), int(height))
