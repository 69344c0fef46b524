"""The struct-of-arrays view of a frame's objects: one conversion for every element."""

from __future__ import annotations

import numpy as np
import pytest

from estuary.meta import FrameObjects, from_supervision, to_supervision
from estuary.meta.core import NvDsBatchMeta
from estuary.meta.enums import UNTRACKED_OBJECT_ID


def frame_with(rows):
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    for left, top, w, h, conf, cid, oid, label in rows:
        o = batch.acquire_object()
        r = o.rect_params
        r.left, r.top, r.width, r.height = left, top, w, h
        o.confidence, o.class_id, o.object_id, o.obj_label = conf, cid, oid, label
        o.unique_component_id = 1
        f.add_object(o)
    return batch, f


ROWS = [(10, 20, 30, 40, 0.9, 2, UNTRACKED_OBJECT_ID, "car"),
        (0, 0, 5, 5, -0.1, 0, 7, "person"),
        (100, 50, 20, 10, 0.3, 2, 2 ** 63, "car")]


def test_from_frame_conventions():
    _, f = frame_with(ROWS)
    fo = FrameObjects.from_frame(f)
    assert len(fo) == 3
    np.testing.assert_allclose(fo.boxes[0], [10, 20, 40, 60])           # xyxy
    np.testing.assert_allclose(fo.xywh()[2], [100, 50, 20, 10])         # rect_params' convention
    assert fo.tracker_id.tolist() == [-1, 7, -1]                       # untracked / not a tracker id
    np.testing.assert_allclose(fo.scores(), [0.9, 1.0, 0.3])            # "not set" reads as 1.0
    assert fo.labels == ["car", "person", "car"] and fo.component_id.tolist() == [1, 1, 1]


def test_mask_selection_and_write_back():
    _, f = frame_with(ROWS)
    fo = FrameObjects.from_frame(f)
    cars = fo[fo.class_id == 2]
    assert len(cars) == 2 and cars.labels == ["car", "car"]
    cars.write_boxes(np.array([[1, 2, 3, 4], [5, 6, 9, 10]]))
    r = f.objects[2].rect_params
    assert (r.left, r.top, r.width, r.height) == (5, 6, 4, 4)           # the frame's object changed
    assert FrameObjects.from_frame(f).boxes[0].tolist() == [1, 2, 3, 4]


def test_empty_frame():
    _, f = frame_with([])
    fo = FrameObjects.from_frame(f)
    assert len(fo) == 0 and fo.boxes.shape == (0, 4) and fo.xywh().shape == (0, 4)


def test_supervision_round_trip():
    sv = pytest.importorskip("supervision")
    _, f = frame_with(ROWS[:2])
    det = to_supervision(f)
    assert isinstance(det, sv.Detections) and len(det) == 2
    np.testing.assert_allclose(det.xyxy[1], [0, 0, 5, 5])
    assert det.tracker_id.tolist() == [-1, 7] and list(det.data["class_name"]) == ["car", "person"]
    batch, g = frame_with([])
    fo = from_supervision(det[det.class_id == 2], batch, g, component_id=4)
    assert len(fo) == 1 and fo.labels == ["car"] and fo.component_id.tolist() == [4]
    np.testing.assert_allclose(fo.boxes[0], [10, 20, 40, 60])
    assert g.objects[0].object_id == UNTRACKED_OBJECT_ID  # -1 in supervision stays untracked
