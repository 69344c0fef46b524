"""Secondary classifiers on objects stored as arrays: planned on the frame's table and written
into it (``ObjectRow``, ``FrameObjects.add_classification``) without making object structs; a
pyds reader then sees exactly what the struct path gives (classifier meta, label info, display
text, order)."""

import numpy as np
import pytest

from estuary.infer.engine import Classification
from estuary.infer.secondary import ObjectFilter, ObjectRow, SecondaryCache, plan_secondary
from estuary.infer.writer import write_classification
from estuary.meta.arrays import FrameObjects
from estuary.meta.core import NvDsBatchMeta

CLASSES = [0, 2, 1, 5, 7, 3, 2]


def batch_of(frames=4, objects=7, seed=0):
    rng = np.random.default_rng(seed)
    b = NvDsBatchMeta()
    for i in range(frames):
        f = b.acquire_frame()
        f.source_id, f.batch_id, f.frame_num = i, i, 10
        b.add_frame(f)
        xy = rng.uniform(0, 500, (objects, 2))
        wh = rng.uniform(4, 120, (objects, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        tids = np.arange(objects) + 100 * i
        tids[-1] = -1  # one untracked object a frame
        comp = 1 if i % 2 == 0 else 4
        f.append_objects(FrameObjects.detections(boxes, rng.uniform(0.3, 1, objects), np.array(CLASSES[:objects]),
                                                 component_id=comp, labels=[f"c{k}" for k in CLASSES[:objects]],
                                                 tracker_ids=tids,
                                                 # frame 3 without display texts: the label is used
                                                 texts=[None] * objects if i == 3 else None))
    return b


def result_of(object_id: int, uid: int) -> Classification | None:
    if object_id % 5 == 3:
        return None  # below threshold
    return Classification(object_id % 7 + uid, 0.5 + (object_id % 4) / 10, f"L{object_id % 7}-{uid}")


def classify(batch, flt, cache, rows: bool, uid: int):
    todo, reuse = plan_secondary(batch.frames, flt.accepts, cache, flt if rows else None)
    for o, c in reuse:
        write_classification(batch, o, c, uid, 10, classifier_type=f"t{uid}")
    for f, o in todo:
        c = result_of(o.object_id if not isinstance(o, ObjectRow) else o.object_id, uid)
        cache.store(f.source_id, o.object_id, f.frame_num, c)
        if c is not None:
            write_classification(batch, o, c, uid, 10, classifier_type=f"t{uid}")
    return todo, reuse


def seen(batch):
    """What a pyds probe reads: per object, its box, ids, display text and classifier meta."""
    out = []
    for f in batch.frames:
        for o in f.objects:
            r = o.rect_params
            out.append((f.source_id, round(r.left, 6), round(r.width, 6), o.object_id, o.class_id,
                        o.text_params.display_text_str,
                        [(c.unique_component_id, c.classifier_type,
                          [(li.result_class_id, round(li.result_prob, 6), li.result_label, li.num_classes)
                           for li in c.labels]) for c in o.classifiers]))
    return out


FILTERS = [ObjectFilter(), ObjectFilter(1), ObjectFilter(-1, (2, 7)), ObjectFilter(None, (), 30, 20),
           ObjectFilter(-1, (), 0, 0, 80, 90), ObjectFilter(4, (0, 1, 2, 3, 5, 7), 10, 10, 100, 100),
           ObjectFilter(-1, (1,)), ObjectFilter(-1, (-3, 99)), ObjectFilter(-1, (7, 1 << 40))]


@pytest.mark.parametrize("flt", FILTERS, ids=[f"filter{i}" for i in range(len(FILTERS))])
def test_rows_give_what_structs_give(flt):
    results = []
    for rows, structs_first in ((False, (0, 1, 2, 3)), (True, ()), (True, (1, 2))):
        b = batch_of()
        for k in structs_first:
            b.frames[k].objects  # structs first: the path before (or some frames, mixed)
        cache = SecondaryCache()
        counts = []
        for uid in (2, 3):  # two classifiers, the second sees the first's texts
            todo, reuse = classify(b, flt, cache, rows, uid)
            counts.append((len(todo), len(reuse)))
        # a second batch of the same objects: results come from the cache
        b2 = batch_of()
        for k in structs_first:
            b2.frames[k].objects
        todo2, reuse2 = classify(b2, flt, cache, rows, 2)
        if rows:  # no struct was made by classifying
            assert all((f.object_table() is not None) == (k not in structs_first)
                       for bb in (b, b2) for k, f in enumerate(bb.frames))
        results.append((seen(b), seen(b2), counts, len(todo2), len(reuse2)))
    assert results[0] == results[1] == results[2]
    # something was classified, except by the filter of classes that no object has
    assert any(o[-1] for o in results[1][0]) == (flt.operate_on_class_ids != (-3, 99))


def test_mask_equals_accepts():
    b = batch_of(frames=6, objects=7, seed=3)
    for flt in FILTERS:
        for f in b.frames:
            t = f.object_table()
            mask = flt.mask(t).tolist()
            assert mask == [flt.accepts(o) for o in FrameObjects.from_frame(f).copy().make_objects(None)]


def test_table_classifications_survive_copy_append_and_selection():
    b = batch_of(frames=1)
    t = b.frames[0].object_table()
    t.add_classification(1, 2, 4, 0.75, "sedan", 6, "type")
    t.add_classification(1, 3, 0, 0.5, "red", 5)
    t.add_classification(4, 2, 1, 0.9, "suv", 6, "type")
    assert t.texts[1] == "c2 sedan red" and t.texts[4] == "c7 suv"
    c = t.copy()
    assert c.classifications(1) == t.classifications(1) and c.classifications(0) == []
    c.add_classification(0, 2, 1, 0.1, "x", 6)
    assert t.classifications(0) == []  # a copy is detached
    sel = t[[4, 1]]
    assert sel.classifications(0) == t.classifications(4) and sel.classifications(1) == t.classifications(1)
    with pytest.raises(TypeError):
        sel.add_classification(0, 2, 1, 0.1, "x", 6)
    more = FrameObjects.detections(np.array([[1, 2, 30, 40.0]]), [0.9], [2], component_id=1, labels=["c2"])
    b.frames[0].append_objects(more)
    assert len(t) == 8 and t.classifications(7) == [] and t.classifications(1)[0][5] == "sedan"
    objs = b.frames[0].objects  # structs now: classifier meta from the rows
    cm = objs[1].classifiers
    assert [(m.unique_component_id, m.classifier_type, m.labels[0].result_label, m.labels[0].num_classes)
            for m in cm] == [(2, "type", "sedan", 6), (3, None, "red", 5)]
    assert objs[1].text_params.display_text_str == "c2 sedan red" and not objs[0].classifiers


def test_a_row_classified_after_its_frame_made_structs_writes_the_struct():
    b = batch_of(frames=1)
    f = b.frames[0]
    row = ObjectRow(f.object_table(), 2)
    f.objects  # something made the structs between plan and result
    write_classification(b, row, Classification(3, 0.8, "bus"), 2, 6)
    o = f.objects[2]
    assert [m.labels[0].result_label for m in o.classifiers] == ["bus"]
    assert o.text_params.display_text_str == "c1 bus"

