"""The multi-stream tracker step (track.tracker.update_many: the streams' IoU matrices and Kalman
updates computed together) gives exactly what each stream's own update gives, for every
algorithm and matching mode, with one id counter shared by the streams (as nvtracker has)."""

import numpy as np
import pytest

from estuary.track import MultiObjectTracker, TrackerConfig
from estuary.track.synthetic import make_sequence
from estuary.track.tracker import _Counter, predict_all, update_many


def _streams(n=7, frames=90):
    seqs = [make_sequence(n_objects=4 + 3 * k, n_frames=frames, seed=10 + k, false_positives=1.0 + k / 3)
            for k in range(n)]
    empty = (np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
    for k, seq in enumerate(seqs):  # gaps: streams with no detections on some frames
        for f in range(k, frames, 11 + k):
            seq.dets[f] = empty
    return seqs


def _outputs_equal(a, b):
    np.testing.assert_array_equal(a.det_track_ids, b.det_track_ids)
    np.testing.assert_array_equal(a.det_boxes, b.det_boxes)
    np.testing.assert_array_equal(a.det_confidence, b.det_confidence)
    assert len(a.shadow) == len(b.shadow)
    for x, y in zip(a.shadow, b.shadow):
        assert x[:2] == y[:2] and x[3:] == y[3:]
        np.testing.assert_array_equal(x[2], y[2])
    assert [(i, c, len(p)) for i, c, p in a.recovered] == [(i, c, len(p)) for i, c, p in b.recovered]


@pytest.mark.parametrize("algorithm", ["iou", "sort", "bytetrack"])
@pytest.mark.parametrize("global_matching", [True, False], ids=["hungarian", "greedy"])
@pytest.mark.parametrize("check_class", [True, False], ids=["class", "any-class"])
def test_update_many_equals_per_stream_updates(algorithm, global_matching, check_class):
    cfg = TrackerConfig(algorithm=algorithm, global_matching=global_matching, check_class=check_class,
                        probation_age=3, max_shadow_age=12)
    seqs = _streams()
    ids_a, ids_b = _Counter(), _Counter()
    one = [MultiObjectTracker(cfg, ids_a) for _ in seqs]
    many = [MultiObjectTracker(cfg, ids_b) for _ in seqs]
    compared = tracked = 0
    for f in range(len(seqs[0].dets)):
        predict_all(one)
        ref = [t.update(*s.dets[f], predicted=True) for t, s in zip(one, seqs)]
        predict_all(many)
        got = update_many(many, [s.dets[f] for s in seqs])
        for a, b in zip(ref, got):
            _outputs_equal(a, b)
            compared += 1
            tracked += int((a.det_track_ids > 0).sum())
        for ta, tb in zip(one, many):
            np.testing.assert_array_equal(ta.ids, tb.ids)
            np.testing.assert_array_equal(ta.mean, tb.mean)
            np.testing.assert_array_equal(ta.cov, tb.cov)
    assert compared == 7 * 90 and tracked > 1000  # the streams really were tracked


def test_update_many_wants_each_tracker_once():
    t = MultiObjectTracker()
    empty = (np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64))
    with pytest.raises(ValueError):
        update_many([t, t], [empty, empty])
