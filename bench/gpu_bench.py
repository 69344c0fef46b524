"""GPU benchmark: N × 1080p30 H.264 streams → NVDEC → esmux (CUDA) → nvinfer (YOLOv3-tiny, torch
FP16) → nvtracker → fakesink. Reports, in one run: the NVDEC decode-only ceiling, the naive
per-frame Python loop, and the pipeline for growing N, with the largest N that holds 30 fps a
stream. Run on the GPU machine: bash scripts/gpu/run.sh python3 bench/gpu_bench.py
"""

from __future__ import annotations

import argparse
import subprocess
import time

import numpy as np

import pyds  # noqa: F401
from estuary import data
from estuary.gst import Gst


def run(desc, count_probe=None, timeout=600):
    """Play a pipeline (a launch line or a built ``Gst.Pipeline``) to EOS: (frames, seconds)."""
    p = Gst.parse_launch(desc) if isinstance(desc, str) else desc
    frames = [0]
    if count_probe:
        def probe(pad, info):
            bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
            frames[0] += len(bm.frames) if bm else 1
            return Gst.PadProbeReturn.OK
        p.get_by_name(count_probe).get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    p.set_state(Gst.State.PAUSED)
    p.get_state(Gst.CLOCK_TIME_NONE)
    t0 = time.perf_counter()
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(timeout * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    dt = time.perf_counter() - t0
    p.set_state(Gst.State.NULL)
    if msg is None or msg.type == Gst.MessageType.ERROR:
        raise RuntimeError(msg.parse_error()[0].message if msg else "timeout")
    return frames[0], dt


def decode_only(src, n):
    """N parallel decode chains to fakesinks: (frames decoded, seconds); frames are counted,
    since a clip may be shorter than --frames."""
    p = Gst.parse_launch(" ".join(f"{src} ! fakesink name=s{i}" for i in range(n)))
    count = [0]

    def probe(pad, info):
        count[0] += 1
        return Gst.PadProbeReturn.OK

    for i in range(n):
        p.get_by_name(f"s{i}").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    _, dt = run(p)
    return count[0], dt


def element_times(p, names):
    """Per-element time per batch: a probe on each element's sink pad stamps the buffer, one on
    its src pad reads the stamp (a chain element pushes from inside its chain function, so that
    difference is the element's own work). Returns a dict name → list of seconds."""
    import threading
    out = {n: [] for n in names}
    local = threading.local()

    for n in names:
        el = p.get_by_name(n)

        def on_in(pad, info, n=n):
            setattr(local, n, time.perf_counter())
            return Gst.PadProbeReturn.OK

        def on_out(pad, info, n=n):
            t = getattr(local, n, None)
            if t is not None:
                out[n].append(time.perf_counter() - t)
            return Gst.PadProbeReturn.OK

        el.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, on_in)
        el.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, on_out)
    return out


