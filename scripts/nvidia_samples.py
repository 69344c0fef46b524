#!/usr/bin/env python3
"""Run NVIDIA's own DeepStream Python sample apps, unmodified, on Estuary (headless).

    python scripts/nvidia_samples.py --repo /path/to/deepstream_python_apps --tag v1.2.0 [--only test1,test3]

Exports ``apps/`` at the tag (v1.0.3 = DeepStream 5.1, v1.2.0 = DeepStream 7.1) into a temporary
folder, replaces only the model config files with Estuary's bundled ones under DeepStream's names
(``estuary.data``: the configs that name Caffe/UFF/TLT models), leaves every other file as NVIDIA
ships it (trackers, analytics, msgconv), and runs each app with the command line its README gives,
one app at a time, with a time limit. Prints one line per app: ``ok`` (exit 0), ``FAIL`` with the
last error line, or ``skip`` with the reason (needs a camera, a broker, a GPU...).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# app folder → (command-line arguments, or a skip reason). {h264} {mp4} {uri} {out} {jpg} are filled in.
APPS_71 = {
    "deepstream-test1": ["deepstream_test_1.py", "{h264}"],
    "deepstream-test2": ["deepstream_test_2.py", "{h264}", "0"],
    "deepstream-test3": ["deepstream_test_3.py", "-i", "{uri}", "{uri}", "--no-display"],
    "deepstream-test4": "needs a message broker (tests/test_samples.py runs the port against mosquitto)",
    "deepstream-test1-rtsp-out": ["deepstream_test1_rtsp_out.py", "-i", "{h264}"],
    "deepstream-test1-usbcam": "needs a V4L2 camera",
    "deepstream-imagedata-multistream": ["deepstream_imagedata-multistream.py", "{uri}", "{out}"],
    "deepstream-imagedata-multistream-cupy": ["deepstream_imagedata-multistream_cupy.py", "-i", "{uri}"],
    "deepstream-imagedata-multistream-redaction": "needs PeopleNet (faces); no bundled face detector",
    "deepstream-nvdsanalytics": ["deepstream_nvdsanalytics.py", "{uri}"],
    "deepstream-opticalflow": ["deepstream-opticalflow.py", "{uri}", "{out}"],
    "deepstream-segmentation": ["deepstream_segmentation.py", "dstest_segmentation_config_semantic.txt", "{jpg}",
                                "{out}"],
    "deepstream-segmask": ["deepstream_segmask.py", "-i", "{uri}", "-o", "{out}"],
    "deepstream-ssd-parser": ["deepstream_ssd_parser.py", "{h264}"],
    "deepstream-rtsp-in-rtsp-out": "needs an RTSP camera (tests/test_samples.py serves one to the port)",
    "deepstream-preprocess-test": ["deepstream_preprocess_test.py", "-i", "{uri}"],
    "deepstream-demux-multi-in-multi-out": ["deepstream_demux_multi_in_multi_out.py", "-i", "{uri}", "{uri}"],
    "deepstream-custom-binding-test": ["deepstream_custom_binding_test.py", "{h264}"],
    "runtime_source_add_delete": ["deepstream_rt_src_add_del.py", "{uri}"],
}
APPS_51 = {k: v for k, v in APPS_71.items() if k in {
    "deepstream-test1", "deepstream-test2", "deepstream-test3", "deepstream-test4", "deepstream-test1-rtsp-out",
    "deepstream-test1-usbcam", "deepstream-imagedata-multistream", "deepstream-nvdsanalytics",
    "deepstream-opticalflow", "deepstream-segmentation", "deepstream-ssd-parser", "runtime_source_add_delete"}}
APPS_51.update({
    "deepstream-test2": ["deepstream_test_2.py", "{h264}", "0"],
    "deepstream-test3": ["deepstream_test_3.py", "{uri}", "{uri}"],
})

# apps that need CuPy over CUDA surfaces (a CUDA GPU with NVDEC)
NEEDS_GPU = {"deepstream-imagedata-multistream-cupy"}


def gpu_missing() -> str | None:
    """Why the GPU apps cannot run here (None: they can): CuPy, a CUDA GPU and GStreamer's NVDEC."""
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "needs a CUDA GPU (CuPy sees none)"
    except Exception as exc:  # ImportError, or CUDA runtime errors without a driver
        return f"needs CuPy and an NVIDIA GPU ({type(exc).__name__})"
    from estuary.gst import Gst
    Gst.init(None)
    if Gst.ElementFactory.find("nvh264dec") is None:
        return "needs GStreamer's NVDEC decoder (nvh264dec)"
    return None


# apps whose output folder must hold images afterwards (their masks)
WRITES_IMAGES = {"deepstream-segmentation", "deepstream-segmask"}
# apps that write ./out.mp4 (avenc_mpeg4 ! mpeg4videoparse ! qtmux): it must decode to every frame
WRITES_VIDEO = {"deepstream-opticalflow", "deepstream-ssd-parser"}
CLIP_FRAMES = 250  # bikes.mp4 and bikes.h264


def video_frames(path: str) -> int:
    """Frames OpenCV decodes from ``path`` (0 where it cannot open it)."""
    import cv2
    cap = cv2.VideoCapture(path)
    n = 0
    while cap.read()[0]:
        n += 1
    return n

