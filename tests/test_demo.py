"""The flagship demo tells the truth: its secondary classifier reports vehicle types only (the
ImageNet classifier behind a label map), and ``demo --video`` keeps the video's aspect ratio."""

import re
import subprocess
import sys

import cv2
import numpy as np

from estuary.gst import Gst
from estuary.infer.labelmap import VEHICLE_TYPE_LABELS, grouped

from conftest import run_pipeline


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "estuary.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_label_map_adds_up_the_classes_of_each_type():
    labels = ("bus", "car")
    groups = {1: "car", 2: "car", 4: "bus"}
    probs = np.array([[0.5, 0.2, 0.2, 0.0, 0.1],    # car 0.4 beats bus 0.1, though class 0 is the top-1
                      [0.9, 0.02, 0.02, 0.0, 0.06],  # no vehicle reaches the threshold
                      [0.0, 0.0, 0.1, 0.0, 0.9]], np.float32)
    out = grouped(probs, groups, labels, threshold=0.25)
    assert out[0].label == "car" and abs(out[0].prob - 0.4) < 1e-6 and out[0].class_id == 1
    assert out[1] is None
    assert out[2].label == "bus" and out[2].class_id == 0


def test_demo_reports_vehicle_types_only(tmp_path):
    r = cli("demo", "--output", str(tmp_path / "demo.mp4"))  # the whole clip: its trucks come late
    assert r.returncode == 0, r.stderr
    line = re.search(r"vehicle types \(secondary classifier\): (.*)", r.stdout).group(1)
    found = dict(item.split("=") for item in line.split(", ")) if line != "none" else {}
    assert found, r.stdout  # bikes.mp4 has cars and trucks in it (the ImageNet top-1 said
    # "truck=5, cassette player=4" before the label map)
    assert set(found) <= set(VEHICLE_TYPE_LABELS), found


def test_demo_video_keeps_the_aspect_ratio(tmp_path):
    clip = tmp_path / "square-ish.mp4"
    p = Gst.parse_launch(f"videotestsrc num-buffers=20 pattern=ball ! video/x-raw,format=I420,width=320,height=240,"
                         f"framerate=25/1 ! x264enc speed-preset=ultrafast ! h264parse ! mp4mux ! "
                         f"filesink location={clip}")
    assert run_pipeline(p).type == Gst.MessageType.EOS
    out = tmp_path / "out.mp4"
    r = cli("demo", "--video", str(clip), "--output", str(out))
    assert r.returncode == 0, r.stderr
    cap = cv2.VideoCapture(str(out))
    ok, frame = cap.read()
    assert ok and frame.shape[:2] == (240, 320)
