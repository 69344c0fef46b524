"""A frame's objects as a struct of arrays: the storage of objects written in bulk, and the one
conversion between metadata and arrays.

Elements that work on all objects of a frame at once (nvinfer's writer, the tracker, analytics,
message conversion, user code) read them with :meth:`FrameObjects.from_frame` and write with
:meth:`FrameObjects.set` (or :meth:`FrameObjects.write_boxes`), so that box conventions are
decided once: boxes are ``xyxy`` float64 in the frame's pixels (``rect_params`` is
left/top/width/height), an untracked object has tracker id ``-1`` (DeepStream's
``UNTRACKED_OBJECT_ID`` in the metadata), and a negative detector confidence (DeepStream's "not
set") is kept as it is, with :meth:`FrameObjects.scores` giving 1.0 for it.

Storage. Objects written in bulk (:meth:`NvDsFrameMeta.append_objects
<estuary.meta.core.NvDsFrameMeta.append_objects>`) stay arrays: a pipeline whose elements all
work in bulk never makes an object struct. The first access to the frame's objects as structs
(``frame.objects``, pyds' ``obj_meta_list``, ``add_object``...) makes them from the rows, once,
from the batch's pool; from then on the structs are the frame's objects and ``from_frame``
gathers arrays from them (a snapshot whose ``set``/``write_boxes`` write through to the
structs). Either way every reader sees every write. A live table (``fo.live``) is the frame's
storage: assigning its arrays in place writes the frame.

``to_supervision()`` / ``from_supervision()`` convert to and from ``supervision.Detections``
(optional import) for users of that library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estuary.meta.enums import UNTRACKED_OBJECT_ID

__all__ = ["FrameObjects", "ObjectStyle", "UNTRACKED", "LABEL_RAISE", "label_offsets",
           "to_supervision", "from_supervision"]

#: tracker id of an untracked object in the arrays
UNTRACKED = -1
# object ids above this are not tracker ids (they would not fit int64 as unsigned values)
_MAX_ID = 2 ** 62

#: a label sits this many pixels above its box (at the frame's top edge when the box touches it),
#: as nvinfer places it; the tracker places "label id" the same way
LABEL_RAISE = 20


def label_offsets(boxes: np.ndarray, label_raise: int = LABEL_RAISE) -> np.ndarray:
    """(N, 2) int text offsets of labels placed ``label_raise`` pixels above xyxy ``boxes``."""
    off = np.zeros((len(boxes), 2), np.int64)
    if len(boxes):
        off[:, 0] = np.maximum(boxes[:, 0], 0)
        off[:, 1] = np.maximum(boxes[:, 1] - label_raise, 0)
    return off


_NUMERIC = ("boxes", "confidence", "class_id", "tracker_id", "tracker_confidence", "component_id")
# columns made from the structs only when a snapshot's reader asks for them
_LAZY = ("detector_boxes", "tracker_boxes", "texts", "text_offsets", "styles")
_COLUMNS = _NUMERIC + ("labels",) + _LAZY


@dataclass(frozen=True)
class ObjectStyle:
    """How the OSD draws an object: border, background, label font and label background.

    Colours are RGBA in 0..1; ``None`` leaves that part unset (no background, no font name).
    Shared by all objects of one look (one per class of a detector), so it is stored once."""

    border_width: int = 0
    border_color: tuple = (0.0, 0.0, 0.0, 0.0)
    bg_color: tuple | None = None
    font_name: str | None = None
    font_size: int = 0
    font_color: tuple = (0.0, 0.0, 0.0, 0.0)
    text_bg_color: tuple | None = None

    @classmethod
    def of(cls, obj) -> "ObjectStyle":
        """The style of an object struct."""
        r, t = obj.rect_params, obj.text_params
        fp = t.font_params
        return cls(int(r.border_width), _rgba(r.border_color),
                   _rgba(r.bg_color) if r.has_bg_color else None,
                   fp.font_name_str, int(fp.font_size), _rgba(fp.font_color),
                   _rgba(t.text_bg_clr) if t.set_bg_clr else None)

    def apply(self, obj) -> None:
        """Set an object struct's look to this style."""
        r, t = obj.rect_params, obj.text_params
        r.border_width = self.border_width
        r.border_color.set(*self.border_color)
        if self.bg_color is not None:
            r.has_bg_color = 1
            r.bg_color.set(*self.bg_color)
        else:
            r.has_bg_color = 0
        fp = t.font_params
        fp.font_name_str = self.font_name
        fp.font_size = self.font_size
        fp.font_color.set(*self.font_color)
        if self.text_bg_color is not None:
            t.set_bg_clr = 1
            t.text_bg_clr.set(*self.text_bg_color)
        else:
            t.set_bg_clr = 0