def gpu_util():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
        return out
    except Exception:  # noqa: BLE001
        return "n/a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, nargs="+", default=[1, 4, 8, 16, 24, 32])
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--osd-encode", type=int, nargs="*", default=[], help="also run tiler+OSD for these N")
    ap.add_argument("--classifiers", type=int, nargs="*", default=[],
                    help="also run detector + tracker + two secondary classifiers for these N")
    ap.add_argument("--skip-base", action="store_true", help="only the --classifiers / --osd-encode runs")
    ap.add_argument("--compare-per-frame", action="store_true",
                    help="run detector+tracker also with the muxer's per-frame conversion (baseline)")
    ap.add_argument("--queues", action="store_true",
                    help="a queue after the muxer and after nvinfer (each stage in its own thread)")
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="let cuDNN pick the fastest convolution algorithms (fixed batch shapes)")
    ap.add_argument("--infer-only", type=int, nargs="*", default=[],
                    help="the detector's torch backend alone on a batch of N (GPU time per batch)")
    ap.add_argument("--mux-only", type=int, nargs="*", default=[],
                    help="muxer alone for these N, per-frame torch conversion vs one kernel per batch")
    ap.add_argument("--compare-sync", type=int, nargs="*", default=[],
                    help="detector+tracker for these N also with nvinfer waiting for each batch "
                         "(ESTUARY_INFER_SYNC=1, the path before one batch in flight)")
    ap.add_argument("--compare-eager", type=int, nargs="*", default=[],
                    help="detector+tracker for these N also with the network run eagerly "
                         "(ESTUARY_CUDA_GRAPHS=0) instead of replayed as a CUDA graph")
    ap.add_argument("--compare-frame-detect", type=int, nargs="*", default=[],
                    help="detector+tracker for these N also with detections parsed frame by frame "
                         "(ESTUARY_BATCH_DETECT=0) instead of for the whole batch")
    ap.add_argument("--h265-clip", default="auto",
                    help="a 1080p H.265 mp4: NVDEC ceiling and --h265 runs on it (auto: the data folder's "
                         "bikes_1080p_h265.mp4 when there, made by scripts/gpu/prepare.sh; '' for none)")
    ap.add_argument("--h265", type=int, nargs="*", default=[],
                    help="detector+tracker on the H.265 clip for these N")
    ap.add_argument("--h265-classifiers", type=int, nargs="*", default=[],
                    help="detector+tracker+2 classifiers on the H.265 clip for these N")
    ap.add_argument("--compare-old", type=int, nargs="*", default=[],
                    help="--classifiers N also with the classifiers' objects in chunks of batch-size, each waited for "
                         "on the default stream (ESTUARY_BATCH_OBJECTS=0 ESTUARY_OBJECT_STREAM=0, the path before session 6)")
    ap.add_argument("--compare-tracker", type=int, nargs="*", default=[],
                    help="detector+tracker for these N also with each stream's tracker update on its own")
    ap.add_argument("--skip-naive", action="store_true", help="skip the naive per-frame loop")
    ap.add_argument("--processes", type=int, nargs="*", default=[],
                    help="run --classifiers (and --proc-det) N split over P pipeline processes on the one GPU, "
                         "for each P given (1 = one child process), instead of in this process "
                         "(started together; fps = all frames / the longest run)")
    ap.add_argument("--proc-det", type=int, nargs="*", default=[],
                    help="with --processes: detector+tracker for these N too")
    ap.add_argument("--proc-clip", default="",
                    help="with --processes: this 1080p mp4 instead of the street clip (H.265 if its name has 265)")
    ap.add_argument("--loop", type=int, default=1,
                    help="play K back-to-back copies of each clip (re-muxed once into a temporary file, no "
                         "re-encoding) so that --frames can exceed the clip's 300: long runs whose whole-run "
                         "rate is not dominated by start-up")
    ap.add_argument("--count", action="store_true",
                    help="with --processes: count objects and classifier results at each child's sink "
                         "(a pyds walk per batch: off by default, it costs the measured pipeline)")
    ap.add_argument("--proc-h265", action="store_true",
                    help="with --processes: the same runs on the H.265 clip (--h265-clip) as well")
    ap.add_argument("--summary", action="store_true",
                    help="measure both NVDEC ceilings first and end with the issue's verdict: per codec, the "
                         "largest N holding 30 fps a stream with two classifiers and its share of the ceiling")
    ap.add_argument("--spy", nargs=2, metavar=("PY_SPY", "PREFIX"),
                    help="with --processes: py-spy (the binary) records the first child of each run in its "
                         "steady state (from 5 s after the start, for 20 s) into PREFIX_<codec>_<N>.txt")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", action="store_true",
                    help="one short unmeasured pipeline first (CUDA context, cuDNN, NVRTC and imports "
                         "otherwise land in the first measured run)")
    args = ap.parse_args()
    if args.h265_clip == "auto":
        import os
        guess = os.path.join(data.data_dir(), "media", "bikes_1080p_h265.mp4")
        args.h265_clip = guess if os.path.exists(guess) else ""
    if args.child:
        return child_main(args)
    if args.cudnn_benchmark:
        import torch
        torch.backends.cudnn.benchmark = True
    clip = looped(data.media_path("bikes_1080p.mp4"), args.loop)
    if args.h265_clip:
        args.h265_clip = looped(args.h265_clip, args.loop)
    args.proc_clip = looped(args.proc_clip or clip, args.loop)
    cfg = data.model_path(data.PRIMARY_CONFIG)
    src = f"filesrc location={clip} ! qtdemux ! h264parse ! nvh264dec ! video/x-raw(memory:CUDAMemory) ! identity eos-after={args.frames}"
    print(f"{'run':<34} {'streams':>7} {'frames':>7} {'seconds':>8} {'fps total':>10} {'fps/stream':>11}")
    if args.warmup:
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):
            detector_tracker(8, src.replace(f"eos-after={args.frames}", "eos-after=60"), cfg, "warm-up")
    if args.infer_only:
        infer_runs(args, cfg)
    if args.mux_only:
        mux_runs(args, src)
    verdict = {}  # codec -> {"ceiling": fps, "best": (N, fps, processes)}
    if args.summary:
        tot, dt = decode_only(src, 32)
        verdict["H.264"] = {"ceiling": tot / dt}
        if args.h265_clip:
            src265 = (f"filesrc location={args.h265_clip} ! qtdemux ! h265parse ! nvh265dec ! "
                      f"video/x-raw(memory:CUDAMemory) ! identity eos-after={args.frames}")
            tot, dt = decode_only(src265, 32)
            verdict["H.265"] = {"ceiling": tot / dt}
        for codec, v in verdict.items():
            print(f"{'NVDEC ceiling, ' + codec:<34} {32:>7} {'':>7} {'':>8} {v['ceiling']:>10.1f}", flush=True)
    if args.classifiers and not args.processes:
        classifier_runs(args, src, cfg)
    clips = [("H.264", args.proc_clip)] + ([("H.265", args.h265_clip)] if args.proc_h265 and args.h265_clip else [])
    for codec, pclip in clips:
        args.proc_clip = pclip
        for procs in args.processes:
            best = process_runs(args, procs)
            n, fps = best.get("cls", (0, 0.0))
            if codec in verdict and n > verdict[codec].get("best", (0,))[0]:
                verdict[codec]["best"] = (n, fps, procs)
    for codec, v in verdict.items():
        n, fps, procs = v.get("best", (0, 0.0, 0))
        share = f"{fps / v['ceiling'] * 100:.0f} % of NVDEC's {v['ceiling']:.0f} fps" if n else "-"
        print(f"SUMMARY {codec}: detector+tracker+2 classifiers, largest N holding 30 fps a stream (of those run): "
              f"{n}" + (f" over {procs} processes, {fps:.0f} fps = {share}" if n else ""), flush=True)
    if args.h265_clip:
        src265 = (f"filesrc location={args.h265_clip} ! qtdemux ! h265parse ! nvh265dec ! "
                  f"video/x-raw(memory:CUDAMemory) ! identity eos-after={args.frames}")
        for n in (8, 32):
            tot, dt = decode_only(src265, n)
            print(f"{'NVDEC decode only, H.265':<34} {n:>7} {tot:>7} {dt:>8.2f} {tot / dt:>10.1f} {tot / dt / n:>11.1f}", flush=True)
        best = 0
        for n in args.h265:
            fps = detector_tracker(n, src265, cfg, "H.265 detector+tracker")
            best = n if fps / n >= 30 else best
        if args.h265:
            print(f"H.265 detector+tracker: largest N holding 30 fps per stream (of those run): {best}")
        if args.h265_classifiers:
            classifier_runs(args, src265, cfg, args.h265_classifiers, "H.265 ")
    if args.skip_base:
        return
    for n in (1, 8, 32):
        tot, dt = decode_only(src, n)
        print(f"{'NVDEC decode only':<34} {n:>7} {tot:>7} {dt:>8.2f} {tot / dt:>10.1f} {tot / dt / n:>11.1f}", flush=True)
    if not args.skip_naive:
        naive_loop(src, cfg)
    best = 0
    import os
    for n in args.streams:
        modes = ["per-frame", "batch"] if args.compare_per_frame else ["batch"]
        if n in args.compare_sync:
            modes.insert(0, "sync")
        if n in args.compare_eager:
            modes.insert(0, "eager")
        if n in args.compare_frame_detect:
            modes.insert(0, "frame-detect")
        if n in args.compare_tracker:
            modes.insert(0, "tracker-single")
        for mode in modes:
            os.environ["ESTUARY_MUX_PER_FRAME"] = "1" if mode == "per-frame" else "0"
            os.environ["ESTUARY_INFER_SYNC"] = "1" if mode == "sync" else "0"
            os.environ["ESTUARY_CUDA_GRAPHS"] = "0" if mode in ("sync", "eager") else "1"
            os.environ["ESTUARY_BATCH_DETECT"] = "0" if mode in ("sync", "frame-detect") else "1"
            os.environ["ESTUARY_TRACKER_MANY"] = "0" if mode == "tracker-single" else "1"
            label = ("pipeline detector+tracker" + (" +queues" if args.queues else "")
                     + {"per-frame": " (mux per-frame)", "sync": " (infer waits)",
                        "eager": " (no CUDA graph)", "frame-detect": " (per-frame parse)",
                        "tracker-single": " (tracker per stream)"}.get(mode, ""))
            fps = detector_tracker(n, src, cfg, label, args.queues)
            if fps / n >= 30 and mode == "batch":
                best = n
    os.environ.pop("ESTUARY_MUX_PER_FRAME", None)
    os.environ.pop("ESTUARY_INFER_SYNC", None)
    os.environ.pop("ESTUARY_CUDA_GRAPHS", None)
    os.environ.pop("ESTUARY_BATCH_DETECT", None)
    os.environ.pop("ESTUARY_TRACKER_MANY", None)
    print(f"largest N holding 30 fps per stream: {best}")
    if args.osd_encode:
        osd_runs(args, src, cfg)


