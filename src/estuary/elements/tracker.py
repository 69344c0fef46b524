"""``estracker`` (alias ``nvtracker``): gives detected objects stable ids per source.

The algorithm comes from the ``algorithm`` property, ``ll-config-file``
(``EstuaryTracker: algorithm:``, or the modules of a 6.0+ NvMultiObjectTracker file: IOU → iou,
NvSORT → sort, NvDCF / NvDeepSORT → bytetrack) or the DeepStream library named in
``ll-lib-file`` (5.x IOU → iou, KLT → sort, NvDCF → bytetrack); see
:func:`estuary.track.config.element_config` for which files each library reads."""

from __future__ import annotations

import os

from estuary.errors import StreamError
from estuary.gst import GLib, Gst, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.gst.events import STREAM_EOS, STREAM_RESET, stream_event_source  # noqa: F401 - re-exported
from estuary.elements.mux import BATCH_CAPS
from estuary.meta.arrays import FrameObjects
from estuary.meta.enums import NvDsMetaType
from estuary.meta.tracker import (NvDsPastFrameObj, NvDsPastFrameObjBatch, NvDsPastFrameObjList,
                                  NvDsPastFrameObjStream)
from estuary.track import MultiObjectTracker, TrackerConfig
from estuary.track.config import element_config
from estuary.track.meta import predicted_objects, remember_looks, write_tracking
from estuary.track.tracker import _Counter, predict_all, update_many

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
        todo = []  # (frame, its objects, tracker, looks) of the frames the detector saw
        for f in frames:
            fo = FrameObjects.from_frame(f)
            t = self.tracker_for(f.source_id)
            looks = self._styles.setdefault(f.source_id, {})
            if f.bInferDone:
                self._inferred.add(f.source_id)
            elif not len(fo) and f.source_id in self._inferred:
                # the detector skipped this frame (nvinfer interval): the targets' predictions
                # are the frame's objects, as DeepStream's trackers output on such frames
                f.append_objects(predicted_objects(t.predict(predicted=predicted), looks,
                                                   s.display_tracking_id))
                continue
            todo.append((f, fo, t, looks))
        # ESTUARY_TRACKER_MANY=0: each stream's update on its own (a benchmark baseline)
        if predicted and len(todo) > 1 and os.environ.get("ESTUARY_TRACKER_MANY") != "0":
            # all streams' association and Kalman updates together (the same results)
            outs = update_many([t for _, _, t, _ in todo],
                               [(fo.boxes, fo.scores(), fo.class_id) for _, fo, _, _ in todo])
        else:
            outs = [t.update(fo.boxes, fo.scores(), fo.class_id, predicted=predicted) for _, fo, t, _ in todo]
        for (f, fo, t, looks), out in zip(todo, outs):
            remember_looks(looks, fo, write_tracking(fo, out, s.display_tracking_id))
            if len(looks) > 2 * len(t) + 16:  # forget ended targets now and then
                alive = set(int(i) for i in t.ids)
                for k in [k for k in looks if k not in alive]:
                    del looks[k]
            if past is not None and out.recovered:
                stream = NvDsPastFrameObjStream(streamID=f.source_id, surfaceStreamID=f.source_id)
                for tid, cid, frames in out.recovered:
                    lst = NvDsPastFrameObjList(uniqueId=tid, classId=cid)
                    lst.objLabel = next((lab for lab, i in zip(fo.labels, fo.tracker_id) if i == tid), "")
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
