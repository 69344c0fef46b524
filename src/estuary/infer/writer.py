"""Inference results → metadata: detections become styled object meta, classifications become
classifier meta, segmentation maps and raw tensors become user meta.

Engine-free (no GStreamer): ``nvinfer`` and ``nvdspostprocess`` both write through these, so the
two produce the same metadata from the same detections. ``batch`` is an
:class:`~estuary.meta.NvDsBatchMeta` (its pools hand out the objects written)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from estuary.infer.secondary import ObjectRow
from estuary.meta.arrays import (LABEL_RAISE, FrameObjects, ObjectStyle, classifier_meta,  # noqa: F401 - LABEL_RAISE re-exported
                                 classify_object)
from estuary.meta.enums import NvDsMetaType
from estuary.meta.infer import NvDsInferSegmentationMeta, NvDsInferTensorMeta

__all__ = ["class_color", "DetectionStyle", "detection_style", "write_detections", "write_classification",
           "write_frame_classification", "write_segmentation", "write_tensor_meta", "clip_to_roi",
           "display_text_of"]

_PALETTE = [(1.0, 0.0, 0.0), (0.0, 0.6, 1.0), (0.0, 1.0, 0.0), (1.0, 0.8, 0.0), (1.0, 0.0, 1.0),
            (0.0, 1.0, 1.0), (1.0, 0.5, 0.0), (0.6, 0.3, 1.0)]

BORDER_WIDTH = 3
FONT_NAME = "Serif"
FONT_SIZE = 11


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
    #: class id → its ObjectStyle, made once (keep one DetectionStyle for a detector's frames)
    looks: dict = field(default_factory=dict, compare=False, hash=False, repr=False)


def display_text_of(obj) -> str | None:
    """The object's display text (``text_params.display_text_str``; None when unset).

    The one place inference code reads a metadata string field, so that a change of how the
    model stores text touches only this function."""
    return obj.text_params.display_text_str


def detection_style(style: DetectionStyle, class_id: int) -> ObjectStyle:
    """The look nvinfer gives a detection of ``class_id``: a 3 px border in the class colour,
    an optional background, the label in white 11 pt Serif on black."""
    attrs = style.attrs_for(class_id)
    rgb = attrs.border_color[:3] if attrs.border_color else class_color(class_id)
    bg = tuple((list(attrs.bg_color) + [1.0] * 4)[:4]) if attrs.bg_color else None
    return ObjectStyle(BORDER_WIDTH, (*(float(v) for v in rgb), 1.0), bg, FONT_NAME, FONT_SIZE,
                       (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 1.0))


def write_detections(batch, frame, det, style: DetectionStyle) -> FrameObjects:
    """Add the detections (``det``: boxes xyxy in frame pixels, scores, class ids, optional
    ``masks``) to ``frame`` as objects styled as nvinfer does (:func:`detection_style`), the
    label above the box. Untracked (``object_id`` = UNTRACKED_OBJECT_ID); ``detector_bbox_info``
    holds the box as detected.

    Written as arrays (one call per frame, no struct per object): the objects become structs
    only if something reads them as such (a pyds probe, an element that works per object).
    Returns the frame's objects as arrays."""
    cids = np.asarray(det.class_ids, np.int64).reshape(-1)
    looks = style.looks
    labels = []
    styles = []
    for c in cids.tolist():
        look = looks.get(c)
        if look is None:
            look = looks[c] = detection_style(style, c)
        styles.append(look)
        labels.append(style.label_of(c))
    rows = FrameObjects.detections(det.boxes, det.scores, cids, component_id=style.unique_id,
                                   labels=labels, style=styles, label_raise=LABEL_RAISE)
    masks = getattr(det, "masks", None)
    if masks is None:
        return frame.append_objects(rows)
    # instance segmentation: a box-relative mask per object, as nvinfer gives (struct fields)
    before = frame.num_obj_meta
    frame.append_objects(rows)
    objs = frame.objects[before:]
    for o, m in zip(objs, masks):
        mp = o.mask_params
        mp.height, mp.width = m.shape
        mp.threshold = float(style.mask_threshold)
        mp.alloc_mask_array()[:] = m.reshape(-1)
    return FrameObjects.from_frame(frame)[before:]


def write_classification(batch, obj, c, unique_id: int, num_classes: int, classifier_type=None) -> None:
    """Attach classification ``c`` (class_id, prob, label) to ``obj`` as classifier meta and
    append its label to the object's display text (as nvinfer's secondary classifiers do).
    ``obj`` may also be a row of a frame's table (:class:`~estuary.infer.secondary.ObjectRow`):
    then the result stays with the row until its struct is made."""
    if isinstance(obj, ObjectRow):
        obj.table.add_classification(obj.row, unique_id, c.class_id, c.prob, c.label, num_classes,
                                     classifier_type)
        return
    classify_object(obj, batch, unique_id, classifier_type, num_classes, c.class_id, c.prob, c.label)


def write_frame_classification(batch, frame, c, unique_id: int, num_classes: int):
    """A whole-frame classification, reported on a new full-frame object as nvinfer does.
    Returns that object."""
    cm = classifier_meta(batch, unique_id, None, num_classes, c.class_id, c.prob, c.label)
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
