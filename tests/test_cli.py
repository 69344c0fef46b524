"""The ``estuary`` command line, run as a user runs it."""

import subprocess
import sys

import cv2


def cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "estuary.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_demo_writes_an_annotated_video(tmp_path):
    out = tmp_path / "demo.mp4"
    r = cli("demo", "--frames", "130", "--output", str(out))
    assert r.returncode == 0, r.stderr
    assert "objects per class:" in r.stdout and "person=" in r.stdout
    assert "distinct tracks:" in r.stdout
    assert "CRITICAL" not in r.stderr
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n >= 130
    assert (tmp_path / "demo.png").exists()


def test_demo_missing_video_fails_clearly(tmp_path):
    r = cli("demo", "--video", str(tmp_path / "missing.mp4"), "--output", str(tmp_path / "o.mp4"))
    assert r.returncode != 0
    assert "missing.mp4" in r.stderr


def test_inspect_element():
    r = cli("inspect", "nvstreammux")
    assert r.returncode == 0
    assert "batch-size" in r.stdout and "sink_%u" in r.stdout


def test_inspect_unknown_element():
    r = cli("inspect", "nvnothing")
    assert r.returncode == 2 and "no element named 'nvnothing'" in r.stderr
