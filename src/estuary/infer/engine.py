"""Engine-free inference: an nvinfer config + a backend → detections or classifications for
RGBA frames or object crops. The ``esinfer`` element is a thin shell over this."""

from __future__ import annotations

import logging
import os

import numpy as np

from estuary.errors import ConfigError
from estuary.infer.backends import PRECISIONS, create_backend
from estuary.infer.config import InferConfig, load_infer_config
from estuary.infer.decode import (Classification, Detections, classify_outputs, decode_detections,
                                  instance_masks, min_pre_threshold)
from estuary.infer.layouts import BoundParser, bind_parser, family_of, model_metadata
from estuary.infer.parsers import get_parser
from estuary.infer.preprocess import NetInput, prepare

__all__ = ["InferEngine", "Detections", "Classification", "instance_masks"]

log = logging.getLogger("estuary.infer")


#: the most objects a secondary network runs on in one call (:meth:`InferEngine.raw_objects`):
#: few padded shapes (1, 2, 4, ... 64 rows), each captured as a
#: CUDA graph cheaply. Calls of up to 512 gained nothing, and their first runs and captures (new
#: cuDNN shapes, gigabytes of graph memory) cost seconds (H200, session 6)
OBJECT_CHUNK_CAP = 64


def bucket_rows(n: int, base: int = 1, cap: int = OBJECT_CHUNK_CAP) -> int:
    """The padded batch size for ``n`` objects: the smallest ``base`` × 2^k ≥ n, at most
    ``max(cap, base)`` (and never below n). Powers of two (``base`` 1) pad at most 2× and
    give 7 shapes up to 64."""
    base = max(1, base)
    rows = base
    while rows < n and rows < cap:
        rows *= 2
    return max(n, min(rows, max(cap, base)))


def object_buckets(cap: int = OBJECT_CHUNK_CAP, base: int = 1) -> list[int]:
    """Every padded batch size :func:`bucket_rows` gives up to ``cap`` (1, 2, 4 … 64)."""
    return sorted({bucket_rows(n, base, cap) for n in range(1, max(cap, base) + 1)})


