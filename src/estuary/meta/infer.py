"""Inference output structs (``nvdsinfer``): tensor meta, layer info, segmentation meta."""

from __future__ import annotations

import numpy as np

from estuary.meta.enums import NvDsInferDataType
from estuary.meta.struct import Embedded, IntArray, Pointer, Scalar, Struct

__all__ = [
    "NvDsInferDims", "NvDsInferDimsCHW", "NvDsInferLayerInfo", "NvDsInferNetworkInfo",
    "NvDsInferObjectDetectionInfo", "NvDsInferAttribute", "NvDsInferTensorMeta",
    "NvDsInferSegmentationMeta",
]


class NvDsInferDims(Struct):
    numDims = Scalar(0)
    numElements = Scalar(0)
    d = IntArray(8, np.uint32)

    @classmethod
    def from_shape(cls, shape) -> "NvDsInferDims":
        """Dims of a tensor shape (without the batch dimension)."""
        dims = cls(numDims=len(shape), numElements=int(np.prod(shape)) if len(shape) else 0)
        dims.d[: len(shape)] = shape
        return dims


class NvDsInferDimsCHW(Struct):
    c = Scalar(0)
    h = Scalar(0)
    w = Scalar(0)


class NvDsInferLayerInfo(Struct):
    """One input or output layer; ``buffer`` is set by ``get_nvds_LayerInfo``."""

    dataType = Scalar(NvDsInferDataType.FLOAT)
    dims = Embedded(NvDsInferDims)
    bindingIndex = Scalar(0)
    layerName = Scalar("")
    buffer = Pointer()
    isInput = Scalar(0)

    @property
    def inferDims(self) -> NvDsInferDims:
        """7.1 name of ``dims``."""
        return self.dims


class NvDsInferNetworkInfo(Struct):
    width = Scalar(0)
    height = Scalar(0)
    channels = Scalar(0)


class NvDsInferObjectDetectionInfo(Struct):
    classId = Scalar(0)
    left = Scalar(0.0)
    top = Scalar(0.0)
    width = Scalar(0.0)
    height = Scalar(0.0)
    detectionConfidence = Scalar(0.0)


class NvDsInferAttribute(Struct):
    atttributeIndex = Scalar(0)
    attributeValue = Scalar(0)
    attributeConfidence = Scalar(0.0)
    attributeLabel = Scalar("")

    @property
    def attributeIndex(self) -> int:
        """7.1 spelling of ``atttributeIndex``."""
        return self.atttributeIndex

    @attributeIndex.setter
    def attributeIndex(self, v):
        self.atttributeIndex = v


class NvDsInferTensorMeta(Struct):
    """Raw output tensors of one inference. ``out_buf_ptrs_host`` is a list of numpy arrays."""

    unique_id = Scalar(0)
    num_output_layers = Scalar(0)
    out_buf_ptrs_host = Pointer()
    out_buf_ptrs_dev = Pointer()
    gpu_id = Scalar(0)
    priv_data = Pointer()
    network_info = Embedded(NvDsInferNetworkInfo)
    __slots__ = ("_layers",)

    def __init__(self, **fields):
        self._layers: list[NvDsInferLayerInfo] = []
        super().__init__(**fields)

    def output_layers_info(self, i: int) -> NvDsInferLayerInfo:
        """A copy of layer ``i``'s info (its ``buffer`` may be unset)."""
        return self._layers[i]._memcpy()

    @property
    def layers(self) -> list[NvDsInferLayerInfo]:
        """The layer infos (the store itself)."""
        return self._layers

    @classmethod
    def from_outputs(cls, outputs: dict, unique_id: int = 0, network=(0, 0, 0)) -> "NvDsInferTensorMeta":
        """Build tensor meta from ``{layer name: array}`` (arrays without the batch dim)."""
        meta = cls(unique_id=unique_id)
        host = []
        for i, (name, arr) in enumerate(outputs.items()):
            arr = np.ascontiguousarray(arr)
            li = NvDsInferLayerInfo(layerName=name, bindingIndex=i, dataType=_dtype_code(arr.dtype))
            li.dims = NvDsInferDims.from_shape(arr.shape)
            meta._layers.append(li)
            host.append(arr)
        meta.out_buf_ptrs_host = host
        meta.num_output_layers = len(host)
        meta.network_info.width, meta.network_info.height, meta.network_info.channels = network
        return meta


def _dtype_code(dt) -> NvDsInferDataType:
    return {np.dtype(np.float32): NvDsInferDataType.FLOAT, np.dtype(np.float16): NvDsInferDataType.HALF,
            np.dtype(np.int8): NvDsInferDataType.INT8,
            np.dtype(np.int32): NvDsInferDataType.INT32}.get(np.dtype(dt), NvDsInferDataType.FLOAT)


class NvDsInferSegmentationMeta(Struct):
    """A per-pixel class map (int32 height×width) and optional class probabilities."""

    classes = Scalar(0)
    width = Scalar(0)
    height = Scalar(0)
    class_map = Pointer()
    class_probabilities_map = Pointer()
    priv_data = Pointer()
