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


# -- objects stored as arrays (the frame's table) ------------------------------------------------

from estuary.meta.arrays import ObjectStyle  # noqa: E402
from estuary.track.meta import predicted_objects, write_tracking  # noqa: E402
from estuary.track.tracker import TrackOutput  # noqa: E402

LOOK = ObjectStyle(3, (1.0, 0.0, 0.0, 1.0), None, "Serif", 11, (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 1.0))


def table_frame(n=3):
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    boxes = [[10.0 * i, 5.0, 10.0 * i + 8, 25.0] for i in range(n)]
    rows = FrameObjects.detections(boxes, [0.5 + 0.1 * i for i in range(n)], list(range(n)),
                                   component_id=1, labels=[f"c{i}" for i in range(n)],
                                   style=LOOK, label_raise=20)
    return batch, f, f.append_objects(rows)


def struct_fields(o) -> tuple:
    """Everything an app can read of an object, as plain values."""
    r, t = o.rect_params, o.text_params
    d, k = o.detector_bbox_info.org_bbox_coords, o.tracker_bbox_info.org_bbox_coords
    return ((r.left, r.top, r.width, r.height, r.border_width, r.border_color.red, r.has_bg_color),
            (o.confidence, o.class_id, o.object_id, o.tracker_confidence, o.unique_component_id,
             o.obj_label), (d.left, d.top, d.width, d.height), (k.left, k.top, k.width, k.height),
            (t.display_text_str, t.x_offset, t.y_offset, t.font_params.font_name_str,
             t.font_params.font_size, t.set_bg_clr, t.text_bg_clr.alpha))


def test_rows_stay_arrays_until_read_as_structs():
    batch, f, table = table_frame()
    assert table.live and FrameObjects.from_frame(f) is table and f.num_obj_meta == 3
    assert batch.obj_meta_pool.num_full_elements == 0          # no struct made
    table.set([1], boxes=[[1, 2, 3, 4]])                        # writes the frame's storage
    objs = f.objects                                            # a reader wants structs: made once
    assert batch.obj_meta_pool.num_full_elements == 3 and not table.live
    assert f.objects is objs and [o.obj_label for o in objs] == ["c0", "c1", "c2"]
    r = objs[1].rect_params
    assert (r.left, r.top, r.width, r.height) == (1, 2, 2, 2)
    assert objs[0].object_id == UNTRACKED_OBJECT_ID and objs[2].text_params.display_text_str == "c2"
    assert (objs[0].text_params.x_offset, objs[0].text_params.y_offset) == (0, 0)
    # from now on the structs are the objects: a write through them is what the arrays read
    objs[2].rect_params.left = 77.0
    snap = FrameObjects.from_frame(f)
    assert not snap.live and snap.boxes[2, 0] == 77.0
    snap.set([0], tracker_id=[5], texts=["c0 5"])               # snapshots write through
    assert objs[0].object_id == 5 and objs[0].text_params.display_text_str == "c0 5"
    table.set([0], confidence=[0.25])                           # so does the old table
    assert objs[0].confidence == 0.25


def test_order_is_kept_whichever_way_objects_arrive():
    batch, f, table = table_frame(2)
    o = batch.acquire_object()
    o.obj_label = "struct"
    f.add_object(o)                                             # after the rows
    f.append_objects(FrameObjects.detections([[0, 0, 1, 1]], [0.9], [0], labels=["late"]))
    assert [x.obj_label for x in f.objects] == ["c0", "c1", "struct", "late"]
    assert f.num_obj_meta == 4 and FrameObjects.from_frame(f).labels == ["c0", "c1", "struct", "late"]


def test_two_writers_append_to_one_table():
    batch, f, table = table_frame(2)
    again = f.append_objects(FrameObjects.detections([[0, 0, 1, 1]], [0.9], [7], labels=["x"]))
    assert again is table and len(table) == 3 and table.class_id.tolist() == [0, 1, 7]
    assert batch.obj_meta_pool.num_full_elements == 0