def detector_tracker(n, src, cfg, label, queues=False):
    """N streams → mux → detector → tracker → fakesink; prints a row, returns fps total."""
    srcs = " ".join(f"{src} ! queue ! m.sink_{i}" for i in range(n))
    q = "queue max-size-buffers=2 ! " if queues else ""
    desc = (f"nvstreammux name=m batch-size={n} width=1280 height=720 ! {q}"
            f"nvinfer config-file-path={cfg} batch-size={n} ! {q}nvtracker ! fakesink name=sink {srcs}")
    frames, dt = run(desc, count_probe="sink")
    fps = frames / dt
    print(f"{label:<34} {n:>7} {frames:>7} {dt:>8.2f} {fps:>10.1f} {fps / n:>11.1f}"
          f"   gpu util%,MiB after: {gpu_util()}", flush=True)
    return fps


def naive_loop(src, cfg):
    """Decode to the GPU, then per frame a Python loop runs the model and post-processing."""
    from estuary.infer.engine import InferEngine
    import torch
    eng = InferEngine(cfg, gpu_id=0, backend="torch")
    p = Gst.parse_launch(f"{src} ! appsink name=a sync=false max-buffers=4")
    sink = p.get_by_name("a")
    p.set_state(Gst.State.PLAYING)
    from estuary.gst.video import video_format
    from estuary.gst.cuda import nv12_buffer_to_rgba
    n = 0
    t0 = time.perf_counter()
    while True:
        s = sink.emit("pull-sample")
        if s is None:
            break
        fmt = video_format(s.get_caps())
        img = nv12_buffer_to_rgba(s.get_buffer(), fmt, 1280, 720, torch.device("cuda:0"))
        img_np = img.cpu().numpy()  # per frame: download, then host pre-processing and parsing
        from estuary.infer.preprocess import prepare
        x, tr = prepare([img_np], eng.net)
        outs = eng.backend.run(x)
        eng.detect([img_np], outs, tr)
        n += 1
    dt = time.perf_counter() - t0
    p.set_state(Gst.State.NULL)
    print(f"{'naive loop (per-frame, host pre/post)':<34} {1:>7} {n:>7} {dt:>8.2f} {n / dt:>10.1f} {n / dt:>11.1f}", flush=True)


