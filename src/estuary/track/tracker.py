"""One multi-object tracker class, three algorithms:

* ``iou``: no motion model; detections are associated to targets' last boxes by IoU;
* ``sort``: Kalman-predicted boxes, one association stage (Hungarian on IoU);
* ``bytetrack``: Kalman-predicted boxes, two stages — confident detections first, then the
  low-confidence ones against the targets still unmatched.

Targets are confirmed after ``probation_age`` hits and then get an id (a per-tracker counter,
never reused); a confirmed target without detections is shadow-tracked for up to
``max_shadow_age`` frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from estuary.boxes import iou_matrix  # noqa: F401 - re-exported
from estuary.track.config import TrackerConfig
from estuary.track.kalman import BoxKalman

__all__ = ["MultiObjectTracker", "TrackOutput", "iou_matrix", "predict_all", "update_many"]


@dataclass
class TrackOutput:
    """The tracker's word on one frame."""

    det_track_ids: np.ndarray        # per detection: the confirmed target id, or -1
    det_boxes: np.ndarray            # per detection: the tracked (filtered) box, xyxy
    det_confidence: np.ndarray       # per detection: tracker confidence
    shadow: list = field(default_factory=list)   # (id, class_id, box, confidence, age) not detected now
    recovered: list = field(default_factory=list)  # (id, class_id, [(frame, box, conf, age), ...])