def _rgba(c) -> tuple:
    return (float(c.red), float(c.green), float(c.blue), float(c.alpha))


def _ltwh(box) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return x1, y1, x2 - x1, y2 - y1


def _set_coords(c, box) -> None:
    c.left, c.top, c.width, c.height = _ltwh(box)


def _coords_xyxy(c) -> tuple:
    left, top = float(c.left), float(c.top)
    return (left, top, left + float(c.width), top + float(c.height))


# column → how a row's value is written into an object struct
def _w_boxes(o, v):
    _set_coords(o.rect_params, v)


def _w_tracker_id(o, v):
    o.object_id = UNTRACKED_OBJECT_ID if v < 0 else int(v)


def _w_detector_boxes(o, v):
    if not np.isnan(v[0]):
        _set_coords(o.detector_bbox_info.org_bbox_coords, v)


def _w_tracker_boxes(o, v):
    if not np.isnan(v[0]):
        _set_coords(o.tracker_bbox_info.org_bbox_coords, v)


def _w_text_offsets(o, v):
    o.text_params.x_offset, o.text_params.y_offset = int(v[0]), int(v[1])


def _w_styles(o, v):
    if v is not None:
        v.apply(o)


_WRITERS = {
    "boxes": _w_boxes,
    "confidence": lambda o, v: setattr(o, "confidence", float(v)),
    "class_id": lambda o, v: setattr(o, "class_id", int(v)),
    "tracker_id": _w_tracker_id,
    "tracker_confidence": lambda o, v: setattr(o, "tracker_confidence", float(v)),
    "component_id": lambda o, v: setattr(o, "unique_component_id", int(v)),
    "labels": lambda o, v: setattr(o, "obj_label", v or ""),
    "detector_boxes": _w_detector_boxes,
    "tracker_boxes": _w_tracker_boxes,
    "texts": lambda o, v: setattr(o.text_params, "display_text_str", v),
    "text_offsets": _w_text_offsets,
    "styles": _w_styles,
}


def _nan_boxes(n: int) -> np.ndarray:
    return np.full((n, 4), np.nan)


