"""Fault injection: bad inputs of every kind, each run in its own process with a timeout.

Every case asserts: the process was not killed by a signal (no segfault, no abort), it did not
hang, it exited non-zero where the pipeline failed, and what it printed names the file, key or
source at fault. docs/reliability.md carries the table these cases make up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from estuary import data
from test_inferserver import CONFIG as INFERSERVER_CONFIG

PY = sys.executable
MEDIA = data.media_path("bikes.mp4")
H264 = data.media_path("bikes.h264")
PRIMARY = data.model_path(data.PRIMARY_CONFIG)
ONNX = data.model_path("yolov3-tiny.onnx")
LABELS = data.model_path("coco_labels.txt")
TIMEOUT = 120


@dataclass
class Case:
    """``argv`` (with {tmp} for the case's folder) and what must be seen."""

    argv: list
    fails: bool = True  # the process must exit non-zero
    says: list = field(default_factory=list)  # substrings of stdout+stderr (after {tmp} expansion)
    files: dict = field(default_factory=dict)  # name -> bytes | str | callable(tmp) -> bytes, written first
    env: dict = field(default_factory=dict)  # environment variables added for the run


def cli(*args):
    return [PY, "-m", "estuary.cli", *args]


def py(code: str):
    return [PY, "-c", "import pyds\nfrom estuary.gst import Gst\n" + code]


def launch(desc: str):
    return cli("launch", desc)


def _rand(n: int) -> bytes:
    return os.urandom(n)


def _truncated_onnx(_tmp) -> bytes:
    return Path(ONNX).read_bytes()[:20000]


def _infer_config(onnx: str = "{tmp}/model.onnx", labels: str = LABELS, extra: str = "") -> str:
    text = Path(PRIMARY).read_text()
    text = text.replace("onnx-file=yolov3-tiny.onnx", f"onnx-file={onnx}")
    text = text.replace("labelfile-path=coco_labels.txt", f"labelfile-path={labels}")
    return text.replace("[class-attrs-all]", extra + "\n[class-attrs-all]")


def _infer_pipeline(config: str = "{tmp}/pgie.txt", element: str = "nvinfer") -> str:
    return (f"videotestsrc num-buffers=5 ! video/x-raw,width=320,height=240 ! m.sink_0 "
            f"nvstreammux name=m batch-size=1 width=320 height=240 ! "
            f"{element} config-file-path={config} ! fakesink")


def _inferserver_files(model: bytes | None, labels: bytes | None) -> dict:
    files = {"cfg.txt": INFERSERVER_CONFIG}
    files["trtis_model_repo/ssd_yolov3_tiny/1/model.onnx"] = model if model is not None else (lambda _t: Path(ONNX).read_bytes())
    files["labels.txt"] = labels if labels is not None else (lambda _t: Path(LABELS).read_bytes())
    return files


def _mux(desc_sources: str, n: int = 1) -> str:
    return (f"{desc_sources} nvstreammux name=m batch-size={n} width=320 height=240 "
            "batched-push-timeout=40000 ! fakesink")


BROKEN_H264 = {"broken.h264": lambda _t: _rand(50000)}
# a recording whose writer died before EOS: the MP4's first half, no index ('moov' box) at its end
UNFINISHED_MP4 = {"cut.mp4": lambda _t: Path(MEDIA).read_bytes()[: Path(MEDIA).stat().st_size // 2]}

CASES = {
    # -- issue item 1: model files that used to kill the process (nvinfer and nvinferserver) --
    "nvinfer-empty-onnx": Case(launch(_infer_pipeline()), says=["{tmp}/model.onnx", "empty"],
                               files={"model.onnx": b"", "pgie.txt": _infer_config()}),
    "nvinfer-random-onnx": Case(launch(_infer_pipeline()), says=["{tmp}/model.onnx", "not a valid ONNX"],
                                files={"model.onnx": lambda _t: _rand(3000), "pgie.txt": _infer_config()}),
    "nvinfer-truncated-onnx": Case(launch(_infer_pipeline()), says=["{tmp}/model.onnx", "truncated"],
                                   files={"model.onnx": _truncated_onnx, "pgie.txt": _infer_config()}),
    "nvinfer-text-as-onnx": Case(launch(_infer_pipeline()), says=["{tmp}/model.onnx"],
                                 files={"model.onnx": b"hello, I am not a model\n", "pgie.txt": _infer_config()}),
    "nvinfer-onnx-is-a-folder": Case(launch(_infer_pipeline()), says=["{tmp}/model.onnx"],
                                     files={"model.onnx/x": b"", "pgie.txt": _infer_config()}),
    "nvinfer-random-labels": Case(launch(_infer_pipeline()), says=["{tmp}/labels.txt", "label file"],
                                  files={"labels.txt": lambda _t: b"\xff\xfe\xfa" + _rand(500),
                                         "pgie.txt": _infer_config(onnx=ONNX, labels="{tmp}/labels.txt")}),
    "nvinfer-missing-labels": Case(launch(_infer_pipeline()), says=["{tmp}/nolabels.txt"],
                                   files={"pgie.txt": _infer_config(onnx=ONNX, labels="{tmp}/nolabels.txt")}),
    "nvinferserver-empty-onnx": Case(launch(_infer_pipeline("{tmp}/cfg.txt", "nvinferserver")),
                                     says=["model.onnx", "empty"], files=_inferserver_files(b"", None)),
    "nvinferserver-truncated-onnx": Case(launch(_infer_pipeline("{tmp}/cfg.txt", "nvinferserver")),
                                         says=["model.onnx"],
                                         files=_inferserver_files(Path(ONNX).read_bytes()[:30000], None)),
    "nvinferserver-random-onnx": Case(launch(_infer_pipeline("{tmp}/cfg.txt", "nvinferserver")),
                                      says=["model.onnx"], files=_inferserver_files(os.urandom(4000), None)),
    "nvinferserver-random-labels": Case(launch(_infer_pipeline("{tmp}/cfg.txt", "nvinferserver")),
                                        says=["labels.txt"],
                                        files=_inferserver_files(None, b"\xff\xfe" + os.urandom(300))),
    # -- item 2: pyds handed bad handles --
    "pyds-batch-meta-none": Case(py("pyds.gst_buffer_get_nvds_batch_meta(None)"),
                                 says=["InvalidAddressError", "gst_buffer is None"]),
    "pyds-batch-meta-0x1234": Case(py("pyds.gst_buffer_get_nvds_batch_meta(0x1234)"),
                                   says=["InvalidAddressError", "0x1234"]),
    "pyds-batch-meta-stale-object": Case(py("pyds.gst_buffer_get_nvds_batch_meta(id(object()))"),
                                         says=["not the address of a live GstBuffer"]),
    "pyds-surface-none": Case(py("pyds.get_nvds_buf_surface(None, 0)"), says=["gst_buffer is None"]),
    "pyds-surface-0x1234567": Case(py("pyds.get_nvds_buf_surface(0x1234567, 0)"), says=["0x1234567"]),
    "pyds-surface-batch-id-minus-1": Case(py(
        "from estuary.testing import run_probe\n"
        "p = Gst.parse_launch('videotestsrc num-buffers=2 ! video/x-raw,width=64,height=48 ! m.sink_0 "
        "nvstreammux name=m batch-size=1 width=64 height=48 ! fakesink name=sink')\n"
        "def probe(pad, info, u):\n"
        "    pyds.get_nvds_buf_surface(hash(info.get_buffer()), -1)\n"
        "    return Gst.PadProbeReturn.OK\n"
        "run_probe(p, 'sink', 'sink', probe)\n"), says=["no batch_id -1"]),
    "pyds-get-string-str": Case(py("pyds.get_string('abc')"), says=["get_string takes the int address"]),
    "pyds-get-string-unknown": Case(py("pyds.get_string(0xdeadbeef)"), says=["0xdeadbeef"]),
    "pyds-get-detections-bad-address": Case(py("pyds.get_detections(0x1234, 0)"), says=["0x1234"]),
    "pyds-cast-bad-address": Case(py("pyds.NvDsFrameMeta.cast(0x1234)"), says=["0x1234"]),
    # -- item 4: a broker setting that no retry can mend reaches the bus --
    "msgbroker-port-not-a-number": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvmsgbroker proto-lib=libnvds_mqtt_proto.so "
        "conn-str=127.0.0.1;notaport topic=t"), says=["conn-str", "notaport"]),
    "msgbroker-port-out-of-range": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvmsgbroker proto-lib=libnvds_redis_proto.so "
        "conn-str=127.0.0.1;99999 topic=t"), says=["99999", "out of range"]),
    "msgbroker-unknown-proto-lib": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvmsgbroker proto-lib=libnvds_foo_proto.so conn-str=x;1 topic=t"),
        says=["libnvds_foo_proto.so"]),
    "msgbroker-missing-config": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvmsgbroker proto-lib=libnvds_kafka_proto.so "
        "conn-str=127.0.0.1;9092 config={tmp}/nocfg.txt topic=t"), says=["{tmp}/nocfg.txt"]),
    # -- item 5: the CLIs report a failed pipeline --
    "run-test1-broken-file": Case(cli("run", "test1", "{tmp}/broken.h264"), says=["{tmp}/broken.h264"],
                                  files=BROKEN_H264),
    "run-test1-missing-file": Case(cli("run", "test1", "{tmp}/missing.h264"), says=["{tmp}/missing.h264"]),
    "run-test3-rtsp-no-server": Case(cli("run", "test3", "rtsp://127.0.0.1:9/cam"), says=["rtsp://127.0.0.1:9/cam"]),
    "run-unknown-app": Case(cli("run", "nosuchapp"), says=["nosuchapp"]),
    "run-test3-unfinished-mp4": Case(cli("run", "test3", "file://{tmp}/cut.mp4"),
                                     says=["{tmp}/cut.mp4 has no index", "never finished"], files=UNFINISHED_MP4),
    # no H.264 decoder (as on a machine without gst-libav): the demuxer's bare "Internal data
    # stream error" comes with what was missing and where to get it
    "run-test3-no-h264-decoder": Case(
        cli("run", "test3", "file://" + data.media_path("bikes.mp4")),
        says=["H.264 (High Profile) decoder", "gstreamer1.0-libav"],
        env={"GST_PLUGIN_FEATURE_RANK": "avdec_h264:0,openh264dec:0,nvh264dec:0,nvh264sldec:0"}),
    "demo-video-raw-h264-of-noise": Case(cli("demo", "--video", "{tmp}/broken.h264", "--output", "{tmp}/o.mp4"),
                                         says=["{tmp}/broken.h264"], files=BROKEN_H264),
    "demo-video-empty-file": Case(cli("demo", "--video", "{tmp}/empty.mp4", "--output", "{tmp}/o.mp4"),
                                  says=["{tmp}/empty.mp4"], files={"empty.mp4": b""}),
    "demo-video-unfinished-mp4": Case(cli("demo", "--video", "{tmp}/cut.mp4", "--output", "{tmp}/o.mp4"),
                                      says=["{tmp}/cut.mp4 has no index"], files=UNFINISHED_MP4),
    "demo-video-missing": Case(cli("demo", "--video", "{tmp}/none.mp4", "--output", "{tmp}/o.mp4"),
                               says=["{tmp}/none.mp4"]),
    "launch-syntax-error": Case(launch("videotestsrc ! ! fakesink"), says=["cannot build the pipeline"]),
    "launch-unknown-element": Case(launch("videotestsrc ! nosuchelement ! fakesink"), says=["nosuchelement"]),
    "multigpu-worker-fails": Case([PY, "-m", "estuary.multigpu", "run", "--gpus", "0", "--config",
                                   "{tmp}/none.txt", "file://{tmp}/none.mp4"], says=["workers failed"]),
    "inspect-unknown-element": Case(cli("inspect", "nosuchelement"), says=["nosuchelement"]),
    # -- sources --
    "urisrcbin-missing-file": Case(launch(_mux("nvurisrcbin uri=file://{tmp}/none.mp4 ! m.sink_0")),
                                   says=["{tmp}/none.mp4"]),
    "urisrcbin-random-bytes": Case(launch(_mux("nvurisrcbin uri=file://{tmp}/noise.mp4 ! m.sink_0")),
                                   says=["{tmp}/noise.mp4"], files={"noise.mp4": lambda _t: _rand(100000)}),
    "urisrcbin-empty-file": Case(launch(_mux("nvurisrcbin uri=file://{tmp}/empty.mp4 ! m.sink_0")),
                                 says=["{tmp}/empty.mp4"], files={"empty.mp4": b""}),
    "urisrcbin-unfinished-mp4": Case(launch(_mux("nvurisrcbin uri=file://{tmp}/cut.mp4 ! m.sink_0")),
                                     says=["{tmp}/cut.mp4 has no index"], files=UNFINISHED_MP4),
    "urisrcbin-no-uri": Case(launch(_mux("nvurisrcbin ! m.sink_0")), says=["uri"]),
    "urisrcbin-rtsp-gives-up": Case(launch(_mux(
        "nvurisrcbin uri=rtsp://127.0.0.1:9/cam rtsp-reconnect-interval=1 rtsp-reconnect-attempts=1 ! m.sink_0")),
        says=["rtsp://127.0.0.1:9/cam", "gave up"]),
    # -- configs of other elements --
    "nvinfer-missing-config": Case(launch(_infer_pipeline("{tmp}/none.txt")), says=["{tmp}/none.txt"]),
    "nvinfer-random-config": Case(launch(_infer_pipeline()), says=["{tmp}/pgie.txt"],
                                  files={"pgie.txt": lambda _t: b"\xff\xfe" + _rand(2000)}),
    "nvinfer-unknown-key": Case(launch(_infer_pipeline()), says=["{tmp}/pgie.txt", "no-such-key"],
                                files={"pgie.txt": _infer_config(onnx=ONNX, extra="no-such-key=1")}),
    "nvinfer-batch-size-0": Case(launch(_infer_pipeline()), says=["{tmp}/pgie.txt", "batch-size"],
                                 files={"pgie.txt": _infer_config(onnx=ONNX).replace("batch-size=1", "batch-size=0")}),
    "nvinferserver-missing-config": Case(launch(_infer_pipeline("{tmp}/none.txt", "nvinferserver")),
                                         says=["{tmp}/none.txt"]),
    "nvinferserver-garbage-config": Case(launch(_infer_pipeline("{tmp}/cfg.txt", "nvinferserver")),
                                         says=["{tmp}/cfg.txt"], files={"cfg.txt": "infer_config { backend { ]]] "}),
    "nvdsanalytics-missing-config": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvdsanalytics config-file={tmp}/none.txt ! fakesink"),
        says=["{tmp}/none.txt"]),
    "nvdsanalytics-random-config": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvdsanalytics config-file={tmp}/a.txt ! fakesink"),
        says=["{tmp}/a.txt"], files={"a.txt": lambda _t: b"\xff\xfe" + _rand(1000)}),
    "nvdspreprocess-missing-config": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvdspreprocess config-file={tmp}/none.txt ! fakesink"),
        says=["{tmp}/none.txt"]),
    "nvmsgconv-missing-config": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvmsgconv config={tmp}/none.txt ! fakesink"),
        says=["{tmp}/none.txt"]),
    # -- item 6: tracker configs --
    "nvtracker-random-bytes-config": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvtracker ll-lib-file=libnvds_nvmultiobjecttracker.so "
        "ll-config-file={tmp}/t.yml ! fakesink"), says=["{tmp}/t.yml"], files={"t.yml": lambda _t: _rand(2000)}),
    "nvtracker-negative-value-named-by-users-key": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvtracker ll-lib-file=libnvds_nvmultiobjecttracker.so "
        "ll-config-file={tmp}/t.yml ! fakesink"), says=["{tmp}/t.yml", "probationAge"],
        files={"t.yml": "TargetManagement:\n  probationAge: -3\n"}),
    "nvtracker-missing-ll-lib": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvtracker ll-lib-file=/nonexistent/libfoo.so ! fakesink"),
        says=["/nonexistent/libfoo.so", "ll-lib-file"]),
    "nvtracker-missing-ll-config": Case(launch(
        "videotestsrc num-buffers=5 ! video/x-raw,width=64,height=48 ! m.sink_0 nvstreammux name=m "
        "batch-size=1 width=64 height=48 ! nvtracker ll-lib-file=libnvds_nvmultiobjecttracker.so "
        "ll-config-file={tmp}/none.yml ! fakesink"), says=["{tmp}/none.yml"]),
}


