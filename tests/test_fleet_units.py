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
    assert "worker w1: 1/4 cameras (25 %), 25.0 fps, 2 partitions" in out
    assert "worker w2: 2/4 cameras (50 %), 49.5 fps, 1 partitions, profile count, waiting: cam03" in out
    assert "2 workers, 3 cameras running; per worker min 1, max 2" in out
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