class FrameObjects:
    """Objects of one frame as a struct of arrays; row ``i`` of every column is one object.

    Columns: ``boxes`` (N, 4) xyxy float64, ``confidence``, ``class_id``, ``tracker_id`` (-1
    untracked), ``tracker_confidence``, ``component_id`` (the writer's unique id), ``labels``
    (``obj_label``), and for drawing ``texts`` (display text or None), ``text_offsets`` (N, 2),
    ``styles`` (:class:`ObjectStyle` or None per row), ``detector_boxes`` / ``tracker_boxes``
    (N, 4) xyxy with NaN rows where unset."""

    __slots__ = _NUMERIC + ("labels", "_lazy", "_objects", "_frame", "_parent", "_classified")

    def __init__(self, boxes, confidence, class_id, tracker_id, tracker_confidence, component_id,
                 labels=None, objects=None, *, detector_boxes=None, tracker_boxes=None,
                 texts=None, text_offsets=None, styles=None):
        self.boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        n = len(self.boxes)
        self.confidence = np.asarray(confidence, np.float64).reshape(n)
        self.class_id = np.asarray(class_id, np.int64).reshape(n)
        self.tracker_id = np.asarray(tracker_id, np.int64).reshape(n)
        self.tracker_confidence = np.asarray(tracker_confidence, np.float64).reshape(n)
        self.component_id = np.asarray(component_id, np.int64).reshape(n)
        self.labels = list(labels) if labels is not None else [""] * n
        self._objects = list(objects) if objects is not None else None
        self._frame = None
        self._parent = None  # (table, rows) of a selection of a table: set() writes there too
        # secondary classifiers' results per row (tables only; None: none yet): a list per row of
        # (unique_id, classifier_type, num_classes, class_id, prob, label), made into classifier
        # meta with the structs (add_classification)
        self._classified = None
        lazy = {}
        for name, v in (("detector_boxes", detector_boxes), ("tracker_boxes", tracker_boxes),
                        ("texts", texts), ("text_offsets", text_offsets), ("styles", styles)):
            if v is not None:
                lazy[name] = v
        self._lazy = lazy
        if self._objects is None:  # a table: every column exists
            lazy.setdefault("detector_boxes", _nan_boxes(n))
            lazy.setdefault("tracker_boxes", _nan_boxes(n))
            lazy.setdefault("texts", [None] * n)
            lazy.setdefault("text_offsets", np.zeros((n, 2), np.int64))
            lazy.setdefault("styles", [None] * n)
            lazy["detector_boxes"] = np.asarray(lazy["detector_boxes"], np.float64).reshape(n, 4)
            lazy["tracker_boxes"] = np.asarray(lazy["tracker_boxes"], np.float64).reshape(n, 4)
            lazy["text_offsets"] = np.asarray(lazy["text_offsets"], np.int64).reshape(n, 2)
            lazy["texts"], lazy["styles"] = list(lazy["texts"]), list(lazy["styles"])

    # -- making ---------------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> "FrameObjects":
        """A table without rows."""
        return cls(np.zeros((0, 4)), [], [], [], [], [])

    @classmethod
    def detections(cls, boxes, scores, class_ids, *, component_id: int = 0, labels=None,
                   style: "ObjectStyle | list | None" = None, texts=None,
                   label_raise: int | None = None, tracker_ids=None) -> "FrameObjects":
        """A table of new detections (``boxes`` xyxy): untracked unless ``tracker_ids``,
        ``detector_boxes`` = the boxes, ``texts`` = ``labels`` unless given; with
        ``label_raise`` the display text sits that many pixels above the box (at the frame's
        top edge when the box touches it), as nvinfer places it."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        n = len(boxes)
        labels = list(labels) if labels is not None else [""] * n
        offsets = label_offsets(boxes, label_raise) if label_raise is not None else np.zeros((n, 2), np.int64)
        styles = style if isinstance(style, list) else [style] * n
        return cls(boxes, scores, class_ids,
                   np.full(n, UNTRACKED, np.int64) if tracker_ids is None else tracker_ids,
                   np.zeros(n), np.full(n, int(component_id), np.int64), labels,
                   detector_boxes=boxes.copy(),
                   texts=list(texts) if texts is not None else [lab or None for lab in labels],
                   text_offsets=offsets, styles=styles)

    @classmethod
    def from_frame(cls, frame_meta) -> "FrameObjects":
        """The arrays of a frame's objects, in the frame's object order.

        The frame's own table (live) when its objects are stored as arrays; otherwise a snapshot
        gathered from its object structs, whose :meth:`set` writes through to them."""
        table = frame_meta.object_table()
        if table is not None:
            return table
        objs = list(frame_meta.objects)  # makes structs of any rows appended after them
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

    # -- reading ----------------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        """True when these arrays are a frame's storage (no structs made yet)."""
        f = self._frame
        return f is not None and f._table is self

    @property
    def objects(self) -> list:
        """The object structs behind the rows (made from the rows on first access when live)."""
        if self._objects is None:
            f = self._frame
            if f is None:
                raise AttributeError("these arrays are not attached to a frame: add them with "
                                     "frame.append_objects() first")
            if f._table is self:
                f._materialise()
            if self._objects is None:
                raise AttributeError("these arrays are no longer the frame's objects")
        return self._objects

    def __getattr__(self, name):
        # lazy columns of a snapshot: gathered from the structs when first read
        if name in _LAZY:
            lazy = object.__getattribute__(self, "_lazy")
            if name not in lazy:
                lazy[name] = _gather(name, object.__getattribute__(self, "_objects") or [])
            return lazy[name]
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name in _LAZY:
            self._lazy[name] = value
        else:
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> "FrameObjects":
        """Rows selected by a boolean mask, an index array or a slice. A copy that writes
        through (:meth:`set`) to the frame's objects."""
        idx = np.atleast_1d(np.arange(len(self))[index])
        sub = FrameObjects(self.boxes[idx], self.confidence[idx], self.class_id[idx],
                           self.tracker_id[idx], self.tracker_confidence[idx],
                           self.component_id[idx], [self.labels[i] for i in idx],
                           [self.objects[i] for i in idx] if not self.live and self._objects is not None
                           else None)
        if sub._objects is None:  # rows of a table: keep every column, and where they came from
            for name in _LAZY:
                sub._lazy[name] = _take(getattr(self, name), idx)
            if self._classified is not None:
                sub._classified = [self._classified[i] for i in idx]
            sub._parent = (self, idx)
        return sub

    def scores(self) -> np.ndarray:
        """Detector confidences with DeepStream's "not set" (negative) read as 1.0."""
        return np.where(self.confidence >= 0, self.confidence, 1.0)

    def xywh(self) -> np.ndarray:
        """Boxes as left, top, width, height (``rect_params``' convention)."""
        b = self.boxes
        return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1) \
            if len(b) else np.zeros((0, 4))

    def copy(self) -> "FrameObjects":
        """A detached table with the same rows (for a deep copy of the batch)."""
        out = FrameObjects(self.boxes.copy(), self.confidence.copy(), self.class_id.copy(),
                           self.tracker_id.copy(), self.tracker_confidence.copy(),
                           self.component_id.copy(), list(self.labels),
                           detector_boxes=self.detector_boxes.copy(),
                           tracker_boxes=self.tracker_boxes.copy(), texts=list(self.texts),
                           text_offsets=self.text_offsets.copy(), styles=list(self.styles))
        if self._classified is not None:
            out._classified = [list(c) if c else None for c in self._classified]
        return out

    # -- writing ----------------------------------------------------------------------------------
    def set(self, rows=None, **columns) -> None:
        """Write ``columns`` (names as the attributes: ``boxes=``, ``tracker_id=``, ``texts=``,
        ...) for ``rows`` (indices or a boolean mask; all rows by default): into the arrays, and
        into the object structs when the frame's objects are structs."""
        unknown = set(columns) - set(_COLUMNS)
        if unknown:
            raise TypeError(f"unknown column(s) {sorted(unknown)}; columns are {list(_COLUMNS)}")
        idx = np.arange(len(self)) if rows is None else np.atleast_1d(np.arange(len(self))[rows])
        for name, values in columns.items():
            col = getattr(self, name)
            if isinstance(col, np.ndarray):
                col[idx] = values
            else:  # a list column: one value (a str, a style, None) is given to every row
                if values is None or isinstance(values, (str, ObjectStyle)):
                    values = [values] * len(idx)
                for i, v in zip(idx, values):
                    col[i] = v
        if self._parent is not None:  # a selection of a table: write the table's rows too
            table, pidx = self._parent
            table.set(pidx[idx], **{k: _take(getattr(self, k), idx) for k in columns})
            return
        if self.live or self._objects is None:
            return
        objs = self._objects
        writers = [(_WRITERS[k], getattr(self, k)) for k in columns]
        for i in idx:
            o = objs[i]
            for w, col in writers:
                w(o, col[i])

    def write_boxes(self, boxes: np.ndarray, rows=None) -> None:
        """Set the boxes (xyxy) of ``rows`` (all by default): ``rect_params`` of the objects."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self.set(np.arange(len(boxes)) if rows is None else rows, boxes=boxes)

    def append(self, other: "FrameObjects") -> None:
        """Append ``other``'s rows (tables only)."""
        for name in _NUMERIC:
            object.__setattr__(self, name, np.concatenate([getattr(self, name), getattr(other, name)]))
        self.labels = self.labels + list(other.labels)
        for name in _LAZY:
            mine, theirs = getattr(self, name), getattr(other, name)
            self._lazy[name] = np.concatenate([mine, theirs]) if isinstance(mine, np.ndarray) \
                else list(mine) + list(theirs)
        if self._classified is not None or other._classified is not None:
            n_self = len(self) - len(other)
            mine = self._classified if self._classified is not None else [None] * n_self
            theirs = other._classified if other._classified is not None else [None] * len(other)
            self._classified = list(mine) + [list(c) if c else None for c in theirs]

    def add_classification(self, row: int, unique_id: int, class_id: int, prob: float, label: str,
                           num_classes: int, classifier_type=None) -> None:
        """A secondary classifier's result for ``row`` of a live table, without making the
        frame's object structs: kept with the row (made into classifier meta with one label
        info when the structs are made: :meth:`make_objects`), and ``label`` appended to the
        row's display text (the label when there is none), as nvinfer's secondaries do."""
        if self._parent is not None:
            raise TypeError("add_classification writes a frame's table, not a selection of it")
        if self._objects is not None:  # its structs were made meanwhile: they are the objects
            o = self._objects[row]
            classify_object(o, o.batch_meta, unique_id, classifier_type, num_classes, class_id, prob, label)
            return
        if self._classified is None:
            self._classified = [None] * len(self)
        entry = (unique_id, classifier_type, num_classes, class_id, prob, label)
        cell = self._classified[row]
        if cell is None:
            self._classified[row] = [entry]
        else:
            cell.append(entry)
        texts = self.texts
        texts[row] = with_label(texts[row], self.labels[row], label)

    def classifications(self, row: int) -> list:
        """The classifier results of ``row`` kept with the table, in the order they were added:
        (unique_id, classifier_type, num_classes, class_id, prob, label) tuples."""
        c = self._classified[row] if self._classified is not None else None
        return list(c) if c else []

    def make_objects(self, batch_meta) -> list:
        """Object structs of every row, from ``batch_meta``'s pool (or new ones without a batch).

        Written out field by field over plain lists (not through the per-column writers that
        ``set`` uses): a pyds probe that reads the objects pays this once per object, so it is
        kept no dearer than writing the structs directly was."""
        from estuary.meta.core import NvDsObjectMeta  # core imports this module
        acquire = batch_meta.acquire_object if batch_meta is not None else NvDsObjectMeta
        n = len(self)
        boxes = self.boxes.tolist()
        dboxes = self.detector_boxes.tolist()
        tboxes = self.tracker_boxes.tolist()
        offs = self.text_offsets.tolist()
        classified = self._classified
        out = []
        for i, x1, y1, x2, y2, conf, cid, tid, tconf, comp, label, text, style in zip(
                range(n), *zip(*boxes) if n else ((),) * 4, self.confidence.tolist(),
                self.class_id.tolist(), self.tracker_id.tolist(),
                self.tracker_confidence.tolist(), self.component_id.tolist(), self.labels,
                self.texts, self.styles):
            o = acquire()
            o.confidence, o.class_id, o.tracker_confidence = conf, cid, tconf
            o.unique_component_id = comp
            o.object_id = UNTRACKED_OBJECT_ID if tid < 0 else tid
            if label:
                o.obj_label = label
            r = o.rect_params
            r.left, r.top, r.width, r.height = x1, y1, x2 - x1, y2 - y1
            d = dboxes[i]
            if d[0] == d[0]:  # not NaN
                c = o.detector_bbox_info.org_bbox_coords
                c.left, c.top, c.width, c.height = d[0], d[1], d[2] - d[0], d[3] - d[1]
            d = tboxes[i]
            if d[0] == d[0]:
                c = o.tracker_bbox_info.org_bbox_coords
                c.left, c.top, c.width, c.height = d[0], d[1], d[2] - d[0], d[3] - d[1]
            t = o.text_params
            if text is not None:
                t.display_text_str = text
            t.x_offset, t.y_offset = offs[i]
            if style is not None:
                style.apply(o)
            if classified is not None and classified[i]:
                for entry in classified[i]:
                    o.classifiers.append(classifier_meta(batch_meta, *entry))
            out.append(o)
        return out

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
        """Add one object per row of a ``supervision.Detections`` to ``frame_meta`` (as arrays).

        Labels come from ``labels[class_id]`` or ``detections.data['class_name']``. Returns the
        rows added."""
        n = len(detections)
        names = detections.data.get("class_name") if hasattr(detections, "data") else None
        cids = np.asarray(detections.class_id if detections.class_id is not None else np.zeros(n), np.int64)
        if labels is not None:
            lab = [labels[c] if 0 <= c < len(labels) else "" for c in cids]
        elif names is not None:
            lab = [str(x) for x in names]
        else:
            lab = [""] * n
        tids = None
        if detections.tracker_id is not None:
            tids = np.where(np.asarray(detections.tracker_id) >= 0, detections.tracker_id, UNTRACKED)
        conf = detections.confidence if detections.confidence is not None else np.full(n, -0.1)
        fo = FrameObjects.detections(detections.xyxy, conf, cids, component_id=component_id,
                                     labels=lab, texts=[None] * n, tracker_ids=tids)
        fo.detector_boxes = _nan_boxes(n)
        frame_meta.append_objects(fo)
        return fo