def osd_runs(args, src, cfg):
    """Detector + tracker + tiler + OSD on the GPU."""
    for n in args.osd_encode:
        srcs = " ".join(f"{src} ! queue ! m.sink_{i}" for i in range(n))
        desc = (f"nvstreammux name=m batch-size={n} width=1280 height=720 ! "
                f"nvinfer config-file-path={cfg} batch-size={n} ! nvtracker ! "
                f"nvmultistreamtiler rows={int(n ** 0.5)} columns={-(-n // int(n ** 0.5))} width=1920 height=1080 ! "
                "nvdsosd ! fakesink name=sink sync=false " + srcs)
        frames, dt = run(desc, count_probe="sink")
        print(f"{'pipeline + tiler + OSD (GPU)':<34} {n:>7} {frames:>7} {dt:>8.2f} {frames / dt:>10.1f} "
              f"{frames / dt / n:>11.1f}", flush=True)


def infer_runs(args, cfg):
    """GPU time of the detector network alone per batch (CUDA events, median of 20 after
    warm-up), with cuDNN's autotuner off and on."""
    import torch
    from estuary.infer.engine import InferEngine
    eng = InferEngine(cfg, gpu_id=0, backend="torch")
    net = eng.net
    for n in args.infer_only:
        for bench_mode in (False, True):
            torch.backends.cudnn.benchmark = bench_mode
            x = torch.rand((n, 3, net.height, net.width), device="cuda", dtype=eng.backend.dtype)
            for _ in range(5):
                eng.backend.run(x, as_numpy=False)
            times = []
            for _ in range(20):
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                eng.backend.run(x, as_numpy=False)
                b.record()
                b.synchronize()
                times.append(a.elapsed_time(b))
            ms = float(np.median(times))
            print(f"{'detector network alone (cudnn.benchmark=' + str(bench_mode) + ')':<34} {n:>7} {n:>7} "
                  f"{ms / 1000:>8.4f} {n / ms * 1000:>10.1f} {'':>11}", flush=True)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark


