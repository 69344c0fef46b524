"""Box helpers shared by benchmarks and tests."""

import pytest

from estuary.boxes import box_agreement


@pytest.mark.parametrize("frame,result", [
    # (ref boxes, ref classes, boxes, classes) → (recall, precision, n_ref, n_got)
    (([[0, 0, 10, 10]], [1], [[0, 0, 10, 10]], [1]), (1.0, 1.0, 1, 1)),
    (([[0, 0, 10, 10]], [1], [[0, 0, 10, 10]], [2]), (0.0, 0.0, 1, 1)),
    (([[0, 0, 10, 10]], [1], [[5, 5, 15, 15]], [1]), (0.0, 0.0, 1, 1)),
    (([[0, 0, 10, 10], [20, 0, 30, 10]], [1, 1], [[1, 0, 11, 10]], [1]), (0.5, 1.0, 2, 1)),
    (([[0, 0, 10, 10]], [1], [[0, 0, 10, 10], [0, 0, 10, 9]], [1, 1]), (1.0, 0.5, 1, 2)),
    (([], [], [[0, 0, 1, 1]], [0]), (0.0, 0.0, 0, 1)),
], ids=["same", "other-class", "low-iou", "missed", "one-match-each", "empty-ref"])
def test_box_agreement(frame, result):
    """The one INT8-vs-FP32 agreement measure (bench, tests): greedy same-class IoU ≥ 0.5."""
    assert box_agreement([frame]) == result


def test_box_agreement_adds_frames_up():
    a = ([[0, 0, 10, 10]], [1], [[0, 0, 10, 10]], [1])
    b = ([[0, 0, 10, 10]], [1], [], [])
    assert box_agreement([a, b]) == (0.5, 1.0, 2, 1)