def classifier_meta(batch_meta, unique_id: int, classifier_type, num_classes: int, class_id: int,
                    prob: float, label: str):
    """One classifier meta with one label info (from ``batch_meta``'s pools, or new ones
    without a batch): what nvinfer's secondaries attach to an object."""
    from estuary.meta.core import NvDsClassifierMeta, NvDsLabelInfo  # core imports this module
    cm = batch_meta.acquire_classifier() if batch_meta is not None else NvDsClassifierMeta()
    cm.unique_component_id = unique_id
    cm.classifier_type = classifier_type
    li = batch_meta.acquire_label_info() if batch_meta is not None else NvDsLabelInfo()
    li.result_class_id, li.result_prob, li.result_label = class_id, prob, label
    li.num_classes = num_classes
    cm.labels.append(li)
    return cm


def with_label(text: str | None, obj_label: str, label: str) -> str:
    """A display text with a classifier's ``label`` appended (to the object's label when it has
    no text), as nvinfer's secondaries write it."""
    return f"{text or obj_label} {label}".strip()


def classify_object(obj, batch_meta, unique_id: int, classifier_type, num_classes: int, class_id: int,
                    prob: float, label: str) -> None:
    """Attach one classifier result to an object struct: its classifier meta
    (:func:`classifier_meta`) and its label appended to the display text."""
    obj.classifiers.append(classifier_meta(batch_meta, unique_id, classifier_type, num_classes, class_id,
                                           prob, label))
    t = obj.text_params
    t.display_text_str = with_label(t.display_text_str, obj.obj_label, label)


