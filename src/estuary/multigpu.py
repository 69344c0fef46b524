"""Many GPUs on one host: shard sources over the GPUs, run one pipeline process per GPU, add up
their FPS and restart a worker that crashes.

    python -m estuary.multigpu run --gpus 0,1 --config pgie.txt uri1 uri2 ...
    python -m estuary.multigpu run --gpus 0 --per-gpu 4 --config pgie.txt --sgie sgie1.txt --sgie sgie2.txt uri1 ...

Several workers may share a GPU (``--per-gpu N``, or a GPU id repeated in ``--gpus``): one Python
process's streaming thread runs everything after its muxer, so several processes on one GPU hold
more streams (four hold 160 streams of 1080p30 with a detector, a tracker and two classifiers on
an H200, at 95 % of NVDEC's H.264 ceiling).

Each worker is ``python -m estuary.multigpu worker --gpu K ...`` with ``CUDA_VISIBLE_DEVICES=K``;
it prints one JSON line of statistics a second (``{"gpu": K, "frames": {...}, "fps": x}``) that
the launcher aggregates."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

__all__ = ["shard", "Launcher", "WorkerSpec", "worker_main", "worker_slots"]


def worker_slots(gpus: str, per_gpu: int = 1) -> list[int]:
    """The GPU id of each worker: every id of ``gpus`` ("0,1"; an id may repeat) ``per_gpu`` times.
    A ValueError (an argparse error at the command line) names what is wrong."""
    try:
        ids = [int(g) for g in gpus.split(",") if g.strip() != ""]
    except ValueError:
        raise ValueError(f"--gpus {gpus!r}: expected GPU ids separated by commas, e.g. 0,1") from None
    if not ids or any(g < 0 for g in ids):
        raise ValueError(f"--gpus {gpus!r}: expected GPU ids (0 or more) separated by commas, e.g. 0,1")
    if per_gpu < 1:
        raise ValueError(f"--per-gpu {per_gpu}: at least 1 worker a GPU")
    return [g for g in ids for _ in range(per_gpu)]


def shard(sources: list[str], gpus: list[int], weights: list[float] | None = None) -> dict[int, list[tuple[int, str]]]:
    """Assign sources (keeping their global index) to GPUs, balancing the summed weight."""
    if not gpus:
        raise ValueError("no GPUs to shard over")
    weights = weights or [1.0] * len(sources)
    load = {g: 0.0 for g in gpus}
    out: dict[int, list[tuple[int, str]]] = {g: [] for g in gpus}
    for idx in sorted(range(len(sources)), key=lambda i: -weights[i]):
        g = min(gpus, key=lambda k: (load[k], k))
        out[g].append((idx, sources[idx]))
        load[g] += weights[idx]
    for g in out:
        out[g].sort()
    return out


@dataclass
class WorkerSpec:
    gpu: int
    argv: list[str]
    env: dict = field(default_factory=dict)


class Launcher:
    """Runs one worker per spec, restarts crashed ones (with backoff), aggregates their stats."""

    def __init__(self, specs: list[WorkerSpec], max_restarts: int = 5, backoff: float = 1.0):
        self.specs = specs
        self.max_restarts, self.backoff = max_restarts, backoff
        self.stats: dict[int, dict] = {}
        self.restarts: dict[int, int] = {s.gpu: 0 for s in specs}
        self.exit_codes: dict[int, list[int]] = {s.gpu: [] for s in specs}
        self._lock = threading.Lock()

    def _reader(self, spec, proc):
        for line in proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                try:
                    d = json.loads(line)
                except json.JSONDecodeError:
                    continue
                with self._lock:
                    self.stats[spec.gpu] = d

    def run(self, timeout: float | None = None) -> dict:
        """Run until every worker exited cleanly or gave up; returns the aggregate."""
        procs = {}
        end = time.monotonic() + timeout if timeout else None

        def start(spec):
            env = dict(os.environ, CUDA_VISIBLE_DEVICES=str(spec.gpu))
            env.update(spec.env)
            # stderr passes through: a worker's ERROR must be seen, not discarded
            p = subprocess.Popen(spec.argv, stdout=subprocess.PIPE, stderr=None, text=True, env=env)
            threading.Thread(target=self._reader, args=(spec, p), daemon=True).start()
            procs[spec.gpu] = (spec, p)

        for s in self.specs:
            start(s)
        while procs:
            if end and time.monotonic() > end:
                for _, p in procs.values():
                    p.kill()
                break
            for gpu, (spec, p) in list(procs.items()):
                rc = p.poll()
                if rc is None:
                    continue
                self.exit_codes[gpu].append(rc)
                del procs[gpu]
                if rc != 0 and self.restarts[gpu] < self.max_restarts:
                    self.restarts[gpu] += 1
                    time.sleep(self.backoff * self.restarts[gpu])
                    start(spec)
            time.sleep(0.05)
        return self.aggregate()

    def aggregate(self) -> dict:
        with self._lock:
            frames = {}
            for d in self.stats.values():
                for src, n in d.get("frames", {}).items():
                    frames[src] = n
            return {"fps": sum(d.get("fps", 0.0) for d in self.stats.values()), "frames": frames,
                    "per_gpu": {g: d.get("fps", 0.0) for g, d in self.stats.items()},
                    "restarts": dict(self.restarts)}


def worker_main(argv=None) -> int:
    """One GPU's pipeline over its sources; prints JSON stats lines."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--config", required=True)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--frames", type=int, default=0, help="stop each source after this many frames")
    ap.add_argument("--sgie", action="append", default=[], help="a secondary nvinfer config after the tracker")
    ap.add_argument("sources", nargs="+", help="index=uri items")
    a = ap.parse_args(argv)
    import pyds  # noqa: F401
    from estuary.gst import Gst
    items = [s.split("=", 1) for s in a.sources]
    limit = f"identity eos-after={a.frames} ! " if a.frames else ""
    srcs = []
    for idx, uri in items:
        path = uri[7:] if uri.startswith("file://") else uri
        if path.endswith(".mp4") and Gst.ElementFactory.find("nvh264dec") is not None:
            dec = f"filesrc location={path} ! qtdemux ! h264parse ! nvh264dec ! video/x-raw(memory:CUDAMemory)"
        elif path.startswith("videotestsrc"):
            dec = path.replace(":", " ")
        else:
            dec = f"uridecodebin uri={uri}"
        srcs.append(f"{dec} ! {limit}queue ! m.sink_{idx}")
    n = len(items)
    # secondaries: unique-id 2, 3, ... after the tracker (DeepStream's published workload)
    sgies = "".join(f"nvinfer config-file-path={c} unique-id={k + 2} ! " for k, c in enumerate(a.sgie))
    desc = (f"nvstreammux name=m batch-size={n} width={a.width} height={a.height} ! "
            f"nvinfer config-file-path={a.config} batch-size={n} ! nvtracker ! {sgies}fakesink name=sink "
            + " ".join(srcs))
    p = Gst.parse_launch(desc)
    counts: dict[str, int] = {}
    first = []

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        if not first:
            first.append(time.monotonic())  # throughput counts from the first frame out
            return Gst.PadProbeReturn.OK
        for f in bm.frames:
            counts[str(f.source_id)] = counts.get(str(f.source_id), 0) + 1
        return Gst.PadProbeReturn.OK

    p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    t0 = time.monotonic()

    def report():  # every second, and once more at the end
        dt = time.monotonic() - (first[0] if first else t0)
        print(json.dumps({"gpu": a.gpu, "frames": counts, "fps": sum(counts.values()) / max(dt, 1e-9)}), flush=True)

    from estuary.runner import play_until_end
    msg = play_until_end(p, on_tick=report, tick=1.0)
    return 0 if msg.type == Gst.MessageType.EOS else 1


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "worker":
        return worker_main(argv[1:])
    ap = argparse.ArgumentParser(prog="python -m estuary.multigpu")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--gpus", default="0", help="GPU ids; repeat an id to run several workers on it")
    r.add_argument("--per-gpu", type=int, default=1,
                   help="workers (pipeline processes) on each GPU of --gpus: 4 holds the most streams "
                        "on an H200 (docs/gpu.md)")
    r.add_argument("--config", required=True)
    r.add_argument("--frames", type=int, default=0)
    r.add_argument("--sgie", action="append", default=[],
                   help="a secondary nvinfer config after the tracker (repeat for several)")
    r.add_argument("sources", nargs="+")
    sub.add_parser("worker", help="one GPU's pipeline (started by run)")
    a = ap.parse_args(argv)
    try:
        slots = worker_slots(a.gpus, a.per_gpu)  # one worker per slot
    except ValueError as e:
        r.error(str(e))
    plan = shard(a.sources, list(range(len(slots))))
    specs = [WorkerSpec(slot, [sys.executable, "-m", "estuary.multigpu", "worker", "--gpu", str(slots[slot]),
                               "--config", a.config, "--frames", str(a.frames)]
                        + [x for c in a.sgie for x in ("--sgie", c)] + [f"{i}={u}" for i, u in items],
                        env={"CUDA_VISIBLE_DEVICES": str(slots[slot])})
             for slot, items in plan.items() if items]
    t0 = time.monotonic()
    launcher = Launcher(specs)
    agg = launcher.run()
    agg["seconds"] = time.monotonic() - t0
    print(json.dumps(agg))
    # a worker that ended in failure (after its restarts) fails the run
    failed = {gpu: codes[-1] for gpu, codes in launcher.exit_codes.items() if codes and codes[-1] != 0}
    if failed:
        print(f"estuary.multigpu: workers failed (slot: exit status): {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
