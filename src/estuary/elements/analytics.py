"""``esanalytics`` (alias ``nvdsanalytics``): ROI filtering, overcrowding, line crossing and
direction detection per stream, written as the nvdsanalytics object and frame user meta, and
drawn (osd-mode 1: regions and lines; 2: also counts) as display meta."""

from __future__ import annotations

import numpy as np

from estuary.analytics import AnalyticsEngine, load_analytics_config
from estuary.errors import ConfigError, StreamError
from estuary.gst import Gst, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.gst.events import stream_event_source
from estuary.elements.mux import BATCH_CAPS
from estuary.meta.analytics import (FRAME_DESCRIPTOR, OBJ_DESCRIPTOR, NvDsAnalyticsFrameMeta,
                                    NvDsAnalyticsObjInfo)
from estuary.meta.arrays import FrameObjects
from estuary.meta.enums import MAX_ELEMENTS_IN_DISPLAY_META, user_meta_type

__all__ = ["EsAnalytics"]


class EsAnalytics(ElementBase, ChainElement, Gst.Element):
    """Scene analytics over tracked objects."""

    __gtype_name__ = "EstuaryAnalytics"
    FACTORY = "esanalytics"
    ALIASES = ("nvdsanalytics",)
    METADATA = ("Estuary analytics", "Filter/Analyzer/Video",
                "ROI filtering, overcrowding, line crossing and direction detection", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, BATCH_CAPS, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, BATCH_CAPS, None))
    PROPS = (
        Prop("config-file", str, "", "nvdsanalytics configuration file"),
        Prop("enable", bool, True, "Run the analytics"),
        Prop("unique-id", int, 0, "unique_id written into the meta", 0, 2**31 - 1),
        Prop("gpu-id", int, 0, "GPU to use", 0, 64),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()
        self._engine = None
        self._obj_type = user_meta_type(OBJ_DESCRIPTOR)
        self._frame_type = user_meta_type(FRAME_DESCRIPTOR)

    def do_change_state(self, transition):
        if transition == Gst.StateChange.NULL_TO_READY:
            if not self.settings.config_file:
                raise ConfigError(f"{self.get_name()}: set config-file to an nvdsanalytics config")
            self._engine = AnalyticsEngine(load_analytics_config(self.settings.config_file))
        elif transition == Gst.StateChange.READY_TO_NULL:
            self._engine = None
        return Gst.Element.do_change_state(self, transition)

    def handle_sink_event(self, event) -> bool:
        hit = stream_event_source(event) if self._engine is not None else None
        if hit is not None:
            self._engine.reset(hit[1])
        return super().handle_sink_event(event)

    def process(self, buf):
        s = self.settings
        if not s.enable or self._engine is None or not self._engine.cfg.enable:
            return [buf]
        batch = batchmeta.get(buf)
        if batch is None:
            raise StreamError(f"{self.get_name()} needs batched buffers from nvstreammux/esmux upstream")
        for f in batch.frames:
            fo = FrameObjects.from_frame(f)
            objs = fo.objects
            w = f.pipeline_width or f.source_frame_width
            h = f.pipeline_height or f.source_frame_height
            res = self._engine.process(f.source_id, w, h, fo.xywh(), list(fo.class_id), fo.tracker_id,
                                       f.buf_pts)
            for o, r in zip(objs, res.objects):
                info = NvDsAnalyticsObjInfo(unique_id=s.unique_id, dirStatus=r.direction)
                info.roiStatus, info.ocStatus, info.lcStatus = r.roi, r.oc, r.lc
                um = batch.acquire_user()
                um.meta_type = self._obj_type
                um.user_meta_data = info
                o.user_meta.append(um)
            fm = NvDsAnalyticsFrameMeta(unique_id=s.unique_id)
            fm.objInROIcnt, fm.ocStatus = res.in_roi, res.oc_status
            fm.objLCCurrCnt, fm.objLCCumCnt, fm.objCnt = res.lc_current, res.lc_cumulative, res.obj_count
            um = batch.acquire_user()
            um.meta_type = self._frame_type
            um.user_meta_data = fm
            f.add_user_meta(um)
            if self._engine.cfg.osd_mode:
                self._draw(batch, f, w, h, res)
        return [buf]

    def _draw(self, batch, frame, w, h, res):
        cfg = self._engine.cfg
        rules = self._engine.scaled_rules(frame.source_id, w, h)
        lines, arrows, labels = [], [], []
        for roi in rules.roi + rules.overcrowding:
            p = roi.polygon
            for a, b in zip(p, np.roll(p, -1, 0)):
                lines.append((a, b, (0.0, 1.0, 1.0, 1.0)))
            labels.append((roi.label, p[0]))
        for ln in rules.lines:
            lines.append((ln.segment[0], ln.segment[1], (1.0, 1.0, 0.0, 1.0)))
            arrows.append((ln.direction[0], ln.direction[1]))
            labels.append((ln.label, ln.segment[0]))
        if cfg.osd_mode == 2:
            y = 30
            for k, v in res.in_roi.items():
                labels.append((f"ROI {k}: {v}", np.array([10, y])))
                y += 20
            for k, v in res.lc_cumulative.items():
                labels.append((f"LC {k}: {v}", np.array([10, y])))
                y += 20
            for k, v in res.oc_status.items():
                labels.append((f"OC {k}: {'yes' if v else 'no'}", np.array([10, y])))
                y += 20
        dm = None

        def fresh():
            d = batch.acquire_display()
            frame.add_display_meta(d)
            return d

        dm = fresh()
        for a, b, color in lines:
            if dm.num_lines == MAX_ELEMENTS_IN_DISPLAY_META:
                dm = fresh()
            lp = dm.line_params[dm.num_lines]
            lp.x1, lp.y1, lp.x2, lp.y2 = int(a[0]), int(a[1]), int(b[0]), int(b[1])
            lp.line_width = 2
            lp.line_color.set(*color)
            dm.num_lines += 1
        for a, b in arrows:
            if dm.num_arrows == MAX_ELEMENTS_IN_DISPLAY_META:
                dm = fresh()
            ap = dm.arrow_params[dm.num_arrows]
            ap.x1, ap.y1, ap.x2, ap.y2 = int(a[0]), int(a[1]), int(b[0]), int(b[1])
            ap.arrow_width, ap.arrow_head = 2, 1
            ap.arrow_color.set(1.0, 0.5, 0.0, 1.0)
            dm.num_arrows += 1
        for text, at in labels:
            if dm.num_labels == MAX_ELEMENTS_IN_DISPLAY_META:
                dm = fresh()
            tp = dm.text_params[dm.num_labels]
            tp.display_text_str = text
            tp.x_offset, tp.y_offset = int(max(at[0], 0)), int(max(at[1] - 18, 0))
            tp.font_params.font_name_str = "Serif"
            tp.font_params.font_size = cfg.font_size
            tp.font_params.font_color.set(1.0, 1.0, 1.0, 1.0)
            tp.set_bg_clr = 1
            tp.text_bg_clr.set(0.0, 0.0, 0.0, 0.6)
            dm.num_labels += 1
