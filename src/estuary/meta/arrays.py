"""A frame's objects as a struct of arrays: the one conversion between metadata and arrays.

Elements that work on all objects of a frame at once (tracker, analytics, message conversion,
user code) read them with :meth:`FrameObjects.from_frame` and write results back by index, so that
box conventions are decided once: boxes are ``xyxy`` float64 in the frame's pixels (``rect_params``
is left/top/width/height), an untracked object has tracker id ``-1`` (DeepStream's
``UNTRACKED_OBJECT_ID`` in the metadata), and a negative detector confidence (DeepStream's "not
set") is kept as it is, with :meth:`FrameObjects.scores` giving 1.0 for it.

``to_supervision()`` / ``from_supervision()`` convert to and from ``supervision.Detections``
(optional import) for users of that library.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from estuary.meta.enums import UNTRACKED_OBJECT_ID

__all__ = ["FrameObjects", "UNTRACKED", "to_supervision", "from_supervision"]

#: tracker id of an untracked object in the arrays
UNTRACKED = -1
# object ids above this are not tracker ids (they would not fit int64 as unsigned values)
_MAX_ID = 2 ** 62


@dataclass
class FrameObjects:
    """Objects of one frame: ``objects[i]`` is the metadata behind row ``i`` of every array."""

    boxes: np.ndarray                  # (N, 4) float64, xyxy pixels
    confidence: np.ndarray             # (N,) float64 detector confidence (negative: not set)
    class_id: np.ndarray               # (N,) int64
    tracker_id: np.ndarray             # (N,) int64, -1 untracked
    tracker_confidence: np.ndarray     # (N,) float64
    component_id: np.ndarray           # (N,) int64, unique_component_id of the writer
    labels: list = field(default_factory=list)     # (N,) str, obj_label
    objects: list = field(default_factory=list)    # (N,) the NvDsObjectMeta rows

    # -- reading ----------------------------------------------------------------------------------
    @classmethod
    def from_frame(cls, frame_meta) -> "FrameObjects":
        """The arrays of a frame's objects (in the frame's object order)."""
        objs = list(frame_meta.objects)
        n = len(objs)
        boxes = np.empty((n, 4), np.float64)
        conf = np.empty(n, np.float64)
        cls_ = np.empty(n, np.int64)
        tid = np.empty(n, np.int64)
        tconf = np.empty(n, np.float64)
        comp = np.empty(n, np.int64)
        labels = []
        for i, o in enumerate(objs):
            r = o.rect_params
            left, top = float(r.left), float(r.top)
            boxes[i] = (left, top, left + float(r.width), top + float(r.height))
            conf[i] = o.confidence
            cls_[i] = o.class_id
            oid = o.object_id
            tid[i] = UNTRACKED if oid == UNTRACKED_OBJECT_ID or oid >= _MAX_ID else oid
            tconf[i] = o.tracker_confidence
            comp[i] = o.unique_component_id
            labels.append(o.obj_label)
        return cls(boxes, conf, cls_, tid, tconf, comp, labels, objs)

    def __len__(self) -> int:
        return len(self.objects)

    def __getitem__(self, index) -> "FrameObjects":
        """Rows selected by a boolean mask, an index array or a slice (views where numpy allows)."""
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return FrameObjects(self.boxes[idx], self.confidence[idx], self.class_id[idx],
                            self.tracker_id[idx], self.tracker_confidence[idx],
                            self.component_id[idx], [self.labels[i] for i in idx],
                            [self.objects[i] for i in idx])

    def scores(self) -> np.ndarray:
        """Detector confidences with DeepStream's "not set" (negative) read as 1.0."""
        return np.where(self.confidence >= 0, self.confidence, 1.0)

    def xywh(self) -> np.ndarray:
        """Boxes as left, top, width, height (``rect_params``' convention)."""
        b = self.boxes
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1) \
            if len(b) else np.zeros((0, 4))

    # -- writing back -----------------------------------------------------------------------------
    def write_boxes(self, boxes: np.ndarray, rows=None) -> None:
        """Set ``rect_params`` of the objects of ``rows`` (all by default) from xyxy boxes."""
        rows = range(len(self)) if rows is None else rows
        for i, box in zip(rows, np.asarray(boxes, np.float64).reshape(-1, 4)):
            x1, y1, x2, y2 = (float(v) for v in box)
            r = self.objects[i].rect_params
            r.left, r.top, r.width, r.height = x1, y1, x2 - x1, y2 - y1
            self.boxes[i] = (x1, y1, x2, y2)

    # -- supervision --------------------------------------------------------------------------------
    def to_supervision(self):
        """A ``supervision.Detections`` of these objects (``data['class_name']`` holds labels)."""
        import supervision as sv
        return sv.Detections(
            xyxy=self.boxes.astype(np.float32).reshape(-1, 4),
            confidence=self.scores().astype(np.float32),
            class_id=self.class_id.astype(int),
            tracker_id=np.where(self.tracker_id >= 0, self.tracker_id, -1).astype(int)
            if (self.tracker_id >= 0).any() else None,
            data={"class_name": np.array(self.labels, dtype=object)})

    @staticmethod
    def from_supervision(detections, batch_meta, frame_meta, component_id: int = 0,
                         labels=None) -> "FrameObjects":
        """Add one object per row of a ``supervision.Detections`` to ``frame_meta``.

        Labels come from ``labels[class_id]`` or ``detections.data['class_name']``."""
        n = len(detections)
        names = detections.data.get("class_name") if hasattr(detections, "data") else None
        for i in range(n):
            o = batch_meta.acquire_object()
            x1, y1, x2, y2 = (float(v) for v in detections.xyxy[i])
            r = o.rect_params
            r.left, r.top, r.width, r.height = x1, y1, x2 - x1, y2 - y1
            cid = int(detections.class_id[i]) if detections.class_id is not None else 0
            o.class_id = cid
            o.confidence = float(detections.confidence[i]) if detections.confidence is not None else -0.1
            o.unique_component_id = int(component_id)
            if detections.tracker_id is not None and detections.tracker_id[i] >= 0:
                o.object_id = int(detections.tracker_id[i])
            if labels is not None and 0 <= cid < len(labels):
                o.obj_label = labels[cid]
            elif names is not None:
                o.obj_label = str(names[i])
            frame_meta.add_object(o)
        return FrameObjects.from_frame(frame_meta)


def to_supervision(frame_meta):
    """``supervision.Detections`` of a frame's objects in one call."""
    return FrameObjects.from_frame(frame_meta).to_supervision()


def from_supervision(detections, batch_meta, frame_meta, component_id: int = 0, labels=None):
    """Add a ``supervision.Detections`` to a frame as object metadata (see FrameObjects)."""
    return FrameObjects.from_supervision(detections, batch_meta, frame_meta, component_id, labels)
