"""``esanalytics`` (alias ``nvdsanalytics``): ROI filtering, overcrowding, line crossing and
direction detection per stream, written as the nvdsanalytics object and frame user meta, and
drawn (osd-mode 1: regions and lines; 2: also counts) as display meta."""

from __future__ import annotations

from estuary.analytics import AnalyticsEngine, load_analytics_config
from estuary.analytics.meta import overlay, write_overlay, write_results
from estuary.errors import ConfigError, StreamError
from estuary.gst import Gst, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.gst.events import stream_event_source
from estuary.elements.mux import BATCH_CAPS
from estuary.meta.analytics import FRAME_DESCRIPTOR, OBJ_DESCRIPTOR
from estuary.meta.arrays import FrameObjects
from estuary.meta.enums import user_meta_type

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
            w = f.pipeline_width or f.source_frame_width
            h = f.pipeline_height or f.source_frame_height
            res = self._engine.process(f.source_id, w, h, fo.xywh(), list(fo.class_id), fo.tracker_id,
                                       f.buf_pts)
            write_results(batch, f, fo, res, s.unique_id, self._obj_type, self._frame_type)
            cfg = self._engine.cfg
            if cfg.osd_mode:
                rules = self._engine.scaled_rules(f.source_id, w, h)
                write_overlay(batch, f, overlay(rules, res, cfg.osd_mode), cfg.font_size)
        return [buf]
