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


def test_launch_runs_a_pipeline_and_reports_errors():
    import json
    r = cli("launch", "--json", "videotestsrc", "num-buffers=5", "!", "m.sink_0", "nvstreammux", "name=m",
            "batch-size=1", "width=64", "height=48", "!", "fakesink")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["status"] == 0
    r = cli("launch", "videotestsrc", "!", "nvnothing", "!", "fakesink")
    assert r.returncode == 2 and "cannot build the pipeline" in r.stderr
    r = cli("launch", "videotestsrc", "num-buffers=3", "!", "m.sink_0", "nvstreammux", "name=m", "!",
            "nvinfer", "config-file-path=/nope.txt", "!", "fakesink")
    assert r.returncode == 1 and "config file not found" in r.stderr


def test_testing_helpers_collect_metadata():
    from estuary import data
    from estuary.testing import run_and_collect, run_probe, synthetic_source
    frames = run_and_collect(
        f"{synthetic_source(frames=4)} ! m.sink_0 nvstreammux name=m batch-size=1 width=320 height=240 ! "
        f"nvinfer config-file-path={data.model_path(data.PRIMARY_CONFIG)} ! fakesink name=sink")
    assert [f.frame_num for f in frames] == [0, 1, 2, 3] and all(f.source_id == 0 for f in frames)
    import pytest as _pytest
    from estuary.gst import Gst
    p = Gst.parse_launch(f"{synthetic_source(frames=2)} ! m.sink_0 nvstreammux name=m batch-size=1 "
                         "width=64 height=48 ! fakesink name=sink")

    def bad_probe(pad, info, u):
        raise ValueError("probe bug")

    with _pytest.raises(ValueError, match="probe bug"):
        run_probe(p, "sink", "sink", bad_probe)


def test_log_level_option():
    r = cli("--log-level", "INFO", "inspect", "nvosd_unknown")
    assert r.returncode == 2
    r = cli("--log-level", "LOUD", "apps")
    assert r.returncode == 2 and "invalid choice" in r.stderr


import pytest


@pytest.mark.parametrize("sig,code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_signal_finishes_a_playable_mp4(tmp_path, sig, code):
    import signal
    import time
    out = tmp_path / "cut.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "estuary.cli", "demo", "--output", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6)  # well inside the 250-frame run
    proc.send_signal(getattr(signal, sig))
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr[-1500:]
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert 10 < n < 250  # cut short, and the file is complete enough to play
    assert "annotated video:" in stdout


def test_estuary_bench_runs_the_ceilings_and_prints_the_table(tmp_path):
    import json
    out = tmp_path / "bench.json"
    r = subprocess.run([sys.executable, "-m", "estuary", "bench", "--streams", "1", "--modes", "decode,model",
                        "--repeat", "1", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "model ceiling:" in r.stdout and "decode " in r.stdout
    rows = {row["mode"]: row for row in json.loads(out.read_text())}
    assert rows["decode"]["frames"] == 250 and rows["decode"]["fps"] > 0
    assert rows["model"]["fps"] > 0
