"""estuary.infer.gpu_post on CPU tensors: the batch's kept YOLO rows are exactly what a
per-frame boolean selection gives (order, values), including frames with more kept rows than
the one batch copy holds. The same class runs on CUDA tensors in tests/test_gpu.py."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from estuary.infer.gpu_post import PendingOutputs, yolo_scores  # noqa: E402


def _yolo(n=5, rows=300, classes=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand((n, rows, 5 + classes), generator=g)
    t[..., 4] = t[..., 4] ** 4  # most rows have low objectness, as a detector's output
    return t


def _reference(t, thr):
    score = yolo_scores(t)
    return [t[i][score[i] >= thr].numpy() for i in range(t.shape[0])]


@pytest.mark.parametrize("rows", [1, 16, 64, 4096])
def test_kept_rows_equal_a_per_frame_selection(rows):
    t = _yolo()
    t[2, :, 4] = 0.0  # a frame with nothing kept
    t[3, :, 4] = 1.0  # a frame whose every row is kept: more than ``rows`` unless 4096
    thr = 0.3
    ref = _reference(t, thr)
    got = PendingOutputs({"out": t}, yolo_rows="out", min_score=thr, rows=rows).result()["out"]
    assert [len(g) for g in got] == [len(r) for r in ref]
    assert len(got[2]) == 0 and len(got[3]) == 300
    assert any(0 < len(r) < 300 for r in ref)
    for g, r in zip(got, ref):
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, r)


def test_other_outputs_come_back_whole_as_float32():
    a = torch.arange(24, dtype=torch.float16).reshape(2, 3, 4)
    b = torch.ones((2, 5))
    p = PendingOutputs({"a": a, "b": b})
    assert p.done()
    out = p.result()
    assert out["a"].dtype == np.float32 and out["a"].shape == (2, 3, 4)
    np.testing.assert_array_equal(out["a"], a.float().numpy())
    np.testing.assert_array_equal(out["b"], np.ones((2, 5), np.float32))
    assert p.result() is out  # waited for once


def test_half_precision_rows_are_selected_in_float32():
    t = _yolo(n=2, rows=50).half()
    ref = _reference(t.float(), 0.2)
    got = PendingOutputs({"o": t}, yolo_rows="o", min_score=0.2).result()["o"]
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)
