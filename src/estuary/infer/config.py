"""The nvinfer configuration: DeepStream's key-file format, validated.

Unknown keys, malformed values and models Estuary cannot load give a
:class:`~estuary.errors.ConfigError` naming the file, line and key, with a hint.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field

from estuary.errors import ConfigError
from estuary.infer.keyfile import KeyFile, parse_keyfile

__all__ = ["InferConfig", "ClassAttrs", "load_infer_config", "config_from_groups", "PROPERTY_KEYS",
           "CLASS_ATTR_KEYS"]


def _int(v):
    return int(v.strip())


def _float(v):
    return float(v.strip())


def _bool(v):
    s = v.strip().lower()
    if s in ("1", "true"):
        return True
    if s in ("0", "false"):
        return False
    raise ValueError(f"expected 0/1/true/false, got {v!r}")


def _floats(v):
    return [float(x) for x in v.split(";") if x.strip()]


def _ints(v):
    return [int(x) for x in v.replace(":", ";").split(";") if x.strip()]


def _strs(v):
    return [x.strip() for x in v.split(";") if x.strip()]


def _str(v):
    return v


_PATH = "path"

#: [property] keys: name → (parser, default). Paths are resolved against the config's folder.
PROPERTY_KEYS = {
    "gpu-id": (_int, 0), "net-scale-factor": (_float, 1.0), "offsets": (_floats, None),
    "mean-file": (_PATH, None), "model-color-format": (_int, 0), "model-file": (_PATH, None),
    "proto-file": (_PATH, None), "uff-file": (_PATH, None), "uff-input-blob-name": (_str, None),
    "uff-input-order": (_int, 0), "uff-input-dims": (_str, None), "input-dims": (_str, None),
    "infer-dims": (_ints, None), "onnx-file": (_PATH, None), "tlt-encoded-model": (_PATH, None),
    "tlt-model-key": (_str, None), "model-engine-file": (_PATH, None), "int8-calib-file": (_PATH, None),
    "batch-size": (_int, 1), "network-mode": (_int, 0), "workspace-size": (_int, None),
    "force-implicit-batch-dim": (_bool, False), "output-blob-names": (_strs, None),
    "network-type": (_int, 0), "is-classifier": (_bool, False), "num-detected-classes": (_int, None),
    "labelfile-path": (_PATH, None), "process-mode": (_int, 1), "interval": (_int, 0),
    "gie-unique-id": (_int, 0), "operate-on-gie-id": (_int, -1), "operate-on-class-ids": (_ints, None),
    "input-object-min-width": (_int, 0), "input-object-min-height": (_int, 0),
    "input-object-max-width": (_int, 0), "input-object-max-height": (_int, 0),
    "classifier-threshold": (_float, None), "classifier-async-mode": (_bool, False),
    "secondary-reinfer-interval": (_int, 0), "cluster-mode": (_int, 0), "enable-dbscan": (_bool, False),
    "maintain-aspect-ratio": (_bool, False), "scaling-filter": (_int, 0), "scaling-compute-hw": (_int, 0),
    "custom-lib-path": (_PATH, None), "parse-bbox-func-name": (_str, None),
    "parse-classifier-func-name": (_str, None), "parse-bbox-instance-mask-func-name": (_str, None),
    "engine-create-func-name": (_str, None), "custom-network-config": (_PATH, None),
    "output-tensor-meta": (_bool, False), "output-instance-mask": (_bool, False),
    "segmentation-threshold": (_float, 0.0), "enable-dla": (_bool, False), "use-dla-core": (_int, 0),
    "parse-func": (_int, None), "symmetric-padding": (_bool, False), "network-input-order": (_int, 0),
    "input-tensor-from-meta": (_bool, False), "layer-device-precision": (_str, None),
    "output-io-formats": (_str, None), "tensor-meta-pool-size": (_int, None),
    "filter-out-class-ids": (_ints, None), "classifier-type": (_str, None),
    "segmentation-output-order": (_int, None), "disable-output-host-copy": (_bool, False),
    "dump-input-tensor": (_bool, False), "dump-output-tensor": (_bool, False),
    "auto-inc-mem": (_bool, False), "max-gpu-mem-per": (_int, None),
}

CLASS_ATTR_KEYS = {
    "pre-cluster-threshold": (_float, None), "threshold": (_float, None),
    "post-cluster-threshold": (_float, 0.0), "eps": (_float, 0.0), "group-threshold": (_int, 0),
    "minBoxes": (_int, 0), "dbscan-min-score": (_float, 0.0), "nms-iou-threshold": (_float, 0.3),
    "topk": (_int, -1), "roi-top-offset": (_int, 0), "roi-bottom-offset": (_int, 0),
    "detected-min-w": (_int, 0), "detected-min-h": (_int, 0), "detected-max-w": (_int, 0),
    "detected-max-h": (_int, 0), "border-color": (_floats, None), "bg-color": (_floats, None),
}

_RANGES = {"network-type": (0, 1, 2, 3, 100), "process-mode": (1, 2), "model-color-format": (0, 1, 2),
           "network-mode": (0, 1, 2), "cluster-mode": (0, 1, 2, 3, 4), "network-input-order": (0, 1)}


@dataclass
class ClassAttrs:
    """Post-processing parameters of one class."""

    pre_cluster_threshold: float = 0.2
    post_cluster_threshold: float = 0.0
    eps: float = 0.0
    group_threshold: int = 0
    min_boxes: int = 0
    dbscan_min_score: float = 0.0
    nms_iou_threshold: float = 0.3
    topk: int = -1
    roi_top_offset: int = 0
    roi_bottom_offset: int = 0
    detected_min_w: int = 0
    detected_min_h: int = 0
    detected_max_w: int = 0
    detected_max_h: int = 0
    border_color: list | None = None
    bg_color: list | None = None


@dataclass
class InferConfig:
    """A parsed and validated nvinfer config (keys as attributes with ``-`` → ``_``)."""

    path: str = ""
    values: dict = field(default_factory=dict)
    class_attrs: dict = field(default_factory=dict)
    labels: list = field(default_factory=list)
    lines: dict = field(default_factory=dict)

    def __getattr__(self, name):
        key = name.replace("_", "-")
        values = self.__dict__.get("values", {})
        if key in values:
            return values[key]
        if key in PROPERTY_KEYS:
            return PROPERTY_KEYS[key][1]
        raise AttributeError(name)

    def set(self, key: str, value) -> None:
        """Override a key (element properties win over the file)."""
        self.values[key] = value

    def attrs_for(self, class_id: int) -> ClassAttrs:
        return self.class_attrs.get(class_id) or self.class_attrs.get("all") or ClassAttrs()

    @property
    def is_classifier_net(self) -> bool:
        return self.values.get("network-type", 0) == 1 or bool(self.values.get("is-classifier"))

    @property
    def effective_network_type(self) -> int:
        return 1 if self.is_classifier_net else self.values.get("network-type", 0)

    @property
    def effective_cluster_mode(self) -> int:
        if self.values.get("enable-dbscan"):
            return 1
        return self.values.get("cluster-mode", 0)


def _parse_value(kf: KeyFile, group: str, key: str, parser):
    entry = kf.groups[group][key]
    if parser is _PATH:
        v = entry.value
        return v if os.path.isabs(v) else os.path.normpath(os.path.join(kf.directory, v))
    try:
        return parser(entry.value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid value {entry.value!r}: {exc}", path=kf.path, line=entry.line,
                          key=f"{group}/{key}") from None


def _unknown(kf: KeyFile, group: str, key: str, known) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "see docs for the supported keys"
    e = kf.groups[group][key]
    return ConfigError(f"unknown key {key!r}", path=kf.path, line=e.line, key=f"{group}/{key}",
                       hint=hint)


def read_labels(labels: str, config_path: str | None = None, line: int | None = None,
                key: str | None = None) -> list[str]:
    """The labels of a label file, one per non-empty line; a ConfigError names the file."""
    try:
        with open(labels, encoding="utf-8") as f:
            return [ln.rstrip("\r\n") for ln in f if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read label file {labels}: {exc}", path=config_path, line=line,
                          key=key, hint="a label file is UTF-8 text, one label per line") from None


def load_infer_config(path: str | None = None, text: str | None = None,
                      require_model: bool = True) -> InferConfig:
    """Parse and validate an nvinfer config file."""
    kf = parse_keyfile(path, text)
    if "property" not in kf.groups:
        raise ConfigError("no [property] group", path=kf.path,
                          hint="an nvinfer config starts with [property]")
    return config_from_groups(kf, require_model)


def config_from_groups(kf: KeyFile, require_model: bool = True) -> InferConfig:
    """Validate the groups of a parsed config (a key file, or a YAML file read into the same
    shape by :mod:`estuary.infer.postprocess`): ``property``, ``class-attrs-all`` and
    ``class-attrs-<id>``."""
    cfg = InferConfig(path=kf.path)
    for group, entries in kf.groups.items():
        if group == "property":
            for key in entries:
                if key not in PROPERTY_KEYS:
                    raise _unknown(kf, group, key, PROPERTY_KEYS)
                val = _parse_value(kf, group, key, PROPERTY_KEYS[key][0])
                if key in _RANGES and val not in _RANGES[key]:
                    raise ConfigError(f"{val} is not one of {_RANGES[key]}", path=kf.path,
                                      line=entries[key].line, key=f"{group}/{key}")
                if key in ("batch-size",) and val < 1:
                    raise ConfigError("must be >= 1", path=kf.path, line=entries[key].line,
                                      key=f"{group}/{key}")
                if key == "net-scale-factor" and val <= 0:
                    raise ConfigError("must be > 0", path=kf.path, line=entries[key].line,
                                      key=f"{group}/{key}")
                cfg.values[key] = val
                cfg.lines[key] = entries[key].line
        elif group == "class-attrs-all" or group.startswith("class-attrs-"):
            cid = group[len("class-attrs-"):]
            if cid != "all":
                try:
                    cid = int(cid)
                except ValueError:
                    raise ConfigError(f"bad group name [{group}]", path=kf.path,
                                      hint="use [class-attrs-all] or [class-attrs-<class id>]") from None
            base = cfg.class_attrs.get("all", ClassAttrs()) if cid != "all" else ClassAttrs()
            attrs = ClassAttrs(**vars(base))
            for key in entries:
                if key not in CLASS_ATTR_KEYS:
                    raise _unknown(kf, group, key, CLASS_ATTR_KEYS)
                val = _parse_value(kf, group, key, CLASS_ATTR_KEYS[key][0])
                name = {"threshold": "pre_cluster_threshold", "minBoxes": "min_boxes"}.get(
                    key, key.replace("-", "_"))
                setattr(attrs, name, val)
            cfg.class_attrs[cid] = attrs
        else:
            raise ConfigError(f"unknown group [{group}]", path=kf.path,
                              hint="nvinfer configs have [property], [class-attrs-all] and "
                                   "[class-attrs-<id>] groups")
    if require_model:
        _check_model(cfg, kf)
    labels = cfg.values.get("labelfile-path")
    if labels:
        if not os.path.isfile(labels):
            raise ConfigError(f"label file not found: {labels}", path=kf.path,
                              line=cfg.lines.get("labelfile-path"), key="property/labelfile-path")
        cfg.labels = read_labels(labels, kf.path, cfg.lines.get("labelfile-path"), "property/labelfile-path")
    if cfg.is_classifier_net and cfg.values.get("classifier-threshold") is None:
        cfg.values["classifier-threshold"] = 0.0
    return cfg


def _check_model(cfg: InferConfig, kf: KeyFile) -> None:
    v = cfg.values
    onnx = v.get("onnx-file")
    engine = v.get("model-engine-file")
    if onnx:
        if not os.path.isfile(onnx):
            raise ConfigError(f"model file not found: {onnx}", path=kf.path,
                              line=cfg.lines.get("onnx-file"), key="property/onnx-file",
                              hint="fix the path (relative paths are resolved against the config's folder)")
        return
    if engine and os.path.isfile(engine) and engine.endswith((".engine", ".plan", ".onnx")):
        if engine.endswith(".onnx"):
            v["onnx-file"] = engine
        return
    for key, kind in (("model-file", "a Caffe model"), ("uff-file", "a UFF model"),
                      ("tlt-encoded-model", "a TLT/TAO .etlt model"), ("proto-file", "a Caffe model")):
        if v.get(key):
            raise ConfigError(
                f"this config names {kind} ({os.path.basename(v[key])}), which Estuary cannot load",
                path=kf.path, line=cfg.lines.get(key), key=f"property/{key}",
                hint="export the network to ONNX and set onnx-file=<model.onnx>")
    raise ConfigError("no model: set onnx-file", path=kf.path, key="property/onnx-file",
                      hint="add onnx-file=<path to an ONNX model> to [property]")