def mux_runs(args, src):
    """The muxer alone (decode → nvstreammux 1280x720 → fakesink), with the per-frame torch
    conversion (ESTUARY_MUX_PER_FRAME=1, the old path) and with one kernel per batch."""
    import os
    for n in args.mux_only:
        for mode in ("per-frame", "batch"):
            os.environ["ESTUARY_MUX_PER_FRAME"] = "1" if mode == "per-frame" else "0"
            srcs = " ".join(f"{src} ! queue ! m.sink_{i}" for i in range(n))
            desc = f"nvstreammux name=m batch-size={n} width=1280 height=720 ! fakesink name=sink {srcs}"
            frames, dt = run(desc, count_probe="sink")
            print(f"{'muxer alone (' + mode + ')':<34} {n:>7} {frames:>7} {dt:>8.2f} {frames / dt:>10.1f} "
                  f"{frames / dt / n:>11.1f}   gpu util%,MiB after: {gpu_util()}", flush=True)
    os.environ.pop("ESTUARY_MUX_PER_FRAME", None)


def classifier_runs(args, src, cfg, counts=None, prefix=""):
    """DeepStream's published workload: detector + tracker + two secondary classifiers."""
    sgie = data.model_path(data.SECONDARY_CONFIG)
    names = ["pgie", "tracker", "sgie1", "sgie2"]
    # the street clip has few cars: classify people, bicycles and vehicles (COCO 0, 1, 2, 3, 5, 7)
    # so that the classifiers see several objects a frame, as in NVIDIA's traffic benchmark
    classes = "0:1:2:3:5:7"
    best = 0
    import os
    runs = []
    for n in (counts if counts is not None else args.classifiers):
        if n in args.compare_old:
            runs.append((n, "old"))
        runs.append((n, ""))
    for n, old in runs:
        # old: the classifiers' objects in chunks of batch-size, each waited for, on the default
        # stream (before session 6)
        os.environ["ESTUARY_BATCH_OBJECTS"] = os.environ["ESTUARY_OBJECT_STREAM"] = "0" if old else "1"
        label = prefix + "detector+tracker+2 classifiers" + (f" ({old})" if old else "")
        srcs = " ".join(f"{src} ! queue ! m.sink_{i}" for i in range(n))
        q = "queue max-size-buffers=2 ! " if args.queues else ""
        desc = (f"nvstreammux name=m batch-size={n} width=1280 height=720 ! {q}"
                f"nvinfer name=pgie config-file-path={cfg} batch-size={n} ! {q}nvtracker name=tracker ! {q}"
                f"nvinfer name=sgie1 config-file-path={sgie} unique-id=2 infer-on-class-ids={classes} ! "
                f"nvinfer name=sgie2 config-file-path={sgie} unique-id=3 infer-on-class-ids={classes} ! "
                f"fakesink name=sink {srcs}")
        p = Gst.parse_launch(desc)
        times = element_times(p, names)
        results = [0]

        def probe(pad, info):
            bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
            results[0] += sum(len(o.classifiers) for f in bm.frames for o in f.objects)
            return Gst.PadProbeReturn.OK

        p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
        frames, dt = run(p, count_probe="sink")
        fps = frames / dt
        per = ", ".join(f"{k} {1000 * float(np.mean(v)):.1f}" for k, v in times.items() if v)
        best = n if fps / n >= 30 and not old else best
        print(f"{label:<34} {n:>7} {frames:>7} {dt:>8.2f} {fps:>10.1f} {fps / n:>11.1f}"
              f"   gpu util%,MiB after: {gpu_util()}", flush=True)
        print(f"    mean ms per batch of {n}: {per}; classifier results: {results[0]}", flush=True)
    os.environ.pop("ESTUARY_BATCH_OBJECTS", None)
    os.environ.pop("ESTUARY_OBJECT_STREAM", None)
    print(f"{prefix}detector+tracker+2 classifiers: largest N holding 30 fps per stream (of those run): {best}")


