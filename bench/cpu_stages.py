"""CPU cost of each stage of ``estuary bench``'s pipeline, inference left out (issue #23).

The pipeline ``estuary bench`` times for its ``estuary`` mode (``bench/cpu_compare.py``:
``run_estuary``) is built up one stage at a time, each stage a fresh process:

* ``decode``  — filesrc ! qtdemux ! h264parse ! avdec_h264 ! fakesink (GStreamer's C alone);
* ``source``  — the bench's source bin (``make_source_bin``: esurisrcbin = uridecodebin →
  esconvert → capsfilter, RGBA surfaces) → fakesink;
* ``mux``     — + nvstreammux (the bench's properties, ``max-frames-in-flight`` from ``--in-flight``);
* ``infer``   — + nvinfer with ``interval`` = the clip's length: one frame inferred, every other
  frame skipped (what skipping costs);
* ``tracker`` — + nvtracker (the bench's tracker config);
* ``osd``     — + nvdsosd;
* ``probes``  — + the bench's own probes (a stamp per decoded frame, the boxes read per batch);

and, for the figure these add up to (``estuary bench``'s own runners, on ``--clip`` like the stages):

* ``int8``    — the bench's OpenVINO INT8 pipeline, ``interval=0`` (``run_estuary``, ov-int8);
* ``ceiling`` — OpenVINO's INT8 model alone (``run_model``, ov-int8).

Each run is timed from the first buffer at the sink to EOS (so start-up and the model's
loading are out); CPU is the process's CPU time over the same span (every thread), reported
per frame. Rounds interleave the stages (and ``--src`` trees, for A/B runs of two checkouts),
so that a load change on this shared machine hits all of them alike.

    .venv/bin/python bench/cpu_stages.py --streams 1,4 --rounds 3
    .venv/bin/python bench/cpu_stages.py --src /tmp/base/src,src --stages source,osd
    .venv/bin/python bench/cpu_stages.py --env "X=1;OPENCV_FOR_THREADS_NUM=1" --stages int8,ceiling

``--clip``: a longer clip times more steadily than the bundled 250 frames; ``--make-clip N``
writes bikes.mp4 N times over into one MP4 (the same H.264 stream, no re-encoding).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

STAGES = ("decode", "source", "mux", "infer", "tracker", "osd", "probes")
WHOLE = ("int8", "ceiling")
HERE = os.path.dirname(os.path.abspath(__file__))


def make_clip(path: str, times: int) -> None:
    """``bikes.mp4`` ``times`` over, concatenated without re-encoding."""
    from clips import repeat_clip
    from estuary import data
    try:
        repeat_clip(data.media_path("bikes.mp4"), path, times, timeout_s=120)
    except RuntimeError:
        raise SystemExit(f"could not write {path}") from None


def build(stage: str, n: int, clip: str, in_flight: int, frames_per_stream: int):
    """The pipeline up to ``stage`` and its sink's pad."""
    sys.path.insert(0, HERE)
    import cpu_compare
    from estuary import data
    from estuary.gst import Gst
    upto = STAGES.index(stage)
    p = Gst.Pipeline.new("stages")
    if stage == "decode":
        for i in range(n):
            chain = [Gst.ElementFactory.make(f, None) for f in ("filesrc", "qtdemux", "h264parse", "avdec_h264")]
            chain[0].set_property("location", clip)
            sink = Gst.ElementFactory.make("fakesink", f"s{i}")
            sink.set_property("sync", False)
            for e in chain + [sink]:
                p.add(e)
            chain[0].link(chain[1])
            chain[1].connect("pad-added", lambda _d, pad, h=chain[2]: pad.link(h.get_static_pad("sink")))
            chain[2].link(chain[3])
            chain[3].link(sink)
        return p, [p.get_by_name(f"s{i}").get_static_pad("sink") for i in range(n)], False
    from estuary.elements.decoder import make_source_bin
    sink = Gst.ElementFactory.make("fakesink", "sink")
    sink.set_property("sync", False)
    p.add(sink)
    bins = []
    for i in range(n):
        b = make_source_bin(i, clip)
        p.add(b)
        bins.append(b)
    if stage == "source":
        # one stream's source bin into the sink; further streams into their own sinks
        sinks = [sink] + [Gst.ElementFactory.make("fakesink", None) for _ in range(n - 1)]
        for s in sinks[1:]:
            s.set_property("sync", False)
            p.add(s)
        for b, s in zip(bins, sinks):
            b.get_static_pad("src").link(s.get_static_pad("sink"))
        return p, [s.get_static_pad("sink") for s in sinks], False
    mux = Gst.ElementFactory.make("nvstreammux", "mux")
    for k, v in (("batch-size", n), ("width", 640), ("height", 272), ("batched-push-timeout", 40000),
                 ("max-frames-in-flight", in_flight)):
        mux.set_property(k, v)
    p.add(mux)
    for i, b in enumerate(bins):
        b.get_static_pad("src").link(mux.request_pad_simple(f"sink_{i}"))
    chain = [mux]
    if upto >= STAGES.index("infer"):
        import tempfile
        cfg = cpu_compare.pgie_config(data.model_path("yolov3-tiny-ds4.onnx"), n, frames_per_stream, "ov-fp32")
        tmp = tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False)
        tmp.write(cfg)
        tmp.close()
        pgie = Gst.ElementFactory.make("nvinfer", "pgie")
        pgie.set_property("config-file-path", tmp.name)
        pgie.set_property("backend", "openvino")
        chain.append(pgie)
    if upto >= STAGES.index("tracker"):
        tracker = Gst.ElementFactory.make("nvtracker", "tracker")
        tracker.set_property("tracker-width", 640)
        tracker.set_property("tracker-height", 384)
        tracker.set_property("ll-lib-file", "/opt/nvidia/deepstream/deepstream/lib/libnvds_nvdcf.so")
        tracker.set_property("ll-config-file", os.path.join(data.data_dir(), "samples", "tracker_config.yml"))
        chain.append(tracker)
    if upto >= STAGES.index("osd"):
        chain.append(Gst.ElementFactory.make("nvdsosd", "osd"))
    for e in chain[1:]:
        p.add(e)
    for a, b in zip(chain, chain[1:] + [sink]):
        a.link(b)
    if stage == "probes":
        _bench_probes(bins, sink)
    return p, [sink.get_static_pad("sink")], True


