"""What the detector + tracker + two classifiers pipeline of bench/gpu_bench.py attached, object by
object: ``run N FRAMES OUT.jsonl`` writes one line per object and frame (stream, frame, track id,
class, box, each classifier's label and probability); ``diff A B`` compares two such dumps (the
same pipeline under two settings): which objects, boxes, classes and classifier results differ.
A check of correctness across GPU settings (layouts, batch sizes, paths), not a benchmark."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def run(n: int, frames: int, out: str) -> None:
    import gpu_bench as g
    import pyds
    from estuary import data
    from estuary.gst import Gst
    clip = data.media_path("bikes_1080p.mp4")
    dec = ("h264parse ! avdec_h264" if os.environ.get("ESTUARY_BENCH_CPU_DECODE")
           else "h264parse ! nvh264dec ! video/x-raw(memory:CUDAMemory)")
    src = f"filesrc location={clip} ! qtdemux ! {dec} ! identity eos-after={frames}"
    p = Gst.parse_launch(g.pipeline_desc("cls", n, src, data.model_path(data.PRIMARY_CONFIG)))
    rows = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            for o in f.objects:
                r = o.rect_params
                rows.append({"s": f.source_id, "f": f.frame_num, "id": int(o.object_id), "c": o.class_id,
                             "conf": round(float(o.confidence), 3),
                             "box": [round(float(v), 1) for v in (r.left, r.top, r.width, r.height)],
                             "cls": {str(c.unique_component_id): [(li.result_label, round(float(li.result_prob), 3))
                                                                  for li in c.label_info_list]
                                     for c in o.classifiers}})
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(300 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    if msg is None or msg.type != Gst.MessageType.EOS:
        raise SystemExit(f"pipeline failed: {msg.parse_error()[0].message if msg else 'timeout'}")
    with open(out, "w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    print(f"{out}: {len(rows)} object-frames, {sum(len(r['cls']) for r in rows)} classifier results")


def diff(a: str, b: str) -> None:
    def load(path):
        rows = [json.loads(line) for line in open(path)]
        return {(r["s"], r["f"], i): r for i, r in enumerate(sorted(rows, key=lambda r: (r["s"], r["f"], r["box"])))}
    A, B = load(a), load(b)
    def per(rows):
        out = {}
        for (s, f, _), r in rows.items():
            out.setdefault((s, f), []).append(r)
        return out
    pa, pb = per(A), per(B)
    keys = sorted(set(pa) | set(pb))
    n_obj = same_box = same_cls = res_a = res_b = same_res = 0
    shown = 0
    for k in keys:
        ra, rb = pa.get(k, []), pb.get(k, [])
        for x, y in zip(ra, rb):
            n_obj += 1
            same_box += max(abs(u - v) for u, v in zip(x["box"], y["box"])) <= 1.0
            same_cls += x["c"] == y["c"]
            res_a += len(x["cls"])
            res_b += len(y["cls"])
            same_res += x["cls"] == y["cls"]
            if x["cls"] != y["cls"] and shown < 15:
                shown += 1
                print("differs:", k, x["id"], y["id"], x["c"], x["box"], y["box"], x["cls"], y["cls"])
        if len(ra) != len(rb):
            print("object count differs at", k, len(ra), len(rb))
    print(f"paired object-frames {n_obj}: same box {same_box}, same class {same_cls}, same classifier "
          f"results {same_res}; results {res_a} vs {res_b}")
    # per track: a classification is cached for the track's life, so one borderline result (a
    # probability near classifier-threshold) moves the count by the track's length
    def tracks(rows):
        out = {}
        for r in rows.values():
            if r["id"] < 2 ** 63:  # tracked (UNTRACKED is 2^64 - 1)
                out.setdefault((r["s"], r["id"]), []).append(r)
        return out
    ta, tb = tracks(A), tracks(B)
    differ = 0
    for k in sorted(set(ta) | set(tb)):
        ra, rb = ta.get(k, []), tb.get(k, [])
        ca, cb = sum(len(r["cls"]) for r in ra), sum(len(r["cls"]) for r in rb)
        if ca != cb:
            differ += 1
            first = [next((r["cls"] for r in x if r["cls"]), None) for x in (ra, rb)]
            if differ <= 15:
                print(f"track {k}: frames {len(ra)} / {len(rb)}, results {ca} / {cb}, first results {first[0]} / {first[1]}")
    print(f"tracks {len(ta)} / {len(tb)}, with other result counts: {differ}")


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        diff(sys.argv[2], sys.argv[3])