class InferEngine:
    """Loads the model of an nvinfer config and runs it."""

    def __init__(self, config: InferConfig | str, gpu_id: int = -1, backend: str | None = None,
                 threads: int = 0, streams: int = 1, adaptive: bool = False, u8_frames: bool = False):
        """``u8_frames``: the backend may take the frames' scaled pixels as uint8 and do the
        offsets and scale itself (OpenVINO, CPU) — for callers that feed it frames through
        :meth:`raw`, not tensors of their own (``backend.run``)."""
        self.config = load_infer_config(config) if isinstance(config, str) else config
        cfg = self.config
        # network-mode on the CPU: 1 runs a quantized copy of the model (estuary.infer.int8), built
        # now from int8-calib-file, or later from the first frames (then FP32 until use_int8())
        mode = cfg.values.get("network-mode", 0)
        self.int8 = None
        if mode == 1 and gpu_id < 0:
            from estuary.infer.int8 import Int8Plan, float_precision
            self.int8 = Int8Plan(cfg, float_precision(backend))
        self._backend_args = {"gpu_id": gpu_id, "prefer": backend, "threads": threads, "streams": streams,
                              "adaptive": adaptive}
        if gpu_id < 0 and cfg.process_mode == 1 and cfg.batch_size > 1:
            # a primary's frames come in batches of batch-size (the muxer's, on a full batch)
            self._backend_args["batch"] = cfg.batch_size
        nhwc = cfg.values.get("network-input-order", 0) == 1
        if u8_frames and gpu_id < 0:
            self._backend_args["u8_input"] = (tuple(cfg.offsets or ()), cfg.net_scale_factor, nhwc)
        model = self.int8.path if self.int8 is not None and self.int8.ready else cfg.onnx_file
        self.model_path = model  # the file the backend runs
        precision = "int8" if model != cfg.onnx_file else "fp32" if self.int8 is not None else PRECISIONS[mode]
        self.backend = create_backend(model, precision=precision, **self._backend_args)
        if self.int8 is not None and self.backend.int8_float != self.int8.float_precision:
            # a fallback runtime runs the float layers otherwise: the recipe (and file) made for it
            self.int8 = Int8Plan(cfg, self.backend.int8_float)
            if self.int8.ready:
                self.backend = create_backend(self.int8.path, precision="int8", **self._backend_args)
                self.model_path = self.int8.path
            elif model != cfg.onnx_file:
                self.backend = create_backend(cfg.onnx_file, precision="fp32", **self._backend_args)
                self.model_path = cfg.onnx_file
        shape = self.backend.input_shape
        dims = cfg.values.get("infer-dims")
        if len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape[1:]):
            c, h, w = (shape[3], shape[1], shape[2]) if nhwc else shape[1:]
            if dims and list(dims) != [c, h, w]:
                raise ConfigError(f"infer-dims {dims} do not match the model input {[c, h, w]}",
                                  path=cfg.path, line=cfg.lines.get("infer-dims"), key="property/infer-dims",
                                  hint="fix infer-dims or remove it (the model's own shape is used)")
        elif dims and len(dims) == 3:
            c, h, w = dims
        else:
            raise ConfigError("the model input has dynamic dimensions: set infer-dims=c;h;w",
                              path=cfg.path, key="property/infer-dims")
        fmt = cfg.model_color_format
        if (fmt == 2) != (c == 1):
            raise ConfigError(f"model-color-format {fmt} does not fit a {c}-channel input",
                              path=cfg.path, line=cfg.lines.get("model-color-format"),
                              key="property/model-color-format")
        self.net = NetInput(width=w, height=h, channels=c, color_format=fmt,
                            scale=cfg.net_scale_factor, offsets=tuple(cfg.offsets or (0.0,) * c),
                            keep_aspect=cfg.maintain_aspect_ratio, symmetric=cfg.symmetric_padding,
                            interpolation=cfg.scaling_filter, nhwc=nhwc)
        self.network_type = cfg.effective_network_type
        self.parser = get_parser(cfg.parse_bbox_func_name, os.path.dirname(cfg.custom_lib_path)
                                 if cfg.custom_lib_path else os.path.dirname(cfg.path))
        self.classifier_hook = None
        if cfg.parse_classifier_func_name:
            from estuary.infer.parsers import load_python_hook
            self.classifier_hook = load_python_hook(cfg.parse_classifier_func_name, os.path.dirname(cfg.path))
        self.labels = cfg.labels
        self.num_classes = cfg.num_detected_classes or len(self.labels) or 1
        if self.network_type == 0 and cfg.num_detected_classes is None:
            raise ConfigError("detectors need num-detected-classes", path=cfg.path,
                              key="property/num-detected-classes")
        if self.network_type == 3:  # instance segmentation: a detector whose objects carry masks
            self.network_type = 0
        self.instance_masks = bool(cfg.output_instance_mask) or cfg.effective_network_type == 3
        if self.network_type == 0 and family_of(cfg.parse_bbox_func_name) is not None:
            self.parser = self._bind_parser()
        log.info("esinfer: %s on %s (input %dx%dx%d)", os.path.basename(cfg.onnx_file),
                 self.backend.name, c, h, w)
        if self.int8 is not None and not self.int8.ready and self.int8.images:
            from estuary.infer.int8 import load_calibration
            self.use_int8(load_calibration(self.int8, self.net))

    @property
    def int8_pending(self) -> bool:
        """network-mode=1 without a cached INT8 model or calibration images: running FP32 until
        :meth:`use_int8` is given calibration frames."""
        return self.int8 is not None and self.model_path != self.int8.path

    def use_int8(self, calibration: list[np.ndarray]) -> None:
        """Quantize the model with ``calibration`` (network inputs) unless cached; run it from now on."""
        if not self.int8.ready:
            self.int8.build(calibration, self.backend.input_name)
        self.backend = create_backend(self.int8.path, precision="int8", **self._backend_args)
        self.model_path = self.int8.path

    def fork(self) -> "InferEngine":
        """Another engine on the same model for another worker thread (OpenVINO: another infer
        request of the same compiled model; ONNX Runtime: another session)."""
        import copy
        other = copy.copy(self)
        other.backend = self.backend.fork()
        return other

    def _bind_parser(self) -> BoundParser:
        """Run one mid-grey test frame and check the outputs against the parser and class count
        (estuary.infer.layouts): a model/config mismatch is a ConfigError here, not garbage boxes."""
        n = getattr(self.backend, "fixed_batch", None) or 1
        grey = np.full((self.net.height, self.net.width, 4), 114, np.uint8)
        outputs, _ = self.raw([grey] * n)
        return bind_parser(self.config.parse_bbox_func_name, outputs, self.num_classes, self.net,
                           self.config, model_metadata(self.config.onnx_file))

    @property
    def min_pre_threshold(self) -> float:
        return min_pre_threshold(self.config)

    def raw(self, images, rois=None):
        """Run the network: returns (outputs dict with the batch dim, transforms).

        ``images`` are RGBA numpy arrays, or CUDA tensors (then pre-processing and the network
        run on the GPU, and only what the parser needs comes back to the host)."""
        if images and not isinstance(images[0], np.ndarray):
            pending, transforms = self.raw_async(images, rois)
            return pending.result(), transforms
        # run at once: x is free after
        x, transforms = prepare(images, self.net, rois, reuse=True, u8=self.backend.input_dtype == np.uint8)
        return self.backend.run(x), transforms

    def raw_async(self, images, rois=None):
        """:meth:`raw` for CUDA tensor images without waiting for the GPU: returns
        (:class:`~estuary.infer.gpu_post.PendingOutputs`, transforms); the pending's ``result()``
        gives what :meth:`raw` returns, after one device→host copy for the whole batch."""
        from estuary.infer.preprocess import prepare_torch
        x, transforms = prepare_torch(images, self.net, rois)
        outs = self.backend.run(x, as_numpy=False)
        return self._to_host_async(outs), transforms

    def raw_objects(self, images, rois, base: int = 1, cap: int = OBJECT_CHUNK_CAP):
        """A secondary network over all objects of a batch (CUDA tensor frames): crops scaled in
        one gather, the network run in chunks of at most ``cap`` objects, each padded with zero
        inputs to ``base`` × 2^k rows so that a few batch shapes recur (and replay as CUDA graphs
        once :meth:`TorchBackend.enable_cuda_graphs` is on), outputs copied to the host once and
        waited for once. Returns what :meth:`raw` returns for the same objects: each object's
        outputs do not depend on its neighbours in a batch (padding rows are cut off)."""
        import torch
        from estuary.infer.preprocess import prepare_torch
        x, transforms = prepare_torch(images, self.net, rois)
        fixed = getattr(self.backend, "fixed_batch", None)
        if fixed:  # a model exported for one batch size: chunks of exactly that, never padded past it
            base = cap = fixed
        parts = []
        for start in range(0, x.shape[0], cap):
            chunk = x[start: start + cap]
            n = chunk.shape[0]
            rows = bucket_rows(n, base, cap)
            if rows > n:
                chunk = torch.cat([chunk, chunk.new_zeros((rows - n,) + tuple(chunk.shape[1:]))])
            outs = self.backend.run(chunk, as_numpy=False)
            parts.append({k: v[:n] for k, v in outs.items()})
        outs = parts[0] if len(parts) == 1 else {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return self._to_host_async(outs).result(), transforms

    def _to_host_async(self, outs: dict):
        """Start copying GPU outputs to the host; YOLO rows below the smallest threshold stay
        behind (estuary.infer.gpu_post)."""
        from estuary.infer.gpu_post import PendingOutputs
        yolo = None
        if self.network_type == 0 and getattr(self.parser, "family", None) == "yolo" and len(outs) == 1:
            yolo = next(iter(outs))
        return PendingOutputs(outs, yolo_rows=yolo, min_score=self.min_pre_threshold)

    def _to_host(self, outs: dict) -> dict:
        """Copy GPU outputs to the host (waiting for them); see :meth:`_to_host_async`."""
        return self._to_host_async(outs).result()

    def detect(self, images: list[np.ndarray], outputs=None, transforms=None) -> list[Detections]:
        """Detections for each RGBA frame."""
        if outputs is None:
            outputs, transforms = self.raw(images)
        if self._batch_detect_ok(images, transforms):
            from estuary.infer.batch_detect import yolo_batch
            name = next(iter(outputs))
            rows = [self.parser.split(outputs, i)[name] for i in range(len(images))]
            h, w = images[0].shape[:2]
            return [Detections(c.boxes, c.scores, c.class_ids) for c in
                    yolo_batch(rows, self.min_pre_threshold, transforms[0], w, h, self.config.attrs_for(0),
                               self.config.filter_out_class_ids)]
        thr = self.min_pre_threshold
        results = []
        for i, img in enumerate(images):
            per = self.parser.split(outputs, i) if isinstance(self.parser, BoundParser) else \
                {k: v[i] for k, v in outputs.items()}
            results.append(decode_detections(per, self.parser, self.net, self.num_classes, transforms[i],
                                             img.shape[:2], self.config, self.instance_masks, thr))
        return results

    def _batch_detect_ok(self, images, transforms) -> bool:
        """Whether estuary.infer.batch_detect gives this batch's detections (exactly what the
        per-frame path gives): a plain YOLO output whose value checks are done, cluster-mode 2
        with one set of class attributes, no masks, frames of one size and transform."""
        from estuary.infer.parsers import parse_yolo
        p, cfg = self.parser, self.config
        return (len(images) > 1 and isinstance(p, BoundParser) and p.fn is parse_yolo and p._split is None
                and p._left <= 0 and cfg.effective_cluster_mode == 2 and set(cfg.class_attrs) <= {"all"}
                and not self.instance_masks and os.environ.get("ESTUARY_BATCH_DETECT") != "0"
                and all(t == transforms[0] for t in transforms)
                and all(tuple(i.shape[:2]) == tuple(images[0].shape[:2]) for i in images))

    def classify(self, images: list[np.ndarray], rois=None, outputs=None) -> list[Classification | None]:
        """Top-1 class of each image (or ROI), or None when below classifier-threshold."""
        if outputs is None:
            outputs, _ = self.raw(images, rois)
        return classify_outputs(outputs, self.labels, self.config.classifier_threshold, self.classifier_hook)

    def label(self, class_id: int) -> str:
        return self.labels[class_id] if 0 <= class_id < len(self.labels) else str(class_id)
