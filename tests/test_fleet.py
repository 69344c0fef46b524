"""The fleet on a real Kafka broker (Tansu, from PyPI): 3 worker processes share 12 looping cameras
through a consumer group; one is killed (its cameras run elsewhere within a bound), one is added;
every camera runs exactly once and every camera's events reach the events topic. Also: the exact
hand-over of a removed camera, the worker's metrics endpoint, and recordings closed through EOS
on SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from estuary.fleet import admin
from estuary.fleet.topics import EVENTS, Camera, ensure_topics, read_topic
from estuary.fleet.worker import fleet_status
from estuary.gst import Gst
from tests.servers import kafka

CAMERAS = [f"cam{i:02d}" for i in range(12)]
# how soon a SIGKILLed worker's cameras must run elsewhere (session timeout 2 s + rebalance + start)
FAILOVER_BOUND = float(os.environ.get("ESTUARY_FLEET_FAILOVER_BOUND", "5"))
SESSION = ["--session-timeout-ms", "2000", "--heartbeat-ms", "200"]


def _clip(path):
    p = Gst.parse_launch(
        "videotestsrc num-buffers=30 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=15/1 ! "
        f"x264enc speed-preset=ultrafast key-int-max=15 ! mp4mux ! filesink location={path}")
    p.set_state(Gst.State.PLAYING)
    p.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)


def _worker(bootstrap, wid, log_dir, *extra):
    log = open(os.path.join(log_dir, f"{wid}.log"), "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "estuary", "--log-level", "INFO", "fleet", "--bootstrap", bootstrap, "worker",
         "--id", wid, "--capacity", "8", *SESSION, "--journal", os.path.join(log_dir, f"{wid}.journal"),
         *extra], stdout=log, stderr=subprocess.STDOUT)


def _journal(log_dir, wid):
    path = os.path.join(log_dir, f"{wid}.journal")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        # camera start/stop lines (the journal also records the group's assign/revoke)
        return [e for e in (json.loads(line) for line in f if line.strip()) if "cam" in e]


def _stop(procs):
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()


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
            t_kill = time.time()
            procs["w3"].send_signal(signal.SIGKILL)
            procs["w3"].wait()
            where = _wait_all_once(bootstrap, {"w1", "w2"}, timeout=60)
            moved = {cam for cam, (wid, _) in before.items() if wid == "w3"}
            starts = {e["cam"]: e["t"] for wid in ("w1", "w2") for e in _journal(tmp_path, wid)
                      if e["ev"] == "start" and e["t"] > t_kill}
            assert set(starts) == moved, f"only w3's cameras restart: {sorted(starts)} vs {sorted(moved)}"
            moved_in = max(starts.values()) - t_kill
            assert moved_in < FAILOVER_BOUND, f"w3's cameras ran elsewhere only {moved_in:.1f} s after the kill"
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
            _stop(procs)
        events = [json.loads(m.value()) for m in read_topic(bootstrap, EVENTS)]
    per_camera = {}
    for ev in events:
        per_camera.setdefault(ev["camera"], []).append((ev["worker"], ev["frame"]))
    assert sorted(per_camera) == CAMERAS, "events from every camera reached the events topic"
    total = sum(len(v) for v in per_camera.values())
    duplicates = total - sum(len(set(v)) for v in per_camera.values())
    print(f"\nreassignment after a worker was killed: {moved_in:.1f} s (session timeout 2 s); "
          f"{total} events from {len(per_camera)} cameras, {duplicates} duplicates, 0 cameras without events")



def _metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#") and "camera=" not in line}


def test_a_removed_camera_never_starts_on_the_next_owner(tmp_path):
    """The case of issue 25: cam01 and cam02 added, w1 runs, cam01 removed, w2 joins, w1 stops:
    w2 reads cam01's partition to its end before starting anything, so cam01 never starts there."""
    from tests.servers import free_port
    procs = {}
    with kafka() as k:
        bootstrap = f"127.0.0.1:{k.port}"
        ensure_topics(bootstrap, partitions=4)
        admin.add(bootstrap, Camera("cam01", "rtsp://10.0.0.1/a"))
        admin.add(bootstrap, Camera("cam02", "rtsp://10.0.0.2/a"))
        port = free_port()
        try:
            procs["w1"] = _worker(bootstrap, "w1", tmp_path, "--dry")
            deadline = time.monotonic() + 30
            while {e["cam"] for e in _journal(tmp_path, "w1") if e["ev"] == "start"} != {"cam01", "cam02"}:
                assert time.monotonic() < deadline, "w1 did not start both cameras"
                time.sleep(0.2)
            admin.remove(bootstrap, "cam01")
            deadline = time.monotonic() + 10
            while not any(e["ev"] == "stop" and e["cam"] == "cam01" for e in _journal(tmp_path, "w1")):
                assert time.monotonic() < deadline, "w1 did not stop cam01 after its tombstone"
                time.sleep(0.2)
            procs["w2"] = _worker(bootstrap, "w2", tmp_path, "--dry", "--metrics-port", str(port))
            deadline = time.monotonic() + 30
            while "w2: assigned partitions" not in (tmp_path / "w2.log").read_text():
                assert time.monotonic() < deadline, "w2 never joined the group"
                time.sleep(0.2)
            procs["w1"].send_signal(signal.SIGTERM)
            assert procs["w1"].wait(20) == 0
            deadline = time.monotonic() + 20
            while not any(e["ev"] == "start" and e["cam"] == "cam02" for e in _journal(tmp_path, "w2")):
                assert time.monotonic() < deadline, "cam02 did not move to w2"
                time.sleep(0.2)
            # with cooperative-sticky assignment w1's partitions can reach w2 over more than one
            # round: wait until w2 holds all four (cam01's partition included)
            deadline = time.monotonic() + 30
            while _metrics(port)["estuary_fleet_partitions"] != 4:
                assert time.monotonic() < deadline, f"w2 never held all partitions: {_metrics(port)}"
                time.sleep(0.2)
            time.sleep(1.5)  # a late start of cam01 would show by now
            m = _metrics(port)
            assert m["estuary_fleet_cameras"] == 1 and m["estuary_fleet_partitions"] == 4, m
            assert m["estuary_fleet_camera_starts_total"] == 1, m  # cam02 only
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                assert r.status == 200
        finally:
            _stop(procs)
    w2 = _journal(tmp_path, "w2")
    assert not [e for e in w2 if e["cam"] == "cam01"], f"cam01 ran on w2: {w2}"
    assert "camera cam01 started" not in (tmp_path / "w2.log").read_text()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_recordings_play_after_the_worker_stops(tmp_path, sig):
    """SIGTERM: EOS closes each recording. SIGKILL (OOM, a crash): nothing closes them, and
    they still play up to their last whole second (fragmented MP4; a plain one has no index
    then and plays nothing)."""
    clip = tmp_path / "cam.mp4"
    _clip(clip)
    rec = tmp_path / "rec"
    with kafka() as k:
        bootstrap = f"127.0.0.1:{k.port}"
        ensure_topics(bootstrap, partitions=2)
        for cam in ("cam00", "cam01"):
            admin.add(bootstrap, Camera(cam, clip.as_uri()))
        procs = {"w1": _worker(bootstrap, "w1", tmp_path, "--record-dir", str(rec))}
        try:
            deadline = time.monotonic() + 60
            while True:
                where = _placement(bootstrap, {"w1"})
                if sorted(where) == ["cam00", "cam01"] and all(v[0][1] > 75 for v in where.values()):
                    break
                assert time.monotonic() < deadline, f"w1 did not run both cameras: {where}"
                time.sleep(0.3)
            procs["w1"].send_signal(sig)
            assert procs["w1"].wait(30) == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        finally:
            _stop(procs)
    files = sorted(rec.glob("*.mp4"))
    assert [f.name.split("-")[0] for f in files] == ["cam00", "cam01"], files
    for f in files:
        frames = []
        p = Gst.parse_launch(f"filesrc location={f} ! qtdemux ! h264parse ! fakesink name=s signal-handoffs=true")
        p.get_by_name("s").connect("handoff", lambda *a: frames.append(1))
        p.set_state(Gst.State.PLAYING)
        msg = p.get_bus().timed_pop_filtered(30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        p.set_state(Gst.State.NULL)
        assert msg is not None and msg.type == Gst.MessageType.EOS, f"{f.name} is not playable"
        assert len(frames) > 30, f"{f.name} holds {len(frames)} frames"


def test_cost_aware_placement_and_balance(tmp_path):
    """`fleet add` puts a camera on the worker with the least total cost (from the workers'
    heartbeats); after cameras land cost-blind, `fleet balance` moves the fewest cameras, stop
    then start, until the spread is within the largest camera cost, and nothing else restarts."""
    from confluent_kafka import Producer

    from estuary.fleet.topics import CAMERAS as CAMERAS_TOPIC
    procs = {}
    with kafka() as k:
        bootstrap = f"127.0.0.1:{k.port}"
        ensure_topics(bootstrap, partitions=8)
        try:
            for wid in ("w1", "w2"):
                procs[wid] = _worker(bootstrap, wid, tmp_path, "--dry")
            deadline = time.monotonic() + 60
            while True:
                st = fleet_status(bootstrap, seconds=1.6)
                parts = {w: s["partitions"] for w, s in st.items()}
                if sorted(parts) == ["w1", "w2"] and all(len(p) == 4 for p in parts.values()):
                    break
                assert time.monotonic() < deadline, f"the group did not settle on 4 + 4 partitions: {parts}"
                time.sleep(0.3)

            def costs(n_cameras):
                deadline = time.monotonic() + 20
                while True:
                    st = fleet_status(bootstrap, seconds=1.6)
                    if sum(len(s["cameras"]) for s in st.values()) == n_cameras:
                        return {w: s["cost"] for w, s in st.items()}
                    assert time.monotonic() < deadline, f"not {n_cameras} cameras running: {st}"
                    time.sleep(0.3)

            for cam, cost in (("a", 3), ("b", 1), ("c", 1), ("d", 1)):
                admin.add(bootstrap, Camera(cam, f"rtsp://10.0.0.1/{cam}", cost=cost))
            assert costs(4) == {"w1": 3.0, "w2": 3.0}
            # two cameras of cost 2 land on w1 without placement (as after a cost-blind failover)
            p = Producer({"bootstrap.servers": bootstrap})
            for cam, part in zip(("e", "f"), parts["w1"]):
                p.produce(CAMERAS_TOPIC, key=cam.encode(), value=Camera(cam, "rtsp://x", cost=2).value(),
                          partition=part)
            assert p.flush(10) == 0
            assert costs(6) == {"w1": 7.0, "w2": 3.0}
            t_balance = time.time()
            moves, lay = admin.balance(bootstrap)
            assert [(m.worker_from, m.worker_to) for m in moves] == [("w1", "w2")], moves
            (moved,) = [m.camera for m in moves]
            assert moved in ("e", "f") and lay.spread() <= lay.bound() == 3.0
            assert costs(6) == {"w1": 5.0, "w2": 5.0}
            # a changed cost updates the running camera's record; the camera does not restart
            admin.add(bootstrap, Camera("a", "rtsp://10.0.0.1/a", cost=1))
            deadline = time.monotonic() + 20
            while costs(6) != {"w1": 3.0, "w2": 5.0}:
                assert time.monotonic() < deadline, f"a's new cost not shown: {costs(6)}"
                time.sleep(0.3)
            time.sleep(1.0)
            t_end = time.time()
        finally:
            _stop(procs)
    after = sorted((e for w in ("w1", "w2") for e in _journal(tmp_path, w)
                    if t_balance < e["t"] < t_end and "cam" in e), key=lambda e: e["t"])
    # the moved camera stopped on w1 before it started on w2; nothing else stopped or started
    # (nor "a" when its cost changed)
    assert [(e["w"], e["ev"], e["cam"]) for e in after] == [("w1", "stop", moved), ("w2", "start", moved)], after
    print(f"\nbalance: camera {moved} moved w1 -> w2, down {after[1]['t'] - after[0]['t']:.1f} s (stop -> start)")
