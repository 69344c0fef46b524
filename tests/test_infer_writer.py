"""The engine-free halves of nvinfer, without GStreamer: the detections → object meta writer (with
its display styling), the classifier-result writers, ROI clipping, the secondary-inference object
filter and its per-object cache, and the shared output decoding."""

import numpy as np
import pytest

from estuary.infer.config import ClassAttrs, load_infer_config
from estuary.infer.decode import Classification, Detections, classify_outputs, decode_detections
from estuary.infer.parsers import parse_end2end
from estuary.infer.preprocess import NetInput, Transform
from estuary.infer.secondary import ObjectFilter, SecondaryCache, plan_secondary
from estuary.infer.writer import (DetectionStyle, class_color, clip_to_roi, display_text_of,
                                  write_classification, write_detections, write_frame_classification,
                                  write_segmentation, write_tensor_meta)
from estuary.meta.core import NvDsBatchMeta
from estuary.meta.enums import UNTRACKED_OBJECT_ID, NvDsMetaType

LABELS = ["person", "bicycle", "car"]


def _batch(frames=1, width=640, height=480):
    b = NvDsBatchMeta(frames)
    for i in range(frames):
        f = b.acquire_frame()
        f.batch_id, f.source_id, f.frame_num = i, i, 0
        f.pipeline_width, f.pipeline_height = width, height
        b.add_frame(f)
    return b


def _style(attrs=None, uid=7):
    attrs = attrs or {}
    return DetectionStyle(uid, lambda c: LABELS[c] if c < len(LABELS) else str(c),
                          lambda c: attrs.get(c) or ClassAttrs())


def test_detections_become_styled_untracked_objects():
    b = _batch()
    f = b.frames[0]
    det = Detections([[10, 30, 50, 90], [0, 5, 20, 25]], [0.9, 0.4], [2, 0])
    added = write_detections(b, f, det, _style())
    # written as arrays: no object struct exists until something reads the objects as structs
    assert added.live and len(added) == 2 and f.num_obj_meta == 2
    assert b.obj_meta_pool.num_full_elements == 0
    assert added.labels == ["car", "person"] and added.texts == ["car", "person"]
    assert [o.class_id for o in f.objects] == [2, 0] and added.objects == f.objects
    assert b.obj_meta_pool.num_full_elements == 2 and not added.live
    o = f.objects[0]
    assert o.unique_component_id == 7 and o.object_id == UNTRACKED_OBJECT_ID
    assert o.confidence == pytest.approx(0.9) and o.obj_label == "car"
    r = o.rect_params
    assert (r.left, r.top, r.width, r.height) == (10, 30, 40, 60)
    bb = o.detector_bbox_info.org_bbox_coords
    assert (bb.left, bb.top, bb.width, bb.height) == (10, 30, 40, 60)
    assert r.border_width == 3 and r.has_bg_color == 0
    assert (r.border_color.red, r.border_color.green, r.border_color.blue) == class_color(2)
    t = o.text_params
    assert display_text_of(o) == "car"
    assert (t.x_offset, t.y_offset) == (10, 10)  # 20 px above the box
    assert f.objects[1].text_params.y_offset == 0  # at the top edge, not above the frame
    assert t.font_params.font_size == 11 and t.set_bg_clr == 1
    assert (t.font_params.font_color.red, t.text_bg_clr.red) == (1.0, 0.0)


@pytest.mark.parametrize("attrs,border,bg", [
    (ClassAttrs(), class_color(1), None),
    (ClassAttrs(border_color=[0.1, 0.2, 0.3, 1.0]), (0.1, 0.2, 0.3), None),
    (ClassAttrs(bg_color=[0.5, 0.5, 0.5]), class_color(1), (0.5, 0.5, 0.5, 1.0)),
    (ClassAttrs(border_color=[0, 0, 1], bg_color=[1, 0, 0, 0.3]), (0, 0, 1), (1, 0, 0, 0.3)),
])
def test_class_attrs_colour_the_box(attrs, border, bg):
    b = _batch()
    write_detections(b, b.frames[0], Detections([[1, 2, 3, 4]], [0.5], [1]), _style({1: attrs}))
    r = b.frames[0].objects[0].rect_params
    c = r.border_color
    assert (c.red, c.green, c.blue, c.alpha) == pytest.approx((*border, 1.0))
    if bg is None:
        assert r.has_bg_color == 0
    else:
        g = r.bg_color
        assert r.has_bg_color == 1 and (g.red, g.green, g.blue, g.alpha) == pytest.approx(bg)