def test_selection_of_a_table_writes_the_table():
    _, f, table = table_frame(3)
    sel = table[table.class_id >= 1]
    sel.set(tracker_id=[11, 12])
    assert table.tracker_id.tolist() == [-1, 11, 12]
    assert [o.object_id for o in f.objects] == [UNTRACKED_OBJECT_ID, 11, 12]


def test_copy_remove_clear_and_release_with_rows():
    batch, f, table = table_frame(3)
    dup = batch.copy()
    g = dup.frames[0]
    assert g.num_obj_meta == 3 and FrameObjects.from_frame(g) is not table
    FrameObjects.from_frame(g).set([0], confidence=[0.0])
    assert table.confidence[0] == 0.5                            # the copy is independent
    f.remove_object(f.objects[1])
    assert [o.obj_label for o in f.objects] == ["c0", "c2"] and batch.obj_meta_pool.num_full_elements == 2
    from estuary.pyds import nvds_clear_obj_meta_list
    nvds_clear_obj_meta_list(g)
    assert g.num_obj_meta == 0 and dup.obj_meta_pool.num_full_elements == 0
    batch.release()
    assert f.num_obj_meta == 0


def _track_out(n):
    ids = np.array([3, -1, 9][:n])
    boxes = np.array([[11, 6, 19, 26], [0, 0, 0, 0], [21, 4, 29, 24]][:n], np.float64)
    return TrackOutput(ids, boxes, np.array([0.8, 0.0, 0.7][:n]))


@pytest.mark.parametrize("show_id", [True, False])
def test_tracking_written_as_arrays_equals_written_through_structs(show_id):
    # the same update written into rows (no structs yet) and into structs (a probe read them first)
    b1, f1, t1 = table_frame()
    b2, f2, _ = table_frame()  # noqa: F841 - the batches own the frames' objects
    structs = f2.objects
    rows1 = write_tracking(t1, _track_out(3), show_id)
    rows2 = write_tracking(FrameObjects.from_frame(f2), _track_out(3), show_id)
    assert rows1.tolist() == rows2.tolist() == [0, 2]
    assert [struct_fields(o) for o in f1.objects] == [struct_fields(o) for o in structs]
    assert f1.objects[0].object_id == 3 and f1.objects[1].object_id == UNTRACKED_OBJECT_ID
    assert f1.objects[0].text_params.display_text_str == ("c0 3" if show_id else "c0")


def test_predicted_targets_keep_their_look():
    out = TrackOutput(np.array([4]), np.array([[5.0, 30.0, 15.0, 50.0]]), np.array([0.6]),
                      shadow=[(4, 2)])
    rows = predicted_objects(out, {4: ("car", 9, LOOK)}, True)
    batch, f, _ = table_frame(0)
    f.append_objects(rows)
    (o,) = f.objects
    assert (o.object_id, o.class_id, o.unique_component_id, o.obj_label) == (4, 2, 9, "car")
    assert o.confidence == pytest.approx(-0.1) and o.text_params.display_text_str == "car 4"
    assert o.rect_params.border_color.red == 1.0 and o.text_params.y_offset == 10
    tb = o.tracker_bbox_info.org_bbox_coords
    assert (tb.left, tb.top, tb.width, tb.height) == (5, 30, 10, 20)


def test_one_value_is_given_to_every_row_of_a_list_column():
    _, f, table = table_frame(3)
    table.set([0, 2], texts="same", styles=None)
    assert table.texts == ["same", "c1", "same"] and table.styles[1] is LOOK and table.styles[0] is None
    assert FrameObjects.detections([[0, 0, 1, 1]], [1.0], [0]).texts == [None]  # no label, no text


def test_two_threads_reading_one_frame_make_its_structs_once():
    import threading
    batch, f, table = table_frame(50)
    seen, go = [], threading.Barrier(4)

    def read():
        go.wait()
        seen.append(len(f.objects))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [50] * 4 and batch.obj_meta_pool.num_full_elements == 50
