"""``espreprocess`` (alias ``nvdspreprocess``): prepares network input tensors from ROIs of the
frames, per the nvdspreprocess config; ``nvinfer input-tensor-meta=1`` runs on them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from estuary.errors import ConfigError, StreamError
from estuary.gst import Gst, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.elements.mux import BATCH_CAPS
from estuary.infer.keyfile import parse_keyfile
from estuary.infer.preprocess import NetInput, prepare
from estuary.meta.enums import MAX_ELEMENTS_IN_DISPLAY_META, user_meta_type

__all__ = ["EsPreprocess", "PreprocessBatchMeta", "PREPROCESS_META_DESCRIPTOR", "load_preprocess_config"]

PREPROCESS_META_DESCRIPTOR = "NVIDIA.NVDSPREPROCESS.BATCH_META"


@dataclass
class PreprocessBatchMeta:
    """The tensor of a batch of ROIs and where each ROI came from."""

    tensor: np.ndarray
    target_unique_ids: list
    rois: list = field(default_factory=list)  # (frame, (left, top, width, height), Transform)
    tensor_name: str = ""


@dataclass
class PreprocessConfig:
    path: str
    enable: bool
    target_ids: list
    net: NetInput
    batch: int
    tensor_name: str
    groups: list  # (src_ids or None for all, process_on_roi, {src: [rois]}, draw, color)


def _floats(e, kf, key):
    try:
        return [float(v) for v in e.value.split(";") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected numbers, got {e.value!r}", path=kf.path, line=e.line, key=key) from None


def load_preprocess_config(path: str) -> PreprocessConfig:
    kf = parse_keyfile(path)
    if "property" not in kf.groups:
        raise ConfigError("no [property] group", path=path)
    p = kf.groups["property"]
    for req in ("network-input-shape", "target-unique-ids"):
        if req not in p:
            raise ConfigError(f"missing key {req}", path=path, key=f"property/{req}")
    shape = [int(v) for v in _floats(p["network-input-shape"], kf, "property/network-input-shape")]
    order = int(p["network-input-order"].value) if "network-input-order" in p else 0
    if len(shape) != 4:
        raise ConfigError("network-input-shape is batch;c;h;w", path=path, line=p["network-input-shape"].line)
    if order == 1:
        b, h, w, c = shape
    else:
        b, c, h, w = shape
    uc = kf.groups.get("user-configs", {})
    scale = float(uc["pixel-normalization-factor"].value) if "pixel-normalization-factor" in uc else 1.0
    offsets = tuple(_floats(uc["offsets"], kf, "user-configs/offsets")) if "offsets" in uc else (0.0,) * c
    fmt = int(p["network-color-format"].value) if "network-color-format" in p else 0
    net = NetInput(width=w, height=h, channels=c, color_format=fmt, scale=scale, offsets=offsets,
                   keep_aspect=p.get("maintain-aspect-ratio") is not None and p["maintain-aspect-ratio"].value == "1",
                   symmetric=p.get("symmetric-padding") is not None and p["symmetric-padding"].value == "1",
                   interpolation=int(p["scaling-filter"].value) if "scaling-filter" in p else 1, nhwc=order == 1)
    groups = []
    for name, g in kf.groups.items():
        if not re.match(r"^group-\d+$", name):
            continue
        src_ids = [int(v) for v in _floats(g["src-ids"], kf, f"{name}/src-ids")] if "src-ids" in g else None
        if src_ids is not None and -1 in src_ids:
            src_ids = None
        on_roi = g.get("process-on-roi") is not None and g["process-on-roi"].value == "1"
        rois = {}
        for key, e in g.items():
            m = re.match(r"^roi-params-src-(\d+)$", key)
            if m:
                vals = _floats(e, kf, f"{name}/{key}")
                if len(vals) % 4:
                    raise ConfigError("roi-params are left;top;width;height per ROI", path=path, line=e.line,
                                      key=f"{name}/{key}")
                rois[int(m.group(1))] = [tuple(vals[i: i + 4]) for i in range(0, len(vals), 4)]
        draw = g.get("draw-roi") is not None and g["draw-roi"].value == "1"
        color = tuple(_floats(g["roi-color"], kf, f"{name}/roi-color")) if "roi-color" in g else (0.0, 1.0, 1.0, 1.0)
        groups.append((src_ids, on_roi, rois, draw, color))
    return PreprocessConfig(path, p.get("enable") is None or p["enable"].value == "1",
                            [int(v) for v in _floats(p["target-unique-ids"], kf, "property/target-unique-ids")],
                            net, b, p["tensor-name"].value if "tensor-name" in p else "", groups)


class EsPreprocess(ElementBase, ChainElement, Gst.Element):
    """ROI-based tensor preparation for nvinfer (``input-tensor-meta``)."""

    __gtype_name__ = "EstuaryPreprocess"
    FACTORY = "espreprocess"
    ALIASES = ("nvdspreprocess",)
    METADATA = ("Estuary pre-processing", "Filter/Video", "Prepares network tensors from ROIs", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, BATCH_CAPS, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, BATCH_CAPS, None))
    PROPS = (Prop("config-file", str, "", "nvdspreprocess configuration file"),
             Prop("enable", bool, True, "Run"),
             Prop("unique-id", int, 15, "Id of this element", 0, 2**31 - 1),
             Prop("gpu-id", int, 0, "GPU to use", 0, 64))

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()
        self._cfg = None
        self._type = user_meta_type(PREPROCESS_META_DESCRIPTOR)

    def do_change_state(self, transition):
        if transition == Gst.StateChange.NULL_TO_READY:
            if not self.settings.config_file:
                raise ConfigError(f"{self.get_name()}: set config-file to an nvdspreprocess config")
            self._cfg = load_preprocess_config(self.settings.config_file)
        return Gst.Element.do_change_state(self, transition)

    def process(self, buf):
        cfg = self._cfg
        if not self.settings.enable or cfg is None or not cfg.enable:
            return [buf]
        batch = batchmeta.get(buf)
        if batch is None or batch.surface is None:
            raise StreamError(f"{self.get_name()} needs batched buffers from nvstreammux/esmux upstream")
        images, rois, owners = [], [], []
        for f in batch.frames:
            for src_ids, on_roi, roi_map, draw, color in cfg.groups:
                if src_ids is not None and f.source_id not in src_ids:
                    continue
                img = batch.surface.frame(f.batch_id).copy()
                h, w = img.shape[:2]
                rects = roi_map.get(f.source_id, []) if on_roi else [(0, 0, w, h)]
                for r in rects:
                    images.append(img)
                    rois.append(r)
                    owners.append(f)
                if draw and on_roi:
                    dm = batch.acquire_display()
                    for k, (l, t, rw, rh) in enumerate(rects[:MAX_ELEMENTS_IN_DISPLAY_META]):
                        rp = dm.rect_params[k]
                        rp.left, rp.top, rp.width, rp.height, rp.border_width = l, t, rw, rh, 2
                        rp.border_color.set(*(list(color) + [1.0] * 4)[:4])
                    dm.num_rects = min(len(rects), MAX_ELEMENTS_IN_DISPLAY_META)
                    f.add_display_meta(dm)
        if not images:
            return [buf]
        tensor, transforms = prepare(images, cfg.net, rois)
        meta = PreprocessBatchMeta(tensor, cfg.target_ids, list(zip(owners, rois, transforms)), cfg.tensor_name)
        um = batch.acquire_user()
        um.meta_type = self._type
        um.user_meta_data = meta
        batch.add_user_meta(um)
        return [buf]