class MultiObjectTracker:
    """Tracks the detections of one stream."""

    def __init__(self, config: TrackerConfig | None = None, id_source=None):
        self.cfg = (config or TrackerConfig()).validate()
        self.kf = BoxKalman()
        self._next_id = id_source or _Counter()
        self.frame = 0
        n = 0
        self.mean = np.zeros((n, 8))
        self.cov = np.zeros((n, 8, 8))
        self.boxes = np.zeros((n, 4))       # last box (iou) or filtered box
        self.ids = np.zeros(n, np.int64)    # 0 until confirmed
        self.cls = np.zeros(n, np.int64)
        self.hits = np.zeros(n, np.int64)
        self.misses = np.zeros(n, np.int64)
        self.score = np.zeros(n)
        self.pending: dict[int, list] = {}

    @property
    def uses_motion(self) -> bool:
        return self.cfg.algorithm != "iou"

    def __len__(self):
        return len(self.ids)

    def reset(self) -> None:
        """Forget every target (ids keep counting up: they are never reused)."""
        self.__init__(self.cfg, self._next_id)

    def _predicted(self) -> np.ndarray:
        return self.kf.z_to_xyxy(self.mean[:, :4]) if self.uses_motion else self.boxes

    def _match(self, trk_idx, det_idx, tboxes, dboxes, dcls, min_iou, iou=None):
        """(matches [(target, detection)], unmatched targets, unmatched detections). ``iou``: the
        class-checked IoU of ``trk_idx`` × ``det_idx``, when computed already (update_many)."""
        if len(trk_idx) == 0 or len(det_idx) == 0:
            return [], list(trk_idx), list(det_idx)
        if iou is None:
            iou = iou_matrix(tboxes[trk_idx], dboxes[det_idx])
            if self.cfg.check_class:
                iou = np.where(self.cls[trk_idx][:, None] == dcls[det_idx][None, :], iou, 0.0)
        if self.cfg.global_matching:
            r, c = linear_sum_assignment(-iou)
            pairs = [(int(a), int(b)) for a, b in zip(r, c) if iou[a, b] >= min_iou]
        else:
            pairs, used_r, used_c = [], set(), set()
            for flat in np.argsort(-iou, axis=None):
                a, b = divmod(int(flat), iou.shape[1])
                if iou[a, b] < min_iou:
                    break
                if a in used_r or b in used_c:
                    continue
                pairs.append((a, b))
                used_r.add(a)
                used_c.add(b)
        mt = {a for a, _ in pairs}
        md = {b for _, b in pairs}
        matches = [(trk_idx[a], det_idx[b]) for a, b in pairs]
        return (matches, [trk_idx[i] for i in range(len(trk_idx)) if i not in mt],
                [det_idx[j] for j in range(len(det_idx)) if j not in md])

    def update(self, boxes, scores, class_ids, predicted: bool = False) -> TrackOutput:
        """Associate this frame's detections (xyxy boxes, scores, class ids). ``predicted``:
        the targets' motion was already predicted for this frame (:func:`predict_all`)."""
        st = self._begin(boxes, scores, class_ids, predicted)
        matches, new_dets = self._associate(st)
        return self._apply(st, matches, new_dets)

    def _begin(self, boxes, scores, class_ids, predicted: bool) -> "_FrameState":
        """A frame starts: its detections as arrays, the targets' predicted boxes, the
        detections each association stage considers."""
        cfg = self.cfg
        self.frame += 1
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(scores, np.float64).reshape(-1)
        class_ids = np.asarray(class_ids, np.int64).reshape(-1)
        if self.uses_motion and not predicted:
            self.mean, self.cov = self.kf.predict(self.mean, self.cov)
        valid = scores >= cfg.min_detector_confidence
        if cfg.algorithm == "bytetrack":
            high_mask = scores >= cfg.high_threshold
            first = np.nonzero(valid & high_mask)[0].tolist()
            low = np.nonzero(valid & ~high_mask)[0].tolist()
        else:
            first, low = np.nonzero(valid)[0].tolist(), []
        return _FrameState(boxes, scores, class_ids, self._predicted(), first, low)

    def _associate(self, st):
        """The frame's matches [(target, detection)] and the detections that start targets."""
        m1, rest_trk, rest = self._stage1(st)
        return self._stage2(st, m1, rest, self._stage2_targets(rest_trk))

    def _stage1(self, st, iou=None):
        """Every target against ``st.first``; ``iou``: their class-checked IoU, if computed."""
        return self._match(list(range(len(self.ids))), st.first, st.pred, st.boxes, st.class_ids,
                           self.cfg.min_iou, iou)

    def _stage2_targets(self, rest_trk) -> list:
        """The targets bytetrack's second stage tries: confirmed ones stage 1 left unmatched."""
        return [t for t in rest_trk if self.ids[t] > 0] if self.cfg.algorithm == "bytetrack" else []

    def _stage2(self, st, m1, rest, targets, iou=None):
        """(matches, new detections) after bytetrack's low-confidence stage (``targets`` ×
        ``st.low``; ``iou`` if computed) or directly (sort, iou)."""
        cfg = self.cfg
        matches = m1
        if cfg.algorithm == "bytetrack":
            m2, _, _ = self._match(targets, st.low, st.pred, st.boxes, st.class_ids, cfg.min_iou_low, iou)
            matches = m1 + m2
        # low-confidence detections keep targets alive but do not start new ones
        return matches, [d for d in rest if st.scores[d] >= cfg.new_track_threshold]

    def _apply(self, st, matches, new_dets, kalman=None) -> TrackOutput:
        """The frame's matches applied: filtered boxes (``kalman`` = the (mean, cov) rows of the
        matched targets when updated already, in ``matches`` order), ids, shadows, new targets."""
        cfg = self.cfg
        boxes, scores, class_ids, pred = st.boxes, st.scores, st.class_ids, st.pred
        n_det = len(boxes)
        out_ids = np.full(n_det, -1, np.int64)
        out_boxes = boxes.copy()
        out_conf = np.full(n_det, -0.1 if cfg.algorithm == "iou" else 0.0)
        matched_trk = np.zeros(len(self.ids), bool)
        recovered = []
        # array operations over all matches and all unmatched targets: per-target Python was
        # the tracker's cost at 100+ streams (ids, boxes and shadows as before, in match order)
        if matches:
            ti = np.array([t for t, _ in matches])
            di = np.array([d for _, d in matches])
            matched_trk[ti] = True
            if self.uses_motion:
                m, c = kalman if kalman is not None else self.kf.update(self.mean[ti], self.cov[ti], boxes[di])
                self.mean[ti], self.cov[ti] = m, c
                self.boxes[ti] = self.kf.z_to_xyxy(m[:, :4])
            else:
                self.boxes[ti] = boxes[di]
            self.hits[ti] += 1
            self.misses[ti] = 0
            self.score[ti] = scores[di]
            promote = (self.ids[ti] == 0) & (self.hits[ti] >= cfg.probation_age)
            for t in ti[promote].tolist():  # confirmed now: ids in match order
                self.ids[t] = self._next_id()
            confirmed = self.ids[ti] > 0
            tk, dk = ti[confirmed], di[confirmed]
            out_ids[dk] = self.ids[tk]
            out_boxes[dk] = self.boxes[tk]
            if cfg.algorithm != "iou":
                out_conf[dk] = scores[dk]
            if self.pending:
                for tid, cls in zip(self.ids[tk].tolist(), self.cls[tk].tolist()):
                    past = self.pending.pop(tid, None)
                    if past:
                        recovered.append((tid, cls, past))
        # unmatched targets: shadow-track or end
        shadow = []
        um = np.nonzero(~matched_trk)[0]
        keep = np.ones(len(self.ids), bool)
        if len(um):
            self.misses[um] += 1
            if self.uses_motion:
                self.boxes[um] = pred[um]
            ids_um = self.ids[um]
            confirmed = ids_um > 0
            drop = self.misses[um] > np.where(confirmed, cfg.max_shadow_age, cfg.early_termination_age)
            if cfg.min_box_size:
                b = self.boxes[um]
                drop |= np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) < cfg.min_box_size
            keep[um[drop]] = False
            if self.pending and drop.any():
                for tid in ids_um[drop].tolist():
                    self.pending.pop(tid, None)
            sh = um[~drop & confirmed]
            if len(sh):
                bx = self.boxes[sh].copy()
                for tid, cls, box, sc, ms in zip(self.ids[sh].tolist(), self.cls[sh].tolist(), bx,
                                                 self.score[sh].tolist(), self.misses[sh].tolist()):
                    shadow.append((tid, cls, box, sc, ms))
                    self.pending.setdefault(tid, []).append((self.frame, box.copy(), sc, ms))
        self._keep(keep)
        # new targets
        room = max(cfg.max_targets - len(self.ids), 0)
        new_dets = new_dets[:room]
        if new_dets:
            nd = np.array(new_dets)
            mean, cov = self.kf.initiate(boxes[nd])
            self.mean = np.concatenate([self.mean, mean])
            self.cov = np.concatenate([self.cov, cov])
            self.boxes = np.concatenate([self.boxes, boxes[nd]])
            self.cls = np.concatenate([self.cls, class_ids[nd]])
            self.hits = np.concatenate([self.hits, np.ones(len(nd), np.int64)])
            self.misses = np.concatenate([self.misses, np.zeros(len(nd), np.int64)])
            self.score = np.concatenate([self.score, scores[nd]])
            ids = np.zeros(len(nd), np.int64)
            if cfg.probation_age <= 1 or self.frame == 1:  # targets of the first frame start confirmed
                for k, d in enumerate(nd):
                    ids[k] = self._next_id()
                    out_ids[d] = ids[k]
                    if cfg.algorithm != "iou":
                        out_conf[d] = float(scores[d])
            self.ids = np.concatenate([self.ids, ids])
        return TrackOutput(out_ids, out_boxes, out_conf, shadow, recovered)

    def predict(self, predicted: bool = False) -> TrackOutput:
        """A frame the detector skipped (nvinfer ``interval``): every target moves by its motion
        model (the IOU tracker, which has none, keeps its last box) and the confirmed active
        targets are reported at their predicted boxes, as
        DeepStream's trackers report their active targets on such frames. A skipped frame is
        no miss: shadow ages and probation only advance on frames the detector saw.

        Returns a TrackOutput whose "detections" are the reported targets (``det_track_ids``,
        ``det_boxes``, ``det_confidence`` = the score of the detection that last matched) and
        whose ``shadow`` lists their class ids as (id, class_id) pairs. ``predicted``: as for
        :meth:`update`."""
        self.frame += 1
        if self.uses_motion and len(self.ids):
            if not predicted:  # else done for this frame already (predict_all)
                self.mean, self.cov = self.kf.predict(self.mean, self.cov)
            self.boxes = self._predicted().copy()
        # reported: confirmed targets the last detected frame matched, and with a motion model
        # also those it missed once (their prediction is still fresh; measured on MOT15 TUD:
        # interval=1 MOTA went from 0.94-1.00x to 0.97-1.03x of interval=0). Without one (IOU)
        # a missed target's box is stale: it is not reported.
        stale = 1 if self.uses_motion else 0
        live = np.nonzero((self.ids > 0) & (self.misses <= stale))[0]
        return TrackOutput(self.ids[live].copy(), self.boxes[live].copy(), self.score[live].copy(),
                           [(int(self.ids[t]), int(self.cls[t])) for t in live])

    def _keep(self, keep):
        if keep.all():
            return
        for name in ("mean", "cov", "boxes", "ids", "cls", "hits", "misses", "score"):
            setattr(self, name, getattr(self, name)[keep])