def _bench_probes(bins, sink):
    """What ``run_estuary`` adds per frame: a stamp at each source's output, the boxes read at
    the sink (the same work, kept here as a copy so that the stages do not time the bench's
    bookkeeping differently from the bench)."""
    import pyds
    from estuary.gst import Gst
    stamps, boxes = {}, {}

    def stamp(i):
        def probe(pad, info):
            now = time.perf_counter()
            pts = info.get_buffer().pts
            ev = pad.get_sticky_event(Gst.EventType.SEGMENT, 0)
            if ev is not None:
                pts = ev.parse_segment().to_running_time(Gst.Format.TIME, pts)
            stamps[(i, pts)] = now
            return Gst.PadProbeReturn.OK
        return probe

    for i, b in enumerate(bins):
        b.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, stamp(i))

    def done(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            boxes[f"{f.source_id}:{f.frame_num}"] = [
                [o.class_id, round(o.detector_bbox_info.org_bbox_coords.left, 1),
                 round(o.detector_bbox_info.org_bbox_coords.top, 1),
                 round(o.detector_bbox_info.org_bbox_coords.width, 1),
                 round(o.detector_bbox_info.org_bbox_coords.height, 1)] for o in f.objects if o.unique_component_id == 1]
            stamps.pop((f.source_id, f.buf_pts), None)
        return Gst.PadProbeReturn.OK

    sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, done)


