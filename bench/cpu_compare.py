"""Estuary on the CPU against what users would pick instead (issue #12), same clip, same model,
same machine, in one run:

* ``decode``   — the decode ceiling: N × (filesrc ! qtdemux ! h264parse ! avdec_h264 ! fakesink);
* ``model``    — the model ceilings: each runtime and precision (``--variants``: ONNX Runtime and
  OpenVINO, FP32 and INT8) alone on a prepared 416×416 input, at batch 1 and at each stream
  count's batch (nvinfer runs N streams' frames as batches of N);
* ``naive``    — the loop people write: OpenCV ``VideoCapture`` → ``blobFromImage`` → ONNX Runtime →
  numpy decode + OpenCV NMS → ByteTrack from the ``trackers`` package → OpenCV drawing, the N
  streams taken in turn;
* ``roboflow`` — Roboflow's ``InferencePipeline`` (the ``streamvision`` package, where it lives now)
  with the same ONNX model through its custom-logic hook, the same tracker and drawing; it runs
  in ``.venv-peers`` (``make bench-peers`` installs it) and is reported as not installed otherwise;
* ``estuary``  — a deepstream-test2-style pipeline: N sources → nvstreammux → nvinfer → nvtracker →
  nvdsosd → fakesink (the same work as the loop: detector, tracker, drawing), timed from its first
  batch out (nvinfer loads the model on the first batch; the loops load it before timing), once per variant
  (nvinfer ``backend`` and ``network-mode``); INT8 runs report how their boxes agree with the
  FP32 run of the same backend (recall/precision at IoU 0.5). The INT8 model is built before the
  timed runs (calibrated on 16 frames of the clip) and cached beside the model;

for 1, 2, 4 and 8 streams of ``bikes.mp4`` (640×272 H.264, 250 frames). ``--interval 0,2`` runs
each estuary variant at each nvinfer interval (with the tracker's predictions on skipped frames:
the issue's "interval=2 + tracker" row beside the interval=0 one and the naive loop).

Latency at the same throughput (``--pace``): a file is decoded far faster than it is inferred, so
unpaced runs compare latencies at different throughputs (each runner as fast as it can). With
``--pace F`` (frames per second per stream) every source offers its frames like a live camera, one
every 1/F s: the loop reads frame k of each stream no earlier than k/F after the start, Estuary's
decoder output waits (in its streaming thread) until then; latency is measured from that due time
to the drawn result, so a runner that falls behind accumulates it. ``--pace naive`` is 0.8× the
unpaced naive loop's per-stream fps measured earlier in the same run (headroom for the loop to keep
up: at that rate both run at the same throughput), ``0`` unpaced; a list runs each.
Each run is its own
process (clean peak RSS). It prints fps, latency from decoded frame to drawn frame (p50/p99), CPU
(% of one core) and peak RSS, with ratios to the naive loop and to the slower of the two ceilings.

    .venv/bin/python bench/cpu_compare.py                  # or: estuary bench, make bench
    .venv/bin/python bench/cpu_compare.py --streams 1,2 --modes naive,estuary

It is benchmark code with peers (supervision, trackers, streamvision), so it lives in the
repository's bench/, not in the installed package; ``estuary bench`` runs this file from a source
checkout. The roboflow run executes it with ``.venv-peers/bin/python``, so nothing at its top
level imports Estuary.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

PEERS_PYTHON = os.environ.get("ESTUARY_PEERS_PYTHON") or os.path.join(os.getcwd(), ".venv-peers", "bin", "python")
INPUT = 416
CONF, NMS = 0.4, 0.45
MODES = ("decode", "model", "naive", "roboflow", "estuary")


# -- shared by the loop-style runners (no Estuary imports: the roboflow run uses another venv) --
def detect(sess, bgr):
    """Letterbox-free resize to 416×416 → ONNX Runtime → boxes (x1, y1, x2, y2), scores, classes."""
    import cv2
    import numpy as np
    H, W = bgr.shape[:2]
    blob = cv2.dnn.blobFromImage(bgr, 1 / 255.0, (INPUT, INPUT), swapRB=True, crop=False)
    out = sess.run(None, {"images": blob})[0][0]
    sc = out[:, 5:] * out[:, 4:5]
    cls, best = sc.argmax(1), sc.max(1)
    keep = best >= CONF
    b, best, cls = out[keep, :4], best[keep], cls[keep]
    sx, sy = W / INPUT, H / INPUT
    xywh = np.stack([(b[:, 0] - b[:, 2] / 2) * sx, (b[:, 1] - b[:, 3] / 2) * sy, b[:, 2] * sx, b[:, 3] * sy], 1)
    idx = cv2.dnn.NMSBoxesBatched(xywh.tolist(), best.tolist(), cls.tolist(), CONF, NMS)
    idx = np.asarray(idx, dtype=int).reshape(-1)
    xyxy = xywh[idx].copy()
    xyxy[:, 2:] += xyxy[:, :2]
    return xyxy.astype(np.float32), best[idx].astype(np.float32), cls[idx].astype(int)


def track_and_draw(tracker, bgr, xyxy, conf, cls):
    import cv2
    import supervision as sv
    tr = tracker.update(sv.Detections(xyxy=xyxy, confidence=conf, class_id=cls))
    n = 0
    for (x1, y1, x2, y2), tid in zip(tr.xyxy.astype(int), tr.tracker_id):
        if tid < 0:
            continue
        n += 1
        cv2.rectangle(bgr, (x1, y1), (x2, y2), (0, 0, 255), 3)
        cv2.putText(bgr, f"id {tid}", (x1, max(10, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    return n


def cpus():
    """The CPUs this process may run on (a ``taskset`` or a container's cpuset): ONNX Runtime's
    default thread pool counts the host's cores instead (see estuary/cpus.py; not imported here:
    the roboflow run has no Estuary)."""
    return len(os.sched_getaffinity(0))


def session(model, threads=0):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads or cpus()
    so.log_severity_level = 3
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


class _Span:
    """Wall and CPU time over the measured interval (set up and tear down excluded)."""

    def start(self):
        self.t0, self.c0 = time.perf_counter(), os.times()

    def stop(self):
        self.wall = time.perf_counter() - self.t0
        c1 = os.times()
        self.cpu = (c1.user - self.c0.user) + (c1.system - self.c0.system)
        return self.wall


SPAN = _Span()
BOXES: dict = {}  # estuary runs: "source:frame" → [[class, left, top, width, height], ...] (detector boxes)


# -- runners: each returns frames, seconds, objects (detections after NMS), latencies (s) ------
def run_model(n, clip, model, variant="ort-fp32", **_):
    """The best of: one request on every core, and one single-threaded request per core run side
    by side (each the best of 3 rounds), through Estuary's thin backend classes (the runtime's own
    session or compiled model and infer requests; no pre- or post-processing). Batches of ``n``:
    the batch nvinfer runs for ``n`` streams (OpenVINO compiles the model for it, as nvinfer's
    backend does), so that an ``n``-stream pipeline is held to the model at its own batch."""
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor
    from estuary.infer.backends import OpenVinoBackend, OrtBackend
    runtime, precision = _variant(variant)
    x = np.random.default_rng(0).random((n, 3, INPUT, INPUT), dtype=np.float32)
    cores = cpus()
    best = None
    for workers, threads in ((1, 0), (cores, 1)):
        if runtime == "openvino":
            first = OpenVinoBackend(model, threads=threads, precision=precision, streams=workers, batch=n)
        else:
            first = OrtBackend(model, threads=threads, precision=precision)
        import queue
        free = queue.Queue()
        for b in [first] + [first.fork() for _ in range(workers - 1)]:
            b.run(x)
            free.put(b)

        def infer(_):
            b = free.get()  # a request runs one inference at a time
            try:
                b.run(x)
            finally:
                free.put(b)

        k = max(2, 20 // n) * workers  # inferences (of n frames each)
        with ThreadPoolExecutor(workers) as pool:
            for _ in range(3):
                SPAN.start()
                list(pool.map(infer, range(k)))
                dt = SPAN.stop()
                if best is None or k * n / dt > best[0] / best[1]:
                    best = (k * n, dt, SPAN.cpu)
    SPAN.wall, SPAN.cpu = best[1], best[2]
    return best[0], best[1], 0, []


def _variant(v):
    """'ov-int8' → ('openvino', 'int8')."""
    rt, prec = v.split("-")
    return {"ov": "openvino", "ort": "onnxruntime"}[rt], prec


def run_naive(n, clip, model, pace=0.0, **_):
    import cv2
    from trackers import ByteTrackTracker
    sess = session(model)
    caps = [cv2.VideoCapture(clip) for _ in range(n)]
    trackers = [ByteTrackTracker() for _ in range(n)]
    live = list(range(n))
    frames = objects = 0
    lat = []
    read = [0] * n
    SPAN.start()
    while live:
        for i in list(live):
            due = SPAN.t0 + read[i] / pace if pace else 0.0
            if pace:  # a live-like source: frame k of each stream exists from k / pace on
                time.sleep(max(0.0, due - time.perf_counter()))
            ok, bgr = caps[i].read()
            if not ok:
                live.remove(i)
                continue
            read[i] += 1
            t = due or time.perf_counter()
            dets = detect(sess, bgr)
            objects += len(dets[0])
            track_and_draw(trackers[i], bgr, *dets)
            lat.append(time.perf_counter() - t)
            frames += 1
    return frames, SPAN.stop(), objects, lat


def run_roboflow(n, clip, model, **_):
    os.environ.setdefault("DISABLE_VERSION_CHECK", "True")
    from streamvision.stream.pipeline import InferencePipeline
    from trackers import ByteTrackTracker
    sess = session(model)
    trackers = {}
    counts = {"frames": 0, "objects": 0}
    lat = []
    handed = {}

    def on_video_frame(frames):
        now = time.perf_counter()
        for f in frames:
            handed[(f.source_id, f.frame_id)] = now
        return [detect(sess, f.image) for f in frames]

    def on_prediction(pred, frame):
        if pred is None or frame is None:
            return
        tracker = trackers.setdefault(frame.source_id, ByteTrackTracker())
        counts["objects"] += len(pred[0])
        track_and_draw(tracker, frame.image, *pred)
        counts["frames"] += 1
        t = handed.pop((frame.source_id, frame.frame_id), None)
        if t is not None:
            lat.append(time.perf_counter() - t)

    pipe = InferencePipeline.init_with_custom_logic(
        video_reference=[clip] * n if n > 1 else clip, on_video_frame=on_video_frame,
        on_prediction=lambda p, f: _each(on_prediction, p, f))
    SPAN.start()
    pipe.start()
    pipe.join()
    return counts["frames"], SPAN.stop(), counts["objects"], lat


def _each(fn, preds, frames):
    """InferencePipeline hands one (prediction, frame) or, with several sources, lists of them."""
    if isinstance(frames, list):
        for p, f in zip(preds, frames):
            fn(p, f)
    else:
        fn(preds, frames)


def run_decode(n, clip, **_):
    from estuary.gst import Gst, ensure_init
    ensure_init()
    desc = " ".join(f"filesrc location={clip} ! qtdemux ! h264parse ! avdec_h264 ! fakesink name=s{i} sync=false"
                    for i in range(n))
    p = Gst.parse_launch(desc)
    count = [0]
    for i in range(n):
        p.get_by_name(f"s{i}").get_static_pad("sink").add_probe(
            Gst.PadProbeType.BUFFER, lambda pad, info: count.__setitem__(0, count[0] + 1) or Gst.PadProbeReturn.OK)
    dt = _play(p)
    return count[0], dt, 0, []


def pgie_config(model, n=1, interval=0, variant="", calib=""):
    """deepstream-test2's primary detector config for ``model``, batch ``n``, and the precision of
    ``variant`` (INT8 calibrated on the images in ``calib``)."""
    from estuary import data
    cfg = data.config_text("dstest2_pgie_config.txt")
    cfg = cfg.replace("onnx-file=../models/yolov3-tiny-ds4.onnx", f"onnx-file={model}")
    cfg = cfg.replace("labelfile-path=../models/", f"labelfile-path={data.data_dir()}/models/")
    cfg = cfg.replace("batch-size=1", f"batch-size={n}").replace("interval=0", f"interval={interval}")
    if variant:
        mode = {"fp32": 0, "int8": 1, "fp16": 2}[_variant(variant)[1]]
        cfg = cfg.replace("network-mode=0", f"network-mode={mode}" + (f"\nint8-calib-file={calib}" if calib else ""))
    return cfg


def run_estuary(n, clip, model, interval=0, workers=0, variant="", calib="", in_flight=-1, pace=0.0, **_):
    import tempfile

    import pyds
    from estuary import data
    from estuary.elements.decoder import make_source_bin
    from estuary.gst import Gst
    samples = os.path.join(data.data_dir(), "samples")
    cfg = pgie_config(model, n, interval, variant, calib)
    backend = _variant(variant)[0] if variant else "auto"
    tmp = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
    tmp.write(cfg)
    tmp.close()
    p = Gst.Pipeline.new("bench")
    mux = Gst.ElementFactory.make("nvstreammux", "mux")
    for k, v in (("batch-size", n), ("width", 640), ("height", 272), ("batched-push-timeout", 40000),
                 ("max-frames-in-flight", in_flight)):
        mux.set_property(k, v)
    pgie = Gst.ElementFactory.make("nvinfer", "pgie")
    pgie.set_property("config-file-path", tmp.name)
    pgie.set_property("infer-workers", workers)
    pgie.set_property("backend", backend)
    tracker = Gst.ElementFactory.make("nvtracker", "tracker")
    tracker.set_property("tracker-width", 640)
    tracker.set_property("tracker-height", 384)
    tracker.set_property("ll-lib-file", "/opt/nvidia/deepstream/deepstream/lib/libnvds_nvdcf.so")
    tracker.set_property("ll-config-file", os.path.join(samples, "tracker_config.yml"))
    osd = Gst.ElementFactory.make("nvdsosd", "osd")
    sink = Gst.ElementFactory.make("fakesink", "sink")
    sink.set_property("sync", False)
    for e in (mux, pgie, tracker, osd, sink):
        p.add(e)
    mux.link(pgie)
    pgie.link(tracker)
    tracker.link(osd)
    osd.link(sink)
    stamps = {}
    lat = []
    counts = [0, 0]
    boxes = BOXES
    boxes.clear()

    start = []  # paced: the time frame 0 of every stream is due (the first decoded frame's arrival)
    seen = [0] * n

    def stamp(i):
        def probe(pad, info):
            now = time.perf_counter()
            if pace:  # a live-like source: frame k exists from k / pace on (this is the decoder's thread)
                if not start:
                    start.append(now)
                due = start[0] + seen[i] / pace
                seen[i] += 1
                time.sleep(max(0.0, due - now))
                now = due
            # keyed by running time, which is what the muxer writes to buf_pts: a clip whose first
            # pts is not 0 (B-frame reordering offsets it) would otherwise match another frame
            pts = info.get_buffer().pts
            ev = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
            if ev is not None:
                pts = ev.parse_segment().to_running_time(Gst.Format.TIME, pts)
            stamps[(i, pts)] = now
            return Gst.PadProbeReturn.OK
        return probe

    for i in range(n):
        b = make_source_bin(i, clip)
        p.add(b)
        b.get_static_pad("src").link(mux.request_pad_simple(f"sink_{i}"))
        b.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, stamp(i))

    first = []  # (time, frames) when the first batch came out: the engine starts on the first batch

    def done(pad, info):
        now = time.perf_counter()
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        if not first:
            first.append((now, len(bm.frames)))
        for f in bm.frames:
            counts[0] += 1
            counts[1] += f.num_obj_meta
            boxes[f"{f.source_id}:{f.frame_num}"] = [
                [o.class_id, round(o.detector_bbox_info.org_bbox_coords.left, 1),
                 round(o.detector_bbox_info.org_bbox_coords.top, 1), round(o.detector_bbox_info.org_bbox_coords.width, 1),
                 round(o.detector_bbox_info.org_bbox_coords.height, 1)] for o in f.objects if o.unique_component_id == 1]
            t = stamps.pop((f.source_id, f.buf_pts), None)
            # paced: frames due while nvinfer loaded the model (on its first batch) are left out,
            # as the loop starts its clock after loading the model
            if t is not None and not (pace and t < first[0][0]):
                lat.append(now - t)
        return Gst.PadProbeReturn.OK

    sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, done)
    dt = _play(p)
    os.unlink(tmp.name)
    # timed from the first batch out to EOS, as the loops' timing excludes loading the model
    # (nvinfer loads or compiles it when the first batch arrives)
    if first and counts[0] > first[0][1]:
        dt = SPAN.t0 + SPAN.wall - first[0][0]
        return counts[0] - first[0][1], dt, counts[1], lat
    return counts[0], dt, counts[1], lat


def _play(p):
    from estuary.gst import Gst
    p.set_state(Gst.State.PAUSED)
    p.get_state(Gst.CLOCK_TIME_NONE)
    SPAN.start()
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(3600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    dt = SPAN.stop()
    p.set_state(Gst.State.NULL)
    if msg is None or msg.type == Gst.MessageType.ERROR:
        raise RuntimeError(msg.parse_error()[0].message if msg else "no EOS")
    return dt


RUNNERS = {"decode": run_decode, "model": run_model, "naive": run_naive, "roboflow": run_roboflow,
           "estuary": run_estuary}


def one(mode, n, clip, model, interval, workers=0, variant="", calib="", in_flight=-1, pace=0.0):
    """Run one configuration in this process and return its figures."""
    BOXES.clear()
    frames, dt, objects, lat = RUNNERS[mode](n, clip=clip, model=model, interval=interval, workers=workers,
                                             variant=variant, calib=calib, in_flight=in_flight, pace=pace)
    cpu = SPAN.cpu
    lat = sorted(lat)

    def pct(q):
        return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1) if lat else None

    return {"mode": mode, "streams": n, "frames": frames, "seconds": round(dt, 2),
            "fps": round(frames / dt, 1), "objects": objects, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
            "cpu_pct": round(100 * cpu / dt), "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "variant": variant, "in_flight": in_flight, "interval": interval, "pace": pace,
            "boxes": dict(BOXES)}


def spawn(mode, n, clip, model, interval, workers=0, variant="", calib="", in_flight=-1, pace=0.0):
    py = sys.executable
    if mode == "roboflow":
        if not os.path.exists(PEERS_PYTHON):
            return {"mode": mode, "streams": n, "error": "not installed (make bench-peers)"}
        py = PEERS_PYTHON
    cmd = [py, os.path.abspath(__file__), "--one", mode, "--n", str(n), "--clip", clip, "--model", model,
           "--interval", str(interval), "--workers", str(workers), "--variant", variant, "--calib", calib,
           f"--in-flight={in_flight}", "--pace", str(pace)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return {"mode": mode, "streams": n, "error": (r.stderr.strip().splitlines() or ["failed"])[-1][:120]}
    return json.loads(r.stdout.strip().splitlines()[-1])


VARIANTS = "ort-fp32,ort-int8,ov-fp32,ov-int8"


def prepare_int8(clip, model, folder, runtimes=("onnxruntime",)):
    """Build (or find cached) the INT8 models of ``model`` for each of ``runtimes`` (the recipe
    depends on what the runtime runs the float layers in: estuary.infer.int8), calibrated on 16
    frames of ``clip`` written to ``folder``; returns ({runtime: INT8 model path}, seconds it
    took). Done before any timed run, as DeepStream users build their engine file once."""
    import cv2
    import numpy as np
    from estuary.infer.config import load_infer_config
    from estuary.infer.engine import InferEngine
    cap = cv2.VideoCapture(clip)
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    for k, i in enumerate(np.linspace(0, len(frames) - 1, 16).astype(int)):
        cv2.imwrite(os.path.join(folder, f"calib{k:02d}.png"), frames[i])
    text = pgie_config(model, variant="ort-int8", calib=folder)  # the same key as the pipeline runs
    t = time.perf_counter()
    paths = {}
    for rt in runtimes:
        eng = InferEngine(load_infer_config(text=text), backend=rt)
        if eng.model_path == model:
            raise RuntimeError("network-mode=1 did not give an INT8 model")
        paths[rt] = eng.model_path
    return paths, time.perf_counter() - t


def box_agreement(ref: dict, got: dict):
    """Recall and precision of ``got``'s boxes against ``ref``'s (same frame and class, IoU ≥ 0.5);
    rows are (class, left, top, width, height)."""
    import numpy as np
    from estuary.boxes import box_agreement as agree

    def split(rows):
        m = np.asarray(rows, float).reshape(-1, 5)
        return np.c_[m[:, 1:3], m[:, 1:3] + m[:, 3:5]], m[:, 0]

    frames = ((*split(ref.get(k, [])), *split(got.get(k, []))) for k in set(ref) | set(got))
    return agree(frames)[:2]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", default="1,2,4,8", help="stream counts, comma-separated")
    ap.add_argument("--modes", default=",".join(MODES), help="runs, comma-separated: " + ", ".join(MODES))
    ap.add_argument("--variants", default=VARIANTS,
                    help="runtimes and precisions of the model ceilings and estuary runs, comma-separated "
                         "(ort/ov - fp32/int8/fp16); default " + VARIANTS)
    ap.add_argument("--interval", default="0",
                    help="nvinfer interval of the estuary runs, comma-separated: each variant runs at each "
                         "(e.g. 0,2: interval=2 with the tracker's predictions on skipped frames)")
    ap.add_argument("--workers", default="0",
                    help="nvinfer infer-workers of the estuary runs, comma-separated: each variant runs at each "
                         "(0: auto, 2 on 2+ cores; 1: one request on every core)")
    ap.add_argument("--in-flight", default="-1",
                    help="nvstreammux max-frames-in-flight of the estuary runs, comma-separated: each variant "
                         "runs at each (-1: the default, unbounded for files; e.g. -1,3)")
    ap.add_argument("--pace", default="0",
                    help="frames per second per stream offered by each source, like a live camera, for the "
                         "naive and estuary runs, comma-separated: 0 unpaced (default), a number, or 'naive' "
                         "(0.8x the unpaced naive loop's per-stream fps of this run; needs 0 first in the list); "
                         "latency is then measured from each frame's due time")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each configuration, best kept (the VM is noisy)")
    ap.add_argument("--json", help="also write the rows to this file")
    ap.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--clip", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="", help=argparse.SUPPRESS)
    ap.add_argument("--calib", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.n, args.clip, args.model, int(args.interval), int(args.workers),
                             args.variant, args.calib, int(args.in_flight), float(args.pace))))
        return 0
    import tempfile
    from estuary import data
    clip, model = data.media_path("bikes.mp4"), data.model_path("yolov3-tiny-ds4.onnx")
    modes = [m for m in args.modes.split(",") if m]
    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v.split("-")[0] not in ("ov", "ort") or v.split("-")[-1] not in ("fp32", "int8", "fp16"):
            ap.error(f"unknown variant {v!r}")
    counts = [int(s) for s in args.streams.split(",") if s]
    bounds = [int(s) for s in args.in_flight.split(",") if s]
    intervals = [int(s) for s in args.interval.split(",") if s]
    worker_counts = [int(s) for s in args.workers.split(",") if s]
    paces = [s for s in args.pace.split(",") if s]
    for s in paces:
        if s != "naive":
            try:
                float(s)
            except ValueError:
                ap.error(f"--pace: {s!r} is neither a number nor 'naive'")
    if "naive" in paces and (paces[0] != "0" or "naive" not in modes):
        ap.error("--pace naive needs the naive mode and an unpaced run first: --pace 0,naive")
    rows = []
    print(f"clip {os.path.basename(clip)} (640x272 H.264, 250 frames), model {os.path.basename(model)}, "
          f"{cpus()} CPUs of {os.cpu_count()}, load average {os.getloadavg()[1]:.1f} (other processes share them)", flush=True)
    calib_dir = tempfile.TemporaryDirectory(prefix="estuary-bench-calib-")
    int8_models = {}
    int8_runtimes = sorted({_variant(v)[0] for v in variants if v.endswith("int8")})
    if int8_runtimes and ("model" in modes or "estuary" in modes):
        int8_models, took = prepare_int8(clip, model, calib_dir.name, int8_runtimes)
        for rt, path in int8_models.items():
            print(f"INT8 model for {rt}: {path}", flush=True)
        print(f"(static QDQ, 16 calibration frames; {took:.1f} s to build or find)", flush=True)
    ceilings = {}  # (variant, batch) → fps
    if "model" in modes:
        for v in variants:
            for b in sorted({1} | set(counts)):
                r = spawn("model", b, clip, int8_models[_variant(v)[0]] if v.endswith("int8") else model, 0,
                          variant=v)
                r["variant"] = v
                rows.append(r)
                ceilings[(v, b)] = r.get("fps")
                print(f"model ceiling: {v:<9} batch {b}: {r.get('fps', r.get('error'))} fps", flush=True)
        print("(each runtime alone at the batch nvinfer runs for that many streams: the better of one request "
              "on every core and one single-threaded request per core side by side; ov = OpenVINO, "
              "ort = ONNX Runtime)", flush=True)
    hdr = (f"{'run':<28} {'streams':>7} {'frames':>6} {'fps':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU %':>6} "
           f"{'RSS MB':>7} {'objects':>8} {'/naive':>7} {'/ceiling':>8} {'agree R/P':>11}")
    print(hdr, flush=True)
    for n in counts:
        found = {}
        for pace_arg in paces:
            if pace_arg == "naive":
                naive_fps = found.get("naive", ({}, {}))[0].get("fps")
                if not naive_fps:
                    print("pace naive: the unpaced naive run gave no fps; skipped", flush=True)
                    continue
                pace = round(0.8 * naive_fps / n, 1)
            else:
                pace = float(pace_arg)
            tag = f" p{pace:g}" if pace else ""
            if pace:
                print(f"-- paced: each source offers {pace:g} frames/s (live-like); latency from each frame's "
                      "due time", flush=True)
            for mode in modes:
                if mode == "model" or (pace and mode not in ("naive", "estuary")):
                    continue
                combos = ([(v, f, k, w) for v in variants for k in intervals for f in bounds for w in worker_counts]
                          if mode == "estuary" else [("", -1, 0, 0)])
                for v, fl, k, w in combos:
                    wtag = f" w{w}" if w else ""
                    name = (f"{mode} {v}".strip() + (f" i{k}" if k else "") + (f" f{fl}" if fl >= 0 else "")
                            + wtag + tag)
                    t = time.perf_counter()
                    runs = [spawn(mode, n, clip, model, k, w, v, calib_dir.name, fl, pace)
                            for _ in range(args.repeat)]
                    ok = [x for x in runs if "error" not in x]
                    r = max(ok, key=lambda x: x["fps"]) if ok else runs[0]
                    r["runs_fps"] = [x.get("fps") for x in runs]
                    boxes = r.pop("boxes", {})
                    rows.append(r)
                    found[name] = (r, boxes)
                    if "error" in r:
                        print(f"{name:<28} {n:>7} {r['error']}", flush=True)
                        continue
                    naive = found.get("naive" + tag, ({}, {}))[0].get("fps")
                    cands = [x for x in (found.get("decode", ({}, {}))[0].get("fps"),
                                         ceilings.get((v or "ort-fp32", n))) if x]
                    ceiling = min(cands) if cands else None
                    ratio_naive = f"{r['fps'] / naive:.2f}" if naive and mode != "decode" else "-"
                    ratio_ceiling = f"{r['fps'] / ceiling:.2f}" if ceiling and mode != "decode" else "-"
                    r["vs_naive"], r["vs_ceiling"] = ratio_naive, ratio_ceiling
                    agree = "-"
                    ref = (found.get(f"estuary {v.split('-')[0]}-fp32" + (f" i{k}" if k else "")
                                     + (f" f{fl}" if fl >= 0 else "") + wtag + tag)
                           if v.endswith("int8") and not k else None)  # (skipped frames: tracker boxes)
                    if ref is not None and "error" not in ref[0]:
                        rec, prec = box_agreement(ref[1], boxes)
                        r["agree_recall"], r["agree_precision"] = round(rec, 3), round(prec, 3)
                        agree = f"{rec:.2f}/{prec:.2f}"
                    print(f"{name:<28} {n:>7} {r['frames']:>6} {r['fps']:>7} {r['p50_ms'] or '-':>7} "
                          f"{r['p99_ms'] or '-':>7} {r['cpu_pct']:>6} {r['rss_mb']:>7} {r['objects']:>8} "
                          f"{ratio_naive:>7} {ratio_ceiling:>8} {agree:>11}   ({time.perf_counter() - t:.0f} s)",
                          flush=True)
    print("/ceiling: against the slower of decoding and the model ceiling of the same runtime and precision "
          "at the same batch (N streams: batch N) "
          "(the naive loop: ort-fp32); /naive: against the naive loop at the same pace; agree: INT8 boxes "
          "against the same backend's FP32 run (recall/precision, IoU 0.5; interval 0 only); iK: nvinfer interval=K with the "
          "tracker's predictions; fN: max-frames-in-flight=N; wN: infer-workers=N; pF: sources paced at F frames/s", flush=True)
    print(f"load average at the end: {os.getloadavg()[1]:.1f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    calib_dir.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