def test_instance_masks_are_written_box_relative():
    b = _batch()
    det = Detections([[0, 0, 8, 4]], [0.8], [0])
    det.masks = [np.arange(6, dtype=np.float32).reshape(2, 3)]
    write_detections(b, b.frames[0], det, DetectionStyle(1, str, lambda c: ClassAttrs(), 0.25))
    mp = b.frames[0].objects[0].mask_params
    assert (mp.height, mp.width) == (2, 3) and mp.threshold == 0.25
    assert list(mp.get_mask_array()) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("existing,label,want", [
    (None, "red", "car red"),         # no display text yet: the object's label first
    ("car 12", "red", "car 12 red"),  # after a tracker's or another classifier's text
    ("", "red", "car red"),           # an empty text counts as unset
])
def test_classification_appends_its_label(existing, label, want):
    b = _batch()
    o = b.acquire_object()
    o.obj_label = "car"
    if existing is not None:
        o.text_params.display_text_str = existing
    write_classification(b, o, Classification(4, 0.75, label), unique_id=2, num_classes=12,
                         classifier_type="color")
    assert display_text_of(o) == want
    (cm,) = o.classifiers
    assert cm.unique_component_id == 2 and cm.classifier_type == "color"
    (li,) = cm.labels
    assert (li.result_class_id, li.result_label, li.num_classes) == (4, label, 12)
    assert li.result_prob == pytest.approx(0.75)


def test_frame_classification_is_a_full_frame_object():
    b = _batch(width=320, height=200)
    o = write_frame_classification(b, b.frames[0], Classification(1, 0.9, "bicycle"), 3, 3)
    assert b.frames[0].objects == [o] and o.unique_component_id == 3
    assert (o.rect_params.width, o.rect_params.height) == (320, 200)
    assert o.classifiers[0].labels[0].result_label == "bicycle"


def test_segmentation_map_thresholds_probabilities():
    b = _batch()
    probs = np.zeros((3, 2, 2), np.float32)
    probs[1] = [[0.9, 0.2], [0.1, 0.1]]
    probs[2] = [[0.05, 0.7], [0.1, 0.3]]
    seg = write_segmentation(b, b.frames[0], {"out": probs}, threshold=0.25)
    assert seg.classes == 3 and seg.class_map.tolist() == [[1, 2], [-1, 2]]
    (um,) = b.frames[0].user_meta
    assert um.meta_type == NvDsMetaType.NVDSINFER_SEGMENTATION_META and um.user_meta_data is seg


def test_tensor_meta_keeps_layers_in_order():
    b = _batch()
    outs = {"boxes": np.ones((5, 4), np.float32), "scores": np.zeros(5, np.float32)}
    tm = write_tensor_meta(b, outs, b.frames[0].add_user_meta, unique_id=4, network=(416, 320, 3), gpu_id=0)
    assert [li.layerName for li in tm.layers] == ["boxes", "scores"] and tm.unique_id == 4
    assert (tm.network_info.width, tm.network_info.height) == (416, 320)
    assert b.frames[0].user_meta[0].meta_type == NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META


def test_clip_to_roi():
    boxes = np.array([[-5, 10, 50, 300], [120, 120, 130, 130]], np.float32)
    clip_to_roi(boxes, (0, 20, 100, 200))
    assert boxes.tolist() == [[0, 20, 50, 220], [100, 120, 100, 130]]


# -- secondary: filter and cache -------------------------------------------------------------------

def _obj(b, gie=1, cls=2, w=50, h=40, oid=UNTRACKED_OBJECT_ID):
    o = b.acquire_object()
    o.unique_component_id, o.class_id, o.object_id = gie, cls, oid
    o.rect_params.width, o.rect_params.height = w, h
    return o


@pytest.mark.parametrize("flt,obj,ok", [
    (ObjectFilter(), {}, True),
    (ObjectFilter(operate_on_gie_id=1), {"gie": 1}, True),
    (ObjectFilter(operate_on_gie_id=1), {"gie": 3}, False),
    (ObjectFilter(operate_on_gie_id=None), {"gie": 3}, True),
    (ObjectFilter(operate_on_class_ids=(2, 5)), {"cls": 5}, True),
    (ObjectFilter(operate_on_class_ids=(2, 5)), {"cls": 0}, False),
    (ObjectFilter(min_width=64), {"w": 63}, False),
    (ObjectFilter(min_width=64), {"w": 64}, True),
    (ObjectFilter(min_height=41), {}, False),
    (ObjectFilter(max_width=49), {}, False),
    (ObjectFilter(max_height=40), {}, True),
    (ObjectFilter(max_height=39), {}, False),
])
def test_object_filter(flt, obj, ok):
    assert flt.accepts(_obj(_batch(), **obj)) is ok


def test_object_filter_from_nvinfer_config(tmp_path):
    path = tmp_path / "sgie.txt"
    path.write_text("[property]\nprocess-mode=2\noperate-on-gie-id=1\noperate-on-class-ids=2;5;7\n"
                    "input-object-min-width=64\ninput-object-max-height=500\n")
    flt = ObjectFilter.from_config(load_infer_config(str(path), require_model=False))
    assert flt == ObjectFilter(1, (2, 5, 7), 64, 0, 0, 500)


@pytest.mark.parametrize("reinfer,stored_at,now,hit", [
    (0, 0, 1000, True),     # kept for as long as the object is tracked
    (10, 0, 9, True),
    (10, 0, 10, False),     # secondary-reinfer-interval frames later: inferred again
])
def test_cache_reinfer_interval(reinfer, stored_at, now, hit):
    cache = SecondaryCache(reinfer_interval=reinfer)
    cache.store(0, 42, stored_at, "result")
    assert cache.lookup(0, 42, now) == ((True, "result") if hit else (False, None))
    assert cache.lookup(1, 42, now) == (False, None)  # another source's object 42


