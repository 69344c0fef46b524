"""Secondary classifiers' host work per batch, without inference: planning which objects to
classify (filter + cache lookups) and attaching the (cached) results, for frames whose objects
are stored as arrays — on their tables (``ObjectRow``, the default) against object structs (the
path before session 6, which makes every object's struct first). Both in one run.

    python bench/secondary_cost.py [--frames 64] [--objects 6] [--repeat 40]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from estuary.infer.engine import Classification
from estuary.infer.secondary import ObjectFilter, SecondaryCache, plan_secondary
from estuary.infer.writer import write_classification
from estuary.meta.arrays import FrameObjects
from estuary.meta.core import NvDsBatchMeta


def make_batch(frames: int, objects: int) -> NvDsBatchMeta:
    """A batch as nvinfer + nvtracker leave it: every frame's objects a table, all tracked."""
    b = NvDsBatchMeta()
    classes = np.array([0, 2, 1, 5, 7, 3] * (objects // 6 + 1))[:objects]
    for i in range(frames):
        f = b.acquire_frame()
        f.source_id, f.batch_id, f.frame_num = i, i, 5
        b.add_frame(f)
        boxes = np.array([[10 + 60 * k, 10, 60 + 60 * k, 90] for k in range(objects)], float)
        f.append_objects(FrameObjects.detections(boxes, np.full(objects, 0.9), classes, component_id=1,
                                                 labels=["car"] * objects,
                                                 tracker_ids=np.arange(objects) + 1000 * i))
    return b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--objects", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=40)
    a = ap.parse_args()
    flt = ObjectFilter(1, (0, 1, 2, 3, 5, 7))
    cache = SecondaryCache()
    for i in range(a.frames):
        for k in range(a.objects):
            cache.store(i, k + 1000 * i, 5, Classification(3, 0.9, "sedan"))
    print(f"{a.frames} frames x {a.objects} objects, two classifiers, every object's result cached; ms a batch")
    print(f"{'path':<10} {'plan':>8} {'attach':>8} {'total':>8}")
    for name, rows in (("structs", None), ("rows", flt)):
        plan = attach = 0.0
        for rep in range(a.repeat + 5):
            b = make_batch(a.frames, a.objects)
            for uid in (2, 3):
                t0 = time.perf_counter()
                _todo, reuse = plan_secondary(b.frames, flt.accepts, cache, rows)
                t1 = time.perf_counter()
                for o, c in reuse:
                    write_classification(b, o, c, uid, 10)
                t2 = time.perf_counter()
                if rep >= 5:  # warm-up rounds left out
                    plan += t1 - t0
                    attach += t2 - t1
        n = a.repeat
        print(f"{name:<10} {plan / n * 1e3:>8.2f} {attach / n * 1e3:>8.2f} {(plan + attach) / n * 1e3:>8.2f}")


if __name__ == "__main__":
    main()
