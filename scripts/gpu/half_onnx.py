"""Write the bundled ONNX models with FP16 weights into .gpu/data/models (half the bytes to
carry; Estuary's torch backend runs them in FP16 anyway). Names: the command's arguments, else
the COCO detector and the classifier."""

import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

from estuary import data

for name in sys.argv[1:] or ("yolov3-tiny.onnx", "mobilenet_v2.onnx"):
    m = onnx.load(data.model_path(name))
    for init in m.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32:
            init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), init.name))
    onnx.save(m, os.path.join(".gpu", "data", "models", name))