def whole(stage: str, n: int, in_flight: int, calib: str, int8_model: str, clip: str = "") -> dict:
    """The bench's INT8 pipeline or its model ceiling, as ``estuary bench`` runs them (on
    ``clip``, by default the bench's bikes.mp4: a longer one times the pipeline more steadily)."""
    sys.path.insert(0, HERE)
    import cpu_compare
    from estuary import data
    clip, model = clip or data.media_path("bikes.mp4"), data.model_path("yolov3-tiny-ds4.onnx")
    if stage == "ceiling":  # as the bench runs it: the INT8 file built by the parent process
        r = cpu_compare.one("model", 1, clip, int8_model, 0, variant="ov-int8")
    else:  # ESTUARY_BENCH_WORKERS: nvinfer's infer-workers (0, the default: auto) for --env A/Bs
        workers = int(os.environ.get("ESTUARY_BENCH_WORKERS", "0"))
        r = cpu_compare.one("estuary", n, clip, model, 0, workers=workers, variant="ov-int8", calib=calib,
                            in_flight=in_flight)
    return {"stage": stage, "streams": n, "frames": r["frames"], "fps": r["fps"], "cpu_pct": r["cpu_pct"],
            "cpu_ms_per_frame": round(10 * r["cpu_pct"] / r["fps"], 3)}


def one(stage: str, n: int, clip: str, in_flight: int, frames_per_stream: int) -> dict:
    import pyds  # noqa: F401 - the bench imports it first too (OpenVINO's unwinder, docs/cpu.md)
    from estuary.gst import Gst, ensure_init
    ensure_init()
    p, pads, batched = build(stage, n, clip, in_flight, frames_per_stream)
    first = {}

    def on_first(pad, info):
        if not first:
            k = 1
            if batched:
                from estuary.gst import batchmeta
                bm = batchmeta.get(info.get_buffer())
                k = len(bm.frames) if bm is not None else 1
            first.update(t=time.perf_counter(), cpu=time.process_time(), frames=k)
        return Gst.PadProbeReturn.REMOVE

    pads[0].add_probe(Gst.PadProbeType.BUFFER, on_first)
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    t1, c1 = time.perf_counter(), time.process_time()
    p.set_state(Gst.State.NULL)
    if msg is None or msg.type != Gst.MessageType.EOS:
        raise SystemExit(msg.parse_error()[0].message if msg is not None else "no EOS")
    # frames after the first buffer at the (first) sink; the other decode/source sinks run
    # alongside it, so all their frames count (their first frames arrive within a frame or two)
    frames = n * frames_per_stream - (first["frames"] if batched else n)
    wall, cpu = t1 - first["t"], c1 - first["cpu"]
    return {"stage": stage, "streams": n, "frames": frames, "fps": round(frames / wall, 1),
            "cpu_pct": round(100 * cpu / wall), "cpu_ms_per_frame": round(1000 * cpu / frames, 3)}


