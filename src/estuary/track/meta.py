"""Tracker results → a frame's objects, in bulk (engine-free; ``nvtracker`` is a shell over it).

The frame's objects are read and written as arrays (:class:`~estuary.meta.FrameObjects`): ids,
tracker boxes and confidences for every detection in a few array writes, and on frames the
detector skipped (``interval``) the targets' predictions as new rows, drawn with the look of
each target's last detection."""

from __future__ import annotations

import numpy as np

from estuary.meta.arrays import LABEL_RAISE, UNTRACKED, FrameObjects, ObjectStyle, label_offsets
from estuary.track.tracker import TrackOutput

__all__ = ["write_tracking", "predicted_objects", "remember_looks", "DEFAULT_LOOK", "LABEL_RAISE"]

#: the look of a predicted target whose detection was never seen (green border, white on black)
DEFAULT_LOOK = ("", 1, ObjectStyle(3, (0.0, 1.0, 0.0, 1.0), None, "Serif", 11,
                                   (1.0, 1.0, 1.0, 1.0), (0.0, 0.0, 0.0, 1.0)))


def _id_texts(labels, class_ids, ids) -> list[str]:
    return [f"{lab or cid} {tid}" for lab, cid, tid in zip(labels, class_ids, ids)]


def write_tracking(fo: FrameObjects, out: TrackOutput, show_id: bool) -> np.ndarray:
    """Write ``out`` (MultiObjectTracker.update on ``fo``'s rows) into the objects: confirmed
    detections get their target id, tracker box (also their ``rect_params``, as DeepStream's
    trackers output) and confidence; the others are untracked. With ``show_id`` the display
    text becomes "label id" above the tracked box. Returns the rows that are tracked."""
    tids = np.asarray(out.det_track_ids, np.int64).reshape(-1)
    tracked = tids > 0
    rows = np.flatnonzero(tracked)
    fo.set(tracker_id=np.where(tracked, tids, UNTRACKED))
    if len(rows):
        boxes = np.asarray(out.det_boxes, np.float64).reshape(-1, 4)[rows]
        cols = dict(boxes=boxes, tracker_boxes=boxes,
                    tracker_confidence=np.asarray(out.det_confidence, np.float64).reshape(-1)[rows])
        if show_id:
            cols["texts"] = _id_texts([fo.labels[i] for i in rows], fo.class_id[rows], tids[rows])
            cols["text_offsets"] = label_offsets(boxes)
        fo.set(rows, **cols)
    return rows


def remember_looks(looks: dict, fo: FrameObjects, rows: np.ndarray) -> None:
    """Remember (label, component id, style) of the tracked ``rows`` under their target ids,
    for drawing the targets on frames the detector skips."""
    if not len(rows):
        return
    styles, labels = fo.styles, fo.labels
    idx = rows.tolist()
    # one dict update over zipped lists (the loop runs in C: this is per object, every frame)
    looks.update(zip(fo.tracker_id[rows].tolist(),
                     zip([labels[i] for i in idx], fo.component_id[rows].tolist(),
                         [styles[i] or DEFAULT_LOOK[2] for i in idx])))


def predicted_objects(out: TrackOutput, looks: dict, show_id: bool) -> FrameObjects:
    """Rows for the targets of ``out`` (MultiObjectTracker.predict) on a skipped frame: tracker
    boxes, the target's id and class, the look of its last detection, and detector confidence
    -0.1 (DeepStream's value for objects the tracker found, not the detector)."""
    ids = [int(tid) for tid, _ in out.shadow]
    cids = [int(cid) for _, cid in out.shadow]
    boxes = np.asarray(out.det_boxes, np.float64).reshape(-1, 4)
    seen = [looks.get(tid, DEFAULT_LOOK) for tid in ids]
    labels = [s[0] for s in seen]
    fo = FrameObjects.detections(boxes, np.full(len(ids), -0.1), cids,
                                 labels=labels, style=[s[2] for s in seen],
                                 texts=_id_texts(labels, cids, ids) if show_id else labels,
                                 label_raise=LABEL_RAISE, tracker_ids=np.asarray(ids, np.int64))
    fo.component_id[:] = [s[1] for s in seen]
    fo.tracker_confidence[:] = np.asarray(out.det_confidence, np.float64).reshape(-1)
    fo.detector_boxes = np.full((len(ids), 4), np.nan)
    fo.tracker_boxes = boxes.copy()
    return fo
