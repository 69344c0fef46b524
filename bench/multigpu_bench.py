"""Streams sustained on 1 vs 2 GPUs (and with 2 worker processes per GPU), through the
multi-GPU launcher: N × 1080p30 H.264 → NVDEC → mux → detector → tracker per worker.

    bash scripts/gpu/run.sh python3 bench/multigpu_bench.py --gpus 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from estuary import data


def run(slots: str, n: int, frames: int) -> dict:
    clip = data.media_path("bikes_1080p.mp4")
    r = subprocess.run([sys.executable, "-m", "estuary.multigpu", "run", "--gpus", slots, "--config",
                        data.model_path(data.PRIMARY_CONFIG), "--frames", str(frames)] + [clip] * n,
                       capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpus", type=int, default=2)
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--streams", type=int, nargs="+", default=[32, 48, 64, 96])
    a = ap.parse_args()
    layouts = [("1 GPU, 1 worker", "0"), ("1 GPU, 2 workers", "0,0")]
    if a.gpus >= 2:
        layouts += [("2 GPUs, 1 worker each", "0,1"), ("2 GPUs, 2 workers each", "0,0,1,1")]
    print(f"{'layout':<24} {'streams':>7} {'fps total':>10} {'fps/stream':>11} {'restarts':>9}")
    best = {}
    for name, slots in layouts:
        for n in a.streams:
            agg = run(slots, n, a.frames)
            fps = agg["fps"]
            print(f"{name:<24} {n:>7} {fps:>10.1f} {fps / n:>11.1f} {sum(agg['restarts'].values()):>9}", flush=True)
            if fps / n >= 30:
                best[name] = n
            else:
                break
    for name, _ in layouts:
        print(f"largest N at 30 fps/stream, {name}: {best.get(name, '<' + str(a.streams[0]))}")


if __name__ == "__main__":
    main()
