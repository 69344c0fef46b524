"""Packaging: the wheel builds from the tracked files and passes ``twine check``; the demo's
set-up needs no message broker (those are for the tests); the Dockerfile builds on Debian."""

import os
import re
import shutil
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _copy_checkout(dest):
    """The files a clean checkout has (tracked, or new and not ignored), as they are now."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split("\n")
    for f in filter(None, files):
        src = os.path.join(ROOT, f)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(os.path.join(dest, f)), exist_ok=True)
            shutil.copy2(src, os.path.join(dest, f))


def test_wheel_builds_and_passes_twine_check(tmp_path):
    tree, out = tmp_path / "tree", tmp_path / "dist"
    _copy_checkout(tree)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), "."], cwd=tree,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    assert [w.name for w in wheels] == ["estuary_video-0.1.0-py3-none-any.whl"]
    r = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", str(wheels[0])], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "PASSED" in r.stdout, r.stdout + r.stderr
    with zipfile.ZipFile(wheels[0]) as z:
        names = set(z.namelist())
        meta = z.read("estuary_video-0.1.0.dist-info/METADATA").decode()
        entry = z.read("estuary_video-0.1.0.dist-info/entry_points.txt").decode()
    # the import names stay estuary and pyds; the GStreamer plugin file ships with them
    assert {"pyds/__init__.py", "estuary/__init__.py", "estuary/gstplugin/python/estuary_elements.py",
            "estuary/py.typed"} <= names
    # the config files estuary.data writes ship as files, every one that config_text can read
    from estuary import data
    shipped = {f"estuary/configs/{folder}/{n}" for folder in ("models", "samples")
               for n in data.config_names(folder) if n not in data._SAMPLE_ALIASES}
    assert shipped and shipped <= names, shipped - names
    assert "estuary/configs/models/" + data.PRIMARY_CONFIG in names
    # the build-time converters are their own package, in the wheel for estuary.data.fetch
    assert {"estuary_build/__init__.py", "estuary_build/darknet.py", "estuary_build/mobilenet.py",
            "estuary_build/torchfile.py", "estuary_build/tflite_onnx.py", "estuary_build/yolov5_seg.py"} <= names
    assert not any(n.startswith("estuary/infer/") and n.rsplit("/", 1)[1] in
                   ("darknet.py", "mobilenet.py", "torchfile.py") or n.startswith("estuary/models/") for n in names)
    assert re.search(r"^Name: estuary-video$", meta, re.M)
    assert re.search(r"^Requires-Dist: prometheus_client", meta, re.M)
    assert re.search(r"^Provides-Extra: brokers$", meta, re.M)
    assert "estuary = estuary.cli:main" in entry


def _apt_packages(*args):
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup.sh"), *args, "--list-packages"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split())


def test_brokers_are_installed_for_the_tests_only():
    brokers = {"mosquitto", "redis-server", "rabbitmq-server"}
    run, test = _apt_packages(), _apt_packages("--test")
    assert not run & brokers  # make demo
    assert brokers <= test and run <= test  # make test
    assert "gstreamer1.0-python3-plugin-loader" in run  # gst-launch-1.0 with Estuary's elements
    make = open(os.path.join(ROOT, "Makefile")).read()
    assert re.search(r"^demo: setup$", make, re.M) and re.search(r"^test: setup-test$", make, re.M)
    assert re.search(r"^setup-test:\n\tbash scripts/setup.sh --test$", make, re.M)


def test_the_demo_imports_no_broker_client(tmp_path):
    code = ("import sys\nfrom estuary.apps.demo import run_demo\n"
            f"rc = run_demo(output={str(tmp_path / 'd.mp4')!r}, frames=5)\n"
            "print('broker modules:', sorted(m for m in sys.modules if m.split('.')[0] in "
            "('paho', 'redis', 'pika', 'confluent_kafka')), rc)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "broker modules: [] 0" in r.stdout


def test_dockerfile_is_debian_and_runs_the_setup():
    text = open(os.path.join(ROOT, "Dockerfile")).read()
    assert re.search(r"^FROM debian:bookworm", text, re.M)
    setup = re.search(r"^RUN bash scripts/setup\.sh.*$", text, re.M)
    assert setup and "--test" not in setup.group(0)  # the run set-up: no brokers in the image
    assert re.search(r'^ENTRYPOINT \["/app/\.venv/bin/estuary"\]', text, re.M)
