"""What a fleet worker runs for each camera it holds.

* :class:`PipelineBackend`: one live GStreamer pipeline (sources → nvstreammux → the profile's
  elements → fakesink), sources added and removed at run time; optionally each camera also
  recorded to an MP4 file that is closed through EOS (playable) when the camera stops or the
  worker shuts down.
* :class:`DryBackend`: no decoding; each camera is a light stand-in with the same lifecycle
  (start, frames at a nominal rate, stop) for simulating large fleets on one machine.

Both count frames into the worker's ``_Running`` records; the Kafka side lives in
:mod:`estuary.fleet.worker`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time

from estuary.redact import redact

log = logging.getLogger("estuary.fleet")


class DryBackend:
    """Cameras as stand-ins: nothing is decoded; frames advance at ``fps`` while a camera runs."""

    def __init__(self, worker, fps: float = 25.0):
        self.w, self.fps = worker, fps

    def setup(self) -> None:
        pass

    def start(self, slot: int, cam):
        return time.monotonic()

    def stop(self, handle) -> None:
        pass

    def tick(self, running: dict) -> list[str]:
        now = time.monotonic()
        for r in running.values():
            r.frames = int((now - r.handle) * self.fps)
        return []

    def shutdown(self) -> None:
        pass


class PipelineBackend:
    """The worker's live pipeline; see the module docstring."""

    def __init__(self, worker, record_dir: str | None = None, eos_timeout: float = 5.0):
        self.w, self.record_dir, self.eos_timeout = worker, record_dir, eos_timeout

    def setup(self) -> None:
        import pyds  # noqa: F401 - registers the elements
        from estuary import data
        from estuary.gst import Gst
        w = self.w
        p = Gst.Pipeline.new(f"fleet-{w.id}")
        mux = Gst.ElementFactory.make("nvstreammux", "mux")
        for k, v in (("batch-size", w.capacity), ("width", w.width), ("height", w.height),
                     ("live-source", True), ("batched-push-timeout", 40000)):
            mux.set_property(k, v)
        chain = [mux]
        if w.profile == "detect":
            pgie = Gst.ElementFactory.make("nvinfer", "pgie")
            pgie.set_property("config-file-path", data.model_path("config_infer_primary_ds4.txt"))
            pgie.set_property("batch-size", w.capacity)
            tracker = Gst.ElementFactory.make("nvtracker", "tracker")
            chain += [pgie, tracker]
        sink = Gst.ElementFactory.make("fakesink", "sink")
        sink.set_property("sync", True)
        sink.set_property("qos", False)
        chain.append(sink)
        for e in chain:
            p.add(e)
        for a, b in zip(chain, chain[1:]):
            a.link(b)
        sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._on_batch)
        self.pipeline, self.mux = p, mux
        if self.record_dir:
            os.makedirs(self.record_dir, exist_ok=True)

    def _on_batch(self, pad, info):
        import pyds
        from estuary.fleet.topics import EVENTS
        from estuary.gst import Gst
        w = self.w
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            with w._lock:
                cam = w._by_slot.get(f.source_id)
                r = w._running.get(cam) if cam else None
                if r is None:
                    continue
                r.frames += 1
                n = r.frames
            if n % w.event_every == 1:
                ev = {"camera": cam, "worker": w.id, "frame": n, "objects": f.num_obj_meta,
                      "profile": r.camera.profile, "ts": time.time()}
                w.producer.produce(EVENTS, key=cam.encode(), value=json.dumps(ev).encode())
                w._events_sent += 1
        return Gst.PadProbeReturn.OK

    # -- one camera ------------------------------------------------------------------------
    def start(self, slot: int, cam):
        from estuary.elements.decoder import make_source_bin
        from estuary.gst import Gst
        file_like = "://" not in cam.uri or cam.uri.startswith("file://")
        src = make_source_bin(slot, cam.uri, file_loop=file_like, reconnect_interval=0 if file_like else 5)
        rec = None
        if self.record_dir:
            b, rec = self._with_recorder(slot, cam, src)
        else:
            b = src
        b.set_name(f"source-bin-{slot:02d}-{cam.id}")
        self.pipeline.add(b)
        b.get_static_pad("src").link(self.mux.request_pad_simple(f"sink_{slot}"))
        b.sync_state_with_parent()
        if self.pipeline.get_state(0)[1] != Gst.State.PLAYING:
            self.pipeline.set_state(Gst.State.PLAYING)
        return (b, rec)

    def _with_recorder(self, slot, cam, src):
        """source → tee → queue → (to the muxer) and tee → queue → x264enc → mp4mux → file."""
        from estuary.elements.sinks import recording_elements
        from estuary.gst import Gst
        src.set_name(f"camera-src-{slot:02d}")  # the outer bin is the one named source-bin-NN
        b = Gst.Bin.new(None)
        path = os.path.join(self.record_dir, f"{cam.id}-{self.w.id}-{int(time.time() * 1000)}.mp4")
        els = {n: Gst.ElementFactory.make(f, None) for n, f in (
            ("caps", "capsfilter"), ("tee", "tee"), ("q_mux", "queue"), ("q_rec", "queue"), ("conv", "nvvideoconvert"), ("sys", "capsfilter"),
            ("enc", "x264enc"), ("parse", "h264parse"))}
        # (an MP4 that plays up to its last second when the worker process is killed: OOM, a crash)
        els["mp4"], els["file"] = recording_elements()
        # both branches share the tee's caps: the muxer's NVMM RGBA; the recorder converts to I420
        els["caps"].set_property("caps", Gst.Caps.from_string("video/x-raw(memory:NVMM),format=RGBA"))
        els["sys"].set_property("caps", Gst.Caps.from_string("video/x-raw,format=I420"))
        els["enc"].set_property("speed-preset", "ultrafast")
        els["enc"].set_property("tune", "zerolatency")
        els["q_rec"].set_property("max-size-buffers", 60)
        els["file"].set_property("location", path)
        els["file"].set_property("async", False)
        b.add(src)
        for e in els.values():
            b.add(e)
        src.get_static_pad("src").link(els["caps"].get_static_pad("sink"))
        els["caps"].link(els["tee"])
        els["tee"].link(els["q_mux"])
        tee_rec = els["tee"].request_pad_simple("src_%u")
        tee_rec.link(els["q_rec"].get_static_pad("sink"))
        for a, c in (("q_rec", "conv"), ("conv", "sys"), ("sys", "enc"), ("enc", "parse"), ("parse", "mp4"), ("mp4", "file")):
            els[a].link(els[c])
        b.add_pad(Gst.GhostPad.new("src", els["q_mux"].get_static_pad("src")))
        done = threading.Event()

        def on_eos(pad, info):
            if info.get_event().type == Gst.EventType.EOS:
                done.set()
            return Gst.PadProbeReturn.OK

        els["file"].get_static_pad("sink").add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, on_eos)
        return b, {"tee": els["tee"], "pad": tee_rec, "queue": els["q_rec"], "done": done, "path": path}

    def _close_recording(self, rec) -> None:
        """Detach the recording branch from the tee and push EOS through it so mp4mux writes its
        index: the file is playable. Does not wait (see :meth:`_wait_closed`)."""
        from estuary.gst import Gst
        tee, pad, q = rec["tee"], rec["pad"], rec["queue"]
        peer = pad.get_peer()
        if peer is not None:
            pad.unlink(peer)
        tee.release_request_pad(pad)
        q.get_static_pad("sink").send_event(Gst.Event.new_eos())

    def _wait_closed(self, rec) -> None:
        if not rec["done"].wait(self.eos_timeout):
            log.warning("worker %s: recording %s not closed within %.0f s", self.w.id, rec["path"],
                        self.eos_timeout)
        else:
            log.info("worker %s: recording %s closed", self.w.id, rec["path"])

    def stop(self, handle) -> None:
        from estuary.runner import drop_source
        b, rec = handle
        if rec is not None:
            self._close_recording(rec)
            self._wait_closed(rec)
        drop_source(self.pipeline, b)

    def tick(self, running: dict) -> list[str]:
        """Handle bus messages; returns the ids of cameras whose source failed."""
        from estuary.gst import Gst
        from estuary.runner import source_bin_of
        failed = []
        bus = self.pipeline.get_bus()
        while True:
            m = bus.pop()
            if m is None:
                return failed
            if m.type != Gst.MessageType.ERROR:
                continue
            err, _ = m.parse_error()
            el = source_bin_of(m.src)
            cam_id = el.get_name().split("-", 3)[3] if el is not None else None
            log.error("worker %s: %s: %s", self.w.id, cam_id or m.src.get_name(), redact(err.message))
            if cam_id and cam_id in running:
                failed.append(cam_id)  # reported in status as missing; `estuary fleet add` again to retry

    def shutdown(self) -> None:
        """EOS into every recording (all at once, then wait), then stop the pipeline."""
        from estuary.gst import Gst
        recs = [r.handle[1] for r in self.w._running.values() if r.handle[1] is not None]
        for rec in recs:
            self._close_recording(rec)
        for rec in recs:
            self._wait_closed(rec)
        self.pipeline.set_state(Gst.State.NULL)
