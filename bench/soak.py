"""Soak: looping real street video through detector + tracker + OSD + events to a broker, sampling
memory over time, and failing if it grows after warm-up.

    python bench/soak.py --minutes 60              # the long, documented run
    python bench/soak.py --minutes 1 --json r.json # what CI runs (tests/test_soak.py)

Pipeline: 4 × appsrc (bikes.mp4 decoded once, looped for ever) → nvstreammux (batch 4) → nvinfer
(YOLOv3-tiny, DS4 classes) → nvtracker → nvdsosd → nvmsgconv → nvmsgbroker (redis-server from apt,
started here on 127.0.0.1; ``--broker memory`` needs no server). A probe attaches one event (with
copy/release callbacks, as deepstream-test4 does) per frame with an object every 10 frames.
Sampled every ``--every`` seconds: RSS (VmRSS), Python objects (gc), batches still alive (one
per muxer GstBuffer) and C-side buffers (strings, event metadata) still allocated. After ``--warmup`` of the run, RSS
may grow by at most ``--max-rss-growth-mb`` and the other counts by at most 10 %.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import sys
import tempfile
import threading
import time



def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def redis_server():
    """redis-server on 127.0.0.1 through the test suite's server helper (tests/servers.py)."""
    if shutil.which("redis-server") is None:
        raise SystemExit("soak: redis-server not found (apt install redis-server) or use --broker memory")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests"))
    import servers
    return servers.redis_server()


