"""What DeepStream's tracker files and libraries look like, across generations.

* The low-level libraries ``nvtracker`` may name in ``ll-lib-file`` and what each needs from
  ``ll-config-file`` (5.1 shipped KLT, IOU and NvDCF libraries; 6.0+ ships one library,
  NvMultiObjectTracker, whose YAML selects IOU, NvSORT, NvDCF or NvDeepSORT).
* Every key of their config files that Estuary knows: the ones it reads (mapped onto
  :class:`~estuary.track.config.TrackerConfig` fields) and the ones it accepts without effect
  (correlation filters, Re-ID networks, GPU threading: things this tracker does not have).
  Keys in neither table are warned about, not rejected: NVIDIA adds keys in every release and
  an unmodified app's file must still load.

Sources: the 5.0/5.1 ``tracker_config.yml`` files of deepstream_python_apps (test2,
runtime_source_add_delete), the 6.x/7.x ``config_tracker_{IOU,NvSORT,NvDCF_*,NvDeepSORT}.yml``
of the SDK, and the 5.1 plugin guide (``ll-config-file``: required for NvDCF, optional for
KLT and IOU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["TrackerLibrary", "LIBRARIES", "library_for", "READ_KEYS", "ACCEPTED_KEYS", "SECTIONS",
           "algorithm_from_sections"]


@dataclass(frozen=True)
class TrackerLibrary:
    """A DeepStream low-level tracker library and how Estuary stands in for it."""

    name: str                 # file name DeepStream ships
    algorithm: str | None     # Estuary's algorithm; None = chosen by the config file's sections
    config: str               # "ignored": reads no file; "optional": a missing file means defaults;
                              # "required": a named file must exist
    generation: str           # "5.x" or "6.0+"


LIBRARIES: dict[str, TrackerLibrary] = {lib.name: lib for lib in (
    # KLT reads no low-level config at all (5.1 guide: "optional for KLT and IOU"); NVIDIA's 5.1
    # nvdsanalytics sample names a tracker_config.yml it does not ship and runs.
    TrackerLibrary("libnvds_mot_klt.so", "sort", "ignored", "5.x"),
    TrackerLibrary("libnvds_mot_iou.so", "iou", "optional", "5.x"),
    TrackerLibrary("libnvds_nvdcf.so", "bytetrack", "required", "5.x"),
    TrackerLibrary("libnvds_nvmultiobjecttracker.so", None, "required", "6.0+"),
)}


def library_for(ll_lib_file: str) -> TrackerLibrary | None:
    """The DeepStream library an ``ll-lib-file`` value names (by file name, wherever its folder:
    DeepStream's ``/opt/nvidia/...`` paths do not exist here), or None."""
    base = os.path.basename(ll_lib_file or "").strip().lower()
    if base in LIBRARIES:
        return LIBRARIES[base]
    # spellings seen in the field: libnvds_iou.so, libnvds_klt.so, versioned .so.1 files
    stem = base.split(".so")[0]
    for key, lib in (("klt", "libnvds_mot_klt.so"), ("iou", "libnvds_mot_iou.so"),
                     ("nvdcf", "libnvds_nvdcf.so"),
                     ("nvmultiobjecttracker", "libnvds_nvmultiobjecttracker.so")):
        if stem.startswith("libnvds") and key in stem:
            return LIBRARIES[lib]
    return None


#: Sections of the files: 5.x NvDCF's single ``NvDCF:``; 6.0+ NvMultiObjectTracker's modules;
#: Estuary's own ``EstuaryTracker:``.
SECTIONS = frozenset({
    "NvDCF", "BaseConfig", "TargetManagement", "TrajectoryManagement", "DataAssociator",
    "StateEstimator", "VisualTracker", "ReID", "ObjectModelProjection", "Segmenter",
    "MaskTracker", "EstuaryTracker",
})

#: DeepStream key → (TrackerConfig field, type). The key names are the same in every
#: generation where the meaning is.
READ_KEYS: dict[str, tuple[str, type]] = {
    "probationAge": ("probation_age", int),
    "maxShadowTrackingAge": ("max_shadow_age", int),
    "earlyTerminationAge": ("early_termination_age", int),
    "minDetectorConfidence": ("min_detector_confidence", float),
    "useGlobalMatching": ("global_matching", bool),
    "minMatchingScore4Iou": ("min_iou", float),
    "minTargetBboxSize": ("min_box_size", float),
    "maxTargetsPerStream": ("max_targets", int),
    "checkClassMatch": ("check_class", bool),
}

#: Keys DeepStream's files carry that this tracker has no counterpart for (accepted silently).
ACCEPTED_KEYS = frozenset({
    # 5.0/5.1 NvDCF
    "useUniqueID", "useColorNames", "useHog", "useHighPrecisionFeature", "filterLr",
    "filterChannelWeightsLr", "gaussianSigma", "featureImgSizeLevel", "SearchRegionPaddingScale",
    "minTrackerConfidence", "minDetectorBboxVisibilityTobeTracked", "minVisibiilty4Tracking",
    "targetDuplicateRunInterval", "minIou4TargetDuplicate", "usePersistentThreads",
    "minMatchingScore4Overall", "minMatchingScore4SizeSimilarity", "minMatchingScore4Motion",
    "minMatchingScore4VisualSimilarity", "minTrackingConfidenceDuringInactive",
    "matchingScoreWeight4VisualSimilarity", "matchingScoreWeight4SizeSimilarity",
    "matchingScoreWeight4Motion", "matchingScoreWeight4Iou", "matchingScoreWeight4Age",
    "bboxPaddingScaleForAssociation", "visibilityRoiFactor", "endFrameNum",
    "useTrackSmoothing", "stateEstimatorType", "trackExponentialSmoothingLr_loc",
    "trackExponentialSmoothingLr_scale", "trackExponentialSmoothingLr_velocity",
    "kfProcessNoiseVar4Loc", "kfProcessNoiseVar4Scale", "kfProcessNoiseVar4Vel",
    "kfMeasurementNoiseVar4Trk", "kfMeasurementNoiseVar4Det", "useBufferedOutput",
    "useInstanceAwareness", "lambda_ia", "maxInstanceNum_ia",
    # 6.0+ NvMultiObjectTracker: target and trajectory management
    "enableBboxUnClipping", "preserveStreamUpdateOrder", "minIouDiff4NewTarget",
    "enableReAssoc", "minTrackletMatchingScore", "minMatchingScore4ReidSimilarity",
    "matchingScoreWeight4TrackletSimilarity", "matchingScoreWeight4ReidSimilarity",
    "minTrajectoryLength4Projection", "prepLength4TrajectoryProjection",
    "trajectoryProjectionLength", "maxAngle4TrackletMatching",
    "minSpeedSimilarity4TrackletMatching", "minBboxSizeSimilarity4TrackletMatching",
    "maxTrackletMatchingTimeSearchRange", "trajectoryProjectionProcessNoiseScale",
    "trajectoryProjectionMeasurementNoiseScale", "trackletSpacialSearchRegionScale",
    "reidExtractionInterval", "outputTerminatedTracks", "outputShadowTracks",
    "outputReidTensor", "maxShadowTrackingAge4Reassoc",
    # data association, state estimation
    "dataAssociatorType", "associationMatcherType", "tentativeDetectorConfidence",
    "minMatchingScore4TentativeIou", "usePrediction4Assoc", "thresholdMahalanobis",
    "processNoiseVar4Loc", "processNoiseVar4Size", "processNoiseVar4Vel",
    "measurementNoiseVar4Detector", "measurementNoiseVar4Tracker", "noiseWeightVar4Loc",
    "noiseWeightVar4Vel", "useAspectRatio",
    # visual tracker (NvDCF) and Re-ID network (NvDeepSORT)
    "visualTrackerType", "featureFocusOffsetFactor_y", "reidType", "batchSize", "workspaceSize",
    "reidFeatureSize", "reidHistorySize", "inferDims", "networkMode", "inputOrder", "colorFormat",
    "offsets", "netScaleFactor", "keepAspc", "addFeatureNormalization", "tltEncodedModel",
    "tltModelKey", "modelEngineFile", "onnxFile", "useVPICropScaler",
})


def algorithm_from_sections(doc: dict) -> str | None:
    """The algorithm an NvMultiObjectTracker (6.0+) file selects, from its modules:
    a visual tracker (NvDCF) or a Re-ID network (NvDeepSORT) → ``bytetrack`` (appearance-free
    two-stage association is our closest); a Kalman state estimator alone (NvSORT,
    ``stateEstimatorType: 2``) → ``sort``; neither (IOU) → ``iou``. None for a 5.x or
    Estuary-only file."""
    mot = {"BaseConfig", "TargetManagement", "DataAssociator", "StateEstimator", "VisualTracker", "ReID"}
    if not mot & set(doc):
        return None

    def _num(section, key):
        body = doc.get(section)
        try:
            return int(float(body.get(key, 0))) if isinstance(body, dict) else 0
        except (TypeError, ValueError):
            return 0

    if _num("VisualTracker", "visualTrackerType") >= 1 or _num("ReID", "reidType") in (1, 3):
        return "bytetrack"
    if _num("StateEstimator", "stateEstimatorType") >= 1:
        return "sort"
    return "iou"
