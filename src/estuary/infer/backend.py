"""The interface every inference backend implements (``run(x) -> {output name: array}``), in a
module of its own so that the backends (:mod:`estuary.infer.backends` for OpenVINO and ONNX
Runtime, :mod:`estuary.infer.torch_backend` for the GPU) import it and the chooser,
:func:`estuary.infer.backends.create_backend`, imports them: one direction only."""

from __future__ import annotations

import numpy as np

from estuary.errors import ModelError

__all__ = ["Backend"]


class Backend:
    name = "base"
    fallback = ""            # why the preferred backend was not used ("" when it was)
    int8_float = "f32"       # what an INT8 model's float layers run in (estuary.infer.int8 picks its recipe)
    input_dtype = np.float32  # what run() takes: uint8 when the runtime scales the pixels itself

    @property
    def kind(self) -> str:
        """The runtime: "openvino", "onnxruntime", "torch" (the first word of ``name``)."""
        return self.name.split(" ")[0]

    @property
    def precision(self) -> str:
        """What actually runs, in words (subclasses set it; here from a torch-style ``dtype``)."""
        dtype = str(getattr(self, "dtype", "float32")).split(".")[-1]
        return {"float16": "FP16", "bfloat16": "BF16", "int8": "INT8"}.get(dtype, "FP32")
    input_name: str
    input_shape: list
    output_names: list
    fixed_batch: int | None

    def run(self, x: np.ndarray) -> dict:
        raise NotImplementedError

    def fork(self) -> "Backend":
        """Another backend on the same model for another worker thread (same settings)."""
        raise NotImplementedError

    def _run_per_image(self, x: np.ndarray, one) -> dict | None:
        """A model with a fixed batch of 1 fed a larger batch: run image by image."""
        if not self.fixed_batch or x.shape[0] == self.fixed_batch:
            return None
        if self.fixed_batch != 1:
            raise ModelError(f"model has a fixed batch of {self.fixed_batch}, got {x.shape[0]}")
        parts = [one(x[i: i + 1]) for i in range(x.shape[0])]
        return {n: np.concatenate([p[n] for p in parts]) for n in self.output_names}