def looped(clip: str, k: int) -> str:
    """``clip`` played ``k`` times back to back, as one mp4 in the temporary folder (the same
    coded stream re-muxed through ``concat``; made once per run)."""
    import os
    import tempfile
    if k <= 1 or not clip:
        return clip
    base = os.path.basename(clip)
    if base.startswith("loop"):  # looped already
        return clip
    dst = os.path.join(tempfile.gettempdir(), f"loop{k}_{base}")
    if os.path.exists(dst):
        return dst
    from clips import repeat_clip
    repeat_clip(clip, dst + ".part", k)
    os.replace(dst + ".part", dst)
    return dst


def pipeline_desc(kind, n, src, cfg):
    """The launch line of one benchmark pipeline: ``det`` (detector + tracker) or ``cls`` (+ two
    classifiers, as :func:`classifier_runs`)."""
    srcs = " ".join(f"{src} ! queue ! m.sink_{i}" for i in range(n))
    desc = (f"nvstreammux name=m batch-size={n} width=1280 height=720 ! "
            f"nvinfer name=pgie config-file-path={cfg} batch-size={n} ! nvtracker name=tracker ! ")
    if kind == "cls":
        sgie = data.model_path(data.SECONDARY_CONFIG)
        classes = "0:1:2:3:5:7"
        desc += (f"nvinfer name=sgie1 config-file-path={sgie} unique-id=2 infer-on-class-ids={classes} ! "
                 f"nvinfer name=sgie2 config-file-path={sgie} unique-id=3 infer-on-class-ids={classes} ! ")
    return desc + f"fakesink name=sink {srcs}"


#: seconds after PLAYING from which a --processes child counts its steady-state rate
STEADY_AFTER = 2.0


