"""NVIDIA's deepstream-imagedata-multistream-cupy (DeepStream 7.1, v1.2.0), unmodified, on our CUDA
surfaces: ``uridecodebin`` decodes with NVDEC into GPU memory, the app's probe takes each frame with
``pyds.get_nvds_buf_surface_gpu``, wraps it in a CuPy array and halves its red channel in place on
the null CUDA stream. The test runs NVIDIA's file as it ships (runpy, in this process, so that it
can also watch the tiler) and checks that the pixels changed exactly as the app intends.

Needs a GPU machine (CUDA, CuPy, GStreamer's nvh264dec) and NVIDIA's apps: ``ESTUARY_NVIDIA_APPS``
names a deepstream_python_apps clone, a bare git directory, or an exported tree holding ``apps/``.
Skipped, saying which is missing, elsewhere."""

import os
import runpy
import shutil
import subprocess
import sys

import numpy as np
import pytest

from estuary import data
from estuary.gst import Gst, batchmeta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import nvidia_samples  # noqa: E402

REPO = os.environ.get("ESTUARY_NVIDIA_APPS")
APP = "deepstream-imagedata-multistream-cupy"
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not REPO, reason="set ESTUARY_NVIDIA_APPS to NVIDIA's deepstream_python_apps")]


def export_app(dest: str) -> str:
    """The v1.2.0 app and NVIDIA's common/ folder under ``dest``/apps, its model config ours."""
    if os.path.isdir(os.path.join(REPO, "apps")) and not os.path.exists(os.path.join(REPO, "HEAD")):
        for part in ("common", APP):
            shutil.copytree(os.path.join(REPO, "apps", part), os.path.join(dest, "apps", part))
    else:
        git = f"git -C {REPO}" if os.path.exists(os.path.join(REPO, ".git")) else f"git --git-dir={REPO}"
        subprocess.run(f"{git} archive v1.2.0 apps/common apps/{APP} | tar -x -C {dest}", shell=True, check=True)
    app_dir = os.path.join(dest, "apps", APP)
    nvidia_samples.install_configs(app_dir)
    models = os.path.join(data.data_dir(), "models")
    if not os.path.exists(os.path.join(models, "yolov3-tiny-ds4.onnx")):
        # the GPU machine carries only the COCO model (the 64 MiB limit): the app counts classes
        # 0-3 (a KeyError on others), so keep COCO's first four, which the frames are about
        with open(data.model_path(data.PRIMARY_CONFIG), encoding="utf-8") as f:
            text = f.read().replace("onnx-file=", f"onnx-file={models}/").replace(
                "labelfile-path=", f"labelfile-path={models}/")
        text = text.replace("[class-attrs-all]", "filter-out-class-ids=" + ";".join(map(str, range(4, 80)))
                            + "\n\n[class-attrs-all]")
        with open(os.path.join(app_dir, "dstest_imagedata_cupy_config.txt"), "w", encoding="utf-8") as f:
            f.write(text)
    return app_dir


def test_cupy_app_modifies_the_cuda_frames_in_place(tmp_path, monkeypatch, capsys):
    why = nvidia_samples.gpu_missing()
    if why:
        pytest.skip(why)
    import torch
    app_dir = export_app(str(tmp_path))
    before, after = {}, {}

    def grab(store, pad, info):  # a copy of the batch's first frame, on the host
        batch = batchmeta.get(info.get_buffer())
        f = batch.surface.frames[0]
        assert f.device == "cuda", "the app's frames must be CUDA surfaces"
        if len(store) < 8:
            store[len(store)] = f.tensor.cpu().numpy().copy()
        return Gst.PadProbeReturn.OK

    make = Gst.ElementFactory.make

    def watching_make(factory, name=None):
        e = make(factory, name)
        if factory == "nvmultistreamtiler":
            # added before the app's own probe on the tiler's sink pad, so it sees the frame first
            e.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, lambda p, i: grab(before, p, i))
            e.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, lambda p, i: grab(after, p, i))
        return e

    import estuary_cudacompat
    estuary_cudacompat.install()  # what scripts/setup.sh's .pth does where cuda-python is absent
    monkeypatch.setattr(Gst.ElementFactory, "make", watching_make)
    monkeypatch.chdir(app_dir)
    monkeypatch.syspath_prepend(os.path.dirname(app_dir))  # the app's sys.path.append('../'), made certain
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    script = os.path.join(app_dir, "deepstream_imagedata-multistream_cupy.py")
    monkeypatch.setattr(sys, "argv", [script, "-i", "file://" + data.media_path("bikes.mp4")])
    with pytest.raises(SystemExit) as ex:
        runpy.run_path(script, run_name="__main__")
    out = capsys.readouterr().out
    assert ex.value.code in (None, 0), out[-2000:]
    assert "Frame Number=" in out and "Error" not in out, out[-2000:]
    assert len(before) == len(after) == 8
    changed = 0
    for k in before:
        src, dst = before[k].astype(np.int32), after[k].astype(np.int32)
        assert src.shape == dst.shape == (1080, 1920, 4)  # one source: the tile is the frame
        want_r = (0.5 * src[..., 0] + 0.5).astype(np.uint8).astype(np.int32)  # CuPy's float → uint8
        assert np.mean(np.abs(dst[..., 0] - want_r) <= 1) > 0.999, f"frame {k}: red channel not halved"
        assert np.mean(np.abs(dst[..., 1:3] - src[..., 1:3]) <= 1) > 0.999, f"frame {k}: green/blue changed"
        assert dst[..., 0].max() <= 128
        changed += int(src[..., 0].max() > 160)
    assert changed >= 4, "the clip's frames should have bright red values for the app to halve"
    torch.cuda.synchronize()
