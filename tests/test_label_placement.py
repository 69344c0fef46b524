"""Object labels laid out for reading (estuary.osd.placement, estuary.apps.labels): above their
box, inside the frame, never on top of each other while there is room; and the OSD still draws a
label exactly at the offsets its metadata gives."""

import numpy as np
import pytest

from estuary.osd.placement import label_font_size, label_size, place_labels, rects_intersect


def rects(positions, sizes):
    return [(x, y, w, h) for (x, y), (w, h) in zip(positions, sizes)]


def assert_inside(rs, bounds):
    bx, by, bw, bh = bounds
    for x, y, w, h in rs:
        assert bx <= x and by <= y and x + w <= bx + bw and y + h <= by + bh, (x, y, w, h)


def assert_no_overlap(rs):
    for i in range(len(rs)):
        for j in range(i + 1, len(rs)):
            assert not rects_intersect(rs[i], rs[j]), (rs[i], rs[j])


def test_a_lone_label_sits_on_top_of_its_box():
    assert place_labels([(100, 50, 80, 40)], [(40, 14)], (0, 0, 640, 360)) == [(100, 36)]


def test_labels_stay_inside_the_frame():
    bounds = (0, 0, 320, 240)
    boxes = [(5, 3, 50, 50),        # no room above: the label goes inside the box's top
             (300, 100, 40, 40),    # box runs off the right edge: the label is pulled in
             (-30, 200, 60, 60)]    # box starts left of the frame
    sizes = [(40, 14)] * 3
    pos = place_labels(boxes, sizes, bounds)
    assert pos[0] == (5, 0)
    assert pos[1] == (280, 86)
    assert pos[2] == (0, 186)
    assert_inside(rects(pos, sizes), bounds)


def test_labels_of_boxes_side_by_side_do_not_overlap():
    # the demo's case: a label wider than its box runs into its neighbour's label
    boxes = [(300, 110, 30, 40), (320, 105, 25, 40), (340, 112, 60, 40)]
    sizes = [(60, 16), (30, 16), (30, 16)]
    pos = place_labels(boxes, sizes, (0, 0, 640, 272))
    assert_no_overlap(rects(pos, sizes))
    assert pos[1] == (320, 89)  # the topmost box keeps its wanted place


def test_identical_boxes_get_stacked_labels():
    boxes = [(200, 100, 60, 60)] * 4
    sizes = [(50, 15)] * 4
    pos = place_labels(boxes, sizes, (0, 0, 640, 360))
    assert_no_overlap(rects(pos, sizes))
    assert pos[0] == (200, 85)
    # each moved label stays next to the box: within a few label sizes
    for x, y in pos:
        assert abs(x - 200) + abs(y - 85) <= 4 * (50 + 15)


def random_crowd(seed):
    """A frame with up to 30 boxes clustered in one part of it (a street, a queue), labels of
    random sizes whose total area leaves room."""
    rng = np.random.default_rng(seed)
    w, h = int(rng.integers(320, 1920)), int(rng.integers(240, 1080))
    bounds = (float(rng.integers(0, 50)), float(rng.integers(0, 50)), w, h)
    n = int(rng.integers(5, 30))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    boxes = [(bounds[0] + float(rng.normal(cx, w / 8)), bounds[1] + float(rng.normal(cy, h / 8)),
              float(rng.uniform(4, w / 4)), float(rng.uniform(4, h / 4))) for _ in range(n)]
    sizes = [(int(rng.integers(20, 120)), int(rng.integers(10, 24))) for _ in range(n)]
    return boxes, sizes, bounds


def naive(boxes, sizes, bounds):
    return [(max(b[0], bounds[0]), max(b[1] - s[1], bounds[1]), *s) for b, s in zip(boxes, sizes)]


def overlapping(rs):
    return any(rects_intersect(rs[i], rs[j]) for i in range(len(rs)) for j in range(i + 1, len(rs)))


def test_the_random_crowds_are_crowded():
    # labels simply put on top of their boxes would overlap in most of the crowds below
    assert sum(overlapping(naive(*random_crowd(seed))) for seed in range(20)) >= 15