def _expand(x: str, tmp: Path) -> str:
    return x.replace("{tmp}", str(tmp))


def _write(tmp: Path, files: dict) -> None:
    for name, content in files.items():
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content = content(tmp)
        if isinstance(content, str):
            content = _expand(content, tmp).encode()
        path.write_bytes(content)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fault(name, tmp_path):
    case = CASES[name]
    _write(tmp_path, case.files)
    argv = [_expand(a, tmp_path) for a in case.argv]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path,
                           stdin=subprocess.DEVNULL, env={**os.environ, **case.env})
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: hung (no exit within {TIMEOUT} s)")
    out = r.stdout + r.stderr
    assert r.returncode >= 0, f"{name}: killed by signal {-r.returncode}:\n{out[-3000:]}"
    if case.fails:
        assert r.returncode != 0, f"{name}: exited 0 although it failed:\n{out[-3000:]}"
    for s in case.says:
        assert _expand(s, tmp_path) in out, f"{name}: {s!r} not in the output:\n{out[-3000:]}"
    assert "Traceback (most recent call last)" not in r.stderr or "Error" in r.stderr


# -- item 7: one bad source among bare nvurisrcbin elements ---------------------------------------
def test_bare_urisrcbin_corrupt_source_does_not_stop_the_others(tmp_path):
    bad = tmp_path / "corrupt.mp4"
    raw = bytearray(Path(MEDIA).read_bytes())
    raw[len(raw) // 3: len(raw) // 3 + 4096] = os.urandom(4096)
    bad.write_bytes(bytes(raw[: len(raw) // 2]))
    code = (
        "import pyds, sys\nfrom estuary.gst import Gst\nfrom estuary.runner import run\n"
        f"p = Gst.parse_launch('nvurisrcbin uri=file://{MEDIA} ! m.sink_0 "
        f"nvurisrcbin uri=file://{bad} startup-timeout=5 ! m.sink_1 "
        "nvstreammux name=m batch-size=2 width=320 height=240 batched-push-timeout=40000 ! fakesink name=sink')\n"
        "frames = {}\n"
        "def probe(pad, info):\n"
        "    bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))\n"
        "    for f in bm.frames:\n"
        "        frames[f.source_id] = frames.get(f.source_id, 0) + 1\n"
        "    return Gst.PadProbeReturn.OK\n"
        "p.get_by_name('sink').get_static_pad('sink').add_probe(Gst.PadProbeType.BUFFER, probe)\n"
        "rc = run(p, continue_on_source_error=True)\n"
        "print('FRAMES', frames.get(0, 0), frames.get(1, 0), 'RC', rc)\n")
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr[-3000:]
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("FRAMES")][0].split()
    good = int(line[1])
    assert good >= 240, f"the good source delivered {good} frames:\n{r.stderr[-2000:]}"
    assert str(bad) in r.stderr and "continuing with the other sources" in r.stderr


# -- an app that exits while its pipeline plays ----------------------------------------------------
_EXIT_PLAYING = """
import sys, threading
import pyds  # noqa: F401  (loads Estuary's elements, as an app does)
from estuary.gst import Gst
from estuary import data
p = Gst.parse_launch(
    f"filesrc location={data.media_path('bikes.mp4')} ! qtdemux ! h264parse ! nvv4l2decoder ! "
    "m.sink_0 nvstreammux name=m batch-size=1 width=640 height=272 ! "
    f"nvinfer infer-workers={sys.argv[1]} config-file-path={data.model_path(data.PRIMARY_CONFIG)} ! "
    "nvdsosd ! fakesink name=sink")
seen, enough = [0], threading.Event()
def probe(pad, info):
    seen[0] += 1
    if seen[0] == 30:
        enough.set()
    return Gst.PadProbeReturn.OK
p.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
p.set_state(Gst.State.PLAYING)
assert enough.wait(60), "30 frames never came"
sys.exit(3)  # no set_state(NULL): the pipeline is playing, threads are inside OpenCV / OpenVINO
"""


@pytest.mark.parametrize("workers", [1, 2])  # inference in the muxer's thread / in a worker pool
def test_exit_while_the_pipeline_plays_keeps_the_apps_status(workers, tmp_path):
    # Without the stop at exit (estuary.gst.element.stop_pipelines_at_exit) every run aborted:
    # "terminate called without an active exception", status -6
    r = subprocess.run([PY, "-c", _EXIT_PLAYING, str(workers)], capture_output=True, text=True,
                       timeout=TIMEOUT, cwd=tmp_path)
    assert r.returncode == 3, f"status {r.returncode}:\n{r.stderr[-3000:]}"
    assert "terminate called" not in r.stderr


# -- item 3: signals finish recordings with looping, live and RTSP sources -----------------------
def _playable_frames(path: Path) -> int:
    """Frames decoded to the end of the file (0 when it is not playable)."""
    import cv2
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def interrupt_when(argv: list, sig: int, ready, tmp: Path, limit: float = 120.0,
                   wait: float = 120.0, again_after: float | None = None) -> subprocess.CompletedProcess:
    """Start ``argv``, wait until ``ready(stdout_so_far)`` holds (the run is really under way,
    however loaded the machine), send ``sig`` (and again ``again_after`` seconds later) and
    collect the outcome."""
    import threading
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp)
    chunks = {"out": [], "err": []}

    def pump(stream, key):
        for line in stream:
            chunks[key].append(line)

    threads = [threading.Thread(target=pump, args=(proc.stdout, "out"), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, "err"), daemon=True)]
    for t in threads:
        t.start()
    end = time.monotonic() + limit
    try:
        while not ready("".join(chunks["out"])):
            assert proc.poll() is None, f"ended before it was interrupted:\n{''.join(chunks['err'])[-2000:]}"
            assert time.monotonic() < end, f"not under way after {limit} s:\n{''.join(chunks['err'])[-2000:]}"
            time.sleep(0.2)
    except AssertionError:
        proc.kill()  # a failed test leaves no process behind
        proc.wait()
        raise
    proc.send_signal(sig)
    if again_after is not None:
        time.sleep(again_after)
        proc.send_signal(sig)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running {wait} s after {signal.Signals(sig).name}:\n{''.join(chunks['err'])[-2000:]}")
    for t in threads:
        t.join(timeout=10)
    return subprocess.CompletedProcess(argv, proc.returncode, "".join(chunks["out"]), "".join(chunks["err"]))


def grown(path: Path, size: int = 40000):
    """A ``ready`` test: ``path`` holds at least ``size`` bytes (encoded frames are being written)."""
    return lambda _out: path.exists() and path.stat().st_size >= size


_ENCODE = ("nvvideoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast tune=zerolatency ! "
           "h264parse ! mp4mux ! filesink location={out}")


@pytest.mark.parametrize("kind,sig,code", [
    ("file-loop", signal.SIGINT, 130),
    ("file-loop", signal.SIGTERM, 143),
    ("live", signal.SIGINT, 130),
    ("rtsp", signal.SIGTERM, 143),
])
def test_signal_finishes_the_recording(kind, sig, code, tmp_path):
    from estuary.testing import RtspTestServer
    from servers import free_port
    out = tmp_path / "rec.mp4"
    server = None
    if kind == "file-loop":
        src = f"nvurisrcbin uri=file://{MEDIA} file-loop=true"
    elif kind == "live":
        src = "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1"
    else:
        server = RtspTestServer(free_port()).start()
        src = f"nvurisrcbin uri={server.uri} rtsp-reconnect-interval=2"
    try:
        desc = (f"{src} ! m.sink_0 nvstreammux name=m batch-size=1 width=320 height=240 "
                f"live-source={int(kind != 'file-loop')} batched-push-timeout=40000 ! "
                + _ENCODE.format(out=out))
        r = interrupt_when(cli("launch", desc), sig, grown(out), tmp_path)
    finally:
        if server is not None:
            server.kill()
    assert r.returncode == code, r.stderr[-3000:]
    assert "no EOS within" not in r.stderr, r.stderr[-2000:]
    assert _playable_frames(out) > 10, f"{out} is not playable:\n{r.stderr[-2000:]}"


def test_sigint_to_estuary_run_finishes_through_eos_and_exits_130(tmp_path):
    clip = tmp_path / "long.h264"
    with open(clip, "wb") as f:  # long enough that the run is still going when interrupted
        for _ in range(4):
            f.write(Path(H264).read_bytes())
    r = interrupt_when(cli("run", "test1", str(clip)), signal.SIGINT,
                       lambda out: "Frame Number=10 " in out, tmp_path)
    assert r.returncode == 130, r.stderr[-3000:]
    assert "End-of-stream" in r.stdout, r.stdout[-2000:]  # the app's own bus_call saw the EOS


# a pipeline whose streaming thread never comes back from a probe: the main thread's
# set_state(NULL) waits for it in C, where Python never runs a signal handler
_WEDGED = r'''
import sys, threading
from estuary.gst import Gst
pipeline = Gst.parse_launch("videotestsrc is-live=true ! fakesink name=sink")
entered = threading.Event()
def stuck(pad, info):
    entered.set()
    print("ready", flush=True)
    threading.Event().wait()
    return Gst.PadProbeReturn.OK
pipeline.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, stuck)
def stop_the_pipeline():
    pipeline.set_state(Gst.State.NULL)
'''
_WEDGED_MAIN = {
    # estuary run's supervision of an app, the app's main thread stuck in its cleanup
    "estuary-run": _WEDGED + r'''
from estuary.apps.supervise import AppSupervisor
sup = AppSupervisor(eos_timeout=1.0, stuck_grace=2.0)
sup.install()
pipeline.set_state(Gst.State.PLAYING)
entered.wait()
sup.observe(Gst.Message.new_application(pipeline, Gst.Structure.new_empty("started")))
stop_the_pipeline()
''',
    # estuary launch's runner: the EOS cannot pass, and the pipeline cannot stop
    "runner": _WEDGED + r'''
from estuary.runner import run
run(pipeline, eos_timeout=1.0, stuck_grace=2.0)
''',
}


@pytest.mark.parametrize("where", sorted(_WEDGED_MAIN))
@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stop_signal_ends_a_process_whose_main_thread_is_stuck_in_c(where, sig, status, tmp_path):
    t0 = time.monotonic()
    r = interrupt_when([PY, "-c", _WEDGED_MAIN[where]], sig, lambda out: "ready" in out, tmp_path, wait=30)
    assert r.returncode == status, r.stderr[-3000:]
    assert "still running" in r.stderr and "the main thread is blocked" in r.stderr, r.stderr[-3000:]
    # every thread's stack: where the main thread is stuck, and the probe that holds it
    main_frame = {"estuary-run": "in stop_the_pipeline", "runner": "runner.py\", line"}[where]
    assert main_frame in r.stderr and "in stuck" in r.stderr, r.stderr[-3000:]
    assert time.monotonic() - t0 < 25


def test_a_second_signal_ends_a_stuck_process_without_waiting_for_the_eos_timeout(tmp_path):
    """The user presses Ctrl-C again: "again to stop at once" holds even when the main thread
    cannot run Python (eos_timeout here is 60 s; the second signal ends it within seconds)."""
    script = _WEDGED_MAIN["estuary-run"].replace("eos_timeout=1.0", "eos_timeout=60.0")
    t0 = time.monotonic()
    r = interrupt_when([PY, "-c", script], signal.SIGINT, lambda out: "ready" in out, tmp_path,
                       wait=30, again_after=1.0)
    assert r.returncode == 130, r.stderr[-3000:]
    assert "still running" in r.stderr, r.stderr[-3000:]
    assert time.monotonic() - t0 < 20  # not the 60 s of the EOS wait


def test_fault_table_is_large_enough():
    # the issue asks for all seven items, the model/label files of both inference elements,
    # and at least 20 further malformed inputs; keep the table from shrinking unnoticed
    assert len(CASES) >= 45
    assert shutil.which("gst-launch-1.0")


# -- every pyds function and cast, handed nonsense -------------------------------------------------
_PYDS_FUZZ = r'''
import itertools, os, sys
import pyds
bad = [None, 0, 0x1234, -1, "abc", 1 << 70, 3.5, object(), 0x7f0000000000]
funcs = [(n, getattr(pyds, n)) for n in pyds.__all__
         if callable(getattr(pyds, n)) and not isinstance(getattr(pyds, n), type)]
funcs += [(n + ".cast", getattr(pyds, n).cast) for n in pyds.__all__
          if isinstance(getattr(pyds, n), type) and hasattr(getattr(pyds, n), "cast")]
deaths = []
for name, f in funcs:
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        for k in range(4):
            for args in itertools.product(bad, repeat=k):
                if k == 3 and len(set(map(id, args))) > 2:
                    continue
                try:
                    f(*args)
                except BaseException:
                    pass
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    if os.WIFSIGNALED(st) or os.WEXITSTATUS(st):
        deaths.append((name, st))
print("CALLED", len(funcs), "DEATHS", deaths)
'''


def test_no_pyds_function_crashes_on_nonsense_arguments():
    """Each pyds function and ``cast`` gets every combination of up to three bad arguments
    (None, 0, small/huge/negative ints, str, float, object, an unmapped address) in a forked
    child; exceptions are fine, a child killed by a signal is not."""
    r = subprocess.run([PY, "-c", _PYDS_FUZZ], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("CALLED")][0]
    assert int(line.split()[1]) > 150 and line.endswith("DEATHS []"), line
