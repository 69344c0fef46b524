"""Inference backends behind one small interface: ``run(x) -> {output name: array}``.

* ``onnxruntime`` (CPU by default; CUDA/TensorRT providers when onnxruntime-gpu is installed);
* ``torch`` (GPU: the ONNX graph run by PyTorch, see :mod:`estuary.infer.torch_backend`), chosen
  when a GPU is asked for and onnxruntime has no CUDA provider.
"""

from __future__ import annotations

import logging
import os

import numpy as np

from estuary.errors import ModelError
from estuary.native import import_cxx

__all__ = ["Backend", "OrtBackend", "create_backend", "check_onnx_file"]

log = logging.getLogger("estuary.infer")


def check_onnx_file(path: str) -> None:
    """Raise :class:`ModelError` naming ``path`` unless it holds a parseable ONNX model with a graph.

    Checked in Python (protobuf's upb parser) before any native runtime sees the file, so that
    an empty, truncated or foreign file is a clear error however the runtime would react.
    """
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ModelError(f"cannot read ONNX model {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise ModelError(f"ONNX model {path} is empty (0 bytes): re-export or re-download it")
    onnx = import_cxx("onnx")
    from google.protobuf.message import DecodeError
    try:
        model = onnx.load_model(path, load_external_data=False)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path} is not a valid ONNX model ({size} bytes; truncated or not ONNX): "
                         f"{exc}") from None
    g = model.graph
    if not g.node or not g.input or not g.output:
        raise ModelError(f"{path} holds no ONNX graph (nodes {len(g.node)}, inputs {len(g.input)}, "
                         f"outputs {len(g.output)}): truncated or not an ONNX model")


class Backend:
    name = "base"
    input_name: str
    input_shape: list
    output_names: list
    fixed_batch: int | None

    def run(self, x: np.ndarray) -> dict:
        raise NotImplementedError


class OrtBackend(Backend):
    """ONNX Runtime session; a model with a fixed batch dimension is run image by image."""

    def __init__(self, path: str, gpu_id: int = -1, threads: int = 0):
        try:
            ort = import_cxx("onnxruntime")
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ModelError(f"onnxruntime is not installed: {exc}") from None
        check_onnx_file(path)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            so.intra_op_num_threads = threads
        so.log_severity_level = 3
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if gpu_id >= 0 and "CUDAExecutionProvider" in available:
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": gpu_id}))
        try:
            self.session = ort.InferenceSession(path, so, providers=providers)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own types
            raise ModelError(f"cannot load ONNX model {path}: {exc}") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_shape = list(inp.shape)
        self.output_names = [o.name for o in self.session.get_outputs()]
        b = self.input_shape[0]
        self.fixed_batch = b if isinstance(b, int) and b > 0 else None
        self.name = f"onnxruntime {ort.__version__} ({self.session.get_providers()[0]})"

    def run(self, x: np.ndarray) -> dict:
        if self.fixed_batch and x.shape[0] != self.fixed_batch:
            if self.fixed_batch != 1:
                raise ModelError(f"model has a fixed batch of {self.fixed_batch}, got {x.shape[0]}")
            parts = [self.session.run(None, {self.input_name: x[i: i + 1]}) for i in range(x.shape[0])]
            return {n: np.concatenate([p[k] for p in parts]) for k, n in enumerate(self.output_names)}
        outs = self.session.run(None, {self.input_name: x})
        return dict(zip(self.output_names, outs))


def create_backend(path: str, gpu_id: int = -1, prefer: str | None = None, threads: int = 0) -> Backend:
    """The best backend for ``path``: ``ESTUARY_BACKEND`` or ``prefer`` may force one.
    ``threads``: ONNX Runtime intra-op threads (0: its default, one per core)."""
    prefer = prefer or os.environ.get("ESTUARY_BACKEND")
    if prefer == "onnxruntime":
        return OrtBackend(path, gpu_id=gpu_id, threads=threads)
    if prefer == "torch" or (prefer is None and gpu_id >= 0 and _cuda_available()
                             and not _ort_has_cuda()):
        from estuary.infer.torch_backend import TorchBackend
        return TorchBackend(path, gpu_id=max(gpu_id, 0))
    return OrtBackend(path, gpu_id=gpu_id, threads=threads)


def _cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


def _ort_has_cuda() -> bool:
    try:
        ort = import_cxx("onnxruntime")
        return "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:
        return False
