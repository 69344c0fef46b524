"""Tracker accuracy on real pedestrian trajectories: MOT15 TUD-Campus and TUD-Stadtmitte ground
truth (shipped in the motmetrics wheel) with detections derived from it (confidence falling with
occlusion, misses, jitter, false positives; estuary.track.synthetic.mot15_sequence). Each of our
algorithms, with its default settings, against the reference implementations of the
``trackers`` 2.6.1 package on the same detections."""

import numpy as np
import pytest

from estuary.track import MultiObjectTracker, TrackerConfig
from estuary.track.synthetic import evaluate, mot15_sequence, track_sequence

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
SEEDS = (0, 1, 2)  # three detection draws per sequence; scores are their means
_cache: dict = {}


def _ours(seq, algorithm):
    return track_sequence(seq, MultiObjectTracker(TrackerConfig(algorithm=algorithm)))


def _reference(seq, name):
    import supervision as sv
    import trackers
    t = getattr(trackers, name)()
    hyps = []
    for boxes, scores, cls in seq.dets:
        r = t.update(sv.Detections(xyxy=boxes.astype(np.float32), confidence=scores.astype(np.float32),
                                   class_id=cls))
        m = r.tracker_id >= 0  # unconfirmed tracks come back with id -1
        hyps.append((r.tracker_id[m], r.xyxy[m]))
    return hyps


def scores(sequence: str, who: str) -> dict:
    """Mean MOTA and IDF1 over the detection draws; ``who`` is an algorithm or a trackers class."""
    key = (sequence, who)
    if key not in _cache:
        vals = []
        for seed in SEEDS:
            seq = mot15_sequence(sequence, seed=seed)
            hyps = _reference(seq, who) if who[0].isupper() else _ours(seq, who)
            vals.append(evaluate(seq, hyps))
        _cache[key] = {k: float(np.mean([v[k] for v in vals])) for k in ("mota", "idf1")}
    return _cache[key]


def test_detections_hold_many_true_low_confidence_boxes():
    seq = mot15_sequence("TUD-Stadtmitte", seed=0)
    s = np.concatenate([d[1] for d in seq.dets])
    n_gt = sum(len(g[0]) for g in seq.gt)
    assert 0.15 < np.mean(s < 0.5) < 0.5 and len(s) > 0.9 * n_gt


@pytest.mark.parametrize("sequence", SEQUENCES)
@pytest.mark.parametrize("algorithm,reference", [("sort", "SORTTracker"), ("bytetrack", "ByteTrackTracker")])
def test_at_least_the_reference_tracker(sequence, algorithm, reference):
    ours, ref = scores(sequence, algorithm), scores(sequence, reference)
    print(f"{sequence} {algorithm}: MOTA {ours['mota']:.3f} IDF1 {ours['idf1']:.3f} | trackers.{reference} "
          f"MOTA {ref['mota']:.3f} IDF1 {ref['idf1']:.3f}")
    assert ours["mota"] >= ref["mota"] and ours["idf1"] >= ref["idf1"]


@pytest.mark.parametrize("sequence", SEQUENCES)
def test_iou_tracker_against_the_reference_sort(sequence):
    """trackers 2.6.1 has no motion-free IOU tracker; the nearest reference is its SORT. The IOU
    tracker reaches SORT's MOTA (within 0.01); without a motion model it swaps ids where people
    cross, so its IDF1 is held to a floor instead (0.64 / 0.65; it was 0.60 / 0.65 on seed 0
    when detections below 0.5 were dropped)."""
    ours, ref = scores(sequence, "iou"), scores(sequence, "SORTTracker")
    print(f"{sequence} iou: MOTA {ours['mota']:.3f} IDF1 {ours['idf1']:.3f} | trackers.SORTTracker "
          f"MOTA {ref['mota']:.3f} IDF1 {ref['idf1']:.3f}")
    assert ours["mota"] >= ref["mota"] - 0.01
    assert ours["idf1"] >= {"TUD-Campus": 0.64, "TUD-Stadtmitte": 0.65}[sequence]


@pytest.mark.parametrize("algorithm", ["iou", "sort"])
def test_dropping_low_confidence_detections_costs_accuracy(algorithm):
    """The old default (min_detector_confidence=0.5 for IOU and SORT) as the counter-check: the
    gate above could not be passed with it."""
    seq = mot15_sequence("TUD-Stadtmitte", seed=0)
    t = MultiObjectTracker(TrackerConfig(algorithm=algorithm, min_detector_confidence=0.5))
    hyps = []
    for boxes, s, cls in seq.dets:
        out = t.update(boxes, s, cls)
        m = out.det_track_ids > 0
        hyps.append((out.det_track_ids[m], out.det_boxes[m]))
    old = evaluate(seq, hyps)
    new = evaluate(seq, _ours(seq, algorithm))
    assert new["mota"] >= old["mota"] + 0.05, (old["mota"], new["mota"])
