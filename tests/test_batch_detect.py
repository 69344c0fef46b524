"""estuary.infer.batch_detect: a batch's YOLO detections at once equal the per-frame path
(parse_yolo → to_source → clip → cluster mode 2 → filter-out) exactly, in the same order."""

import numpy as np
import pytest

from estuary.infer.batch_detect import group_nms, yolo_batch
from estuary.infer.cluster import cluster, nms
from estuary.infer.config import ClassAttrs
from estuary.infer.parsers import Candidates, parse_yolo
from estuary.infer.preprocess import Transform


def _rows(rng, n, classes=6):
    """YOLO rows with clusters of overlapping boxes, tied scores and boxes past the edges."""
    centres = rng.uniform(-20, 436, (max(n // 6, 1), 2))
    pick = rng.integers(0, len(centres), n)
    cxcy = centres[pick] + rng.normal(0, 6, (n, 2))
    wh = rng.uniform(4, 120, (n, 2))
    obj = rng.choice([0.95, 0.9, 0.7, 0.5, 0.41, 0.3], n)  # repeated values: ties in scores
    probs = rng.choice([1.0, 0.9, 0.6], (n, classes))
    return np.concatenate([cxcy, wh, obj[:, None], probs], 1).astype(np.float32)


def _reference(rows, thr, tr, w, h, attrs, filt):
    out = []
    for r in rows:
        cand = parse_yolo({"o": r}, None, r.shape[1] - 5, thr)
        if len(cand):
            cand = Candidates(tr.to_source(cand.boxes), cand.scores, cand.class_ids)
            cand.boxes[:, 0::2] = np.clip(cand.boxes[:, 0::2], 0, w)
            cand.boxes[:, 1::2] = np.clip(cand.boxes[:, 1::2], 0, h)
        cand = cluster(cand, 2, lambda _c: attrs, h)
        if filt and len(cand):
            cand = cand[~np.isin(cand.class_ids, filt)]
        out.append(cand)
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("variant", ["plain", "topk", "filters"])
def test_batch_equals_per_frame(seed, variant):
    rng = np.random.default_rng(seed)
    rows = [_rows(rng, int(rng.integers(0, 120))) for _ in range(7)]
    rows[2] = rows[2][:0]  # a frame without candidates
    attrs = ClassAttrs(pre_cluster_threshold=0.4, nms_iou_threshold=0.45)
    filt = None
    if variant == "topk":
        attrs.topk = 3
    elif variant == "filters":
        attrs.post_cluster_threshold, attrs.detected_min_w, attrs.detected_max_h = 0.5, 20, 300
        attrs.roi_top_offset, attrs.roi_bottom_offset = 30, 40
        filt = [1, 4]
    tr = Transform(416 / 1280, 416 / 720, 0.0, 0.0, 0.0, 0.0)
    ref = _reference(rows, 0.4, tr, 1280, 720, attrs, filt)
    got = yolo_batch(rows, 0.4, tr, 1280, 720, attrs, filt)
    assert len(got) == len(ref) and sum(len(r) for r in ref) > 0
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g.boxes, r.boxes)
        np.testing.assert_array_equal(g.scores, r.scores)
        np.testing.assert_array_equal(g.class_ids, r.class_ids)


def test_group_nms_equals_greedy_nms_per_group():
    rng = np.random.default_rng(7)
    boxes, groups = [], []
    for gi in range(40):
        n = int(rng.integers(1, 30))
        xy = rng.uniform(0, 100, (n, 2)) + rng.normal(0, 3, (1, 2))
        b = np.concatenate([xy, xy + rng.uniform(5, 60, (n, 2))], 1).astype(np.float32)
        boxes.append(b)
        groups += [gi] * n
    boxes, groups = np.concatenate(boxes), np.array(groups)
    got = group_nms(boxes, groups, 0.3)
    want = np.zeros(len(boxes), bool)
    for gi in range(40):
        at = np.flatnonzero(groups == gi)
        sub = Candidates(boxes[at], -np.arange(len(at), dtype=np.float32), np.zeros(len(at)))
        want[at[nms(sub, 0.3)]] = True
    assert 0 < want.sum() < len(want)
    np.testing.assert_array_equal(got, want)
