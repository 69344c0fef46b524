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


def test_demo_labels_never_overlap_and_stay_in_the_frame(tmp_path):
    """What the OSD draws in the demo: every object label inside the frame, no two labels of a
    frame on top of each other (the snapshot in docs/images/demo.png had them touching)."""
    import pyds
    from estuary.apps.demo import build_demo_pipeline, output_size
    from estuary import data
    from estuary.osd.placement import label_size, rects_intersect

    width, height = output_size(data.media_path("bikes.mp4"))
    p = build_demo_pipeline(str(tmp_path / "demo.mp4"))
    seen = {"frames": 0, "crowded": 0, "naive_overlaps": 0, "bad": []}

    def probe(pad, info):
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            seen["frames"] += 1
            rects, naive = [], []
            for o in f.objects:
                t = o.text_params
                text = pyds.get_string(t.display_text) if t.display_text else ""
                if not text:
                    continue
                w, h = label_size(text, pyds.get_string(t.font_params.font_name), t.font_params.font_size)
                rects.append((t.x_offset, t.y_offset, w, h))
                naive.append((max(o.rect_params.left, 0), max(o.rect_params.top - h, 0), w, h))
                if not (0 <= t.x_offset and 0 <= t.y_offset and t.x_offset + w <= width
                        and t.y_offset + h <= height):
                    seen["bad"].append(("outside", f.frame_num, text, rects[-1]))
            pairs = [(a, b) for i, a in enumerate(rects) for b in rects[i + 1:]]
            seen["bad"] += [("overlap", f.frame_num, a, b) for a, b in pairs if rects_intersect(a, b)]
            seen["crowded"] += len(rects) >= 2
            seen["naive_overlaps"] += any(rects_intersect(a, b) for i, a in enumerate(naive)
                                          for b in naive[i + 1:])
        return Gst.PadProbeReturn.OK

    p.get_by_name("osd").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, probe)
    assert run_pipeline(p, timeout=240).type == Gst.MessageType.EOS
    assert seen["frames"] == 250
    assert seen["crowded"] >= 10, seen  # frames with two labels or more were checked
    assert seen["naive_overlaps"] >= 1, seen  # labels on top of their boxes would have overlapped
    assert seen["bad"] == []


def test_tiled_screenshot_shows_different_sources():
    """scripts/screenshots.py tiles four different views (not one clip four times)."""
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "scripts", "screenshots.py")
    spec = importlib.util.spec_from_file_location("screenshots", path)
    shots = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shots)
    assert len(shots.TILED_SOURCES) == 4 and len(set(shots.TILED_SOURCES)) == 4
    assert len({name for name, _ in shots.TILED_SOURCES}) >= 2  # a video and a photo at least
    fragments = shots.tiled_sources()
    assert len(set(fragments)) == 4 and all(f"m.sink_{i}" in fragments[i] for i in range(4))