def _take(col, idx):
    return col[idx] if isinstance(col, np.ndarray) else [col[i] for i in idx]


def _gather(name: str, objs: list):
    if name == "detector_boxes":
        return np.array([_coords_xyxy(o.detector_bbox_info.org_bbox_coords) for o in objs],
                        np.float64).reshape(-1, 4)
    if name == "tracker_boxes":
        return np.array([_coords_xyxy(o.tracker_bbox_info.org_bbox_coords) for o in objs],
                        np.float64).reshape(-1, 4)
    if name == "texts":
        return [o.text_params.display_text_str for o in objs]
    if name == "text_offsets":
        return np.array([(o.text_params.x_offset, o.text_params.y_offset) for o in objs],
                        np.int64).reshape(-1, 2)
    if name == "styles":
        return [ObjectStyle.of(o) for o in objs]
    raise AttributeError(name)


def to_supervision(frame_meta):
    """``supervision.Detections`` of a frame's objects in one call."""
    return FrameObjects.from_frame(frame_meta).to_supervision()


def from_supervision(detections, batch_meta, frame_meta, component_id: int = 0, labels=None):
    """Add a ``supervision.Detections`` to a frame as objects (see FrameObjects)."""
    return FrameObjects.from_supervision(detections, batch_meta, frame_meta, component_id, labels)
