"""Build-time model converters, kept out of the runtime package ``estuary``: they turn the
upstream files that ``estuary.data.fetch`` downloads into the ONNX models nvinfer loads.

* :mod:`estuary_build.darknet` — Darknet ``.cfg`` + ``.weights`` → ONNX (YOLOv3-tiny), and the
  SSD-style head of the nvinferserver sample;
* :mod:`estuary_build.mobilenet` — a torchvision MobileNetV2 state dict → ONNX classifier;
* :mod:`estuary_build.torchfile` — a PyTorch checkpoint read into numpy without torch (a
  restricted unpickler that runs no code).

Only ``estuary.data.fetch`` imports them (the set-up step, or the first ``estuary demo`` on a
machine without the data), so they ship in the same wheel; nothing on the streaming path does.
"""