def test_cache_ignores_untracked_objects_and_is_bounded():
    cache = SecondaryCache(limit=3)
    cache.store(0, UNTRACKED_OBJECT_ID, 0, "x")
    assert len(cache) == 0 and cache.lookup(0, UNTRACKED_OBJECT_ID, 0) == (False, None)
    for i in range(4):
        cache.store(0, i, 0, i)
    cache.trim()
    assert len(cache) == 0


def test_plan_secondary_infers_new_objects_and_reuses_cached_ones():
    b = _batch(frames=2)
    f0, f1 = b.frames
    f0.frame_num = f1.frame_num = 5
    seen = _obj(b, oid=1)           # cached with a result: reused
    empty = _obj(b, oid=2)          # cached without a result: skipped
    new = _obj(b, oid=3)            # not cached: inferred
    untracked = _obj(b)             # never cached: inferred
    other = _obj(b, cls=0, oid=4)   # filtered out
    for o in (seen, empty, new, other):
        f0.add_object(o)
    f1.add_object(untracked)
    cache = SecondaryCache()
    cache.store(0, 1, 3, "red")
    cache.store(0, 2, 3, None)
    todo, reuse = plan_secondary(b.frames, ObjectFilter(operate_on_class_ids=(2,)).accepts, cache)
    assert todo == [(f0, new), (f1, untracked)]
    assert reuse == [(seen, "red")]


# -- decoding shared by nvinfer and nvdspostprocess ---------------------------------------------------

def test_decode_detections_maps_clusters_and_filters(tmp_path):
    path = tmp_path / "pgie.txt"
    path.write_text("[property]\nnum-detected-classes=3\ncluster-mode=2\nfilter-out-class-ids=1\n"
                    "[class-attrs-all]\npre-cluster-threshold=0.3\nnms-iou-threshold=0.5\n")
    cfg = load_infer_config(str(path), require_model=False)
    rows = np.array([[10, 10, 50, 50, 0.9, 0], [12, 12, 52, 52, 0.8, 0],    # overlap: NMS keeps one
                     [100, 100, 150, 200, 0.7, 2], [0, 0, 10, 10, 0.95, 1],  # class 1 filtered out
                     [60, 60, 80, 80, 0.2, 2]], np.float32)                   # below the threshold
    net = NetInput(width=200, height=200)
    # a 400x400 frame letterboxed into 200x200: network pixels × 2
    det = decode_detections({"out": rows}, parse_end2end, net, 3, Transform(0.5, 0.5, 0, 0), (300, 400), cfg)
    assert det.class_ids.tolist() == [0, 2]
    assert det.boxes.tolist() == [[20, 20, 100, 100], [200, 200, 300, 300]]  # clipped to 300 rows


@pytest.mark.parametrize("probs,thr,want", [
    ([[0.1, 0.7, 0.2]], 0.5, [("b", 1)]),
    ([[0.1, 0.7, 0.2]], 0.8, [None]),
    ([[2.0, 0.0, 0.0]], 0.5, [("a", 0)]),          # logits go through softmax
    ([[0.0, 0.0, 0.0, 1.0]], None, [("3", 3)]),     # beyond the labels: the class number
])
def test_classify_outputs(probs, thr, want):
    got = classify_outputs({"prob": np.array(probs, np.float32)}, ["a", "b", "c"], thr)
    assert [None if c is None else (c.label, c.class_id) for c in got] == want


@pytest.mark.parametrize("w,h,keep,sym,at,want", [
    (640, 208, False, False, (0, 0), Transform(416 / 640, 2.0, 0.0, 0.0)),
    (640, 208, True, False, (0, 0), Transform(0.65, 0.65, 0.0, 0.0)),
    (640, 208, True, True, (0, 0), Transform(0.65, 0.65, 0.0, 140.0)),   # 135 rows, centred
    (208, 640, True, True, (10, 20), Transform(0.65, 0.65, 140.0, 0.0, 10, 20)),
])
def test_fit_transform(w, h, keep, sym, at, want):
    from estuary.infer.preprocess import fit_transform
    tr = fit_transform(w, h, NetInput(416, 416, keep_aspect=keep, symmetric=sym), *at)
    assert (tr.sx, tr.sy, tr.ox, tr.oy, tr.left, tr.top) == pytest.approx(
        (want.sx, want.sy, want.ox, want.oy, want.left, want.top))


@pytest.mark.parametrize("roi,want", [
    ((10.4, 20.6, 30.2, 20.5), (10, 21, 30, 20)),   # whole pixels (20.5 rounds to even)
    ((-5, -5, 30, 30), (0, 0, 30, 30)),          # clipped at the top-left
    ((90, 45, 30, 30), (90, 45, 10, 5)),          # ... and at the bottom-right of a 100x50 image
    ((120, 60, 5, 5), (120, 60, 1, 1)),           # outside: at least 1x1
])
def test_roi_box(roi, want):
    from estuary.infer.preprocess import roi_box
    assert roi_box(roi, 100, 50) == want
