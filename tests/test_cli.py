"""The ``estuary`` command line, run as a user runs it."""

import re
import subprocess
import sys

import cv2

from estuary import data


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
    out = tmp_path / "cut.mp4"
    from test_faults import grown, interrupt_when
    r = interrupt_when([sys.executable, "-m", "estuary.cli", "demo", "--output", str(out)],
                       getattr(signal, sig), grown(out, 20000), tmp_path)
    stdout, stderr = r.stdout, r.stderr
    assert r.returncode == code, stderr[-1500:]
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


def test_inspect_without_an_element_lists_them_all():
    r = cli("inspect")
    assert r.returncode == 0, r.stderr
    rows = {ln.split()[0].rstrip(","): ln for ln in r.stdout.splitlines() if ln.startswith("es")}
    assert "nvinfer" in rows["esinfer"] and "Estuary inference" in rows["esinfer"]
    assert "nvstreammux" in rows["esmux"] and "nvtracker" in rows["estracker"]
    assert re.search(r"^\d+ names, \d+ elements", r.stdout, re.M)


def test_apps_descriptions_are_whole():
    r = cli("apps")
    assert r.returncode == 0
    # the first paragraph of each sample's docstring, joined, however long
    text = " ".join(r.stdout.split())
    assert "(or written to an MP4 with Estuary's --output option)." in text
    assert "printing the analytics meta per object and per frame." in text


def test_run_app_help_prints_usage_without_running():
    r = cli("run", "test1", "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: estuary run test1 [--output FILE.mp4] <media file or uri>")
    assert "no such file" not in r.stderr
    r = cli("run", "test3", "-h")
    assert r.returncode == 0 and "usage: estuary run test3 [--output FILE.mp4] <uri1> [uri2] ... [uriN]" in r.stdout
    r = cli("run", "test4", "--help")  # a sample with its own options shows them
    assert r.returncode == 0 and "estuary run test4" in r.stdout and "--proto-lib" in r.stdout


def test_run_output_is_refused_where_the_app_writes_its_own():
    r = cli("run", "ssd-parser", "--output", "x.mp4", "in.h264")
    assert r.returncode == 2 and "has no --output" in r.stderr


def _black_clip(path, frames, container):
    from estuary.gst import Gst
    tail = ("h264parse ! video/x-h264,stream-format=byte-stream" if container == "h264"
            else "h264parse ! mp4mux")
    p = Gst.parse_launch(f"videotestsrc pattern=black num-buffers={frames} ! video/x-raw,format=I420,width=320,height=240,"
                         f"framerate=25/1 ! x264enc speed-preset=ultrafast ! {tail} ! filesink location={path}")
    from estuary.runner import run
    assert run(p, quiet=True) == 0


def _frames_with_text(path):
    """Decoded frames of ``path`` and how many show bright overlay text (the input is black)."""
    cap = cv2.VideoCapture(str(path))
    n = drawn = 0
    while True:
        ok, img = cap.read()
        if not ok:
            return n, drawn
        n += 1
        drawn += int((img[:60, :, :] > 200).sum() > 50)


def _bikes_cut(path, first, last):
    """Frames ``first``..``last - 1`` of the bundled street video, as an H.264 MP4."""
    from estuary.gst import Gst
    imgs = _decoded(data.media_path("bikes.mp4"))[first:last]
    h, w = imgs[0].shape[:2]
    p = Gst.parse_launch(f"appsrc name=src format=time caps=video/x-raw,format=BGR,width={w},height={h},"
                         "framerate=25/1 ! videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast ! "
                         f"h264parse ! mp4mux ! filesink location={path}")
    src = p.get_by_name("src")
    p.set_state(Gst.State.PLAYING)
    for i, img in enumerate(imgs):
        buf = Gst.Buffer.new_wrapped(img.tobytes())
        buf.pts, buf.duration = i * Gst.SECOND // 25, Gst.SECOND // 25
        assert src.emit("push-buffer", buf) == Gst.FlowReturn.OK
    src.emit("end-of-stream")
    msg = p.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    assert msg is not None and msg.type == Gst.MessageType.EOS


