"""nvdspostprocess: parse the raw output tensors nvinfer attached (``output-tensor-meta=1``,
usually with ``network-type=100`` so nvinfer parses nothing itself) into object or classifier
metadata, configured by DeepStream's postprocess YAML file.

The YAML file has nvinfer's groups and keys: a ``property`` map (``gie-unique-id``,
``process-mode``, ``network-type``, ``num-detected-classes``, ``labelfile-path``,
``parse-bbox-func-name``, ``output-blob-names``, ``cluster-mode``, ``classifier-threshold``...)
and ``class-attrs-all`` / ``class-attrs-<id>`` maps of per-class thresholds. Parsing, mapping to
frame pixels and clustering are nvinfer's own (:mod:`estuary.infer.decode`) and the metadata is
written by :mod:`estuary.infer.writer`, so nvinfer → nvdspostprocess gives the boxes nvinfer
gives alone. Engine-free: the ``espostprocess`` element is a thin shell over
:class:`Postprocessor`."""

from __future__ import annotations

import logging
import os

import numpy as np

from estuary.errors import ConfigError
from estuary.infer.config import PROPERTY_KEYS, InferConfig, config_from_groups
from estuary.infer.decode import Classification, Detections, classify_outputs, decode_detections
from estuary.infer.keyfile import Entry, KeyFile
from estuary.infer.layouts import BoundParser, bind_parser, family_of
from estuary.infer.parsers import DEEPSTREAM_PARSER_NAMES, get_parser, load_python_hook
from estuary.infer.preprocess import NetInput, fit_transform
from estuary.infer.writer import (DetectionStyle, write_classification, write_detections,
                                  write_frame_classification, write_segmentation)
from estuary.meta.enums import NvDsMetaType

__all__ = ["load_postprocess_config", "Postprocessor", "tensor_outputs", "USED_KEYS", "PARSER_NAMES"]

log = logging.getLogger("estuary.infer")

#: the ``property`` keys nvdspostprocess reads; nvinfer's other keys (model files, scaling...)
#: are accepted with a warning, as they have no meaning after inference
USED_KEYS = frozenset({
    "gpu-id", "process-mode", "gie-unique-id", "operate-on-gie-id", "operate-on-class-ids",
    "network-type", "is-classifier", "num-detected-classes", "labelfile-path", "output-blob-names",
    "parse-bbox-func-name", "parse-classifier-func-name", "custom-lib-path", "cluster-mode",
    "enable-dbscan", "classifier-threshold", "classifier-type", "segmentation-threshold",
    "filter-out-class-ids", "maintain-aspect-ratio", "symmetric-padding", "output-instance-mask",
})

#: DeepStream's postprocesslib parser names → Estuary's built-in parser for the same outputs
PARSER_NAMES = {
    **{n.replace("nvdsinfer", "nvdspostprocess", 1): n for n in DEEPSTREAM_PARSER_NAMES},
    "nvdspostprocessparsecustomtfssd": "ssd",
    "nvdspostprocessparsecustomssd": "ssd",
}

_NETWORK_TYPES = {0: "detector", 1: "classifier", 2: "segmentation"}


def _yaml_groups(path: str) -> KeyFile:
    """The YAML file as key-file groups (values as written, lists joined with ``;``), keeping
    each key's line for error messages."""
    import yaml
    if not path:
        raise ConfigError("no postprocess config file given",
                          hint="set postprocesslib-config-file to DeepStream's postprocess YAML file")
    if not os.path.isfile(path):
        raise ConfigError("postprocess config file not found", path=path,
                          hint="check postprocesslib-config-file; relative paths are resolved against "
                               "the working directory")
    try:
        with open(path, encoding="utf-8") as f:
            root = yaml.compose(f, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}", path=path,
                          line=mark.line + 1 if mark else None) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the postprocess config: {exc}", path=path) from None
    kf = KeyFile(path)
    if root is None:
        return kf
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("a postprocess config is a YAML map of groups (property:, class-attrs-all:)",
                          path=path, line=root.start_mark.line + 1)
    for gnode, body in root.value:
        group = str(gnode.value)
        if not isinstance(body, yaml.MappingNode):
            raise ConfigError(f"group {group!r} must be a map of key: value", path=path,
                              line=gnode.start_mark.line + 1, key=group)
        entries = kf.groups.setdefault(group, {})
        for knode, vnode in body.value:
            if isinstance(vnode, yaml.SequenceNode):
                value = ";".join(str(item.value) for item in vnode.value)
            elif isinstance(vnode, yaml.ScalarNode):
                value = str(vnode.value)
            else:
                raise ConfigError("expected a value or a list", path=path, line=knode.start_mark.line + 1,
                                  key=f"{group}/{knode.value}")
            entries[str(knode.value)] = Entry(value, knode.start_mark.line + 1)
    return kf


