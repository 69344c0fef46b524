"""``estracker`` (alias ``nvtracker``): gives detected objects stable ids per source.

The algorithm comes from the ``algorithm`` property, ``ll-config-file``
(``EstuaryTracker: algorithm:``, or the modules of a 6.0+ NvMultiObjectTracker file: IOU → iou,
NvSORT → sort, NvDCF / NvDeepSORT → bytetrack) or the DeepStream library named in
``ll-lib-file`` (5.x IOU → iou, KLT → sort, NvDCF → bytetrack); see
:func:`estuary.track.config.element_config` for which files each library reads."""

from __future__ import annotations

from estuary.errors import StreamError
from estuary.gst import GLib, Gst, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.gst.events import STREAM_EOS, STREAM_RESET, stream_event_source  # noqa: F401 - re-exported
from estuary.elements.mux import BATCH_CAPS
from estuary.meta.arrays import FrameObjects
from estuary.meta.enums import NvDsMetaType, UNTRACKED_OBJECT_ID
from estuary.meta.tracker import (NvDsPastFrameObj, NvDsPastFrameObjBatch, NvDsPastFrameObjList,
                                  NvDsPastFrameObjStream)
from estuary.track import MultiObjectTracker, TrackerConfig
from estuary.track.config import element_config
from estuary.track.tracker import _Counter, predict_all

__all__ = ["EsTracker", "STREAM_RESET", "STREAM_EOS"]



