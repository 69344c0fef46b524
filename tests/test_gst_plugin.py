"""Estuary as a GStreamer plugin: gst-inspect-1.0 and gst-launch-1.0, run as a user runs them with
GST_PLUGIN_PATH=$(estuary gst-plugin-path), through GStreamer's Python plugin loader."""

import os
import re
import shutil
import subprocess
import sys

import cv2
import pytest

from estuary import data
from estuary.gstplugin import plugin_path


def gst_env(tmp_path, **extra):
    """The environment of a user's shell: the plugin folder in GST_PLUGIN_PATH and this test's
    virtual environment active (as `source .venv/bin/activate` would). A registry of its own, so
    the scan is the one a fresh machine does."""
    env = dict(os.environ, GST_PLUGIN_PATH=plugin_path(), GST_REGISTRY=str(tmp_path / "registry.bin"),
               VIRTUAL_ENV=sys.prefix, **extra)
    env.pop("PYTHONPATH", None)  # the loader must find Estuary by itself
    return env


def test_the_plugin_loader_is_installed():
    # scripts/setup.sh installs it (gstreamer1.0-python3-plugin-loader); without it nothing below can work
    from estuary.gst import Gst
    assert shutil.which("gst-inspect-1.0"), "gstreamer1.0-tools missing"
    assert Gst.Registry.get().find_plugin("python") is not None, \
        "gstreamer1.0-python3-plugin-loader missing: run scripts/setup.sh"


def test_cli_prints_the_plugin_path():
    r = subprocess.run([sys.executable, "-m", "estuary.cli", "gst-plugin-path"], capture_output=True, text=True)
    assert r.returncode == 0
    folder = r.stdout.strip()
    assert os.path.isfile(os.path.join(folder, "python", "estuary_elements.py"))


def estuary_element_names() -> set[str]:
    """Every name Estuary's element modules register (es* and DeepStream's)."""
    import importlib
    from estuary.elements import ELEMENT_MODULES
    names = set()
    for mod, classes in ELEMENT_MODULES.items():
        m = importlib.import_module(f"estuary.elements.{mod}")
        for c in classes:
            names |= {n for n in (getattr(m, c).FACTORY, *getattr(m, c).ALIASES) if n}
    return names