def clip_frames(clip: str) -> int:
    """Video frames in ``clip`` (decoded once, counted in C)."""
    from estuary.gst import Gst, ensure_init
    ensure_init()
    p = Gst.parse_launch(f"filesrc location={clip} ! qtdemux ! h264parse ! fakesink name=s sync=false")
    count = [0]
    p.get_by_name("s").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda pad, info: count.__setitem__(0, count[0] + 1) or Gst.PadProbeReturn.OK)
    p.set_state(Gst.State.PLAYING)
    p.get_bus().timed_pop_filtered(120 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    return count[0]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", default="1,4")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--rounds", type=int, default=3)
    # -1 (unbounded) as estuary bench's throughput rows; 3 is its paced-latency setting, which
    # costs throughput on 2 cores (INT8, AMD AVX2: 24.7 against 28.7 fps; docs/benchmarks.md, session 16)
    ap.add_argument("--in-flight", type=int, default=-1,
                    help="nvstreammux max-frames-in-flight (-1: unbounded, as the bench's throughput rows)")
    ap.add_argument("--clip", help="an H.264 MP4 (default: bikes.mp4, or the --make-clip file)")
    ap.add_argument("--make-clip", type=int, default=0, help="write bikes.mp4 this many times over first")
    ap.add_argument("--src", default="", help="source trees to A/B, comma-separated (PYTHONPATH of each run)")
    ap.add_argument("--env", default="", help="environments to A/B, ';'-separated, each 'K=V K2=V2'")
    ap.add_argument("--json", help="also write the rows here")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--calib", default="", help=argparse.SUPPRESS)
    ap.add_argument("--int8-model", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one in WHOLE:
        print(json.dumps(whole(args.one, args.n, args.in_flight, args.calib, args.int8_model, args.clip or "")))
        return 0
    if args.one:
        print(json.dumps(one(args.one, args.n, args.clip, args.in_flight, args.frames)))
        return 0
    from estuary import data
    clip = args.clip or data.media_path("bikes.mp4")
    if args.make_clip:
        clip = args.clip or f"/tmp/bikes-x{args.make_clip}.mp4"
        if not os.path.exists(clip):
            make_clip(clip, args.make_clip)
    frames = clip_frames(clip)
    srcs = [s for s in args.src.split(",") if s] or [""]
    envs = [e.strip() for e in args.env.split(";") if e.strip()] or [""]
    variants = [(s, e) for s in srcs for e in envs]
    stages = [s for s in args.stages.split(",") if s]
    for s in stages:
        if s not in STAGES + WHOLE:
            ap.error(f"unknown stage {s!r} (one of {', '.join(STAGES + WHOLE)})")
    import tempfile
    calib = tempfile.TemporaryDirectory(prefix="estuary-stages-calib-")
    int8_model = ""
    if set(stages) & set(WHOLE):  # the INT8 model, built (or found cached) before any timed run
        sys.path.insert(0, HERE)
        import cpu_compare
        paths, took = cpu_compare.prepare_int8(data.media_path("bikes.mp4"), data.model_path("yolov3-tiny-ds4.onnx"),
                                               calib.name, ("openvino",))
        int8_model = paths["openvino"]
        print(f"INT8 model {int8_model} ({took:.1f} s)", flush=True)
    print(f"clip {clip}: {frames} frames; load average {os.getloadavg()[0]:.2f}", flush=True)
    rows = []
    for n in [int(s) for s in args.streams.split(",") if s]:
        for r in range(args.rounds):
            for stage in stages:
                for src, extra in variants:
                    if stage == "ceiling" and n != 1:
                        continue
                    env = dict(os.environ)
                    if src:
                        env["PYTHONPATH"] = os.path.abspath(src)
                    env.update(kv.split("=", 1) for kv in extra.split())
                    cmd = [sys.executable, os.path.abspath(__file__), "--one", stage, "--n", str(n),
                           "--clip", clip, "--frames", str(frames), f"--in-flight={args.in_flight}",
                           "--calib", calib.name, "--int8-model", int8_model]
                    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
                    if out.returncode != 0:
                        print(f"{stage} n={n} {src} {extra}: failed: {out.stderr.strip()[-300:]}", flush=True)
                        continue
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    tag = " ".join(x for x in (src, extra) if x)
                    row.update(round=r, src=tag, load=round(os.getloadavg()[0], 2))
                    rows.append(row)
                    print(f"r{r} n={n} {stage:<8} {tag:<24} {row['fps']:>8} fps {row['cpu_pct']:>4} % CPU "
                          f"{row['cpu_ms_per_frame']:>7.3f} ms/frame  (load {row['load']})", flush=True)
    print("\nmedian [min-max] CPU ms per frame, fps", flush=True)
    for n in sorted({r["streams"] for r in rows}):
        for stage in stages:
            for src in [" ".join(x for x in v if x) for v in variants]:
                sel = [r for r in rows if r["streams"] == n and r["stage"] == stage and r["src"] == src]
                if not sel:
                    continue
                ms = [r["cpu_ms_per_frame"] for r in sel]
                fps = [r["fps"] for r in sel]
                print(f"n={n} {stage:<8} {src:<24} {statistics.median(ms):.3f} [{min(ms):.3f}-{max(ms):.3f}] ms  "
                      f"{statistics.median(fps):.0f} [{min(fps):.0f}-{max(fps):.0f}] fps", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    calib.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