def predict_all(trackers: list[MultiObjectTracker]) -> None:
    """The Kalman prediction of every target of several trackers (one per stream, each at most
    once) in one vectorised call; then call each one's ``update(..., predicted=True)``. At 100+
    streams the per-stream calls' numpy overhead, not the arithmetic, was the cost."""
    moving = [t for t in trackers if t.uses_motion and len(t.ids)]
    if len(moving) < 2:
        for t in moving:
            t.mean, t.cov = t.kf.predict(t.mean, t.cov)
        return
    kf = moving[0].kf
    if any((t.kf.pw, t.kf.vw) != (kf.pw, kf.vw) for t in moving):
        for t in moving:
            t.mean, t.cov = t.kf.predict(t.mean, t.cov)
        return
    mean, cov = kf.predict(np.concatenate([t.mean for t in moving]), np.concatenate([t.cov for t in moving]))
    start = 0
    for t in moving:
        n = len(t.ids)
        t.mean, t.cov = mean[start: start + n], cov[start: start + n]
        start += n


@dataclass
class _FrameState:
    """One frame of one tracker between association and its application."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    pred: np.ndarray
    first: list     # detections of the first association stage
    low: list       # bytetrack's low-confidence detections (stage 2)


def _iou_many(pairs) -> list:
    """:func:`iou_matrix` of several (a, b) box pairs in one padded computation: the same
    elementwise arithmetic, so the same values."""
    if not pairs:
        return []
    S = len(pairs)
    T = max(len(a) for a, _ in pairs)
    D = max(len(b) for _, b in pairs)
    A = np.zeros((S, T, 4))
    B = np.zeros((S, D, 4))
    for k, (a, b) in enumerate(pairs):
        A[k, :len(a)] = a
        B[k, :len(b)] = b
    ix1 = np.maximum(A[:, :, None, 0], B[:, None, :, 0])
    iy1 = np.maximum(A[:, :, None, 1], B[:, None, :, 1])
    ix2 = np.minimum(A[:, :, None, 2], B[:, None, :, 2])
    iy2 = np.minimum(A[:, :, None, 3], B[:, None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (A[:, :, 2] - A[:, :, 0]) * (A[:, :, 3] - A[:, :, 1])
    area_b = (B[:, :, 2] - B[:, :, 0]) * (B[:, :, 3] - B[:, :, 1])
    iou = inter / np.maximum(area_a[:, :, None] + area_b[:, None, :] - inter, 1e-9)
    return [iou[k, :len(a), :len(b)] for k, (a, b) in enumerate(pairs)]


def _stage_ious(jobs) -> list:
    """Class-checked IoU matrices for [(tracker, targets, detections, frame state)], at once."""
    out = [None] * len(jobs)
    real = [k for k, (_t, ti, di, _st) in enumerate(jobs) if len(ti) and len(di)]
    ious = _iou_many([(jobs[k][3].pred[jobs[k][1]], jobs[k][3].boxes[jobs[k][2]]) for k in real])
    for k, iou in zip(real, ious):
        t, ti, di, st = jobs[k]
        if t.cfg.check_class:
            iou = np.where(t.cls[ti][:, None] == st.class_ids[di][None, :], iou, 0.0)
        out[k] = iou
    return out


def update_many(trackers: list[MultiObjectTracker], inputs: list) -> list[TrackOutput]:
    """``t.update(boxes, scores, class_ids, predicted=True)`` for every tracker (distinct, one per
    stream, their motion predicted already by :func:`predict_all`) and its ``inputs`` entry, in
    order, with the same results, but the streams' IoU matrices and Kalman updates computed
    together: at 100+ streams a frame, numpy's per-call overhead, not the arithmetic, was the cost.
    The assignment itself (Hungarian or greedy) stays per stream."""
    if len({id(t) for t in trackers}) != len(trackers):
        raise ValueError("update_many needs each tracker once")
    states = [t._begin(b, s, c, True) for t, (b, s, c) in zip(trackers, inputs)]
    iou1 = _stage_ious([(t, np.arange(len(t.ids)), np.asarray(st.first, np.int64), st)
                        for t, st in zip(trackers, states)])
    first = [t._stage1(st, iou) for t, st, iou in zip(trackers, states, iou1)]
    targets = [t._stage2_targets(rest_trk) for t, (_m, rest_trk, _r) in zip(trackers, first)]
    iou2 = _stage_ious([(t, np.asarray(tg, np.int64), np.asarray(st.low, np.int64), st)
                        for t, tg, st in zip(trackers, targets, states)])
    results = [t._stage2(st, m1, rest, tg, iou)
               for t, st, (m1, _rt, rest), tg, iou in zip(trackers, states, first, targets, iou2)]
    # every matched target's Kalman update in one call (trackers with the same noise weights)
    kalman = [None] * len(trackers)
    moving = [k for k, t in enumerate(trackers) if t.uses_motion and results[k][0]]
    if len(moving) > 1 and len({(trackers[k].kf.pw, trackers[k].kf.vw) for k in moving}) == 1:
        ti = [np.array([a for a, _ in results[k][0]]) for k in moving]
        di = [np.array([d for _, d in results[k][0]]) for k in moving]
        m, c = trackers[moving[0]].kf.update(
            np.concatenate([trackers[k].mean[i] for k, i in zip(moving, ti)]),
            np.concatenate([trackers[k].cov[i] for k, i in zip(moving, ti)]),
            np.concatenate([states[k].boxes[i] for k, i in zip(moving, di)]))
        start = 0
        for k, i in zip(moving, ti):
            kalman[k] = (m[start: start + len(i)], c[start: start + len(i)])
            start += len(i)
    return [t._apply(st, matches, new, kalman[k])
            for k, (t, st, (matches, new)) in enumerate(zip(trackers, states, results))]


class _Counter:
    """A per-tracker (or per-element) id counter: ids start at 1 and are never reused."""

    def __init__(self, start: int = 1):
        self.value = start - 1

    def __call__(self) -> int:
        self.value += 1
        return self.value