def test_gst_inspect_lists_and_describes_every_element(tmp_path):
    env = gst_env(tmp_path)
    r = subprocess.run(["gst-inspect-1.0", "nvinfer"], capture_output=True, text=True, env=env, timeout=180)
    assert r.returncode == 0, r.stderr
    assert "Estuary inference" in r.stdout and "config-file-path" in r.stdout
    assert "Path of the nvinfer configuration file" in r.stdout
    assert "CRITICAL" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    listed = subprocess.run(["gst-inspect-1.0", "python"], capture_output=True, text=True, env=env, timeout=120)
    names = set(re.findall(r"^\s+(\w+): Estuary", listed.stdout, re.M))
    assert names == estuary_element_names(), estuary_element_names() ^ names
    for name in ("nvstreammux", "nvtracker", "nvdsosd", "nvvideoconvert", "esmux", "esinfer"):
        r = subprocess.run(["gst-inspect-1.0", name], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0 and "Element Properties:" in r.stdout, (name, r.stderr)
    # shared with every GStreamer program of the user: nothing is autoplugged (a media player's
    # decodebin must not pick Estuary's decoder)
    r = subprocess.run(["gst-inspect-1.0", "nvv4l2decoder"], capture_output=True, text=True, env=env, timeout=60)
    assert re.search(r"Rank +none \(0\)", r.stdout), r.stdout[:500]


def test_gst_launch_runs_a_deepstream_pipeline_to_a_playable_mp4(tmp_path):
    out = tmp_path / "out.mp4"
    frames = 40
    # DeepStream's encoder name where Estuary provides it, else x264
    encoder = "nvv4l2h264enc" if "nvv4l2h264enc" in estuary_element_names() else "x264enc speed-preset=ultrafast"
    pipeline = (f"filesrc location={data.media_path('bikes.mp4')} ! qtdemux ! h264parse ! nvv4l2decoder ! "
                f"identity eos-after={frames} ! m.sink_0 nvstreammux name=m batch-size=1 width=640 height=272 ! "
                f"nvinfer config-file-path={data.model_path(data.PRIMARY_CONFIG)} ! nvtracker ! nvdsosd ! "
                f"nvvideoconvert ! video/x-raw,format=I420 ! {encoder} ! h264parse ! "
                f"mp4mux ! filesink location={out}")
    # GST_DEBUG shows the Estuary elements' own categories, at DEBUG (5) and LOG (6)
    env = gst_env(tmp_path, GST_DEBUG="nvinfer:6,nvtracker:5", GST_DEBUG_NO_COLOR="1")
    r = subprocess.run(["gst-launch-1.0", "-e", *pipeline.split()], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    log = r.stdout + r.stderr
    assert "CRITICAL" not in log and "Traceback" not in log
    assert re.search(r"DEBUG +nvinfer .*config .*yolov3-tiny.*process-mode 1", log)
    assert re.search(r"DEBUG +nvtracker .*state change null-to-ready", log)
    objects = [int(n) for n in re.findall(r"LOG +nvinfer .*batch of 1 frames: (\d+) objects, inference", log)]
    assert len(objects) >= frames and sum(objects) > 0  # it inferred every frame and found things
    cap = cv2.VideoCapture(str(out))
    n = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        n += 1
        assert img.shape == (272, 640, 3)
    assert n == len(objects)  # every inferred frame is in the file


def test_a_python_app_still_works_with_the_plugin_path_set(tmp_path):
    # the elements then exist twice (the registry's, loaded by the loader, and the app's own):
    # the app's import registers its own over the registry's, and pipelines run as before
    env = gst_env(tmp_path)
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    subprocess.run(["gst-inspect-1.0", "python"], capture_output=True, env=env, timeout=120)  # registry made
    code = ("import pyds\nfrom estuary.gst import Gst\nfrom estuary.runner import run\n"
            "p = Gst.parse_launch('videotestsrc num-buffers=5 ! m.sink_0 nvstreammux name=m batch-size=1 "
            "width=64 height=48 ! nvdsosd ! fakesink')\n"
            "print(type(p.get_by_name('m')).__name__, run(p, quiet=True))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["EsMux", "0"]


def test_the_environment_is_found_for_a_source_checkout(tmp_path, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "estuary_gst_environment", os.path.join(plugin_path(), "estuary_gst_environment.py"))
    envmod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(envmod)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    checkout = tmp_path / "checkout"
    (checkout / "src").mkdir(parents=True)
    assert envmod.environment_site_packages(str(checkout / "src")) is None
    venv = checkout / ".venv"
    v = sys.version_info
    sp = venv / "lib" / f"python{v[0]}.{v[1]}" / "site-packages"
    sp.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {v[0]}.{v[1]}.0\n")
    assert envmod.environment_site_packages(str(checkout / "src")) == str(sp)
    # an installed package: the folder that holds it is the environment
    assert envmod.environment_site_packages(str(sp)) == str(sp)
    (venv / "pyvenv.cfg").write_text(f"home = /usr/bin\nversion = {v[0]}.{v[1] + 1}.0\n")
    with pytest.raises(ImportError, match=r"is Python 3\.\d+, but GStreamer's Python plugin loader runs"):
        envmod.environment_site_packages(str(checkout / "src"))


def test_gst_debug_shows_estuary_elements_in_a_python_app():
    # the categories exist in-process too, under both names; GST_DEBUG picks them
    env = dict(os.environ, GST_DEBUG="nvstreammux:5,esosd:6", GST_DEBUG_NO_COLOR="1")
    r = subprocess.run([sys.executable, "-m", "estuary.cli", "launch", "-q", "videotestsrc", "num-buffers=3", "!",
                        "m.sink_0", "nvstreammux", "name=m", "batch-size=1", "width=64", "height=48", "!",
                        "esosd", "!", "fakesink"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert re.search(r"DEBUG +nvstreammux .*<m> property batch-size = 1", r.stderr)
    assert len(re.findall(r"LOG +esosd .*buffer pts \d+", r.stderr)) == 3
    assert not re.search(r" nvinfer ", r.stderr)  # other categories stay quiet
