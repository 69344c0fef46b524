"""The muxer's batch conversion kernel alone (estuary.gst.cuda.Nv12BatchConverter) on the GPU:
a batch of 1080p frames, NV12 and P010_10LE, scaled to 1280x720, timed with CUDA events.

``--baseline FILE`` also times the kernel source in FILE (a Python module with a ``_KERNEL``
string, e.g. an older estuary/gst/cuda.py), interleaved with the current one in the same run,
so that a change to the kernel is measured against what it replaces.

    python3 bench/nv12_kernel.py --batch 64 --rounds 5 [--baseline old_cuda.py]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics

import numpy as np


def _frames(torch, n: int, w: int, h: int, sample_bytes: int, rng):
    from estuary.surface.colorimetry import Colorimetry
    from estuary.surface.nv12 import Nv12Frame
    pitch = ((w * sample_bytes + 255) // 256) * 256
    keep, frames = [], []
    for _ in range(n):
        buf = torch.from_numpy(rng.integers(0, 256, (h * 3 // 2, pitch), dtype=np.uint8)).cuda()
        keep.append(buf)
        ptr = buf.data_ptr()
        frames.append(Nv12Frame(ptr, ptr + h * pitch, pitch, pitch, w, h, Colorimetry("bt709", False),
                                (0.0, 0.5), sample_bytes=sample_bytes))
    return keep, frames


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=50, help="kernel launches a round")
    ap.add_argument("--baseline", help="a module file whose _KERNEL is timed beside the current one")
    a = ap.parse_args(argv)

    import cupy
    import torch
    from estuary.gst import cuda
    from estuary.surface.nv12 import batch_params

    dev = torch.device("cuda:0")
    kernels = {"current": cuda.Nv12BatchConverter(dev)}
    if a.baseline:
        spec = importlib.util.spec_from_file_location("baseline_cuda", a.baseline)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        old = cuda.Nv12BatchConverter(dev)
        old._kernel = cupy.RawKernel(mod._KERNEL, "nv12_to_rgba_batch")
        kernels["baseline"] = old
    rng = np.random.default_rng(0)
    out = torch.empty((a.batch, 720, 1280, 4), dtype=torch.uint8, device=dev)
    cases = {"NV12": _frames(torch, a.batch, 1920, 1080, 1, rng),
             "P010_10LE": _frames(torch, a.batch, 1920, 1080, 2, rng)}
    times: dict[tuple[str, str], list[float]] = {}
    for _round in range(a.rounds):
        for fmt, (_keep, frames) in cases.items():
            params, _ = batch_params(frames, 1280, 720)
            for name, conv in kernels.items():
                if name == "baseline" and fmt != "NV12":
                    continue  # the old kernel reads 8-bit samples only
                conv.convert(params, 1280, 720, out=out)  # warm
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(a.iters):
                    conv.convert(params, 1280, 720, out=out)
                end.record()
                end.synchronize()
                times.setdefault((name, fmt), []).append(start.elapsed_time(end) / a.iters)
    print(f"batch of {a.batch} 1080p frames -> 1280x720 RGBA, {a.iters} launches x {a.rounds} rounds "
          f"({torch.cuda.get_device_name(dev)})")
    print("| kernel | input | ms a batch (median) | min–max | µs a frame |")
    print("|---|---|---:|---:|---:|")
    for (name, fmt), ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {fmt} | {med:.3f} | {min(ts):.3f}–{max(ts):.3f} | {1000 * med / a.batch:.1f} |")


if __name__ == "__main__":
    main()
