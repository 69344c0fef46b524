"""The fleet's engine-free parts: the per-worker camera table (exact hand-over), camera-aware
placement and the status rendering. No Kafka, no GStreamer."""

import pytest

from estuary.errors import ConfigError
from estuary.fleet.admin import choose_partition
from estuary.fleet.table import CameraTable
from estuary.fleet.topics import Camera
from estuary.fleet.worker import render_status

A1, A2 = Camera("cam01", "rtsp://a/1"), Camera("cam01", "rtsp://a/2")
B = Camera("cam02", "rtsp://b")


def kinds(actions):
    return [(a.kind, a.camera_id, a.camera.uri if a.camera else None) for a in actions]


def test_a_camera_removed_before_the_hand_over_never_starts():
    t = CameraTable()
    # partition 3 holds: cam01, cam02, then cam01's tombstone; the new owner gets it at end 3
    assert t.assigned(3, 0, 3) == []
    assert t.record(3, 0, "cam01", A1) == []          # loading: the table only
    assert t.record(3, 1, "cam02", B) == []
    assert kinds(t.record(3, 2, "cam01", None)) == [("start", "cam02", "rtsp://b")]
    assert t.loading() == [] and sorted(t.cameras()) == ["cam02"]


def test_the_latest_record_wins_while_loading_and_a_change_restarts_after():
    t = CameraTable()
    t.assigned(0, 5, 8)                                 # low watermark 5: compacted history
    t.record(0, 5, "cam01", A1)
    assert kinds(t.record(0, 7, "cam01", A2)) == [("start", "cam01", "rtsp://a/2")]
    assert kinds(t.record(0, 8, "cam01", A1)) == [("stop", "cam01", None), ("start", "cam01", "rtsp://a/1")]
    assert t.record(0, 9, "cam01", A1) == []          # the same record again: nothing
    costly = Camera("cam01", "rtsp://a/1", cost=3)
    assert [(a.kind, a.camera) for a in t.record(0, 9, "cam01", costly)] == [("update", costly)]  # no restart
    assert kinds(t.record(0, 10, "cam01", None)) == [("stop", "cam01", None)]
    assert t.record(0, 11, "cam01", None) == []       # a tombstone for a camera not running


def test_an_empty_partition_is_loaded_at_once_and_eof_ends_loading():
    t = CameraTable()
    t.assigned(1, 4, 4)
    assert t.loading() == []
    assert kinds(t.record(1, 4, "cam02", B)) == [("start", "cam02", "rtsp://b")]
    t.assigned(2, 0, 10)                                # offsets up to 9 compacted away after 3
    t.record(2, 3, "cam01", A1)
    assert t.loading() == [2]
    assert kinds(t.end_of_partition(2)) == [("start", "cam01", "rtsp://a/1")]
    assert t.end_of_partition(2) == []


def test_revocation_stops_only_loaded_cameras_and_late_records_are_ignored():
    t = CameraTable()
    t.assigned(0, 0, 1)
    t.record(0, 0, "cam01", A1)
    t.assigned(1, 0, 5)
    t.record(1, 0, "cam02", B)                          # still loading: nothing started
    assert kinds(t.revoked(0)) == [("stop", "cam01", None)]
    assert t.revoked(1) == []
    assert t.record(0, 1, "cam09", B) == []             # fetched before the revocation
    assert t.partitions() == []


def test_placement_fills_the_emptiest_lowest_partition():
    assert choose_partition([1, 0, 0, 2]) == 1
    assert choose_partition([1, 1, 1]) == 0
    counts = [0] * 4
    for _ in range(6):
        counts[choose_partition(counts)] += 1
    assert counts == [2, 2, 1, 1]
    with pytest.raises(ConfigError):
        choose_partition([])


def test_status_shows_load_balance_doubles_and_missing():
    st = {"w1": {"cameras": {"cam01": {"fps": 25.0, "frames": 10, "uri": "u"}}, "capacity": 4,
                 "profile": "count", "pending": [], "partitions": [0, 1]},
          "w2": {"cameras": {"cam01": {"fps": 24.5, "frames": 3, "uri": "u"},
                             "cam02": {"fps": 25.0, "frames": 9, "uri": "v"}},
                 "capacity": 4, "profile": "count", "pending": ["cam03"], "partitions": [2]}}
    out = render_status(st, {"cam01": 1, "cam02": 1, "cam03": 1, "cam04": 1}, per_camera=False)
    assert "worker w1: 1/4 cameras (25 %), cost 1, 25.0 fps, 2 partitions" in out
    assert "worker w2: 2/4 cameras (50 %), cost 2, 49.5 fps, 1 partitions, profile count, waiting: cam03" in out
    assert "2 workers, 3 cameras running; per worker min 1, max 2; cost per worker min 1, max 2" in out
    assert "running on more than one worker: cam01" in out
    assert "not running anywhere: cam03, cam04" in out
    assert "cam02 " not in out  # --summary: no camera lines