@pytest.mark.parametrize("seed", range(20))
def test_random_crowds_never_overlap_when_there_is_room(seed):
    boxes, sizes, bounds = random_crowd(seed)
    assert sum(a * b for a, b in sizes) < bounds[2] * bounds[3] / 4  # room
    pos = place_labels(boxes, sizes, bounds)
    rs = rects(pos, sizes)
    assert_inside(rs, bounds)
    assert_no_overlap(rs)


def test_a_crowded_row_fills_the_free_space_around_it():
    # 12 boxes in the same spot of a small frame: labels spread over the frame, none overlapping
    sizes = [(40, 12)] * 12
    pos = place_labels([(60, 40, 40, 30)] * 12, sizes, (0, 0, 160, 120))
    assert_inside(rects(pos, sizes), (0, 0, 160, 120))
    assert_no_overlap(rects(pos, sizes))


def test_no_room_keeps_the_wanted_place():
    # two labels as large as the frame: the second cannot go anywhere, so it is not moved away
    pos = place_labels([(0, 0, 10, 10), (5, 5, 10, 10)], [(100, 50), (100, 50)], (0, 0, 100, 50))
    assert pos == [(0, 0), (0, 0)]


def test_wrong_use_is_a_clear_error():
    from estuary.apps.labels import add_label_layout
    from estuary.errors import ConfigError
    with pytest.raises(ConfigError, match="2 boxes but 1 label sizes"):
        place_labels([(0, 0, 1, 1)] * 2, [(1, 1)], (0, 0, 10, 10))
    with pytest.raises(ConfigError, match="needs frame_size"):
        add_label_layout(None)


def test_label_size_is_the_drawn_size_and_font_size_follows_the_frame():
    w, h = label_size("car 3", "Serif", 11)
    assert 25 < w < 60 and 13 < h < 22
    assert label_size("car 3 truck", "Serif", 11)[0] > w
    assert label_size("car 3", "Serif", 20)[1] > h
    assert label_font_size(272) < label_font_size(720) <= label_font_size(1080)
    assert 8 <= label_font_size(100) and label_font_size(4000) <= 20


def test_layout_probe_moves_labels_and_the_osd_draws_them_where_told():
    """The demo's probe writes offsets through pyds; nvdsosd (the Drawer) then draws each label
    exactly at its offsets: the label pixels land in the placed rectangles."""
    import pyds
    from estuary.apps.labels import layout_batch
    from estuary.meta.core import NvDsBatchMeta
    from estuary.osd import Drawer

    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    batch.add_frame(f)
    for left in (100, 110, 120):  # three boxes side by side: their labels would overlap
        o = batch.acquire_object()
        r = o.rect_params
        r.left, r.top, r.width, r.height = left, 100, 30, 40
        r.border_width = 0
        t = o.text_params
        t.display_text = "person"
        t.x_offset, t.y_offset = left, 80
        t.font_params.font_name = "Serif"
        t.font_params.font_size = 11
        t.font_params.font_color.set(1.0, 1.0, 1.0, 1.0)
        t.set_bg_clr = 1
        t.text_bg_clr.set(0.0, 0.0, 1.0, 1.0)
        f.add_object(o)
    assert layout_batch(batch, lambda fm: (0, 0, 320, 240), font_size=10) == 3
    tps = [o.text_params for o in f.objects]
    size = label_size("person", "Serif", 10)
    rs = [(t.x_offset, t.y_offset, *size) for t in tps]
    assert_no_overlap(rs)
    assert_inside(rs, (0, 0, 320, 240))
    assert all(t.font_params.font_size == 10 for t in tps)
    assert pyds.get_string(tps[0].display_text) == "person"
    img = np.zeros((240, 320, 4), np.uint8)
    Drawer().draw(img, f)
    blue = (img[..., 2] == 255) & (img[..., 0] == 0)
    ys, xs = np.nonzero(blue)
    covered = np.zeros_like(blue)
    for x, y, w, h in rs:
        covered[y:y + h, x:x + w] = True
    assert blue.sum() > 0 and covered[ys, xs].all()  # every label pixel is inside a placed rectangle
