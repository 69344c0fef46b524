"""Tracker time per frame for 10 / 100 / 1000 objects (synthetic detections), each algorithm,
plus the reference ByteTrack (``trackers`` package) on the same detections, and the accuracy
table on the synthetic sequences. Prints tables for docs/benchmarks.md.

    .venv/bin/python bench/tracker_bench.py
"""

from __future__ import annotations

import time

import numpy as np

from estuary.track import MultiObjectTracker, TrackerConfig
from estuary.track.synthetic import evaluate, make_sequence, track_sequence


def detections(n, frames=60, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 3000, (n, 2))
    vel = rng.uniform(-3, 3, (n, 2))
    out = []
    for f in range(frames):
        p = pos + vel * f
        boxes = np.concatenate([p, p + 40], 1) + rng.normal(0, 1, (n, 4))
        out.append((boxes, rng.uniform(0.3, 0.95, n), np.zeros(n, np.int64)))
    return out


def time_ours(algo, dets):
    t = MultiObjectTracker(TrackerConfig(algorithm=algo, max_targets=5000))
    t0 = time.perf_counter()
    for b, s, c in dets:
        t.update(b, s, c)
    return (time.perf_counter() - t0) / len(dets) * 1000


def time_ref(dets):
    from trackers import ByteTrackTracker
    import supervision as sv
    t = ByteTrackTracker()
    t0 = time.perf_counter()
    for b, s, c in dets:
        t.update(sv.Detections(xyxy=b.astype(np.float32), confidence=s.astype(np.float32), class_id=c))
    return (time.perf_counter() - t0) / len(dets) * 1000


def main():
    print("| objects | iou ms/frame | sort ms/frame | bytetrack ms/frame | reference ByteTrack ms/frame |")
    print("|---:|---:|---:|---:|---:|")
    for n in (10, 100, 1000):
        d = detections(n, frames=60 if n < 1000 else 20)
        row = [time_ours(a, d) for a in ("iou", "sort", "bytetrack")] + [time_ref(d)]
        print(f"| {n} | " + " | ".join(f"{v:.2f}" for v in row) + " |", flush=True)
    print()
    print("| tracker | MOTA | IDF1 | ID switches |")
    print("|---|---:|---:|---:|")
    seqs = [make_sequence(seed=s) for s in range(6)]

    def mean(fn):
        vals = [evaluate(sq, fn(sq)) for sq in seqs]
        return [float(np.mean([v[k] for v in vals])) for k in ("mota", "idf1", "num_switches")]

    def ours(algo):
        return lambda sq: track_sequence(sq, MultiObjectTracker(TrackerConfig(algorithm=algo)))

    def ref(sq):
        from trackers import ByteTrackTracker
        import supervision as sv
        t = ByteTrackTracker()
        hyps = []
        for b, s, c in sq.dets:
            r = t.update(sv.Detections(xyxy=b.astype(np.float32), confidence=s.astype(np.float32), class_id=c))
            m = r.tracker_id >= 0
            hyps.append((r.tracker_id[m], r.xyxy[m]))
        return hyps

    for name, fn in (("Estuary iou", ours("iou")), ("Estuary sort", ours("sort")),
                     ("Estuary bytetrack", ours("bytetrack")), ("trackers 2.6.1 ByteTrackTracker", ref)):
        m, i, s = mean(fn)
        print(f"| {name} | {m:.4f} | {i:.4f} | {s:.1f} |", flush=True)


if __name__ == "__main__":
    main()
