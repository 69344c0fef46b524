"""``esinfer`` (alias ``nvinfer``): detector / classifier / segmentation inference configured by
an nvinfer config file, over the frames (primary) or objects (secondary) of each batch."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import numpy as np

from estuary.cpus import usable_cpus
from estuary.errors import ConfigError, StreamError
from estuary.gst import Gst, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.gst.flight import upstream_is_live
from estuary.elements.mux import BATCH_CAPS
from estuary.infer.secondary import ObjectFilter, SecondaryCache, object_roi, plan_secondary
from estuary.infer.writer import (DetectionStyle, class_color, clip_to_roi, write_classification,
                                  write_detections, write_frame_classification, write_segmentation,
                                  write_tensor_meta)

__all__ = ["EsInfer", "class_color"]

log = logging.getLogger("estuary.infer")


class EsInfer(ElementBase, ChainElement, Gst.Element):
    """Runs an ONNX model on frames or objects of each batch and writes the results as metadata."""

    __gtype_name__ = "EstuaryInfer"
    FACTORY = "esinfer"
    ALIASES = ("nvinfer",)
    METADATA = ("Estuary inference", "Filter/Analyzer/Video",
                "Runs detectors, classifiers and segmentation networks (nvinfer configs)", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, BATCH_CAPS, None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, BATCH_CAPS, None))
    PROPS = (
        Prop("config-file-path", str, "", "Path of the nvinfer configuration file"),
        Prop("unique-id", int, 15, "gie-unique-id (overrides the file when set)", 0, 2**31 - 1),
        Prop("process-mode", int, 1, "1 primary (frames), 2 secondary (objects)", 1, 2),
        Prop("infer-on-gie-id", int, -1, "Secondary: infer on objects of this gie id", -1, 2**31 - 1),
        Prop("infer-on-class-ids", str, "", "Secondary: class ids, e.g. 0:2:3"),
        Prop("filter-out-class-ids", str, "", "Drop these classes, e.g. 1;3"),
        Prop("model-engine-file", str, "", "Accepted; an ONNX path here is used as the model"),
        Prop("batch-size", int, 1, "Frames (primary) or objects (secondary) per inference", 1, 1024),
        Prop("interval", int, 0, "Batches to skip between inferences", 0, 2**31 - 1),
        Prop("gpu-id", int, 0, "GPU to use", 0, 64),
        Prop("output-tensor-meta", bool, False, "Attach raw output tensors as tensor meta"),
        Prop("output-instance-mask", bool, False, "Attach instance masks"),
        Prop("input-tensor-meta", bool, False, "Take tensors from espreprocess"),
        Prop("raw-output-file-write", bool, False, "Write raw outputs to files (accepted)"),
        Prop("infer-workers", int, 0,
             "CPU, primary mode: batches inferred at once, each by its own infer request (OpenVINO "
             "stream) or ONNX Runtime session sharing the cores (0: auto, 2 with 2+ cores, file "
             "sources and interval=0, else 1 - a batch then takes one request on every core "
             "while that keeps up, each worker its own under a backlog; 1: one using every core; "
             "N: N each on its share)", 0, 64),
        Prop("backend", str, "auto",
             "CPU runtime: auto (OpenVINO where installed, else ONNX Runtime; ESTUARY_BACKEND may "
             "name one), openvino, onnxruntime"),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()
        self._set_props: set[str] = set()
        self._engine = None
        self._on_gpu = False  # the engine runs on the GPU (chosen from the first batch's frames)
        self._batches = 0
        self._cache = SecondaryCache()
        self.engine_name = ""
        self._pool = None       # CPU primary mode: an OrderedPool of workers (infer/ordered.py)
        self._engines = None    # queue.Queue of the workers' engines
        self._inflight = None   # GPU primary mode: collections.deque of (buffer, launched batch)
        #: inference time: [batches inferred, seconds] (read by estuary.metrics)
        self.infer_time = [0, 0.0]
        self._time_lock = threading.Lock()
        self._calibration = None  # INT8 from the first frames: the network inputs kept so far

    def property_changed(self, key, value):
        self._set_props.add(key)

    def validate_property(self, prop, value):
        if prop.name == "backend":  # checked when the element starts (an ERROR on the bus)
            value = (value or "auto").strip().lower()
        return value

    @classmethod
    def inspect_notes(cls) -> list[str]:
        """Lines ``estuary inspect`` prints: the CPU backends installed, and which ``auto`` picks."""
        from estuary.infer.backends import cpu_backends
        found = cpu_backends()
        if not found:
            return ["CPU backends: none installed (pip install openvino or onnxruntime)"]
        return ["CPU backends: " + ", ".join(f"{n} {v}" for n, v in found)
                + f" (backend=auto uses {found[0][0]})"]

    # -- start --------------------------------------------------------------------------------
    def do_change_state(self, transition):
        if transition == Gst.StateChange.NULL_TO_READY:
            self._load_config()
        if transition == Gst.StateChange.READY_TO_NULL:
            self._engine = None
            self._cache.clear()
            self._batches = 0
        ret = Gst.Element.do_change_state(self, transition)
        if transition == Gst.StateChange.PAUSED_TO_READY:
            # after the parent deactivated the pads, which waits for the streaming thread to
            # leave the chain: stopped before, a batch entering the chain meanwhile found no
            # engine, started a new pool and left its daemon threads running; one of them inside
            # OpenCV at interpreter exit aborted the process (std::terminate)
            self._stop_pool()
        return ret

    def _load_config(self):
        from estuary.infer.config import load_infer_config
        s = self.settings
        if not s.config_file_path:
            raise ConfigError(f"{self.get_name()}: set config-file-path to an nvinfer config file")
        from estuary.infer.backends import BACKEND_CHOICES
        if s.backend not in BACKEND_CHOICES:
            raise ConfigError(f"{self.get_name()}: backend={s.backend!r} is not one of {', '.join(BACKEND_CHOICES)}",
                              key="backend", hint="auto picks OpenVINO where installed, else ONNX Runtime")
        cfg = load_infer_config(s.config_file_path)
        over = {"unique_id": "gie-unique-id", "process_mode": "process-mode", "batch_size": "batch-size",
                "interval": "interval", "output_tensor_meta": "output-tensor-meta",
                "infer_on_gie_id": "operate-on-gie-id", "gpu_id": "gpu-id"}
        for prop, key in over.items():
            if prop in self._set_props:
                cfg.set(key, getattr(s, prop))
        if "infer_on_class_ids" in self._set_props and s.infer_on_class_ids:
            cfg.set("operate-on-class-ids", [int(v) for v in s.infer_on_class_ids.replace(";", ":").split(":") if v])
        if "filter_out_class_ids" in self._set_props and s.filter_out_class_ids:
            cfg.set("filter-out-class-ids", [int(v) for v in s.filter_out_class_ids.replace(":", ";").split(";") if v])
        self._use_config(cfg)
        self.gst_debug("config %s: model %s, process-mode %d, batch-size %d, gie-unique-id %d",
                       s.config_file_path, cfg.onnx_file, cfg.process_mode, cfg.batch_size, cfg.gie_unique_id)

    def _use_config(self, cfg) -> None:
        self.cfg = cfg
        self._filter = ObjectFilter.from_config(cfg)
        self._cache = SecondaryCache(reinfer_interval=cfg.secondary_reinfer_interval or 0)

    @property
    def _tensor_input(self) -> bool:
        """The input is espreprocess's tensors (attached as meta), not the frames."""
        return bool(self.settings.input_tensor_meta or self.cfg.input_tensor_from_meta)

    def _workers(self, on_gpu: bool) -> int:
        cfg = self.cfg
        if on_gpu or cfg.process_mode != 1 or self._tensor_input:
            return 1
        w = self.settings.infer_workers
        if w > 0:
            return w
        # With interval > 0 only one batch in interval+1 is inferred and the frames after it wait
        # for its result (order is kept), so two requests seldom overlap and a request's latency
        # is the throughput: one request on every core. Measured on 2 cores, 1 stream, OpenVINO
        # INT8, interval=2: 140.6 fps with one request against 88.6 with two (docs/benchmarks.md);
        # at interval=0 two requests are as fast or faster (58.4 against 55.3 fps).
        if cfg.interval:
            return 1
        # A live source offers frames no faster than it makes them: throughput is the source's,
        # and latency is what is left to win. One request on every core halves a frame's
        # inference time against one core per request (paced at the naive loop's rate on 2
        # cores, FP32: p50 36.7 ms against 59.5; INT8: 20.9 against 31.7).
        if upstream_is_live(self.sinkpad):
            return 1
        return 2 if usable_cpus() >= 2 else 1

    def _torch_takes_copies(self) -> bool:
        """Whether system-memory copies of GPU-converted frames go to the GPU: where the torch
        backend would run GPU frames (backends.torch_takes_gpu_frames); a CPU runtime asked for
        keeps them on the CPU, as before."""
        from estuary.infer.backends import torch_takes_gpu_frames
        return torch_takes_gpu_frames(self.settings.backend)

    def _start(self, on_gpu: bool = False):
        from estuary.infer.engine import InferEngine
        cfg = self.cfg
        self._on_gpu = on_gpu
        workers = self._streams = self._workers(on_gpu)
        prefer = self.settings.backend
        if on_gpu and prefer in ("openvino", "onnxruntime") and "backend" in self._set_props:
            raise ConfigError(f"{self.get_name()}: backend={prefer} runs on the CPU, but the frames are "
                              "in GPU memory", hint="use backend=auto (or put the frames in system memory)")
        # frames go through InferEngine.raw unless espreprocess's tensors are the input
        u8 = not self._tensor_input
        if workers == 1:
            self._engine = InferEngine(cfg, gpu_id=cfg.gpu_id if on_gpu else -1, backend=prefer, u8_frames=u8)
        else:
            # several frames in flight, each request on its share of the cores: one straggling
            # thread (the decoder, the tracker) no longer stalls every core of a parallel operator
            import queue
            from estuary.infer.ordered import OrderedPool
            threads = max(1, usable_cpus() // workers)
            # infer-workers=0 (auto): each batch takes one request (OpenVINO) or session (ONNX
            # Runtime) on every core while that keeps up with the batches, each worker its own
            # under a backlog (RequestChooser in infer/backends.py); an explicit N keeps N
            first = InferEngine(cfg, gpu_id=-1, threads=threads, streams=workers, backend=prefer,
                                adaptive=self.settings.infer_workers == 0, u8_frames=u8)
            self._engine = first
            # auto on OpenVINO: one request more than streams, so that a stream finishing its
            # frame finds the next one queued instead of idling while its worker's Python (post-
            # processing, the push downstream, the next pre-processing) waits for the GIL behind
            # the other threads': 2 cores busy 196-198 % against 186-191, INT8 83 -> 86 fps at the
            # same CPU a frame (docs/benchmarks.md, session 9). Not for ONNX Runtime, whose
            # sessions compute on the calling thread (a third would oversubscribe the cores).
            requests = workers + 1 if (self.settings.infer_workers == 0
                                       and first.backend.kind == "openvino") else workers
            self._engines = queue.Queue(maxsize=requests)  # maxsize: the batches in flight
            for e in [first] + [first.fork() for _ in range(requests - 1)]:
                self._engines.put(e)
            self._push_ret = Gst.FlowReturn.OK
            self._pool = OrderedPool(self._work, self._deliver, workers=requests, limit=requests,
                                     name=f"{self.get_name()}-worker",
                                     on_error=lambda exc: self._fail(exc, "push"))
        if on_gpu:
            self._warm_up()
        # how detections look, for this config and engine: its per-class looks are made once
        self._det_style = DetectionStyle(cfg.gie_unique_id, self._engine.label, cfg.attrs_for,
                                         float(cfg.segmentation_threshold or 0.5))
        self._calibration = None
        if self._engine.int8_pending:
            from estuary.infer.int8 import CALIB_FRAMES, CALIB_STRIDE
            if cfg.process_mode == 1 and not self._tensor_input:
                self._calibration = []
                self._warn(f"network-mode=1 (INT8) without calibration images: calibrating on {CALIB_FRAMES} "
                           f"of the first frames (one every {CALIB_STRIDE}), inferred in FP32 meanwhile; set "
                           "int8-calib-file to a folder or list of typical images for a model you can trust")
            else:
                self._warn("network-mode=1 (INT8) needs int8-calib-file (a folder or list of images) here: "
                           "running FP32")
        self._announce()

    def _warm_up(self) -> None:
        """The network's first run at each batch shape it will see, now (the element is starting,
        nothing waits yet): the primary's batch, a classifier's padded object counts (1, 2, 4 …
        64). A new shape's first run costs cuDNN's kernel choice for every layer: on an H200 the
        first second of four pipeline processes with two classifiers was followed by ~3 s
        without a frame."""
        from estuary.infer.engine import OBJECT_CHUNK_CAP, object_buckets
        warm = getattr(self._engine.backend, "warm_up", None)
        if warm is None:
            return
        if self.cfg.process_mode != 1 and self._pads_objects():
            sizes = object_buckets(OBJECT_CHUNK_CAP)  # InferEngine.raw_objects' padded shapes
        else:
            sizes = [max(1, self.cfg.batch_size)]
        t0 = time.perf_counter()
        done = warm(sizes)
        if done:
            log.debug("%s: warmed up batch sizes %s in %.2f s", self.get_name(), done, time.perf_counter() - t0)

    def _warn(self, text: str) -> None:
        """A WARNING on the bus (and in the Python log): the pipeline goes on."""
        log.warning("%s: %s", self.get_name(), text)
        self.post_warning(text)

    def _announce(self):
        """Post (and log) which runtime, precision and model file run, and why when not the default."""
        eng, cfg = self._engine, self.cfg
        b = eng.backend
        self.engine_name = b.name
        fields = {"backend": b.name, "runtime": b.kind, "precision": b.precision,
                  "model": cfg.onnx_file, "model-run": eng.model_path,
                  "workers": self._streams, "requests": self._engines.maxsize if self._engines is not None else 1}
        if b.fallback:
            fields["fallback"] = b.fallback
        log.info("%s: %s, %s, running %s%s", self.get_name(), b.name, b.precision, eng.model_path,
                 f" (not openvino: {b.fallback})" if b.fallback else "")
        self.post_element_message("esinfer-started", **fields)

    def _collect_calibration(self, batch):
        """network-mode=1 without calibration images: keep network inputs of the first frames;
        with enough, quantize (once, cached) and switch every worker to the INT8 model."""
        from estuary.infer.int8 import CALIB_FRAMES, CALIB_STRIDE
        from estuary.infer.preprocess import prepare
        eng = self._engine
        for f in batch.frames:
            if f.frame_num % CALIB_STRIDE == 0 and len(self._calibration) < CALIB_FRAMES:
                x, _ = prepare(self._frames_rgba(batch, [f]), eng.net)
                self._calibration.append(x)
        if len(self._calibration) < CALIB_FRAMES:
            return
        calib, self._calibration = self._calibration, None
        if self._pool is None:
            eng.use_int8(calib)
        else:  # take every engine back (waits for the batches in flight), then hand out INT8 ones
            n = self._engines.maxsize
            for _ in range(n):
                self._engines.get()
            eng.use_int8(calib)
            for e in [eng] + [eng.fork() for _ in range(n - 1)]:
                self._engines.put(e)
        self._announce()

    # -- processing ---------------------------------------------------------------------------
    def process(self, buf):
        batch = batchmeta.get(buf)
        if batch is None or batch.surface is None:
            raise StreamError(f"{self.get_name()} needs batched buffers from nvstreammux/esmux upstream")
        if self._engine is None:
            if not hasattr(self, "cfg"):
                self._load_config()
            # on the GPU for CUDA frames, and for system-memory copies of frames the muxer
            # converted on the GPU (an app that reads frames on the CPU, as imagedata-multistream,
            # sets nvbuf-memory-type unified: DeepStream infers on the GPU all the same)
            frames = batch.surface.frames
            self._start(on_gpu=bool(frames) and (frames[0].device == "cuda" or
                                                  (batch.surface.cuda_copies and self._torch_takes_copies())))
        cfg = self.cfg
        if self._calibration is not None and cfg.process_mode == 1:
            self._collect_calibration(batch)
        skip = cfg.interval and (self._batches % (cfg.interval + 1)) != 0
        self._batches += 1
        if self._pool is not None:
            return self._submit(buf, None if skip else batch)
        if self._gpu_pipelined(batch):
            return self._submit_gpu(buf, None if skip else batch)
        t0 = time.perf_counter()
        if self._tensor_input:
            if not skip:
                self._from_tensor_meta(batch)
        elif cfg.process_mode == 2:
            self._secondary(batch)
        elif not skip:
            self._primary(batch)
        if not skip:
            self._timed(batch, time.perf_counter() - t0)
        return [buf]

    def _timed(self, batch, seconds: float) -> None:
        with self._time_lock:
            self.infer_time[0] += 1
            self.infer_time[1] += seconds
        if self.gst_enabled(Gst.DebugLevel.LOG):
            self.gst_log("batch of %d frames: %d objects, inference %.2f ms", len(batch.frames),
                         sum(f.num_obj_meta for f in batch.frames), seconds * 1e3)

    # -- several batches in flight (CPU, primary) -----------------------------------------------
    def _submit(self, buf, batch):
        """Queue ``batch`` for a worker (blocking while every request is taken; None: an
        interval-skipped batch, passed on in its turn). Batches are pushed in order as soon as
        they are done, by the worker that finishes them (not when the next batch comes: with
        frames in flight bounded upstream, none may come until they are out, and a live stream
        would hold each result one frame longer). A worker's exception is raised here, in the
        streaming thread."""
        pool = self._pool
        if pool.failed:
            return Gst.FlowReturn.ERROR
        pool.submit(buf, batch, work=batch is not None)
        ret = self._push_ret
        return [] if ret == Gst.FlowReturn.OK else ret

    def _deliver(self, buf) -> None:
        """Push a done batch downstream (the pool calls it in order, one at a time)."""
        ret = batchmeta.push_held(self.srcpad.push, buf)
        if ret != Gst.FlowReturn.OK and self._push_ret == Gst.FlowReturn.OK:
            self._push_ret = ret

    # -- one batch in flight on the GPU (primary) -------------------------------------------
    def _gpu_pipelined(self, batch) -> bool:
        """Primary inference of CUDA frames: batch k+1 is launched on the GPU before batch k's
        outputs are parsed and pushed, so the GPU works while this thread and the elements
        downstream handle batch k (ESTUARY_INFER_SYNC=1 turns it off, a benchmark baseline)."""
        cfg = self.cfg
        if cfg.process_mode != 1 or self._tensor_input:
            return False
        frames = batch.surface.frames
        if not frames or frames[0].device != "cuda" or self._calibration is not None:
            return False
        import os
        return os.environ.get("ESTUARY_INFER_SYNC") != "1"

    def _submit_gpu(self, buf, batch):
        """Launch ``batch`` (None: an interval-skipped batch, passed on in order) and return the
        buffers of the batches launched before it, their metadata attached."""
        import collections
        import os
        if self._inflight is None:
            self._inflight = collections.deque()
            # the primary network as a CUDA graph for the batch shape (ESTUARY_CUDA_GRAPHS=0: eager)
            enable = getattr(self._engine.backend, "enable_cuda_graphs", None)
            if enable is not None and os.environ.get("ESTUARY_CUDA_GRAPHS") != "0":
                enable()
        t0 = time.perf_counter()
        launched = self._primary_launch(batch) if batch is not None else None
        self._inflight.append((buf, _GpuBatch(self, batch, launched, time.perf_counter() - t0)))
        out = []
        while len(self._inflight) > 1:
            b, job = self._inflight.popleft()
            job.result()
            out.append(b)
        return out

    def _work(self, batch):
        eng = self._engines.get()
        try:
            t0 = time.perf_counter()
            self._primary(batch, eng)
            self._timed(batch, time.perf_counter() - t0)
        finally:
            self._engines.put(eng)

    def _drain(self) -> Gst.FlowReturn:
        """Push every buffer still in flight (before a serialized event, at EOS)."""
        if self._pool is None:  # the GPU path: launched batches, finished and pushed here in order
            ret = Gst.FlowReturn.OK
            while self._inflight:
                b, job = self._inflight.popleft()
                job.result()
                if ret == Gst.FlowReturn.OK:
                    ret = batchmeta.push_held(self.srcpad.push, b)
            return ret
        self._pool.drain()
        return self._push_ret

    def handle_sink_event(self, event) -> bool:
        if self._pool is None and self._inflight and event.type == Gst.EventType.FLUSH_STOP:
            for _b, job in self._inflight:  # the GPU path: finish what was launched, push nothing
                job.result()
            self._inflight.clear()
        elif self._pool is not None and event.type == Gst.EventType.FLUSH_STOP:
            self._pool.discard()
            self._push_ret = Gst.FlowReturn.OK
        elif ((self._inflight or self._pool is not None)
              and Gst.event_type_get_flags(event.type) & Gst.EventTypeFlags.SERIALIZED):
            self._drain()
        return self.sinkpad.event_default(self, event)

    def _stop_pool(self):
        if self._pool is not None:
            self._pool.close()
            self._engine = None  # made again, with its workers, on the next start
        self._pool = self._engines = self._inflight = None

    def _from_tensor_meta(self, batch):
        """Run on the tensors espreprocess attached (ROIs), mapping detections back to frames."""
        from estuary.elements.preprocess import PREPROCESS_META_DESCRIPTOR
        from estuary.meta.enums import user_meta_type
        mtype = user_meta_type(PREPROCESS_META_DESCRIPTOR)
        eng, cfg = self._engine, self.cfg
        for um in batch.user_meta:
            if um.meta_type != mtype or cfg.gie_unique_id not in um.user_meta_data.target_unique_ids:
                continue
            pm = um.user_meta_data
            outputs = eng.backend.run(pm.tensor)
            if eng.network_type != 0:
                continue
            for i, (frame, roi, tr) in enumerate(pm.rois):
                per = {k: v[i: i + 1] for k, v in outputs.items()}
                img_shape = (int(frame.pipeline_height or frame.source_frame_height),
                             int(frame.pipeline_width or frame.source_frame_width), 4)
                shape_only = np.broadcast_to(np.uint8(0), img_shape)  # detect() needs the frame size only
                dets = eng.detect([shape_only], per, [tr])[0]
                clip_to_roi(dets.boxes, roi)  # detections are kept inside their ROI
                self._attach_detections(batch, frame, dets)
                frame.bInferDone = True

    def _frames_rgba(self, batch, frames, mapped=None):
        """The frames' pixels: CUDA tensors, copies of system-memory frames, or with ``mapped``
        (a contextlib.ExitStack) read-only views kept mapped until it closes."""
        imgs = []
        for f in frames:
            surf = batch.surface.frame(f.batch_id)
            if surf.device == "cuda":
                # stays on the GPU; downloaded for an engine on the CPU (it started on a batch of
                # system-memory frames: a live camera's, before the NVDEC ones had a frame)
                imgs.append(surf.tensor if self._on_gpu else surf.copy())
                continue
            if self._on_gpu:  # a system-memory frame for the engine on the GPU: uploaded
                import torch
                imgs.append(torch.from_numpy(surf.copy()).to(f"cuda:{max(self.cfg.gpu_id, 0)}"))
                continue
            if mapped is not None:
                imgs.append(mapped.enter_context(surf.pixels(write=False)))
                continue
            with surf.pixels(write=False) as px:
                imgs.append(np.array(px))
        return imgs

    def _primary(self, batch, eng=None):
        eng = eng or self._engine
        frames = list(batch.frames)
        for start in range(0, len(frames), max(self.cfg.batch_size, 1)):
            chunk = frames[start: start + self.cfg.batch_size]
            with contextlib.ExitStack() as mapped:
                # system-memory frames are read in place, mapped until their results are written
                # (a copy of each frame cost 0.16 ms at 640x272; nothing else writes them meanwhile:
                # the batch goes downstream after this)
                imgs = self._frames_rgba(batch, chunk, mapped)
                outputs, transforms = eng.raw(imgs)
                self._primary_results(batch, eng, chunk, imgs, outputs, transforms)

    def _primary_launch(self, batch):
        """GPU frames: launch every chunk's inference, waiting for nothing; returns what
        :meth:`_primary_finish` needs (see _submit_gpu)."""
        eng, cfg = self._engine, self.cfg
        frames = list(batch.frames)
        launched = []
        for start in range(0, len(frames), max(cfg.batch_size, 1)):
            chunk = frames[start: start + cfg.batch_size]
            imgs = self._frames_rgba(batch, chunk)
            launched.append((chunk, imgs) + eng.raw_async(imgs))
        return launched

    def _primary_finish(self, batch, launched):
        for chunk, imgs, pending, transforms in launched:
            self._primary_results(batch, self._engine, chunk, imgs, pending.result(), transforms)

    def _primary_results(self, batch, eng, chunk, imgs, outputs, transforms):
        cfg = self.cfg
        if eng.network_type == 0:
            dets = eng.detect(imgs, outputs, transforms)
            for f, d in zip(chunk, dets):
                self._attach_detections(batch, f, d)
        elif eng.network_type == 1:
            for f, c in zip(chunk, eng.classify(imgs, outputs=outputs)):
                if c is not None:
                    self._frame_classification(batch, f, c)
        elif eng.network_type == 2:
            for i, f in enumerate(chunk):
                self._attach_segmentation(batch, f, {k: v[i] for k, v in outputs.items()})
        for i, f in enumerate(chunk):
            f.bInferDone = True
            if cfg.output_tensor_meta or eng.network_type == 100:
                self._attach_tensor_meta(batch, {k: v[i] for k, v in outputs.items()}, f.add_user_meta)

    def _attach_detections(self, batch, frame, det):
        write_detections(batch, frame, det, self._det_style)

    def _frame_classification(self, batch, frame, c):
        write_frame_classification(batch, frame, c, self.cfg.gie_unique_id, len(self._engine.labels))

    def _attach_segmentation(self, batch, frame, out):
        write_segmentation(batch, frame, out, self.cfg.segmentation_threshold)

    def _attach_tensor_meta(self, batch, outs, add):
        net = self._engine.net
        write_tensor_meta(batch, outs, add, self.cfg.gie_unique_id, (net.width, net.height, net.channels),
                          self.cfg.gpu_id)

    # -- secondary ----------------------------------------------------------------------------
    def _secondary(self, batch):
        eng, cfg = self._engine, self.cfg
        # frames stored as arrays are planned and written as rows (no object structs made) unless
        # tensor meta is attached to each object, which needs the structs
        import os
        rows = None if cfg.output_tensor_meta or os.environ.get("ESTUARY_TABLE_CLASSIFY") == "0" else self._filter
        todo, reuse = plan_secondary(batch.frames, self._filter.accepts, self._cache, rows)
        for o, c in reuse:
            self._attach_classification(batch, o, c)
        if not todo:
            return
        by_frame: dict[int, np.ndarray] = {}
        step = max(cfg.batch_size, 1)
        on_gpu = self._objects_on_gpu(batch)
        if on_gpu:  # every object of the batch in one call: few launches, one wait
            step = len(todo)
        for start in range(0, len(todo), step):
            chunk = todo[start: start + step]
            imgs, rois = [], []
            for f, o in chunk:
                if f.batch_id not in by_frame:
                    by_frame[f.batch_id] = self._frames_rgba(batch, [f])[0]
                imgs.append(by_frame[f.batch_id])
                rois.append(object_roi(o))
            if on_gpu:
                with self._object_stream(batch, chunk):
                    from estuary.infer.engine import OBJECT_CHUNK_CAP
                    outputs, _ = eng.raw_objects(imgs, rois, cap=OBJECT_CHUNK_CAP)
            else:
                outputs, _ = eng.raw(imgs, rois)
            if cfg.output_tensor_meta and isinstance(next(iter(outputs.values())), np.ndarray):
                for i, (f, o) in enumerate(chunk):
                    self._attach_tensor_meta(batch, {k: v[i] for k, v in outputs.items()}, o.user_meta.append)
            results = eng.classify(imgs, rois, outputs=outputs) if eng.network_type == 1 else [None] * len(chunk)
            for (f, o), c in zip(chunk, results):
                self._cache.store(f.source_id, o.object_id, f.frame_num, c)
                if c is not None:
                    self._attach_classification(batch, o, c)
        self._cache.trim()

    def _objects_on_gpu(self, batch) -> bool:
        """Whether this batch's objects are classified on the GPU all at once
        (:meth:`InferEngine.raw_objects`): CUDA frames and a backend with CUDA graphs, whose
        padded batch shapes are then replayed (ESTUARY_BATCH_OBJECTS=0: chunks of batch-size,
        each waited for, as before)."""
        import os
        frames = batch.surface.frames if batch.surface is not None else None
        if not frames or any(f.device != "cuda" for f in frames) or not self._pads_objects():
            return False
        backend = self._engine.backend
        enable = getattr(backend, "enable_cuda_graphs", None)
        if enable is None:
            return False
        if not getattr(self, "_object_graphs", False):
            self._object_graphs = True
            if os.environ.get("ESTUARY_CUDA_GRAPHS") != "0":
                # the padded shapes: 1, 2, 4 ... 64 rows, one graph each
                backend.GRAPH_MAX = 10
                enable()
        return True

    def _pads_objects(self) -> bool:
        """Whether the config lets objects on GPU frames run all at once, padded
        (:meth:`_objects_on_gpu`; its shapes are what :meth:`_warm_up` runs). Not with
        ``batch-size`` 1: it may be what the model needs (a batch-1 constant inside a graph
        whose input says otherwise), so object by object, as configured; nor with
        ESTUARY_BATCH_OBJECTS=0 (chunks of batch-size, each waited for, as before)."""
        import os
        return self.cfg.batch_size > 1 and os.environ.get("ESTUARY_BATCH_OBJECTS") != "0"

    def _object_stream(self, batch, chunk):
        """A CUDA stream of this element's own for its objects' work, waiting only for the
        frames it reads (their ``ready`` events from the muxer) — not for what the primary has
        queued since on the default stream (its next batch, launched before this one's results
        came down): on the default stream this wait was most of a classifier's time.
        ESTUARY_OBJECT_STREAM=0: the current stream."""
        import os
        import torch
        surfaces = {f.batch_id: batch.surface.frame(f.batch_id) for f, _ in chunk}
        dev = next(iter(surfaces.values())).tensor.device
        if os.environ.get("ESTUARY_OBJECT_STREAM") == "0":
            return torch.cuda.stream(torch.cuda.current_stream(dev))
        side = getattr(self, "_side_stream", None)
        if side is None or side.device != dev:
            # high priority: the GPU schedules its blocks ahead of the primary's next batch
            # (queued on the default stream), which this thread does not wait for
            side = self._side_stream = torch.cuda.Stream(dev, priority=-1)
        if all(s.ready is not None for s in surfaces.values()):
            for ev in {id(s.ready): s.ready for s in surfaces.values()}.values():  # one a batch, usually
                side.wait_event(ev)
        else:  # a frame of unknown state: everything queued so far
            side.wait_stream(torch.cuda.current_stream(dev))
        return torch.cuda.stream(side)

    def _attach_classification(self, batch, o, c):
        write_classification(batch, o, c, self.cfg.gie_unique_id, len(self._engine.labels),
                             self.cfg.classifier_type)


class _GpuBatch:
    """A launched GPU batch in ``EsInfer._inflight``: ``result()`` waits for its outputs,
    attaches its metadata (once) and accounts its inference time (launch + finish)."""

    __slots__ = ("element", "batch", "launched", "seconds", "finished")

    def __init__(self, element, batch, launched, seconds: float):
        self.element, self.batch, self.launched, self.seconds = element, batch, launched, seconds
        self.finished = batch is None

    def result(self) -> None:
        if self.finished:
            return
        self.finished = True
        t0 = time.perf_counter()
        self.element._primary_finish(self.batch, self.launched)
        self.element._timed(self.batch, self.seconds + time.perf_counter() - t0)
        self.launched = None


class EsInferServer(EsInfer):
    """``nvinferserver``: the same inference configured by an nvinferserver (Triton-style)
    protobuf-text config, running the repository's ONNX model in-process."""

    __gtype_name__ = "EstuaryInferServer"
    FACTORY = "esinferserver"
    ALIASES = ("nvinferserver",)
    METADATA = ("Estuary inference (Triton-style config)", "Filter/Analyzer/Video",
                "Runs a model from a Triton-style repository, configured like nvinferserver", "Estuary")

    def _load_config(self):
        from estuary.infer.pbtxt import inferserver_to_config
        s = self.settings
        if not s.config_file_path:
            raise ConfigError(f"{self.get_name()}: set config-file-path to an nvinferserver config file")
        cfg = inferserver_to_config(s.config_file_path)
        if "batch_size" in self._set_props:
            cfg.set("batch-size", s.batch_size)
        if "unique_id" in self._set_props:
            cfg.set("gie-unique-id", s.unique_id)
        self._use_config(cfg)