def test_the_kubernetes_manifest_lints_and_its_worker_flags_exist():
    import os
    import subprocess
    import sys

    import yaml

    from estuary.cli import main
    path = os.path.join(os.path.dirname(__file__), "..", "docs", "k8s", "fleet-worker.yaml")
    lint = subprocess.run([sys.executable, "-m", "yamllint", "--strict", "-d",
                           "{extends: default, rules: {line-length: {max: 110}, comments: {min-spaces-from-content: 1}}}",
                           path], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    (dep,) = list(yaml.safe_load_all(open(path)))
    spec = dep["spec"]["template"]["spec"]
    assert dep["kind"] == "Deployment" and spec["terminationGracePeriodSeconds"] >= 15
    (c,) = spec["containers"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    port = int(c["args"][c["args"].index("--metrics-port") + 1])
    assert c["ports"][0]["containerPort"] == port
    # the args parse with the real CLI (a bad flag exits with status 2 before anything runs)
    import estuary.cli as cli
    seen = {}
    orig = cli._cmd_fleet
    cli._cmd_fleet = lambda args: seen.setdefault("args", args) and 0
    try:
        parser_rc = main(c["args"])
    finally:
        cli._cmd_fleet = orig
    assert parser_rc == 0 and seen["args"].metrics_port == port and seen["args"].fleet_cmd == "worker"


# -- cost-aware placement (estuary.fleet.placement) ---------------------------------------------

from estuary.fleet.placement import Layout, place, plan  # noqa: E402


def _owners(workers, partitions):
    """Partitions dealt round-robin over workers, as the group does (±1 partition each)."""
    return {p: workers[p % len(workers)] for p in range(partitions)}


@pytest.mark.parametrize("costs, workers, partitions, bound", [
    ([1.0] * 10, 3, 12, 1.0),                                     # no costs: ±1 camera
    ([1.0] * 7, 7, 7, 0.0),                                       # exactly one each
    ([4.0, 1.0, 1.0, 1.0, 1.0, 2.0, 0.5, 0.5, 3.0], 3, 20, 4.0),  # mixed costs
    ([0.25] * 40 + [4.0] * 5, 4, 60, 4.0),                        # a few big cameras among many small
    ([8.0, 0.1, 0.1, 0.1], 2, 8, 8.0),                            # one huge camera: its own worker
])
def test_placement_keeps_the_cost_spread_within_the_largest_camera(costs, workers, partitions, bound):
    ws = [f"w{i}" for i in range(workers)]
    lay = Layout(partitions, owner=_owners(ws, partitions))
    for i, c in enumerate(costs):
        place(lay, f"cam{i}", c)
        assert lay.spread() <= max(costs[:i + 1]) + 1e-9, f"after camera {i}: {lay.per_worker()}"
    assert lay.bound() == max(costs)
    assert lay.spread() <= bound + 1e-9, lay.per_worker()
    if len(set(costs)) == 1:  # equal costs: counts differ by at most one camera
        counts = [n for _, n in lay.per_worker().values()]
        assert max(counts) - min(counts) <= 1


def test_placement_without_costs_or_workers_is_the_emptiest_partition():
    lay = Layout(4)
    assert [place(lay, f"c{i}") for i in range(6)] == [0, 1, 2, 3, 0, 1]
    # a worker's emptiest partition is chosen: w0 holds 0 and 2, w1 holds 1 and 3
    lay = Layout(4, {"a": (0, 1.0), "b": (1, 1.0), "c": (3, 1.0)}, {0: "w0", 1: "w1", 2: "w0", 3: "w1"})
    assert place(lay, "d") == 2                      # w0 has the least cost; 2 is its empty partition
    assert place(lay, "e", cost=5.0) == 0            # tie 2–2 and 2–2 cameras: by name, w0; its partition 0
    assert lay.per_worker() == {"w0": (7.0, 3), "w1": (2.0, 2)}
    assert place(lay, "f", cost=1.0) == 1            # now w1, its lowest partition of one camera


def test_plan_restores_the_bound_after_a_cost_blind_failover():
    ws = ["w0", "w1", "w2", "w3"]
    costs = [3.0, 1.0, 0.5, 2.0, 1.0, 0.5, 4.0, 1.5, 0.5, 1.0, 2.5, 0.5]
    lay = Layout(24, owner=_owners(ws, 24))
    for i, c in enumerate(costs):
        place(lay, f"cam{i}", c)
    assert lay.spread() <= 4.0
    # w3 dies; the group hands all its partitions to w0 (worst case: it ignores cost)
    lay.owner = {p: ("w0" if w == "w3" else w) for p, w in lay.owner.items()}
    before = lay.spread()
    assert before > lay.bound()
    moves = plan(lay)
    assert moves and all(m.worker_from != m.worker_to for m in moves)
    assert lay.spread() <= lay.bound() + 1e-9, lay.per_worker()
    assert len(moves) <= len(costs) // 2
    assert plan(lay) == []                           # already within the bound: nothing to do
    # each move lands on a partition of the worker it names
    assert all(lay.owner[m.target] == m.worker_to and lay.cameras[m.camera][0] == m.target for m in moves)


@pytest.mark.parametrize("seed", range(8))
def test_plan_always_ends_within_the_bound(seed):
    import random
    rnd = random.Random(seed)
    ws = [f"w{i}" for i in range(rnd.randint(2, 9))]
    parts = rnd.randint(len(ws), 80)
    lay = Layout(parts, owner={p: rnd.choice(ws) for p in range(parts)})  # any assignment at all
    for i in range(rnd.randint(1, 60)):
        lay.cameras[f"c{i}"] = (rnd.randrange(parts), rnd.choice([0.25, 0.5, 1.0, 2.0, 6.0]))
    plan(lay)
    assert lay.spread() <= lay.bound() + 1e-9, lay.per_worker()


@pytest.mark.parametrize("kwargs, load", [
    ({}, 1.0),
    ({"cost": 2.5}, 2.5),
    ({"width": 1920, "height": 1080, "fps": 30}, 1.0),
    ({"width": 3840, "height": 2160, "fps": 15}, 2.0),
    ({"width": 640, "height": 360, "fps": 15, "cost": 0.3}, 0.3),  # an explicit cost wins
])
def test_camera_cost(kwargs, load):
    cam = Camera("c", "rtsp://x", **kwargs)
    assert cam.load == pytest.approx(load)
    assert Camera.parse(b"c", cam.value()) == cam


@pytest.mark.parametrize("kwargs", [{"cost": 0}, {"cost": -1}, {"cost": "lots"}, {"cost": float("inf")},
                                    {"width": 1920}, {"width": 1920, "height": 1080, "fps": 0}])
def test_a_bad_cost_is_a_config_error(kwargs):
    with pytest.raises(ConfigError):
        Camera("c", "rtsp://x", **kwargs)
    with pytest.raises(ConfigError):
        Camera.parse(b"c", ('{"uri": "rtsp://x", %s}' % ", ".join(f'"{k}": {v!r}'.replace("'", '"')
                                                                  for k, v in kwargs.items())).encode())


def test_a_camera_moved_between_two_partitions_of_one_worker_keeps_running():
    t = CameraTable()
    t.assigned(0, 0, 1)
    t.assigned(1, 0, 0)
    assert kinds(t.record(0, 0, "cam01", A1)) == [("start", "cam01", "rtsp://a/1")]
    assert kinds(t.record(1, 0, "cam01", A1)) == [("start", "cam01", "rtsp://a/1")]  # the worker skips: running
    assert t.record(0, 1, "cam01", None) == []          # the tombstone of the old place: no stop
    assert t.revoked(1) == [stop_("cam01")]


def stop_(cid):
    from estuary.fleet.table import stop
    return stop(cid)


def test_status_shows_cost_per_worker_and_the_bound():
    st = {"w1": {"cameras": {"a": {"fps": 25.0, "frames": 1, "uri": "u", "cost": 2.0},
                             "b": {"fps": 25.0, "frames": 1, "uri": "u", "cost": 0.5}},
                 "capacity": 4, "profile": "count", "pending": [], "partitions": [0]},
          "w2": {"cameras": {"c": {"fps": 25.0, "frames": 1, "uri": "u"}},  # an older worker: no cost
                 "capacity": 4, "profile": "count", "pending": [], "partitions": [1]}}
    out = render_status(st)
    assert "worker w1: 2/4 cameras (50 %), cost 2.5," in out
    assert "worker w2: 1/4 cameras (25 %), cost 1," in out
    assert "cost per worker min 1, max 2.5 (spread 1.5, bound 2: the largest camera)" in out


def test_instance_id_reaches_the_consumer_config(monkeypatch):
    """--instance-id becomes group.instance.id (static membership) in the configuration the
    worker's consumer is made with, and librdkafka accepts that configuration. (Whether a broker
    honours it is not testable here: docs/fleet.md.)"""
    import signal

    from confluent_kafka import Consumer

    from estuary.cli import main
    from estuary.fleet import worker as wmod
    seen = {}
    monkeypatch.setattr(wmod.Worker, "run", lambda self: seen.setdefault("w", self) and 0)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert main(["fleet", "--bootstrap", "127.0.0.1:1", "worker", "--dry", "--id", "w1",
                     "--instance-id", "fleet-worker-3", "--session-timeout-ms", "6000"]) == 0
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    conf = seen["w"].consumer_config()
    assert conf["group.instance.id"] == "fleet-worker-3"
    assert conf["partition.assignment.strategy"] == "cooperative-sticky" and conf["session.timeout.ms"] == 6000
    Consumer(conf).close()  # librdkafka accepts it as is (a bad key or value raises here)
    assert "group.instance.id" not in wmod.Worker("127.0.0.1:1", "w2", dry=True).consumer_config()
    for bad in ("", "pod 3", "a/b", "x" * 250):
        with pytest.raises(ConfigError, match="instance id"):
            wmod.Worker("127.0.0.1:1", "w3", dry=True, instance_id=bad)
