"""Analytics results → metadata and overlay (engine-free; ``nvdsanalytics`` is a shell over it).

:func:`write_results` attaches what DeepStream's nvdsanalytics attaches: an
``NvDsAnalyticsObjInfo`` user meta on every object and one ``NvDsAnalyticsFrameMeta`` on the
frame. :func:`overlay` lists what osd-mode draws (region outlines, lines with their direction
arrows, names, and with osd-mode 2 the counts); :func:`write_overlay` writes that list as display
meta, 16 elements of a kind per display meta as DeepStream limits them."""

from __future__ import annotations

import numpy as np

from estuary.analytics.config import StreamRules
from estuary.analytics.engine import FrameResult
from estuary.meta.analytics import NvDsAnalyticsFrameMeta, NvDsAnalyticsObjInfo
from estuary.meta.arrays import FrameObjects
from estuary.meta.enums import MAX_ELEMENTS_IN_DISPLAY_META

__all__ = ["write_results", "Overlay", "overlay", "write_overlay",
           "REGION_COLOR", "LINE_COLOR", "ARROW_COLOR"]

REGION_COLOR = (0.0, 1.0, 1.0, 1.0)
LINE_COLOR = (1.0, 1.0, 0.0, 1.0)
ARROW_COLOR = (1.0, 0.5, 0.0, 1.0)
#: osd-mode 2 lists the counts from this height down, one line per this many pixels
COUNTS_TOP, COUNTS_STEP = 30, 20


def write_results(batch, frame, fo: FrameObjects, res: FrameResult, unique_id: int,
                  obj_type, frame_type) -> None:
    """Attach ``res`` (AnalyticsEngine.process over ``fo``'s rows) as user meta of the frame's
    objects and of the frame, with the registered user meta types ``obj_type``/``frame_type``."""
    for o, r in zip(fo.objects if len(fo) else (), res.objects):
        info = NvDsAnalyticsObjInfo(unique_id=unique_id, dirStatus=r.direction)
        info.roiStatus, info.ocStatus, info.lcStatus = r.roi, r.oc, r.lc
        um = batch.acquire_user()
        um.meta_type = obj_type
        um.user_meta_data = info
        o.user_meta.append(um)
    fm = NvDsAnalyticsFrameMeta(unique_id=unique_id)
    fm.objInROIcnt, fm.ocStatus = res.in_roi, res.oc_status
    fm.objLCCurrCnt, fm.objLCCumCnt, fm.objCnt = res.lc_current, res.lc_cumulative, res.obj_count
    um = batch.acquire_user()
    um.meta_type = frame_type
    um.user_meta_data = fm
    frame.add_user_meta(um)


class Overlay:
    """What to draw: ``lines`` (a, b, rgba), ``arrows`` (a, b), ``labels`` (text, anchor)."""

    __slots__ = ("lines", "arrows", "labels")

    def __init__(self):
        self.lines: list = []
        self.arrows: list = []
        self.labels: list = []


def overlay(rules: StreamRules, res: FrameResult, osd_mode: int) -> Overlay:
    """The overlay of one frame: region outlines and names (ROI and overcrowding regions),
    crossing lines with their direction arrows and names; osd-mode 2 adds the counts
    (objects in each ROI, cumulative line crossings, overcrowding) at the top left."""
    ov = Overlay()
    for roi in rules.roi + rules.overcrowding:
        p = roi.polygon
        for a, b in zip(p, np.roll(p, -1, 0)):
            ov.lines.append((a, b, REGION_COLOR))
        ov.labels.append((roi.label, p[0]))
    for ln in rules.lines:
        ov.lines.append((ln.segment[0], ln.segment[1], LINE_COLOR))
        ov.arrows.append((ln.direction[0], ln.direction[1]))
        ov.labels.append((ln.label, ln.segment[0]))
    if osd_mode == 2:
        counts = [f"ROI {k}: {v}" for k, v in res.in_roi.items()]
        counts += [f"LC {k}: {v}" for k, v in res.lc_cumulative.items()]
        counts += [f"OC {k}: {'yes' if v else 'no'}" for k, v in res.oc_status.items()]
        for i, text in enumerate(counts):
            ov.labels.append((text, np.array([10, COUNTS_TOP + COUNTS_STEP * i])))
    return ov


def write_overlay(batch, frame, ov: Overlay, font_size: int) -> list:
    """Write ``ov`` as display meta of ``frame`` (a new one whenever 16 of a kind are used).
    Returns the display metas added."""
    added = []

    def fresh():
        d = batch.acquire_display()
        frame.add_display_meta(d)
        added.append(d)
        return d

    dm = fresh()
    for a, b, color in ov.lines:
        if dm.num_lines == MAX_ELEMENTS_IN_DISPLAY_META:
            dm = fresh()
        lp = dm.line_params[dm.num_lines]
        lp.x1, lp.y1, lp.x2, lp.y2 = int(a[0]), int(a[1]), int(b[0]), int(b[1])
        lp.line_width = 2
        lp.line_color.set(*color)
        dm.num_lines += 1
    for a, b in ov.arrows:
        if dm.num_arrows == MAX_ELEMENTS_IN_DISPLAY_META:
            dm = fresh()
        ap = dm.arrow_params[dm.num_arrows]
        ap.x1, ap.y1, ap.x2, ap.y2 = int(a[0]), int(a[1]), int(b[0]), int(b[1])
        ap.arrow_width, ap.arrow_head = 2, 1
        ap.arrow_color.set(*ARROW_COLOR)
        dm.num_arrows += 1
    for text, at in ov.labels:
        if dm.num_labels == MAX_ELEMENTS_IN_DISPLAY_META:
            dm = fresh()
        tp = dm.text_params[dm.num_labels]
        tp.display_text_str = text
        tp.x_offset, tp.y_offset = int(max(at[0], 0)), int(max(at[1] - 18, 0))
        tp.font_params.font_name_str = "Serif"
        tp.font_params.font_size = font_size
        tp.font_params.font_color.set(1.0, 1.0, 1.0, 1.0)
        tp.set_bg_clr = 1
        tp.text_bg_clr.set(0.0, 0.0, 0.0, 0.6)
        dm.num_labels += 1
    return added
