"""Build-time model converters, kept out of the runtime package ``estuary``: they turn the
upstream files that ``estuary.data.fetch`` downloads into the ONNX models nvinfer loads.

* :mod:`estuary_build.darknet` — Darknet ``.cfg`` + ``.weights`` → ONNX (YOLOv3-tiny), and the
  SSD-style head of the nvinferserver sample;
* :mod:`estuary_build.mobilenet` — a torchvision MobileNetV2 state dict → ONNX classifier;
* :mod:`estuary_build.torchfile` — a PyTorch checkpoint read into numpy without torch (a
  restricted unpickler that runs no code);
* :mod:`estuary_build.tflite_onnx` — MediaPipe's selfie segmentation (TFLite) → ONNX;
* :mod:`estuary_build.yolov5_seg` — Ultralytics' YOLOv5s-seg checkpoint → ONNX (instance masks).

Only ``estuary.data.fetch`` imports them (the set-up step, or the first ``estuary demo`` on a
machine without the data), so they ship in the same wheel; nothing on the streaming path does.
"""


def rename_value(nodes, old: str, new: str) -> None:
    """Give an ONNX value another name in ``nodes``. Graph outputs are named by the node that
    makes them rather than through an Identity node, which Estuary's torch backend does not run."""
    for n in nodes:
        for seq in (n.input, n.output):
            for i, v in enumerate(seq):
                if v == old:
                    seq[i] = new
