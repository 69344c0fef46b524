"""Tracker configuration: Estuary's own keys, and DeepStream's NvDCF (5.1) / NvMultiObjectTracker
(6.x) YAML files mapped onto them. Unknown keys are rejected with the file and key named."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, fields

from estuary.errors import ConfigError

__all__ = ["TrackerConfig", "load_tracker_config", "algorithm_for_lib"]

ALGORITHMS = ("iou", "sort", "bytetrack")


@dataclass
class TrackerConfig:
    """Parameters of :class:`~estuary.track.tracker.MultiObjectTracker`."""

    algorithm: str = "bytetrack"
    probation_age: int = 2            # hits before a target is confirmed (gets an id)
    max_shadow_age: int = 30          # frames a target survives without detections
    early_termination_age: int = 1    # shadow frames that end an unconfirmed target
    # detections below this are ignored (default 0: the detector's pre-cluster-threshold has
    # already filtered; low-confidence boxes of partly hidden objects keep their targets alive)
    min_detector_confidence: float | None = None
    high_threshold: float = 0.5       # ByteTrack: first-stage detections
    new_track_threshold: float = 0.45  # a detection must reach this to start a target (all algorithms)
    min_iou: float = 0.3              # association gate for the first stage
    min_iou_low: float = 0.4          # ByteTrack: gate for low-confidence detections
    check_class: bool = True          # associate only detections of the target's class
    global_matching: bool = True      # Hungarian (True) or greedy (False)
    min_box_size: float = 0.0         # end targets whose box gets smaller than this (px)
    max_targets: int = 1000           # per stream, shadow targets included

    def validate(self, where: str = "") -> "TrackerConfig":
        if self.min_detector_confidence is None:
            self.min_detector_confidence = 0.0
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"unknown tracker algorithm {self.algorithm!r}; use one of {ALGORITHMS}",
                              path=where or None, key="algorithm")
        for name in ("probation_age", "max_shadow_age", "early_termination_age", "max_targets"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0", path=where or None, key=name)
        for name in ("min_iou", "min_iou_low"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be within 0..1", path=where or None, key=name)
        return self


# key in files → (field, converter)
_ESTUARY_KEYS = {f.name: (f.name, f.type) for f in fields(TrackerConfig)}
_DS_KEYS = {
    "probationAge": ("probation_age", int), "maxShadowTrackingAge": ("max_shadow_age", int),
    "earlyTerminationAge": ("early_termination_age", int),
    "minDetectorConfidence": ("min_detector_confidence", float),
    "minTrackerConfidence": (None, float), "useGlobalMatching": ("global_matching", bool),
    "minMatchingScore4Iou": ("min_iou", float), "minTargetBboxSize": ("min_box_size", float),
    "maxTargetsPerStream": ("max_targets", int), "checkClassMatch": ("check_class", bool),
    "minIouDiff4NewTarget": (None, float),
}
# NvDCF visual/feature keys: accepted (Estuary has no correlation-filter tracker) and ignored
_DS_IGNORED = {
    "useUniqueID", "useColorNames", "useHog", "useHighPrecisionFeature", "filterLr",
    "filterChannelWeightsLr", "gaussianSigma", "featureImgSizeLevel", "SearchRegionPaddingScale",
    "minDetectorBboxVisibilityTobeTracked", "minVisibiilty4Tracking", "targetDuplicateRunInterval",
    "minIou4TargetDuplicate", "minMatchingScore4Overall", "minMatchingScore4SizeSimilarity",
    "minMatchingScore4VisualSimilarity", "minTrackingConfidenceDuringInactive",
    "matchingScoreWeight4VisualSimilarity", "matchingScoreWeight4SizeSimilarity",
    "matchingScoreWeight4Iou", "matchingScoreWeight4Age", "useTrackSmoothing", "stateEstimatorType",
    "trackExponentialSmoothingLr_loc", "trackExponentialSmoothingLr_scale",
    "trackExponentialSmoothingLr_velocity", "kfProcessNoiseVar4Loc", "kfProcessNoiseVar4Scale",
    "kfProcessNoiseVar4Vel", "kfMeasurementNoiseVar4Trk", "kfMeasurementNoiseVar4Det",
    "useBufferedOutput", "useInstanceAwareness", "lambda_ia", "maxInstanceNum_ia",
    "enableBboxUnClipping", "dataAssociatorType", "associationMatcherType", "processNoiseVar4Loc",
    "processNoiseVar4Size", "processNoiseVar4Vel", "measurementNoiseVar4Detector",
    "measurementNoiseVar4Tracker", "visualTrackerType", "featureFocusOffsetFactor_y",
}
_SECTIONS = {"NvDCF", "BaseConfig", "TargetManagement", "TrajectoryManagement", "DataAssociator",
             "StateEstimator", "VisualTracker", "EstuaryTracker", "ReID", "ObjectModelProjection"}


def algorithm_for_lib(ll_lib_file: str) -> str | None:
    """The algorithm that replaces a DeepStream low-level tracker library."""
    name = os.path.basename(ll_lib_file or "").lower()
    if "iou" in name:
        return "iou"
    if "klt" in name:
        return "sort"
    if "nvdcf" in name or "multiobjecttracker" in name:
        return "bytetrack"
    return None


def _convert(conv, value, path, key):
    try:
        if conv is bool:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes")
            return bool(value)
        return conv(value)
    except (TypeError, ValueError):
        raise ConfigError(f"invalid value {value!r}", path=path, key=key) from None


def load_tracker_config(path: str | None = None, text: str | None = None,
                        base: TrackerConfig | None = None) -> TrackerConfig:
    """Read a YAML tracker config (``%YAML:1.0`` OpenCV files are accepted)."""
    import yaml
    cfg = TrackerConfig(**vars(base)) if base else TrackerConfig()
    where = path or "<string>"
    if text is None:
        if not path or not os.path.isfile(path):
            raise ConfigError("tracker config file not found", path=path,
                              hint="check ll-config-file")
        with open(path, encoding="utf-8") as f:
            text = f.read()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("%YAML")]
    try:
        doc = yaml.safe_load("\n".join(lines)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=where) from None
    if not isinstance(doc, dict):
        raise ConfigError("expected sections of key: value pairs", path=where)
    for section, body in doc.items():
        if section not in _SECTIONS:
            close = difflib.get_close_matches(str(section), _SECTIONS, n=1)
            raise ConfigError(f"unknown section {section!r}", path=where, key=str(section),
                              hint=f"did you mean {close[0]!r}?" if close else None)
        if not isinstance(body, dict):
            raise ConfigError("a section holds key: value pairs", path=where, key=str(section))
        for key, value in body.items():
            full = f"{section}/{key}"
            if section == "EstuaryTracker" and key in _ESTUARY_KEYS:
                name, conv = _ESTUARY_KEYS[key]
                conv = {"int": int, "float": float, "bool": bool, "str": str}.get(conv, conv)
                setattr(cfg, name, _convert(conv, value, where, full))
            elif key in _DS_KEYS:
                name, conv = _DS_KEYS[key]
                if name:
                    setattr(cfg, name, _convert(conv, value, where, full))
            elif key in _DS_IGNORED:
                continue
            else:
                known = list(_DS_KEYS) + list(_DS_IGNORED) + list(_ESTUARY_KEYS)
                close = difflib.get_close_matches(str(key), known, n=1)
                raise ConfigError(f"unknown key {key!r}", path=where, key=full,
                                  hint=f"did you mean {close[0]!r}?" if close else None)
    if cfg.min_detector_confidence is not None and cfg.min_detector_confidence < 0:
        cfg.min_detector_confidence = 0.0
    return cfg.validate(where)
