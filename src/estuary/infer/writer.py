"""Inference results → metadata: detections become styled object meta, classifications become
classifier meta, segmentation maps and raw tensors become user meta.

Engine-free (no GStreamer): ``nvinfer`` and ``nvdspostprocess`` both write through these, so the
two produce the same metadata from the same detections. ``batch`` is an
:class:`~estuary.meta.NvDsBatchMeta` (its pools hand out the objects written)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from estuary.meta.enums import NvDsMetaType, UNTRACKED_OBJECT_ID
from estuary.meta.infer import NvDsInferSegmentationMeta, NvDsInferTensorMeta

__all__ = ["class_color", "DetectionStyle", "write_detections", "write_classification",
           "write_frame_classification", "write_segmentation", "write_tensor_meta", "clip_to_roi",
           "display_text_of"]

_PALETTE = [(1.0, 0.0, 0.0), (0.0, 0.6, 1.0), (0.0, 1.0, 0.0), (1.0, 0.8, 0.0), (1.0, 0.0, 1.0),
            (0.0, 1.0, 1.0), (1.0, 0.5, 0.0), (0.6, 0.3, 1.0)]

BORDER_WIDTH = 3
FONT_NAME = "Serif"
FONT_SIZE = 11
#: the label sits this many pixels above its box (at the top edge when the box touches it)
LABEL_RAISE = 20


def class_color(class_id: int) -> tuple[float, float, float]:
    """The border colour of a class without a configured ``border-color``: a fixed palette."""
    return _PALETTE[class_id % len(_PALETTE)]


@dataclass(frozen=True)
class DetectionStyle:
    """What a detector's writer needs besides the boxes: whose objects they are, their labels,
    their per-class colours (``attrs_for(class_id)`` gives ClassAttrs with ``border_color`` and
    ``bg_color``) and the mask threshold of instance segmentation."""

    unique_id: int
    label_of: Callable[[int], str]
    attrs_for: Callable
    mask_threshold: float = 0.5


def display_text_of(obj) -> str | None:
    """The object's display text (``text_params.display_text_str``; None when unset).

    The one place inference code reads a metadata string field, so that a change of how the
    model stores text touches only this function."""
    return obj.text_params.display_text_str


def write_detections(batch, frame, det, style: DetectionStyle) -> list:
    """Add one object meta per detection (``det``: boxes xyxy in frame pixels, scores, class ids,
    optional ``masks``) to ``frame``, styled as nvinfer does: a 3 px border in the class colour,
    an optional background, the label in white 11 pt Serif on black above the box. Untracked
    (``object_id`` = UNTRACKED_OBJECT_ID); ``detector_bbox_info`` holds the box as detected.
    Returns the objects added."""
    masks = getattr(det, "masks", None)
    added = []
    for k, (box, score, cid) in enumerate(zip(det.boxes, det.scores, det.class_ids)):
        o = batch.acquire_object()
        cid = int(cid)
        o.unique_component_id = style.unique_id
        o.class_id = cid
        o.confidence = float(score)
        o.object_id = UNTRACKED_OBJECT_ID
        x1, y1, x2, y2 = (float(v) for v in box)
        r = o.rect_params
        r.left, r.top, r.width, r.height = x1, y1, x2 - x1, y2 - y1
        bb = o.detector_bbox_info.org_bbox_coords
        bb.left, bb.top, bb.width, bb.height = r.left, r.top, r.width, r.height
        r.border_width = BORDER_WIDTH
        attrs = style.attrs_for(cid)
        rgb = attrs.border_color[:3] if attrs.border_color else class_color(cid)
        r.border_color.set(*rgb, 1.0)
        if attrs.bg_color:
            r.has_bg_color = 1
            r.bg_color.set(*(list(attrs.bg_color) + [1.0] * 4)[:4])
        if masks is not None:  # instance segmentation: a box-relative mask, as nvinfer gives
            mp = o.mask_params
            mp.height, mp.width = masks[k].shape
            mp.threshold = float(style.mask_threshold)
            mp.alloc_mask_array()[:] = masks[k].reshape(-1)
        label = style.label_of(cid)
        o.obj_label = label
        t = o.text_params
        t.display_text_str = label
        t.x_offset, t.y_offset = int(max(x1, 0)), int(max(y1 - LABEL_RAISE, 0))
        t.font_params.font_name_str = FONT_NAME
        t.font_params.font_size = FONT_SIZE
        t.font_params.font_color.set(1.0, 1.0, 1.0, 1.0)
        t.set_bg_clr = 1
        t.text_bg_clr.set(0.0, 0.0, 0.0, 1.0)
        frame.add_object(o)
        added.append(o)
    return added


def _classifier_meta(batch, c, unique_id: int, num_classes: int):
    cm = batch.acquire_classifier()
    cm.unique_component_id = unique_id
    li = batch.acquire_label_info()
    li.result_class_id, li.result_prob, li.result_label = c.class_id, c.prob, c.label
    li.num_classes = num_classes
    cm.labels.append(li)
    return cm


def write_classification(batch, obj, c, unique_id: int, num_classes: int, classifier_type=None) -> None:
    """Attach classification ``c`` (class_id, prob, label) to ``obj`` as classifier meta and
    append its label to the object's display text (as nvinfer's secondary classifiers do)."""
    cm = _classifier_meta(batch, c, unique_id, num_classes)
    cm.classifier_type = classifier_type
    obj.classifiers.append(cm)
    text = display_text_of(obj) or obj.obj_label
    obj.text_params.display_text_str = f"{text} {c.label}".strip()


def write_frame_classification(batch, frame, c, unique_id: int, num_classes: int):
    """A whole-frame classification, reported on a new full-frame object as nvinfer does.
    Returns that object."""
    cm = _classifier_meta(batch, c, unique_id, num_classes)
    o = batch.acquire_object()
    o.unique_component_id = unique_id
    o.rect_params.width, o.rect_params.height = frame.pipeline_width, frame.pipeline_height
    o.classifiers.append(cm)
    frame.add_object(o)
    return o


def write_segmentation(batch, frame, out: dict, threshold: float) -> NvDsInferSegmentationMeta:
    """A semantic-segmentation output of one frame (``out``: layer → (C, H, W) probabilities,
    or an (H, W) class map) as segmentation user meta; pixels whose best probability is below
    ``threshold`` are class -1."""
    arr = next(iter(out.values()))
    if arr.ndim == 3:  # C, H, W probabilities
        cls_map = arr.argmax(0).astype(np.int32)
        prob = arr.max(0)
        cls_map[prob < threshold] = -1
        classes = arr.shape[0]
    else:
        cls_map = arr.astype(np.int32).reshape(arr.shape[-2:])
        classes = int(cls_map.max()) + 1
        arr = None
    seg = NvDsInferSegmentationMeta(classes=classes, width=cls_map.shape[1], height=cls_map.shape[0])
    seg.class_map = cls_map
    seg.class_probabilities_map = arr
    um = batch.acquire_user()
    um.meta_type = NvDsMetaType.NVDSINFER_SEGMENTATION_META
    um.user_meta_data = seg
    frame.add_user_meta(um)
    return seg


def write_tensor_meta(batch, outputs: dict, add: Callable, unique_id: int, network: tuple,
                      gpu_id: int = 0) -> NvDsInferTensorMeta:
    """Raw output tensors of one frame or object (``outputs``: layer → array without the batch
    dimension; ``network``: width, height, channels) as tensor user meta, handed to ``add``
    (``frame.add_user_meta`` or ``obj.user_meta.append``)."""
    tm = NvDsInferTensorMeta.from_outputs(outputs, unique_id=unique_id, network=network)
    tm.gpu_id = gpu_id
    um = batch.acquire_user()
    um.meta_type = NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META
    um.user_meta_data = tm
    add(um)
    return tm


def clip_to_roi(boxes: np.ndarray, roi) -> np.ndarray:
    """``boxes`` (N, 4) xyxy clipped in place to ``roi`` = (left, top, width, height): detections
    of an nvdspreprocess ROI stay inside it. Returns ``boxes``."""
    l, t, rw, rh = roi
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], l, l + rw)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], t, t + rh)
    return boxes
