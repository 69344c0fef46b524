"""Per-object metadata cost: this tree against an earlier revision, in one run.

100 objects a frame are written by nvinfer's writer (``infer.writer.write_detections``; trees
older than it get its per-object code: box, ids, confidence, label, display text, font and
colours), then updated in bulk as a tracker does (``FrameObjects``: ids and boxes written back),
then read by a DeepStream-style pyds probe (GList walk, ``cast``, box, class, confidence,
``obj_label``, and optionally ``pyds.get_string(text_params.display_text)``). "no probe" is
the cost of a pipeline whose elements alone touch the objects (write + element). The baseline revision (default: the last one
whose model kept DeepStream's C shapes inside) is extracted with ``git archive`` and timed in a
child process beside the current tree, so both run on the same machine at the same time.

    python bench/meta_cost.py [--baseline-rev REV] [--frames 300] [--objects 100] [--json F]
    python bench/meta_cost.py --pipeline 8     # also the CPU test2-shaped pipeline, 8 streams

``--pipeline N`` also runs the CPU benchmark's deepstream-test2-shaped pipeline (N sources →
nvstreammux → nvinfer → nvtracker → nvdsosd, ONNX Runtime FP32) once per tree, alternating.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "72cd769"  # main before objects were stored as arrays (session 5)
# 594af76: main before the plain model (session 4): char* fields as C strings


def _worker(frames: int, objects: int, read_text: bool) -> dict:
    import numpy as np
    import pyds
    from estuary.meta.core import NvDsBatchMeta

    try:  # nvinfer's own writer (trees from session 4 on); older trees get its per-object code
        from estuary.infer.writer import DetectionStyle, write_detections
    except ImportError:
        write_detections = None
    try:
        from estuary.meta.arrays import FrameObjects
    except ImportError:
        FrameObjects = None
    tp_cls = pyds.NvOSD_TextParams
    plain = hasattr(tp_cls, "display_text_str")  # the plain model keeps the str here
    text_attr = "display_text_str" if plain else "display_text"
    font_attr = "font_name_str" if plain else "font_name"
    labels = [f"car {i}" for i in range(objects)]

    class _Det:  # what a detector's decode gives the writer
        boxes = np.array([[10.0 + i, 20.0, 40.0 + i, 60.0] for i in range(objects)])
        scores = np.full(objects, 0.5)
        class_ids = np.arange(objects) % 4

    class _Attrs:
        border_color = (1.0, 0.0, 0.0, 1.0)
        bg_color = None

    style = (DetectionStyle(1, lambda c: labels[c], lambda c: _Attrs())
             if write_detections is not None else None)
    ids = np.arange(1, objects + 1)
    write = track = read = 0.0
    seen = 0
    for _ in range(frames):
        batch = NvDsBatchMeta(1)
        frame = batch.acquire_frame()
        batch.add_frame(frame)
        t0 = time.perf_counter()
        if write_detections is not None:
            write_detections(batch, frame, _Det, style)
        else:
            for i in range(objects):  # what nvinfer's writer did per detection
                o = batch.acquire_object()
                o.unique_component_id, o.class_id, o.confidence = 1, i % 4, 0.5
                r = o.rect_params
                r.left, r.top, r.width, r.height = 10.0 + i, 20.0, 30.0, 40.0
                r.border_width = 3
                r.border_color.set(1.0, 0.0, 0.0, 1.0)
                o.obj_label = labels[i]
                t = o.text_params
                setattr(t, text_attr, labels[i])
                t.x_offset, t.y_offset = 10 + i, 0
                setattr(t.font_params, font_attr, "Serif")
                t.font_params.font_size = 11
                t.font_params.font_color.set(1.0, 1.0, 1.0, 1.0)
                t.set_bg_clr = 1
                t.text_bg_clr.set(0.0, 0.0, 0.0, 1.0)
                frame.add_object(o)
        t1 = time.perf_counter()
        # an element working on all objects (a tracker writing ids and boxes back)
        if FrameObjects is not None:
            fo = FrameObjects.from_frame(frame)
            if hasattr(fo, "set"):
                fo.set(tracker_id=ids, boxes=fo.boxes + 1.0)
            else:
                for o, tid in zip(fo.objects, ids.tolist()):
                    o.object_id = tid
                fo.write_boxes(fo.boxes + 1.0)
        t2 = time.perf_counter()
        l_frame = batch.frame_meta_list  # a DeepStream app's probe
        while l_frame is not None:
            fm = pyds.NvDsFrameMeta.cast(l_frame.data)
            l_obj = fm.obj_meta_list
            while l_obj is not None:
                om = pyds.NvDsObjectMeta.cast(l_obj.data)
                r = om.rect_params
                _ = (om.class_id, om.confidence, r.left, r.top, r.width, r.height, om.obj_label)
                if read_text:
                    _ = pyds.get_string(om.text_params.display_text)
                seen += 1
                l_obj = l_obj.next
            l_frame = l_frame.next
        t3 = time.perf_counter()
        batch.release()
        write += t1 - t0
        track += t2 - t1
        read += t3 - t2
    n = frames * objects
    assert seen == n, (seen, n)
    return {"write_us_per_object": 1e6 * write / n, "track_us_per_object": 1e6 * track / n,
            "read_us_per_object": 1e6 * read / n, "plain_model": plain,
            "nvinfer_writer": write_detections is not None}


def _run(src: Path, args, read_text: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    out = subprocess.run([sys.executable, __file__, "--worker", "--frames", str(args.frames),
                          "--objects", str(args.objects)] + (["--read-text"] if read_text else []),
                         env=env, capture_output=True, text=True, timeout=600, cwd=src.parent)
    if out.returncode != 0:
        raise SystemExit(f"worker failed for {src}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _pipeline(root: Path, n: int) -> dict:
    """fps of the test2-shaped CPU pipeline with the tree at ``root`` (its own benchmark code)."""
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    cmd = ["--streams", str(n), "--modes", "estuary", "--variants", "ort-fp32", "--repeat", "1"]
    if (root / "src" / "estuary" / "benchmark.py").exists():
        cmd = [sys.executable, "-m", "estuary.benchmark"] + cmd
    else:
        cmd = [sys.executable, str(root / "bench" / "cpu_compare.py")] + cmd
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        out = subprocess.run(cmd + ["--json", f.name], env=env, capture_output=True, text=True,
                             timeout=900, cwd=ROOT)
        if out.returncode != 0:
            raise SystemExit(f"pipeline run failed for {root}:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
        rows = json.loads(Path(f.name).read_text())  # the CPU benchmark writes a list of rows
    return next(r for r in rows if r.get("mode") == "estuary")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--baseline-rev", default=BASELINE)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--objects", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3, help="alternate runs; the best is kept")
    ap.add_argument("--pipeline", type=int, default=0, metavar="N",
                    help="also time the test2-shaped CPU pipeline with N streams in both trees")
    ap.add_argument("--json")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--read-text", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.frames, args.objects, args.read_text)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline_rev, "src", "bench"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        trees = {f"baseline {args.baseline_rev}": base / "src", "this tree": ROOT / "src"}
        results: dict = {}
        for read_text in (False, True):
            for _ in range(args.repeats):  # alternate the two trees so drifting load hits both
                for name, src in trees.items():
                    r = _run(src, args, read_text)
                    key = (name, read_text)
                    best = results.get(key)
                    if best is None or r["write_us_per_object"] + r["read_us_per_object"] < \
                            best["write_us_per_object"] + best["read_us_per_object"]:
                        results[key] = r
        pipes: dict = {}
        for _ in range(args.repeats if args.pipeline else 0):
            for name, src in trees.items():
                row = _pipeline(src.parent, args.pipeline)
                runs = pipes.get(name, {}).get("all_fps", []) + [row["fps"]]
                if name not in pipes or row["fps"] > pipes[name]["fps"]:
                    pipes[name] = row
                pipes[name]["all_fps"] = runs
    print(f"{args.objects} objects a frame, {args.frames} frames, best of {args.repeats}; "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'tree':<22} {'probe reads text':<17} {'write µs/obj':>13} {'element µs/obj':>15} "
          f"{'probe µs/obj':>13} {'no probe ms/frame':>18} {'frame ms':>9}")
    rows = []
    for (name, read_text), r in results.items():
        tr = r.get("track_us_per_object", 0.0)
        bare_ms = (r["write_us_per_object"] + tr) * args.objects / 1000
        frame_ms = (r["write_us_per_object"] + tr + r["read_us_per_object"]) * args.objects / 1000
        print(f"{name:<22} {'yes' if read_text else 'no':<17} {r['write_us_per_object']:>13.2f} "
              f"{tr:>15.2f} {r['read_us_per_object']:>13.2f} {bare_ms:>18.2f} {frame_ms:>9.2f}")
        rows.append(dict(r, tree=name, read_text=read_text, frame_ms=frame_ms))
    for name, row in pipes.items():
        print(f"pipeline, {args.pipeline} streams, {name}: {row['fps']:.1f} fps best, "
              f"p50 {row.get('p50_ms', float('nan')):.0f} ms; every run: {row['all_fps']} fps")
        rows.append(dict(row, tree=name, kind="pipeline"))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