def load_frames(path: str, n: int, width: int, height: int):
    import cv2
    cap = cv2.VideoCapture(path)
    frames = []
    while len(frames) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(cv2.resize(bgr, (width, height)), cv2.COLOR_BGR2RGBA).tobytes())
    if not frames:
        raise SystemExit(f"soak: cannot read frames from {path}")
    return frames


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--sources", type=int, default=4)
    ap.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=0.3, help="fraction of the run before memory must be flat")
    ap.add_argument("--max-rss-growth-mb", type=float, default=25.0)
    ap.add_argument("--broker", choices=("redis", "memory"), default="redis")
    ap.add_argument("--json", default=None, help="write the samples and the verdict here")
    args = ap.parse_args(argv)

    import gi
    gi.require_version("GstApp", "1.0")
    from gi.repository import GstApp  # noqa: F401 - gives appsrc its push_buffer method
    import pyds
    from estuary import data
    from estuary.gst import Gst
    data.ensure()
    width, height, fps = 640, 272, 30
    frames = load_frames(data.media_path("bikes.mp4"), 150, width, height)

    stack = contextlib.ExitStack()
    if args.broker == "redis":
        port = stack.enter_context(redis_server()).port
        broker = f"proto-lib=libnvds_redis_proto.so conn-str=127.0.0.1;{port} topic=soak"
    else:
        broker = "proto-lib=memory conn-str=soak topic=soak"
    tmp = tempfile.mkdtemp(prefix="estuary-soak-")
    msgconv = os.path.join(tmp, "msgconv.txt")
    with open(msgconv, "w") as f:
        for i in range(args.sources):
            f.write(f"[sensor{i}]\nenable=1\ntype=Camera\nid=CAM_{i}\nlocation=45.29;-75.83;48.15\n"
                    "description=soak\ncoordinate=5.2;10.1;11.2\n\n")
        f.write("[place0]\nenable=1\nid=0\ntype=intersection/road\nname=soak\nlocation=30.32;-40.55;100.0\n"
                "coordinate=1.0;2.0;3.0\nplace-sub-field1=C_127_158\nplace-sub-field2=Lane 1\n"
                "place-sub-field3=P1\n\n[analytics0]\nenable=1\nid=XYZ_1\ndescription=soak\n"
                "source=OpenALR\nversion=1.0\n")

    caps = f"video/x-raw,format=RGBA,width={width},height={height},framerate={fps}/1"
    srcs = " ".join(f"appsrc name=src{i} is-live=false format=time block=true max-bytes={4 * len(frames[0])} "
                    f'caps="{caps}" ! queue max-size-buffers=4 ! m.sink_{i}' for i in range(args.sources))
    desc = (f"{srcs} nvstreammux name=m batch-size={args.sources} width={width} height={height} ! "
            f'nvinfer name=pgie config-file-path="{data.model_path(data.DS4_CONFIG)}" ! '
            "nvtracker ll-lib-file=libnvds_nvmultiobjecttracker.so ! nvdsosd name=osd ! tee name=t "
            "t. ! queue max-size-buffers=4 ! fakesink sync=false "
            f"t. ! queue max-size-buffers=4 ! nvmsgconv config={msgconv} payload-type=0 ! nvmsgbroker name=broker {broker}")
    pipeline = Gst.parse_launch(desc)

    stop = threading.Event()

    def feeder(i):
        src = pipeline.get_by_name(f"src{i}")
        k = 0
        dur = Gst.SECOND // fps
        while not stop.is_set():
            buf = Gst.Buffer.new_wrapped(frames[(k + 17 * i) % len(frames)])
            buf.pts = k * dur
            buf.duration = dur
            # GstApp's push_buffer takes the buffer over (the "push-buffer" signal would leave a
            # second reference with us, and the muxer would have to copy the pixels)
            ret = src.push_buffer(buf)
            del buf
            if ret != Gst.FlowReturn.OK:
                return
            k += 1
        src.end_of_stream()

    released = {"n": 0}

    def copy_event(data_, user_data):  # data_ is the NvDsUserMeta, as in DeepStream
        src = pyds.NvDsEventMsgMeta.cast(pyds.NvDsUserMeta.cast(data_).user_meta_data)
        dst = pyds.alloc_nvds_event_msg_meta()
        dst.bbox.top, dst.bbox.left = src.bbox.top, src.bbox.left
        dst.bbox.width, dst.bbox.height = src.bbox.width, src.bbox.height
        dst.frameId, dst.trackingId, dst.confidence = src.frameId, src.trackingId, src.confidence
        dst.sensorId, dst.type, dst.objType = src.sensorId, src.type, src.objType
        dst.ts = pyds.alloc_buffer(33)
        pyds.generate_ts_rfc3339(dst.ts, 32)
        return dst

    def release_event(data_, user_data):
        um = pyds.NvDsUserMeta.cast(data_)
        meta = pyds.NvDsEventMsgMeta.cast(um.user_meta_data)
        pyds.free_buffer(meta.ts)
        meta.ts = None
        released["n"] += 1

    attached = {"n": 0}

    def add_events(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        l_frame = bm.frame_meta_list
        while l_frame is not None:
            fm = pyds.NvDsFrameMeta.cast(l_frame.data)
            if fm.frame_num % 10 == 0 and fm.obj_meta_list is not None:
                obj = pyds.NvDsObjectMeta.cast(fm.obj_meta_list.data)
                ev = pyds.alloc_nvds_event_msg_meta()
                r = obj.rect_params
                ev.bbox.top, ev.bbox.left, ev.bbox.width, ev.bbox.height = r.top, r.left, r.width, r.height
                ev.frameId, ev.trackingId, ev.confidence = fm.frame_num, obj.object_id & 0x7FFFFFFF, obj.confidence
                ev.sensorId = fm.source_id
                ev.type = pyds.NvDsEventType.NVDS_EVENT_MOVING
                ev.objType = pyds.NvDsObjectType.NVDS_OBJECT_TYPE_VEHICLE
                ev.ts = pyds.alloc_buffer(33)
                pyds.generate_ts_rfc3339(ev.ts, 32)
                um = pyds.nvds_acquire_user_meta_from_pool(bm)
                um.user_meta_data = ev
                um.base_meta.meta_type = pyds.NvDsMetaType.NVDS_EVENT_MSG_META
                pyds.user_copyfunc(um, copy_event)
                pyds.user_releasefunc(um, release_event)
                pyds.nvds_add_user_meta_to_frame(fm, um)
                attached["n"] += 1
            l_frame = l_frame.next
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("osd").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, add_events)
    counted = {"frames": 0}

    def count(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        counted["frames"] += bm.num_frames_in_batch
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("osd").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, count)
    from estuary.meta.core import NvDsBatchMeta

    def live_batches() -> int:  # batches (one per muxer GstBuffer) not yet freed
        return sum(1 for o in gc.get_objects() if type(o) is NvDsBatchMeta)

    from estuary.pyds import cmem
    bus = pipeline.get_bus()
    pipeline.set_state(Gst.State.PLAYING)
    threads = [threading.Thread(target=feeder, args=(i,), daemon=True) for i in range(args.sources)]
    for t in threads:
        t.start()
    samples = []
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    next_sample = t0 + args.every
    error = None
    broker_stats = None
    print(f"soak: {args.sources} sources, {args.minutes:g} min, broker={args.broker}", flush=True)
    while time.monotonic() < end:
        msg = bus.timed_pop_filtered(100 * Gst.MSECOND, Gst.MessageType.ERROR | Gst.MessageType.EOS
                                     | Gst.MessageType.ELEMENT)
        if msg is not None and msg.type == Gst.MessageType.ELEMENT:
            st = msg.get_structure()
            if st is not None and st.get_name() == "msgbroker-stats":
                broker_stats = {k: st.get_value(k) for k in ("sent", "queued", "dropped")}
            continue
        if msg is not None:
            error = msg.parse_error()[0].message if msg.type == Gst.MessageType.ERROR else "unexpected EOS"
            break
        if time.monotonic() >= next_sample:
            next_sample += args.every
            gc.collect()
            s = {"t": round(time.monotonic() - t0, 1), "frames": counted["frames"], "rss_mb": round(rss_mb(), 1),
                 "py_objects": len(gc.get_objects()), "live_batches": live_batches(),
                 "c_buffers": cmem.live_buffers(),
                 "events": attached["n"], "events_released": released["n"]}
            samples.append(s)
            fps_now = (s["frames"] - (samples[-2]["frames"] if len(samples) > 1 else 0)) / args.every
            print(f"  t={s['t']:6.0f}s frames={s['frames']:7d} ({fps_now:5.1f} fps) rss={s['rss_mb']:7.1f} MB "
                  f"py={s['py_objects']:7d} batches={s['live_batches']:4d} cbuf={s['c_buffers']} events={s['events']} "
                  f"released={s['events_released']}", flush=True)
    stop.set()
    pipeline.send_event(Gst.Event.new_eos())
    while True:  # EOS flushes the broker queue; its last stats come before EOS
        msg = bus.timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR
                                     | Gst.MessageType.ELEMENT)
        if msg is None or msg.type != Gst.MessageType.ELEMENT:
            break
        st = msg.get_structure()
        if st is not None and st.get_name() == "msgbroker-stats":
            broker_stats = {k: st.get_value(k) for k in ("sent", "queued", "dropped")}
    pipeline.set_state(Gst.State.NULL)
    stack.close()
    shutil.rmtree(tmp, ignore_errors=True)

    verdict = {"ok": True, "reasons": []}
    if error:
        verdict["ok"] = False
        verdict["reasons"].append(f"pipeline stopped: {error}")
    after = [s for s in samples if s["t"] >= args.warmup * args.minutes * 60]
    if len(after) < 2:
        verdict["ok"] = False
        verdict["reasons"].append("too few samples after warm-up; run longer or sample more often")
    else:
        first, last = after[0], after[-1]
        growth = last["rss_mb"] - first["rss_mb"]
        verdict["rss_growth_mb"] = round(growth, 1)
        if growth > args.max_rss_growth_mb:
            verdict["ok"] = False
            verdict["reasons"].append(f"RSS grew {growth:.1f} MB after warm-up (limit {args.max_rss_growth_mb})")
        for key in ("py_objects", "live_batches", "c_buffers"):
            a, b = first[key], last[key]
            if a >= 0 and b > max(a * 1.10, a + 50):
                verdict["ok"] = False
                verdict["reasons"].append(f"{key} grew from {a} to {b} after warm-up")
        if last["events"] - last["events_released"] > 1000:
            verdict["ok"] = False
            verdict["reasons"].append("event metadata is not being released")
    if samples and samples[-1]["frames"] == 0:
        verdict["ok"] = False
        verdict["reasons"].append("no frames went through")
    verdict["broker"] = broker_stats
    if broker_stats is None or broker_stats["sent"] < 1 or broker_stats["dropped"]:
        verdict["ok"] = False
        verdict["reasons"].append(f"events did not all reach the broker: {broker_stats}")
    print(f"soak: {'PASS' if verdict['ok'] else 'FAIL'} {json.dumps({k: v for k, v in verdict.items() if k != 'ok'})}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "samples": samples, "verdict": verdict}, f, indent=1)
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