def child_main(args):
    """One process of a --processes run: preroll, say "ready", wait for "go" on stdin, play to
    EOS, print one JSON line (frames, seconds, steady-state frames and seconds; with --count the
    objects and classifier results that reached the sink)."""
    import json
    import os
    import sys
    kind, n = args.child.split(":")
    n = int(n)
    clip = args.proc_clip or data.media_path("bikes_1080p.mp4")
    cfg = data.model_path(data.PRIMARY_CONFIG)
    h265 = "265" in os.path.basename(clip)
    if os.environ.get("ESTUARY_BENCH_CPU_DECODE"):  # a smoke test of this mode on a machine without NVDEC
        dec = "h265parse ! avdec_h265" if h265 else "h264parse ! avdec_h264"
    elif h265:
        dec = "h265parse ! nvh265dec ! video/x-raw(memory:CUDAMemory)"
    else:
        dec = "h264parse ! nvh264dec ! video/x-raw(memory:CUDAMemory)"
    src = f"filesrc location={clip} ! qtdemux ! {dec} ! identity eos-after={args.frames}"
    p = Gst.parse_launch(pipeline_desc(kind, n, src, cfg))
    frames = [0]
    counts = {"objects": 0, "classifier_results": 0}
    marks = []  # (seconds since PLAYING, frames so far) at each batch

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        frames[0] += len(bm.frames) if bm else 1
        marks.append((time.perf_counter() - t0, frames[0]))
        if args.count and bm:
            for f in bm.frames:
                for o in f.objects:
                    counts["objects"] += 1
                    counts["classifier_results"] += len(o.classifiers)
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    t0 = time.perf_counter()
    p.set_state(Gst.State.PAUSED)
    p.get_state(Gst.CLOCK_TIME_NONE)
    print("ready", flush=True)
    sys.stdin.readline()
    marks.clear()
    t0 = time.perf_counter()
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    dt = time.perf_counter() - t0
    captures = {}  # each network's CUDA graph capture time and graphs (read before NULL drops them)
    for name in ("pgie", "sgie1", "sgie2"):
        el = p.get_by_name(name)
        be = getattr(getattr(el, "_engine", None), "backend", None) if el is not None else None
        if be is not None and hasattr(be, "capture_seconds"):
            captures[name] = [round(be.capture_seconds, 2), len(be._graphs)]
    p.set_state(Gst.State.NULL)
    err = None if msg is not None and msg.type == Gst.MessageType.EOS else (
        msg.parse_error()[0].message if msg else "timeout")
    # steady state: from STEADY_AFTER s after PLAYING (first runs of new batch shapes, graph
    # captures and cuDNN's choices are behind) to the last batch
    after = [m for m in marks if m[0] >= STEADY_AFTER]
    steady = (after[-1][1] - after[0][1], after[-1][0] - after[0][0]) if len(after) > 1 else (0, 0.0)
    # where start-up goes: frames in each of the first seconds
    curve = []
    prev = 0
    for sec in range(1, 7):
        upto = max((m[1] for m in marks if m[0] < sec), default=prev)
        curve.append(upto - prev)
        prev = upto
    print(json.dumps({"frames": frames[0], "seconds": dt, "error": err, "steady_frames": steady[0],
                      "first_seconds": curve, "captures": captures,
                      "steady_seconds": steady[1], **(counts if args.count else {})}), flush=True)


def _cpu_ticks():
    """(busy, total) jiffies of all cores from /proc/stat (None off Linux)."""
    try:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    return sum(vals) - idle, sum(vals)


def _cpu_busy(start) -> str:
    """Cores busy on average since ``start`` (:func:`_cpu_ticks`), of how many: is the host the limit?"""
    end = _cpu_ticks()
    if start is None or end is None or end[1] == start[1]:
        return "n/a"
    import os
    cores = os.cpu_count() or 1
    return f"{(end[0] - start[0]) / (end[1] - start[1]) * cores:.1f} of {cores}"


def _gpu_sampler():
    """nvidia-smi sampling the GPU's busy time every 200 ms (None where there is none)."""
    try:
        return subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                 "-lms", "200"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return None


def _gpu_samples(smi) -> str:
    """"mean/max" of the sampler's readings (the share of time a kernel ran: not how full the
    GPU was, but 100 means never idle)."""
    if smi is None:
        return "n/a"
    smi.terminate()
    out, _ = smi.communicate(timeout=5)
    vals = [int(v) for v in out.split() if v.strip().isdigit()]
    return f"{np.mean(vals):.0f}/{max(vals)}" if vals else "n/a"


