"""NVIDIA's own sample apps, unmodified, on Estuary: both generations, headless.

Needs a clone of NVIDIA-AI-IOT/deepstream_python_apps (with its tags) named by
``ESTUARY_NVIDIA_APPS``; the test network has no access to GitHub, so without it these are
skipped with that reason. scripts/nvidia_samples.py does the work (exports the tag, replaces only
the model configs, runs each app as its README says)."""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import nvidia_samples  # noqa: E402

REPO = os.environ.get("ESTUARY_NVIDIA_APPS")
pytestmark = pytest.mark.skipif(not REPO, reason="set ESTUARY_NVIDIA_APPS to a deepstream_python_apps clone")

# apps expected to run here, per tag (docs/samples.md says why the others cannot)
EXPECTED = {
    "v1.0.3": ["deepstream-test1", "deepstream-test2", "deepstream-test3", "deepstream-imagedata-multistream",
               "deepstream-nvdsanalytics", "deepstream-test1-rtsp-out", "runtime_source_add_delete",
               "deepstream-segmentation", "deepstream-opticalflow", "deepstream-ssd-parser"],
    "v1.2.0": ["deepstream-test1", "deepstream-test2", "deepstream-test3", "deepstream-imagedata-multistream",
               "deepstream-nvdsanalytics", "deepstream-test1-rtsp-out", "deepstream-preprocess-test", "deepstream-demux-multi-in-multi-out",
               "deepstream-custom-binding-test", "runtime_source_add_delete", "deepstream-segmentation",
               "deepstream-segmask", "deepstream-opticalflow", "deepstream-ssd-parser"],
}


@pytest.mark.slow
@pytest.mark.parametrize("tag,app", [(t, a) for t, apps in EXPECTED.items() for a in apps])
def test_unmodified_app_runs(tag, app):
    if app in nvidia_samples.WRITES_VIDEO:
        from estuary.gst import Gst
        if Gst.ElementFactory.find("avenc_mpeg4") is None:
            pytest.skip(f"{app} encodes with gst-libav's avenc_mpeg4, which is not installed")
    assert app in (nvidia_samples.APPS_51 if tag == "v1.0.3" else nvidia_samples.APPS_71)
    r = subprocess.run([sys.executable, nvidia_samples.__file__, "--repo", REPO, "--tag", tag, "--only", app],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    assert f"{app}" in r.stdout and " ok " in r.stdout