def _parser_name(cfg: InferConfig) -> str | None:
    """parse-bbox-func-name with DeepStream's postprocesslib names translated."""
    name = cfg.parse_bbox_func_name
    if name and name.lower() in PARSER_NAMES:
        return PARSER_NAMES[name.lower()]
    return name


def load_postprocess_config(path: str) -> InferConfig:
    """Parse and validate DeepStream's nvdspostprocess YAML config (``postprocesslib-config-file``).

    Raises :class:`ConfigError` naming the file, line and key: a missing or unreadable file, no
    ``property`` group, an unknown key or parser, a detector without num-detected-classes."""
    kf = _yaml_groups(path)
    if "property" not in kf.groups:
        raise ConfigError("no property group", path=kf.path,
                          hint="a postprocess config has property: (and class-attrs-all:) maps")
    cfg = config_from_groups(kf, require_model=False)
    ignored = sorted(k for k in cfg.values if k in PROPERTY_KEYS and k not in USED_KEYS)
    if ignored:
        log.warning("%s: %s ignored by nvdspostprocess (nvinfer keys with no meaning after inference)",
                    kf.path, ", ".join(ignored))

    def err(message, key, hint=None):
        return ConfigError(message, path=kf.path, line=cfg.lines.get(key), key=f"property/{key}", hint=hint)
    ntype = cfg.effective_network_type
    if ntype not in _NETWORK_TYPES:
        raise err(f"network-type={ntype} cannot be post-processed: nvdspostprocess parses detectors (0), "
                  "classifiers (1) and segmentation (2)", "network-type",
                  hint="network-type=100 belongs in nvinfer's config (it stops nvinfer parsing); "
                       "here give the network's real type")
    if cfg.process_mode == 2 and ntype != 1:
        raise err("process-mode=2 (objects) is supported for classifiers (network-type=1)", "process-mode")
    if ntype == 0:
        if cfg.num_detected_classes is None:
            raise err("detectors need num-detected-classes", "num-detected-classes")
        if cfg.num_detected_classes < 1:
            raise err("num-detected-classes must be >= 1", "num-detected-classes")
        name = _parser_name(cfg)
        try:
            get_parser(name, os.path.dirname(cfg.custom_lib_path) if cfg.custom_lib_path else
                       os.path.dirname(kf.path))
        except ConfigError as exc:
            text = str(exc).split(" (hint: ")[0]
            text = text.split("] ", 1)[1] if text.startswith("[") else text
            raise err(text, "parse-bbox-func-name", hint=exc.hint or "DeepStream's NvDsPostProcessParse* "
                      "names map to the built-in parsers for the same outputs") from None
    if cfg.parse_classifier_func_name and ":" not in cfg.parse_classifier_func_name:
        raise err(f"unknown classifier parser {cfg.parse_classifier_func_name!r}: a C function cannot be "
                  "loaded", "parse-classifier-func-name",
                  hint="remove it (top-1 softmax is built in) or name a Python module:function")
    if cfg.is_classifier_net and cfg.values.get("classifier-threshold") is None:
        cfg.values["classifier-threshold"] = 0.0
    return cfg


def tensor_outputs(tensor_meta) -> dict:
    """Layer name → host array (without the batch dimension) of an NvDsInferTensorMeta.

    The one place this module reads a metadata string field (``layerName``)."""
    return {str(li.layerName): np.asarray(buf)
            for li, buf in zip(tensor_meta.layers, tensor_meta.out_buf_ptrs_host or [])}