def _decoded(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            return out
        out.append(img)


def test_run_test1_output_writes_a_playable_annotated_mp4(tmp_path):
    clip = tmp_path / "in.h264"
    _black_clip(clip, 25, "h264")
    out = tmp_path / "annotated.mp4"
    r = cli("run", "test1", "--output", str(out), str(clip), timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "no display" not in r.stderr  # the video went to the file, not away
    n, drawn = _frames_with_text(out)
    assert n == 25 and drawn == 25, (n, drawn)  # every frame, each with the sample's text overlay


def test_run_test3_output_writes_a_playable_annotated_mp4(tmp_path):
    import numpy as np
    clip = tmp_path / "in.mp4"
    _bikes_cut(clip, 100, 140)  # people and cars on the street
    out = tmp_path / "annotated.mp4"
    r = cli("run", "test3", "--output", str(out), "file://" + str(clip), timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    counts = [int(m.group(2)) for m in map(re.compile(r"^Frame Number= (\d+) Number of Objects= (\d+)").match,
                                           r.stdout.splitlines()) if m]
    src, ann = _decoded(clip), _decoded(out)
    assert len(ann) == len(src) == len(counts) > 30
    assert sum(c > 0 for c in counts) >= 10
    for img, ref, c in zip(ann, src, counts):
        ref = cv2.resize(ref, (img.shape[1], img.shape[0]))
        changed = int((np.abs(img.astype(np.int16) - ref).max(axis=2) > 100).sum())
        # boxes drawn exactly where objects were found (coding noise stays far below 100 levels)
        assert (changed > 300) == (c > 0), (c, changed)


def test_display_output_plays_after_the_process_is_killed(tmp_path):
    """A process killed before EOS (SIGKILL, OOM, a crash) leaves its --output MP4 playable up
    to its last whole second: a plain MP4 has no index until EOS and plays nothing then."""
    import os
    import signal
    import time
    out = tmp_path / "live.mp4"
    code = ("import pyds; from estuary.gst import Gst; "
            "p = Gst.parse_launch('videotestsrc is-live=true pattern=ball ! "
            "video/x-raw,width=320,height=240,framerate=15/1 ! nveglglessink'); "
            "p.set_state(Gst.State.PLAYING); print('playing', flush=True); "
            "p.get_bus().timed_pop_filtered(120 * Gst.SECOND, Gst.MessageType.ERROR)")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["ESTUARY_DISPLAY_OUTPUT"] = str(out)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "playing"
        deadline = time.monotonic() + 60
        while (not out.exists() or out.stat().st_size < 20000) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # three more seconds of frames (15 fps) at least
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    frames = _decoded(out)
    assert len(frames) >= 30, f"{len(frames)} frames play"
    assert frames[0].shape[:2] == (240, 320)


def test_headless_warning_names_the_sink_and_an_option_that_exists(tmp_path):
    import os
    clip = tmp_path / "in.h264"
    _black_clip(clip, 3, "h264")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "ESTUARY_DISPLAY_OUTPUT")}
    r = subprocess.run([sys.executable, "-m", "estuary.cli", "run", "test1", str(clip)], capture_output=True,
                       text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stderr
    warning = [ln for ln in r.stderr.splitlines() if "no display" in ln]
    assert len(warning) == 1 and "nvvideo-renderer (nveglglessink)" in warning[0], r.stderr
    assert "--output out.mp4" in warning[0] and "None" not in warning[0]


def test_launch_takes_e_and_v_and_prints_progress():
    r = cli("launch", "-e", "-v", "--progress", "0.5", "videotestsrc", "num-buffers=45", "!",
            "video/x-raw,width=64,height=48,framerate=30/1", "!", "m.sink_0", "nvstreammux", "name=m",
            "batch-size=1", "width=64", "height=48", "!", "fakesink", "sync=true")
    assert r.returncode == 0, r.stderr
    assert re.search(r"/GstPipeline:pipeline\d+/GstCapsFilter:capsfilter\d+\.GstPad:src: caps = video/x-raw", r.stdout)
    progress = re.findall(r"^progress: +[\d.]+ s +(\d+) frames +([\d.]+) fps", r.stderr, re.M)
    assert len(progress) >= 2 and 0 < int(progress[-1][0]) <= 45
    assert re.search(r"^estuary: done: 45 frames in [\d.]+ s", r.stderr, re.M)


def test_estuary_bench_without_a_source_checkout_says_where_the_benchmark_is(monkeypatch, tmp_path, capsys):
    """The benchmarks live in the repository's bench/ (not in the wheel): without it, a clear
    error and a non-zero exit."""
    from estuary import cli as estuary_cli
    monkeypatch.setattr(estuary_cli, "_bench_candidates", lambda: [str(tmp_path / "bench" / "cpu_compare.py")])
    assert estuary_cli.main(["bench", "--streams", "1"]) == 2
    err = capsys.readouterr().err
    assert "bench/cpu_compare.py" in err and "clone the Estuary repository" in err
