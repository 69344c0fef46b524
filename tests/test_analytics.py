"""Scene analytics with synthetic tracks of known geometry; the element read back exactly as
DeepStream's nvdsanalytics sample reads it."""

import textwrap

import numpy as np
import pytest

import pyds
from estuary import data
from estuary.analytics import AnalyticsEngine, load_analytics_config
from estuary.analytics.engine import points_in_polygon
from estuary.errors import ConfigError
from estuary.gst import Gst

from conftest import run_pipeline

# DeepStream's nvdsanalytics sample rules, as shipped for the bundled street video
SAMPLE = data.config_text("config_nvdsanalytics.txt")

SIMPLE = """\
[property]
enable=1
config-width=100
config-height=100
osd-mode=0
[roi-filtering-stream-0]
enable=1
roi-A=10;10;50;10;50;50;10;50
class-id=-1
[overcrowding-stream-0]
enable=1
roi-C=0;0;100;0;100;100;0;100
object-threshold=2
time-threshold=500
[line-crossing-stream-0]
enable=1
line-crossing-Gate=50;20;50;80;20;50;80;50
extended=0
mode=balanced
[direction-detection-stream-0]
enable=1
direction-Down=0;0;0;10;
direction-Up=0;10;0;0;
"""


def cfg_from(tmp_path, text, name="analytics.txt"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return load_analytics_config(str(p))


def box_at(x, y, w=4, h=4):
    """A box whose bottom-centre is (x, y)."""
    return [x - w / 2, y - h, w, h]


def test_sample_config_parses(tmp_path):
    cfg = cfg_from(tmp_path, SAMPLE)
    assert (cfg.width, cfg.height, cfg.osd_mode) == (1920, 1080, 2)
    s0, s1, s2 = cfg.rules(0), cfg.rules(1), cfg.rules(2)
    assert [r.label for r in s0.roi] == ["RF"] and s0.roi[0].polygon.shape == (4, 2)
    assert s0.lines[0].label == "Exit" and s0.lines[0].mode == "loose" and s0.lines[0].class_ids == [0]
    assert [d.label for d in s0.directions] == ["South", "North"]
    assert s1.overcrowding[0].threshold == 2 and s1.overcrowding[0].class_ids is None
    assert s2.roi[0].inverse and s2.roi[0].class_ids == [0]


def test_roi_counts_inverse_and_classes(tmp_path):
    eng = AnalyticsEngine(cfg_from(tmp_path, SIMPLE))
    boxes = [box_at(20, 20), box_at(40, 45), box_at(70, 70), box_at(49, 49)]
    r = eng.process(0, 100, 100, boxes, [0, 1, 0, 2], [-1, -1, -1, -1])
    assert r.in_roi == {"A": 3}
    assert [o.roi for o in r.objects] == [["A"], ["A"], [], ["A"]]
    assert r.obj_count == {0: 2, 1: 1, 2: 1}


def test_config_scales_to_stream_resolution(tmp_path):
    eng = AnalyticsEngine(cfg_from(tmp_path, SIMPLE))
    # the same relative positions in a 1000x500 frame
    r = eng.process(0, 1000, 500, [box_at(200, 100), box_at(700, 350)], [0, 0], [-1, -1])
    assert r.in_roi == {"A": 1}
    rules = eng.scaled_rules(0, 1000, 500)
    assert np.allclose(rules.roi[0].polygon[2], [500, 250])


def run_track(eng, points, tid=1, cls=0, source=0):
    results = []
    for k, (x, y) in enumerate(points):
        results.append(eng.process(source, 100, 100, [box_at(x, y)], [cls], [tid], pts_ns=k * 40_000_000))
    return results


def test_line_crossing_counts_direction_once(tmp_path):
    eng = AnalyticsEngine(cfg_from(tmp_path, SIMPLE))
    # down across y=50 (direction 50,20 → 50,80): counts
    res = run_track(eng, [(40, y) for y in range(30, 71, 4)], tid=1)
    assert res[-1].lc_cumulative == {"Gate": 1}
    assert sum(r.lc_current["Gate"] for r in res) == 1
    assert any(o.lc == ["Gate"] for r in res for o in r.objects)
    # up across the line: wrong direction, no count
    res = run_track(eng, [(45, y) for y in range(70, 29, -4)], tid=2)
    assert res[-1].lc_cumulative == {"Gate": 1}
    # a jittering track that crosses back and forth many times counts once
    ys = [40, 44, 48, 52, 49, 53, 48, 54, 49, 56, 60, 64]
    res = run_track(eng, [(35, y) for y in ys], tid=3)
    assert res[-1].lc_cumulative == {"Gate": 2}
    # crossing y=50 outside the segment (x=90): not counted without 'extended'
    res = run_track(eng, [(90, y) for y in range(30, 71, 4)], tid=4)
    assert res[-1].lc_cumulative == {"Gate": 2}


def test_extended_line_counts_outside_segment(tmp_path):
    eng = AnalyticsEngine(cfg_from(tmp_path, SIMPLE.replace("extended=0", "extended=1")))
    res = run_track(eng, [(90, y) for y in range(30, 71, 4)])
    assert res[-1].lc_cumulative == {"Gate": 1}


def test_strict_mode_rejects_diagonal_crossing(tmp_path):
    eng = AnalyticsEngine(cfg_from(tmp_path, SIMPLE.replace("mode=balanced", "mode=strict")))
    res = run_track(eng, [(30 + k * 3, 30 + k * 4) for k in range(11)])  # ~37° off the direction
    assert res[-1].lc_cumulative == {"Gate": 0}
    eng = AnalyticsEngine(cfg_from(tmp_path, SIMPLE))  # balanced (45°) accepts it
    res = run_track(eng, [(30 + k * 3, 30 + k * 4) for k in range(11)])
    assert res[-1].lc_cumulative == {"Gate": 1}


def test_overcrowding_with_time_threshold(tmp_path):
    eng = AnalyticsEngine(cfg_from(tmp_path, SIMPLE))
    one = eng.process(0, 100, 100, [box_at(20, 20)], [0], [-1], pts_ns=0)
    assert one.oc_status == {"C": False}
    states = [eng.process(0, 100, 100, [box_at(20, 20), box_at(60, 60)], [0, 0], [-1, -1],
                          pts_ns=t * 100_000_000).oc_status["C"] for t in range(8)]
    assert states == [False] * 5 + [True] * 3  # only after 500 ms
    assert eng.process(0, 100, 100, [box_at(20, 20)], [0], [-1], pts_ns=10**9).oc_status == {"C": False}


def test_direction_labels(tmp_path):
    eng = AnalyticsEngine(cfg_from(tmp_path, SIMPLE))
    down = run_track(eng, [(20, 20 + 3 * k) for k in range(6)], tid=7)
    up = run_track(eng, [(80, 80 - 3 * k) for k in range(6)], tid=8)
    assert down[-1].objects[0].direction == "DIR:Down"
    assert up[-1].objects[0].direction == "DIR:Up"


@pytest.mark.parametrize("text,match", [
    ("[property]\nenable=1\n[roi-filtering-stream-0]\nroi-A=1;2;3;4\n", "at least 3"),
    ("[property]\nenable=1\n[line-crossing-stream-0]\nline-crossing-L=1;2;3;4;5;6;7\n", "expected 8 numbers"),
    ("[property]\nenable=1\n[line-crossing-stream-0]\nline-crossing-L=1;2;3;4;5;6;7;8\nmode=fast\n", "mode must be"),
    ("[property]\nenable=1\nconfig-widht=10\n", "unknown key 'config-widht'"),
    ("[property]\nenable=1\n[roi-stream-0]\nroi-A=1;1;2;2;3;3\n", "unknown group"),
    ("[property]\nenable=1\n[roi-filtering-stream-0]\nroi-A=1;x;2;2;3;3\n", "numbers"),
])
def test_malformed_configs(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        cfg_from(tmp_path, text)


def test_points_in_polygon_concave():
    poly = np.array([[0, 0], [10, 0], [10, 10], [5, 3], [0, 10]], float)
    pts = np.array([[5, 1], [5, 8], [2, 5], [12, 5]], float)
    assert points_in_polygon(pts, poly).tolist() == [True, False, True, False]


def test_element_meta_read_like_the_sample(tmp_path):
    path = tmp_path / "cfg.txt"
    path.write_text(SIMPLE.replace("osd-mode=0", "osd-mode=2"))
    p = Gst.parse_launch(
        "videotestsrc num-buffers=12 ! video/x-raw,width=100,height=100 ! m.sink_0 "
        "nvstreammux name=m batch-size=1 width=100 height=100 ! identity name=inject ! "
        f"nvdsanalytics name=an config-file={path} ! nvdsosd ! fakesink name=sink")

    def inject(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            o = pyds.nvds_acquire_obj_meta_from_pool(bm)
            x1, y1, w, h = box_at(40, 30 + 4 * f.frame_num)
            o.rect_params.left, o.rect_params.top, o.rect_params.width, o.rect_params.height = x1, y1, w, h
            o.object_id, o.class_id = 11, 0
            pyds.nvds_add_obj_meta_to_frame(f, o, None)
        return Gst.PadProbeReturn.OK

    lines = []

    def probe(pad, info):
        batch_meta = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        l_frame = batch_meta.frame_meta_list
        while l_frame:
            frame_meta = pyds.NvDsFrameMeta.cast(l_frame.data)
            l_obj = frame_meta.obj_meta_list
            while l_obj:
                obj_meta = pyds.NvDsObjectMeta.cast(l_obj.data)
                l_user_meta = obj_meta.obj_user_meta_list
                while l_user_meta:
                    user_meta = pyds.NvDsUserMeta.cast(l_user_meta.data)
                    if user_meta.base_meta.meta_type == pyds.nvds_get_user_meta_type(
                            "NVIDIA.DSANALYTICSOBJ.USER_META"):
                        user_meta_data = pyds.NvDsAnalyticsObjInfo.cast(user_meta.user_meta_data)
                        if user_meta_data.dirStatus:
                            lines.append(f"Object {obj_meta.object_id} moving in direction: {user_meta_data.dirStatus}")
                        if user_meta_data.lcStatus:
                            lines.append(f"Object {obj_meta.object_id} line crossing status: {user_meta_data.lcStatus}")
                        if user_meta_data.roiStatus:
                            lines.append(f"Object {obj_meta.object_id} roi status: {user_meta_data.roiStatus}")
                    l_user_meta = l_user_meta.next
                l_obj = l_obj.next
            l_user = frame_meta.frame_user_meta_list
            while l_user:
                user_meta = pyds.NvDsUserMeta.cast(l_user.data)
                if user_meta.base_meta.meta_type == pyds.nvds_get_user_meta_type(
                        "NVIDIA.DSANALYTICSFRAME.USER_META"):
                    meta = pyds.NvDsAnalyticsFrameMeta.cast(user_meta.user_meta_data)
                    if meta.objInROIcnt:
                        lines.append(f"Objs in ROI: {meta.objInROIcnt}")
                    if meta.objLCCumCnt:
                        lines.append(f"Linecrossing Cumulative: {meta.objLCCumCnt}")
                l_user = l_user.next
            l_frame = l_frame.next
        return Gst.PadProbeReturn.OK

    p.get_by_name("inject").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, inject)
    p.get_by_name("an").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    assert run_pipeline(p).type == Gst.MessageType.EOS
    assert "Object 11 moving in direction: DIR:Down" in lines
    assert lines.count("Object 11 line crossing status: ['Gate']") == 1
    assert "Objs in ROI: {'A': 1}" in lines and "Linecrossing Cumulative: {'Gate': 1}" in lines
    assert "Object 11 roi status: ['A']" in lines


# -- results → metadata and overlay, without GStreamer -------------------------------------------

def _engine_after_crossing(tmp_path):
    from estuary.meta.arrays import FrameObjects
    from estuary.meta.core import NvDsBatchMeta
    eng = AnalyticsEngine(cfg_from(tmp_path, SIMPLE))
    batch = NvDsBatchMeta(1)
    res = None
    for k in range(12):  # one object walking down through ROI A and across the Gate
        f = batch.acquire_frame()
        rows = FrameObjects.detections([[38.0, 26 + 4 * k, 42.0, 30 + 4 * k]], [0.9], [0],
                                       tracker_ids=[11])
        f.append_objects(rows)
        fo = FrameObjects.from_frame(f)
        res = eng.process(0, 100, 100, fo.xywh(), list(fo.class_id), fo.tracker_id, k * 33_000_000)
    return eng, batch, f, fo, res


def test_results_become_object_and_frame_user_meta(tmp_path):
    from estuary.analytics.meta import write_results
    eng, batch, f, fo, res = _engine_after_crossing(tmp_path)
    batch.add_frame(f)
    write_results(batch, f, fo, res, 5, "obj-type", "frame-type")
    (o,) = f.objects
    (um,) = o.user_meta
    assert um.meta_type == "obj-type" and um.user_meta_data.unique_id == 5
    assert um.user_meta_data.dirStatus == "DIR:Down"
    (fm,) = list(f.user_meta_of_type("frame-type"))
    assert fm.user_meta_data.objLCCumCnt == {"Gate": 1} and fm.user_meta_data.objCnt == res.obj_count


@pytest.mark.parametrize("mode,counts", [(1, 0), (2, 3)])
def test_overlay_lists_regions_lines_and_counts(tmp_path, mode, counts):
    from estuary.analytics.meta import LINE_COLOR, REGION_COLOR, overlay
    eng, _, _, _, res = _engine_after_crossing(tmp_path)
    ov = overlay(eng.scaled_rules(0, 100, 100), res, mode)
    # ROI A and overcrowding C are 4-sided: 8 outline segments; one crossing line with its arrow
    assert [c for _, _, c in ov.lines].count(REGION_COLOR) == 8
    assert [c for _, _, c in ov.lines].count(LINE_COLOR) == 1 and len(ov.arrows) == 1
    texts = [t for t, _ in ov.labels]
    assert texts[:3] == ["A", "C", "Gate"] and len(texts) == 3 + counts
    if mode == 2:
        assert texts[3:] == ["ROI A: 0", "LC Gate: 1", "OC C: no"]


def test_overlay_spills_into_new_display_metas_at_16():
    from estuary.analytics.meta import Overlay, write_overlay
    from estuary.meta.core import NvDsBatchMeta
    batch = NvDsBatchMeta(1)
    f = batch.acquire_frame()
    ov = Overlay()
    ov.lines = [((0, i), (10, i), (1.0, 0.0, 0.0, 1.0)) for i in range(20)]
    ov.labels = [(f"t{i}", np.array([5, 3])) for i in range(17)]
    metas = write_overlay(batch, f, ov, 12)
    assert [d.num_lines for d in metas] == [16, 4, 0] and [d.num_labels for d in metas] == [0, 16, 1]
    assert f.display_metas == metas
    tp = metas[1].text_params[0]
    assert tp.display_text_str == "t0" and (tp.x_offset, tp.y_offset) == (5, 0)
    assert tp.font_params.font_size == 12 and metas[0].line_params[3].y1 == 3