class Postprocessor:
    """Turns the tensor meta of one nvinfer instance (``gie-unique-id``) into metadata."""

    def __init__(self, cfg: InferConfig):
        self.cfg = cfg
        self.unique_id = cfg.gie_unique_id
        self.network_type = cfg.effective_network_type
        self.labels = list(cfg.labels)
        self.num_classes = cfg.num_detected_classes or len(self.labels) or 1
        search = os.path.dirname(cfg.custom_lib_path) if cfg.custom_lib_path else os.path.dirname(cfg.path)
        self._name = _parser_name(cfg)
        self._parser = get_parser(self._name, search) if self.network_type == 0 else None
        self._bound = None  # (layout key, BoundParser): bound on the first tensors
        self.classifier_hook = (load_python_hook(cfg.parse_classifier_func_name, search)
                                if cfg.parse_classifier_func_name else None)
        self.style = DetectionStyle(self.unique_id, self.label, cfg.attrs_for,
                                    float(cfg.segmentation_threshold or 0.5))

    def label(self, class_id: int) -> str:
        return self.labels[class_id] if 0 <= class_id < len(self.labels) else str(class_id)

    def select(self, outputs: dict) -> dict:
        """The layers ``output-blob-names`` names, in that order (all of them when unset)."""
        names = self.cfg.output_blob_names
        if not names:
            return outputs
        missing = [n for n in names if n not in outputs]
        if missing:
            raise ConfigError(f"output-blob-names names {', '.join(missing)}, the tensor meta has "
                              f"{', '.join(outputs) or 'no layers'}", path=self.cfg.path,
                              line=self.cfg.lines.get("output-blob-names"), key="property/output-blob-names")
        return {n: outputs[n] for n in names}

    def _parser_for(self, outputs: dict, net: NetInput):
        """The parser bound to these outputs' layout, checked once against num-detected-classes."""
        if family_of(self._name) is None:
            return self._parser  # a Python module:function: no layout to check
        key = tuple((k, np.shape(v)) for k, v in outputs.items()) + ((net.width, net.height),)
        if self._bound is None or self._bound[0] != key:
            batched = {k: np.asarray(v)[None] for k, v in outputs.items()}
            self._bound = (key, bind_parser(self._name, batched, self.num_classes, net, self.cfg))
        return self._bound[1]

    def detections(self, outputs: dict, net: NetInput, frame_size: tuple) -> Detections:
        """Detections in frame pixels from one frame's outputs; ``frame_size`` = (width, height)
        of the frame nvinfer scaled into the network."""
        outputs = self.select(outputs)
        parser = self._parser_for(outputs, net)
        w, h = frame_size
        tr = fit_transform(w, h, _net(net, self.cfg))
        if isinstance(parser, BoundParser):
            outputs = parser.split({k: np.asarray(v)[None] for k, v in outputs.items()}, 0)
        return decode_detections(outputs, parser, net, self.num_classes, tr, (h, w), self.cfg,
                                 bool(self.cfg.output_instance_mask))

    def classify(self, outputs: dict) -> Classification | None:
        """Top-1 class of one frame's or object's outputs (None below classifier-threshold)."""
        batched = {k: np.asarray(v)[None] for k, v in self.select(outputs).items()}
        return classify_outputs(batched, self.labels, self.cfg.classifier_threshold, self.classifier_hook)[0]

    def _tensor_metas(self, user_meta):
        for um in user_meta:
            if um.meta_type != NvDsMetaType.NVDSINFER_TENSOR_OUTPUT_META:
                continue
            tm = um.user_meta_data
            if getattr(tm, "unique_id", None) == self.unique_id:
                yield tm

    def process_batch(self, batch, frame_size) -> int:
        """Write the metadata of every matching tensor meta of ``batch``; ``frame_size(frame)``
        gives the (width, height) nvinfer saw. Returns the number of tensor metas parsed."""
        n = 0
        for frame in batch.frames:
            if self.cfg.process_mode == 2:
                for obj in list(frame.objects):
                    for tm in self._tensor_metas(obj.user_meta):
                        n += 1
                        c = self.classify(tensor_outputs(tm))
                        if c is not None:
                            write_classification(batch, obj, c, self.unique_id, len(self.labels),
                                                 self.cfg.classifier_type)
                continue
            for tm in list(self._tensor_metas(frame.user_meta)):
                n += 1
                outputs = tensor_outputs(tm)
                if self.network_type == 0:
                    ni = tm.network_info
                    net = NetInput(width=int(ni.width), height=int(ni.height), channels=int(ni.channels) or 3)
                    write_detections(batch, frame, self.detections(outputs, net, frame_size(frame)), self.style)
                elif self.network_type == 1:
                    c = self.classify(outputs)
                    if c is not None:
                        write_frame_classification(batch, frame, c, self.unique_id, len(self.labels))
                else:
                    write_segmentation(batch, frame, self.select(outputs), self.cfg.segmentation_threshold)
        return n


def _net(net: NetInput, cfg: InferConfig) -> NetInput:
    """The network input with the config's letterboxing (which must match nvinfer's)."""
    return NetInput(width=net.width, height=net.height, channels=net.channels,
                    keep_aspect=bool(cfg.maintain_aspect_ratio), symmetric=bool(cfg.symmetric_padding))

