"""``esof`` (alias ``nvof``): optical flow per frame as ``NvDsOpticalFlowMeta`` frame user meta;
``esofvisual`` (alias ``nvofvisual``): paints the flow colours into the frames;
``essegvisual`` (alias ``nvsegvisual``): paints segmentation class maps into the frames."""

from __future__ import annotations

import cv2
import numpy as np

from estuary.errors import StreamError
from estuary.gst import Gst, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.gst.events import stream_event_source
from estuary.elements.mux import BATCH_CAPS
from estuary.flow import FlowEstimator, flow_to_vectors, visualize
from estuary.meta.enums import NvDsMetaType
from estuary.meta.opticalflow import NvDsOpticalFlowMeta

__all__ = ["EsOpticalFlow", "EsFlowVisual", "EsSegVisual", "SEG_PALETTE"]

#: class colours (RGB) for segmentation maps
SEG_PALETTE = np.array([[64, 128, 128], [128, 0, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128], [0, 128, 128],
                        [128, 128, 128], [64, 0, 0], [192, 0, 0], [64, 128, 0], [192, 128, 0], [64, 0, 128],
                        [192, 0, 128], [64, 128, 128]], np.uint8)


def _batch(buf, who):
    b = batchmeta.get(buf)
    if b is None or b.surface is None:
        raise StreamError(f"{who} needs batched buffers from nvstreammux/esmux upstream")
    return b


class _BatchFilter:
    """Plain mixin (no GType of its own: GStreamer pad templates belong to the concrete classes)."""

    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, BATCH_CAPS, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, BATCH_CAPS, None))

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()


class EsOpticalFlow(_BatchFilter, ElementBase, ChainElement, Gst.Element):
    """Dense optical flow (OpenCV DIS on CPU) on a 4×4-pixel grid, per source."""

    __gtype_name__ = "EstuaryOpticalFlow"
    FACTORY = "esof"
    ALIASES = ("nvof",)
    METADATA = ("Estuary optical flow", "Filter/Analyzer/Video",
                "Per-block motion vectors as NvDsOpticalFlowMeta", "Estuary")
    PROPS = (Prop("grid-size", int, 4, "Block size in pixels (4: DeepStream's grid)", 1, 64),
             Prop("gpu-id", int, 0, "GPU to use", 0, 64),
             Prop("dump-of-meta", bool, False, "Accepted for compatibility"),
             Prop("preset-level", int, 0, "Accepted for compatibility", 0, 2))

    def __init__(self):
        super().__init__()
        self._est = None

    def handle_sink_event(self, event):
        hit = stream_event_source(event) if self._est is not None else None
        if hit is not None:
            self._est.reset(hit[1])
        return super().handle_sink_event(event)

    def process(self, buf):
        if self._est is None:
            self._est = FlowEstimator(self.settings.grid_size)
        b = _batch(buf, self.get_name())
        for f in b.frames:
            flow = self._est(f.source_id, b.surface.frame(f.batch_id).copy())
            if flow is None:
                continue
            meta = NvDsOpticalFlowMeta(rows=flow.shape[0], cols=flow.shape[1], frame_num=f.frame_num)
            meta.data = flow_to_vectors(flow)
            meta.mv_size = meta.data.nbytes
            um = b.acquire_user()
            um.meta_type = NvDsMetaType.NVDS_OPTICAL_FLOW_META
            um.user_meta_data = meta
            f.add_user_meta(um)
        return [buf]


class EsFlowVisual(_BatchFilter, ElementBase, ChainElement, Gst.Element):
    """Replaces each frame's pixels with the colour map of its optical flow."""

    __gtype_name__ = "EstuaryFlowVisual"
    FACTORY = "esofvisual"
    ALIASES = ("nvofvisual",)
    METADATA = ("Estuary optical-flow visualiser", "Filter/Effect/Video", "Colours optical flow", "Estuary")
    PROPS = (Prop("gpu-id", int, 0, "GPU to use", 0, 64),)

    def process(self, buf):
        buf = batchmeta.writable(buf, self.sinkpad)  # drawing stays out of a tee's other branches
        b = _batch(buf, self.get_name())
        for f in b.frames:
            for um in f.user_meta:
                if um.meta_type != NvDsMetaType.NVDS_OPTICAL_FLOW_META:
                    continue
                surf = b.surface.frame(f.batch_id)
                with surf.pixels(write=True) as px:
                    px[..., :3] = visualize(um.user_meta_data.data, px.shape[:2])
        return [buf]


class EsSegVisual(_BatchFilter, ElementBase, ChainElement, Gst.Element):
    """Paints each frame's segmentation class map (NvDsInferSegmentationMeta) over the frame."""

    __gtype_name__ = "EstuarySegVisual"
    FACTORY = "essegvisual"
    ALIASES = ("nvsegvisual",)
    METADATA = ("Estuary segmentation visualiser", "Filter/Effect/Video", "Colours segmentation maps", "Estuary")
    PROPS = (Prop("batch-size", int, 1, "Accepted for compatibility", 1, 1024),
             Prop("width", int, 0, "Accepted for compatibility", 0, 16384),
             Prop("height", int, 0, "Accepted for compatibility", 0, 16384),
             Prop("gpu-id", int, 0, "GPU to use", 0, 64),
             Prop("alpha", float, 1.0, "Opacity of the class colours", 0.0, 1.0))

    def process(self, buf):
        buf = batchmeta.writable(buf, self.sinkpad)  # drawing stays out of a tee's other branches
        b = _batch(buf, self.get_name())
        for f in b.frames:
            for um in f.user_meta:
                if um.meta_type != NvDsMetaType.NVDSINFER_SEGMENTATION_META:
                    continue
                seg = um.user_meta_data
                cmap = np.asarray(seg.class_map).reshape(seg.height, seg.width)
                color = SEG_PALETTE[np.clip(cmap, 0, len(SEG_PALETTE) - 1)]
                color[cmap < 0] = 0
                with b.surface.frame(f.batch_id).pixels(write=True) as px:
                    big = cv2.resize(color, (px.shape[1], px.shape[0]), interpolation=cv2.INTER_NEAREST)
                    a = self.settings.alpha
                    px[..., :3] = (px[..., :3] * (1 - a) + big * a).astype(np.uint8)
        return [buf]