# model configs: DeepStream file name → Estuary's bundled config of that name
MODEL_CONFIGS = ("dstest1_pgie_config.txt", "dstest2_pgie_config.txt", "dstest2_sgie1_config.txt",
                 "dstest2_sgie2_config.txt", "dstest2_sgie3_config.txt", "dstest3_pgie_config.txt",
                 "dstest4_pgie_config.txt", "dstest_imagedata_config.txt", "dsnvanalytics_pgie_config.txt",
                 "dstest_ssd_nopostprocess.txt", "config_preprocess.txt", "dstest_pgie_config.txt",
                 "dstest_sgie1_config.txt", "dstest_sgie2_config.txt", "dstest_sgie3_config.txt",
                 "ds_demux_pgie_config.txt", "dstest_imagedata_cupy_config.txt", "labels.txt",
                 "dstest_segmentation_config_semantic.txt", "dstest_segmentation_config_industrial.txt",
                 "dstest_segmask_config.txt")


def install_configs(app_dir: str) -> None:
    from estuary import data
    models = os.path.join(data.data_dir(), "models")
    samples = os.path.join(data.data_dir(), "samples")
    for name in MODEL_CONFIGS:
        text = data.config_text(name) if name in data.config_names("samples") else None
        if text is None:
            src = os.path.join(samples, name)
            if not os.path.exists(src):
                continue
            with open(src, encoding="utf-8") as f:
                text = f.read()
        # bundled configs name models relative to the samples folder
        text = text.replace("../models/", models + "/")
        with open(os.path.join(app_dir, name), "w", encoding="utf-8") as f:
            f.write(text)
    repo = os.path.join(samples, "trtis_model_repo")  # nvinferserver's model repository
    if os.path.isdir(repo) and not os.path.exists(os.path.join(app_dir, "trtis_model_repo")):
        os.symlink(repo, os.path.join(app_dir, "trtis_model_repo"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", required=True, help="a clone of NVIDIA-AI-IOT/deepstream_python_apps")
    ap.add_argument("--tag", default="v1.2.0", help="v1.0.3 (DeepStream 5.1) or v1.2.0 (DeepStream 7.1)")
    ap.add_argument("--only", default="", help="comma-separated app folders")
    ap.add_argument("--timeout", type=int, default=300)
    a = ap.parse_args(argv)
    from estuary import data
    apps = APPS_51 if a.tag.startswith("v1.0") else APPS_71
    work = tempfile.mkdtemp(prefix=f"ds-{a.tag}-")
    is_git = os.path.exists(os.path.join(a.repo, ".git")) or os.path.exists(os.path.join(a.repo, "HEAD"))
    if os.path.isdir(os.path.join(a.repo, "apps")) and not is_git:
        # an exported tree: one version only, whatever --tag says
        shutil.copytree(os.path.join(a.repo, "apps"), os.path.join(work, "apps"))
    else:
        # a clone (work tree) or a bare git directory (as /work/.mirror keeps them)
        git = f"git -C {a.repo}" if os.path.exists(os.path.join(a.repo, ".git")) else f"git --git-dir={a.repo}"
        subprocess.run(f"{git} archive {a.tag} apps | tar -x -C {work}", shell=True, check=True)
    # what scripts/setup.sh's .pth does: the cuda-python stand-in as a last-resort import
    with open(os.path.join(work, "sitecustomize.py"), "w") as f:
        f.write("import estuary_cudacompat\nestuary_cudacompat.install()\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([work, os.path.join(ROOT, "src")]))
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    def media(name: str) -> str:  # a missing clip fails only the apps that use it
        try:
            return data.media_path(name)
        except OSError as exc:
            return f"<{exc}>"
    values = {"h264": media("bikes.h264"), "mp4": media("bikes.mp4"), "uri": "file://" + media("bikes.mp4"),
              "jpg": media("zidane.jpg")}
    only = set(filter(None, a.only.split(",")))
    failed = 0
    for app, spec in apps.items():
        if only and app not in only:
            continue
        app_dir = os.path.join(work, "apps", app)
        if isinstance(spec, list) and app in NEEDS_GPU and gpu_missing():
            spec = gpu_missing()
        if isinstance(spec, str):
            print(f"{app:45s} skip  {spec}")
            continue
        if not os.path.isdir(app_dir):
            print(f"{app:45s} skip  not in {a.tag}")
            continue
        install_configs(app_dir)
        out = os.path.join(app_dir, "out_folder")
        shutil.rmtree(out, ignore_errors=True)
        args = [s.format(out=out, **values) for s in spec]
        try:
            r = subprocess.run([sys.executable, *args], cwd=app_dir, env=env, capture_output=True, text=True,
                               timeout=a.timeout)
            rc, err, outp = r.returncode, r.stderr, r.stdout
        except subprocess.TimeoutExpired as exc:
            rc, err, outp = "timeout", (exc.stderr or b"").decode(errors="replace") if isinstance(exc.stderr, bytes) \
                else (exc.stderr or ""), ""
        errors = [ln for ln in err.splitlines() if "Error" in ln or "rror:" in ln or "Traceback" in ln]
        last = (errors[-1] if errors else (err.strip().splitlines() or [""])[-1])[:150]
        images = [f for _, _, fs in os.walk(out) for f in fs if f.endswith(".jpg")] if os.path.isdir(out) else []
        frames = video_frames(os.path.join(app_dir, "out.mp4")) if rc == 0 and app in WRITES_VIDEO else None
        if rc == 0 and app in WRITES_IMAGES and not images:
            failed += 1
            print(f"{app:45s} FAIL  rc=0 but no image in its output folder")
        elif frames is not None and frames < CLIP_FRAMES:
            failed += 1
            print(f"{app:45s} FAIL  rc=0 but out.mp4 decodes to {frames} frames, not {CLIP_FRAMES}")
        elif rc == 0 and not any(ln.startswith("Error:") for ln in err.splitlines()):
            video = f", out.mp4 {frames} frames" if frames is not None else ""
            print(f"{app:45s} ok    {len(outp.splitlines())} lines of output{video}")
        else:
            failed += 1
            print(f"{app:45s} FAIL  rc={rc} {last}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