class EsTracker(ElementBase, ChainElement, Gst.Element):
    """Multi-object tracker over the frames of each batch."""

    __gtype_name__ = "EstuaryTracker"
    FACTORY = "estracker"
    ALIASES = ("nvtracker",)
    METADATA = ("Estuary tracker", "Filter/Analyzer/Video",
                "Tracks objects across frames (IOU, SORT-style, ByteTrack-style)", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, BATCH_CAPS, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, BATCH_CAPS, None))
    PROPS = (
        Prop("tracker-width", int, 640, "Frame width given to the tracker (accepted)", 0, 16384),
        Prop("tracker-height", int, 384, "Frame height given to the tracker (accepted)", 0, 16384),
        Prop("ll-lib-file", str, "", "DeepStream low-level library name (mapped to an algorithm)"),
        Prop("ll-config-file", str, "", "Tracker YAML config"),
        Prop("gpu-id", int, 0, "GPU to use", 0, 64),
        Prop("enable-batch-process", bool, True, "Accepted (sources are always handled per batch)"),
        Prop("enable-past-frame", bool, False, "Attach past-frame (shadow-tracking) meta"),
        Prop("display-tracking-id", bool, True, "Add the id to the object's label"),
        Prop("tracking-surface-type", int, 0, "Accepted for compatibility", 0, 10),
        Prop("tracking-id-reset-mode", int, 0, "Accepted for compatibility", 0, 3),
        Prop("compute-hw", int, 0, "Accepted for compatibility", 0, 2),
        Prop("user-meta-pool-size", int, 16, "Accepted for compatibility", 1, 4096),
        Prop("algorithm", str, "", "iou | sort | bytetrack (overrides the config)"),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()
        self._trackers: dict[int, MultiObjectTracker] = {}
        self._cfg = None
        self._ids = _Counter()
        self._inferred: set[int] = set()  # sources whose frames a detector has marked bInferDone
        self._styles: dict[int, dict] = {}  # per source: target id -> how its detections looked

    def _config(self) -> TrackerConfig:
        if self._cfg is None:
            s = self.settings
            notes: list[str] = []
            self._cfg = element_config(s.ll_lib_file, s.ll_config_file, s.algorithm, notes=notes)
            if notes:  # unknown keys of a DeepStream file: a bus WARNING, which apps print
                err = GLib.Error.new_literal(Gst.LibraryError.quark(), "; ".join(notes),
                                             int(Gst.LibraryError.SETTINGS))
                self.post_message(Gst.Message.new_warning(self, err, "\n".join(notes)))
        return self._cfg

    def do_change_state(self, transition):
        if transition == Gst.StateChange.NULL_TO_READY:
            self._cfg = None
            self._config()
        elif transition == Gst.StateChange.READY_TO_NULL:
            self._trackers.clear()
            self._inferred.clear()
            self._styles.clear()
        return Gst.Element.do_change_state(self, transition)

    def tracker_for(self, source_id: int) -> MultiObjectTracker:
        t = self._trackers.get(source_id)
        if t is None:
            t = self._trackers[source_id] = MultiObjectTracker(self._config(), self._ids)
        return t

    def handle_sink_event(self, event) -> bool:
        hit = stream_event_source(event)
        if hit is not None:
            name, sid = hit
            if name == STREAM_RESET and sid in self._trackers:
                self._trackers[sid].reset()
            else:
                self._trackers.pop(sid, None)
        return super().handle_sink_event(event)

    def process(self, buf):
        batch = batchmeta.get(buf)
        if batch is None:
            raise StreamError(f"{self.get_name()} needs batched buffers from nvstreammux/esmux upstream")
        s = self.settings
        past = NvDsPastFrameObjBatch() if s.enable_past_frame else None
        frames = list(batch.frames)
        # one vectorised motion prediction for all streams of the batch (each stream once)
        sources = [f.source_id for f in frames]
        predicted = len(set(sources)) == len(sources)
        if predicted:
            predict_all([self.tracker_for(sid) for sid in sources])
        for f in frames:
            fo = FrameObjects.from_frame(f)
            objs = fo.objects
            t = self.tracker_for(f.source_id)
            styles = self._styles.setdefault(f.source_id, {})
            if f.bInferDone:
                self._inferred.add(f.source_id)
            elif not objs and f.source_id in self._inferred:
                # the detector skipped this frame (nvinfer interval): the targets' predictions
                # are the frame's objects, as DeepStream's trackers output on such frames
                self._predicted_objects(batch, f, t.predict(predicted=predicted), styles)
                continue
            out = t.update(fo.boxes, fo.scores(), fo.class_id, predicted=predicted)
            for o, tid, box, conf in zip(objs, out.det_track_ids, out.det_boxes, out.det_confidence):
                if tid <= 0:
                    o.object_id = UNTRACKED_OBJECT_ID
                    continue
                o.object_id = int(tid)
                o.tracker_confidence = float(conf)
                x1, y1, x2, y2 = (float(v) for v in box)
                tb = o.tracker_bbox_info.org_bbox_coords
                tb.left, tb.top, tb.width, tb.height = x1, y1, x2 - x1, y2 - y1
                r = o.rect_params
                r.left, r.top, r.width, r.height = x1, y1, x2 - x1, y2 - y1
                if s.display_tracking_id:
                    label = o.obj_label or str(o.class_id)
                    o.text_params.display_text_str = f"{label} {tid}"
                    o.text_params.x_offset, o.text_params.y_offset = int(max(x1, 0)), int(max(y1 - 20, 0))
                styles[int(tid)] = _style_of(o)
            if len(styles) > 2 * len(t) + 16:  # forget ended targets now and then
                alive = set(int(i) for i in t.ids)
                for k in [k for k in styles if k not in alive]:
                    del styles[k]
            if past is not None and out.recovered:
                stream = NvDsPastFrameObjStream(streamID=f.source_id, surfaceStreamID=f.source_id)
                for tid, cid, frames in out.recovered:
                    lst = NvDsPastFrameObjList(uniqueId=tid, classId=cid)
                    lst.objLabel = next((o.obj_label for o in objs if o.object_id == tid), "")
                    for fn, box, conf, age in frames:
                        pf = NvDsPastFrameObj(frameNum=f.frame_num - (t.frame - fn), confidence=conf, age=age)
                        pf.tBbox.left, pf.tBbox.top = float(box[0]), float(box[1])
                        pf.tBbox.width, pf.tBbox.height = float(box[2] - box[0]), float(box[3] - box[1])
                        lst.append(pf)
                    stream.append(lst)
                past.append(stream)
        if past is not None:
            um = batch.acquire_user()
            um.meta_type = NvDsMetaType.NVDS_TRACKER_PAST_FRAME_META
            um.user_meta_data = past
            batch.add_user_meta(um)
        return [buf]

    def _predicted_objects(self, batch, frame, out, styles) -> None:
        """Object metas for the targets ``out`` (MultiObjectTracker.predict) on a skipped frame:
        tracker boxes, the target's id and class, the look of its last detection, and detector
        confidence -0.1 (DeepStream's value for objects the tracker found, not the detector)."""
        show_id = self.settings.display_tracking_id
        for (tid, cid), box, conf in zip(out.shadow, out.det_boxes, out.det_confidence):
            label, uid, width, color = styles.get(tid, ("", 1, 3, (0.0, 1.0, 0.0, 1.0)))
            o = batch.acquire_object()
            o.unique_component_id = uid
            o.class_id = cid
            o.confidence = -0.1
            o.object_id = tid
            o.tracker_confidence = float(conf)
            x1, y1, x2, y2 = (float(v) for v in box)
            tb = o.tracker_bbox_info.org_bbox_coords
            tb.left, tb.top, tb.width, tb.height = x1, y1, x2 - x1, y2 - y1
            r = o.rect_params
            r.left, r.top, r.width, r.height = x1, y1, x2 - x1, y2 - y1
            r.border_width = width
            r.border_color.set(*color)
            o.obj_label = label
            t = o.text_params
            t.display_text_str = f"{label or cid} {tid}" if show_id else label
            t.x_offset, t.y_offset = int(max(x1, 0)), int(max(y1 - 20, 0))
            t.font_params.font_name_str = "Serif"
            t.font_params.font_size = 11
            t.font_params.font_color.set(1.0, 1.0, 1.0, 1.0)
            t.set_bg_clr = 1
            t.text_bg_clr.set(0.0, 0.0, 0.0, 1.0)
            frame.add_object(o)


def _style_of(o) -> tuple:
    """(label, component id, border width, border RGBA) of a detected object, reused for its
    target on skipped frames. The one place this module reads a string field of metadata."""
    c = o.rect_params.border_color
    return (str(o.obj_label or ""), int(o.unique_component_id), int(o.rect_params.border_width),
            (float(c.red), float(c.green), float(c.blue), float(c.alpha)))
