"""The fleet on a real Kafka broker (Tansu, from PyPI): 3 worker processes share 12 looping cameras
through a consumer group; one is killed, one is added; every camera runs exactly once and every
camera's events reach the events topic."""

import json
import os
import signal
import subprocess
import sys
import time

from estuary.fleet import admin
from estuary.fleet.topics import EVENTS, Camera, ensure_topics, read_topic
from estuary.fleet.worker import fleet_status
from estuary.gst import Gst
from tests.servers import kafka

CAMERAS = [f"cam{i:02d}" for i in range(12)]


def _clip(path):
    p = Gst.parse_launch(
        "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=15/1 ! "
        f"x264enc speed-preset=ultrafast key-int-max=15 ! mp4mux ! filesink location={path}")
    p.set_state(Gst.State.PLAYING)
    p.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)


def _worker(bootstrap, wid, log_dir):
    log = open(os.path.join(log_dir, f"{wid}.log"), "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "estuary", "--log-level", "INFO", "fleet", "--bootstrap", bootstrap, "worker",
         "--id", wid, "--capacity", "8", "--session-timeout-ms", "3000"], stdout=log, stderr=subprocess.STDOUT)


def _placement(bootstrap, workers):
    """camera → [workers running it], from the workers' latest heartbeats."""
    st = fleet_status(bootstrap, seconds=1.6)
    where = {}
    for wid, s in st.items():
        if wid in workers:
            for cam, c in s["cameras"].items():
                where.setdefault(cam, []).append((wid, c["frames"]))
    return where


def _wait_all_once(bootstrap, workers, timeout):
    deadline = time.monotonic() + timeout
    where = {}
    while time.monotonic() < deadline:
        where = _placement(bootstrap, workers)
        if sorted(where) == CAMERAS and all(len(v) == 1 and v[0][1] > 0 for v in where.values()):
            return where
        time.sleep(0.3)
    raise AssertionError(f"not every camera runs exactly once on {workers}: {where}")


def test_cameras_are_sharded_failed_over_and_rebalanced(tmp_path):
    clip = tmp_path / "cam.mp4"
    _clip(clip)
    procs = {}
    with kafka() as k:
        bootstrap = f"127.0.0.1:{k.port}"
        ensure_topics(bootstrap, partitions=12)
        for cam in CAMERAS:
            admin.add(bootstrap, Camera(cam, clip.as_uri()))
        assert sorted(admin.cameras(bootstrap)) == CAMERAS
        try:
            for wid in ("w1", "w2", "w3"):
                procs[wid] = _worker(bootstrap, wid, tmp_path)
            where = _wait_all_once(bootstrap, {"w1", "w2", "w3"}, timeout=90)
            owners = {w for v in where.values() for w, _ in v}
            assert owners == {"w1", "w2", "w3"}, where  # the group spread them
            before = {cam: v[0] for cam, v in where.items()}

            # kill a worker: its cameras move to the others, the others' cameras keep running
            t_kill = time.monotonic()
            procs["w3"].send_signal(signal.SIGKILL)
            procs["w3"].wait()
            where = _wait_all_once(bootstrap, {"w1", "w2"}, timeout=60)
            moved_in = time.monotonic() - t_kill
            for cam, (wid, frames) in before.items():
                if wid != "w3":
                    now_wid, now_frames = where[cam][0]
                    assert now_wid == wid and now_frames > frames, f"{cam} was restarted or moved"

            # add a worker: the group rebalances onto it
            procs["w4"] = _worker(bootstrap, "w4", tmp_path)
            deadline = time.monotonic() + 60
            while True:
                where = _placement(bootstrap, {"w1", "w2", "w4"})
                if any(w == "w4" for v in where.values() for w, _ in v) and sorted(where) == CAMERAS \
                        and all(len(v) == 1 for v in where.values()):
                    break
                assert time.monotonic() < deadline, f"no rebalance onto w4: {where}"
                time.sleep(0.3)
            # a camera removed with a tombstone stops
            admin.remove(bootstrap, "cam11")
            deadline = time.monotonic() + 20
            while "cam11" in _placement(bootstrap, {"w1", "w2", "w4"}):
                assert time.monotonic() < deadline, "cam11 still runs after its tombstone"
                time.sleep(0.3)
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs.values():
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
        events = [json.loads(m.value()) for m in read_topic(bootstrap, EVENTS)]
    per_camera = {}
    for ev in events:
        per_camera.setdefault(ev["camera"], []).append((ev["worker"], ev["frame"]))
    assert sorted(per_camera) == CAMERAS, "events from every camera reached the events topic"
    total = sum(len(v) for v in per_camera.values())
    duplicates = total - sum(len(set(v)) for v in per_camera.values())
    print(f"\nreassignment after a worker was killed: {moved_in:.1f} s (session timeout 3 s); "
          f"{total} events from {len(per_camera)} cameras, {duplicates} duplicates, 0 cameras without events")