def process_runs(args, procs):
    """N streams split over ``procs`` processes on the one GPU, started together: the question is
    whether processes add up (the earlier plateau) now that each process does per-batch work."""
    import json
    import os
    import sys
    runs = [("cls", n) for n in args.classifiers] + [("det", n) for n in args.proc_det]
    best = {"cls": (0, 0.0), "det": (0, 0.0)}
    for kind, n in runs:
        shares = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        kids = [subprocess.Popen([sys.executable, __file__, "--child", f"{kind}:{k}", "--frames", str(args.frames),
                                  "--proc-clip", args.proc_clip] + (["--count"] if args.count else []),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for k in shares if k]
        for k in kids:  # all prerolled (models loaded, decoders open) before any plays
            line = k.stdout.readline()
            while line and line.strip() != "ready":
                line = k.stdout.readline()
        smi = _gpu_sampler()
        cpu0 = _cpu_ticks()
        for k in kids:
            try:
                k.stdin.write("go\n")
                k.stdin.flush()
            except BrokenPipeError:  # it died before "ready": its error shows in the row below
                pass
        spy = None
        if args.spy and kids:  # after warm-up and the first seconds: the run's steady state
            codec = "h265" if "265" in os.path.basename(args.proc_clip) else "h264"
            spy = subprocess.Popen(["sh", "-c", f"sleep 5; exec {args.spy[0]} record --pid {kids[0].pid} "
                                    f"--duration 20 --threads --nonblocking --format raw "
                                    f"-o {args.spy[1]}_{codec}_{n}.txt"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        outs = []
        for k in kids:
            line = ""
            for line in k.stdout:
                if line.startswith("{"):
                    break
            k.wait()
            outs.append(json.loads(line) if line.startswith("{") else {"frames": 0, "seconds": 0, "error": "no result"})
        util = _gpu_samples(smi)
        cpu = _cpu_busy(cpu0)
        if spy:
            spy.wait()
        sf = sum(o.get("steady_frames", 0) for o in outs)
        ss = max(o.get("steady_seconds", 0.0) for o in outs)
        steady = f"{sf / ss:.0f} ({sf / ss / n:.1f} a stream)" if ss > 0 else "n/a"
        errors = [o["error"] for o in outs if o["error"]]
        frames = sum(o["frames"] for o in outs)
        dt = max(o["seconds"] for o in outs) or float("nan")
        fps = frames / dt
        per_proc = ", ".join(f"{o['seconds']:.1f}" for o in outs)
        # start-up: how much longer each process ran than its frames at its own steady rate take
        losses = [o["seconds"] - o["frames"] * o["steady_seconds"] / o["steady_frames"]
                  for o in outs if o.get("steady_frames")]
        first = f"{max(losses):.2f}" if losses else "n/a"
        label = ("H.265 " if "265" in os.path.basename(args.proc_clip) else "") + \
            {"cls": "detector+tracker+2 classifiers", "det": "detector+tracker"}[kind] + f", {procs} proc." + \
            (" (infer waits)" if os.environ.get("ESTUARY_INFER_SYNC") == "1" else "")
        print(f"{label:<34} {n:>7} {frames:>7} {dt:>8.2f} {fps:>10.1f} {fps / n:>11.1f}"
              f"   steady after {STEADY_AFTER:.0f} s: {steady} fps   per process s: {per_proc}"
              f"   start-up s lost (most of a process): {first}"
              f"   GPU busy % (mean/max): {util}   CPU cores busy: {cpu}"
              + f"\n    frames a second in the first 6 s, each process: {[o.get('first_seconds') for o in outs]}"
              f"\n    capture s and graphs per network, each process: {[o.get('captures') for o in outs]}"
              + (f"   objects: {sum(o['objects'] for o in outs)}, classifier results: "
                 f"{sum(o['classifier_results'] for o in outs)}" if args.count and not errors else "")
              + (f"   ERRORS: {errors}" if errors else ""), flush=True)
        if fps / n >= 30 and not errors and n > best[kind][0]:
            best[kind] = (n, fps)
    for kind, label in (("cls", "detector+tracker+2 classifiers"), ("det", "detector+tracker")):
        if any(k == kind for k, _ in runs):
            print(f"{label}, {procs} processes: largest N holding 30 fps per stream (of those run): {best[kind][0]}")
    return best


if __name__ == "__main__":
    main()
