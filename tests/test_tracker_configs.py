"""nvtracker's low-level configs of every DeepStream generation, and its library names.

The files below carry the sections and key names of NVIDIA's own files (5.0/5.1 NvDCF
``tracker_config.yml``, 5.x IOU XML, 6.x/7.x ``config_tracker_{IOU,NvSORT,NvDCF_perf,NvDeepSORT}.yml``);
values are our own. The keys Estuary reads must land in the config; the rest load silently
(documented keys) or with one warning (keys no table knows)."""

import logging

import pytest

from estuary.errors import ConfigError
from estuary.gst import Gst
from estuary.track import TrackerConfig, load_tracker_config
from estuary.track.config import _warned, element_config

NVDCF_50 = """%YAML:1.0
NvDCF:
  useColorNames: 0
  useHog: 1
  useHighPrecisionFeature: 0
  useUniqueID: 1
  maxTargetsPerStream: 77
  filterLr: 0.075
  minDetectorConfidence: 0.0
  minTrackerConfidence: 0.7
  minTargetBboxSize: 5
  SearchRegionPaddingScale: 1
  maxShadowTrackingAge: 21
  probationAge: 4
  earlyTerminationAge: 1
  minMatchingScore4Motion: 0.5
  minMatchingScore4Iou: 0.15
  matchingScoreWeight4Motion: 0.0
  bboxPaddingScaleForAssociation: 0.0
  visibilityRoiFactor: 0.00
  endFrameNum: 200
"""

NVDCF_51 = """%YAML:1.0
NvDCF:
  useUniqueID: 1
  maxTargetsPerStream: 99
  filterChannelWeightsLr: 0.22
  featureImgSizeLevel: 3
  maxShadowTrackingAge: 30
  probationAge: 3
  earlyTerminationAge: 1
  minDetectorConfidence: -1
  minDetectorBboxVisibilityTobeTracked: 0.0
  minVisibiilty4Tracking: 0.0
  targetDuplicateRunInterval: 5
  minIou4TargetDuplicate: 0.9
  useGlobalMatching: 0
  usePersistentThreads: 0
  minMatchingScore4SizeSimilarity: 0.5
  minMatchingScore4Iou: 0.1
  matchingScoreWeight4Age: 0.1
  useTrackSmoothing: 1
  stateEstimatorType: 1
  kfProcessNoiseVar4Loc: 0.1
  useBufferedOutput: 0
  useInstanceAwareness: 0
  lambda_ia: 2
  maxInstanceNum_ia: 4
"""

IOU_5X_XML = """<?xml version="1.0" encoding="UTF-8"?>
<config>
  <iou-threshold>0.35</iou-threshold>
</config>
"""

MOT_IOU = """%YAML:1.0
BaseConfig:
  minDetectorConfidence: 0
TargetManagement:
  preserveStreamUpdateOrder: 0
  maxTargetsPerStream: 150
  minIouDiff4NewTarget: 0.5
  probationAge: 4
  maxShadowTrackingAge: 38
  earlyTerminationAge: 1
TrajectoryManagement:
  useUniqueID: 0
DataAssociator:
  dataAssociatorType: 0
  associationMatcherType: 0
  checkClassMatch: 1
  minMatchingScore4Overall: 0.0
  minMatchingScore4SizeSimilarity: 0.0
  minMatchingScore4Iou: 0.25
  matchingScoreWeight4SizeSimilarity: 0.4
  matchingScoreWeight4Iou: 0.6
"""

MOT_NVSORT = """%YAML:1.0
BaseConfig:
  minDetectorConfidence: 0.13
TargetManagement:
  enableBboxUnClipping: 0
  maxTargetsPerStream: 300
  minIouDiff4NewTarget: 0.57
  minTrackerConfidence: 0.82
  probationAge: 5
  maxShadowTrackingAge: 26
  earlyTerminationAge: 1
TrajectoryManagement:
  useUniqueID: 0
DataAssociator:
  dataAssociatorType: 0
  associationMatcherType: 1
  checkClassMatch: 0
  minMatchingScore4Iou: 0.21
  tentativeDetectorConfidence: 0.23
  minMatchingScore4TentativeIou: 0.28
  usePrediction4Assoc: 1
StateEstimator:
  stateEstimatorType: 2
  noiseWeightVar4Loc: 0.03
  noiseWeightVar4Vel: 0.0017
  useAspectRatio: 1
"""

MOT_NVDCF = """%YAML:1.0
BaseConfig:
  minDetectorConfidence: 0
TargetManagement:
  enableBboxUnClipping: 1
  maxTargetsPerStream: 150
  minIouDiff4NewTarget: 0.5
  minTrackerConfidence: 0.2
  probationAge: 3
  maxShadowTrackingAge: 30
  earlyTerminationAge: 1
TrajectoryManagement:
  useUniqueID: 0
  enableReAssoc: 1
  minTrackletMatchingScore: 0.29
  reidExtractionInterval: 8
DataAssociator:
  dataAssociatorType: 0
  associationMatcherType: 0
  checkClassMatch: 1
  minMatchingScore4Overall: 0.0
  minMatchingScore4SizeSimilarity: 0.6
  minMatchingScore4Iou: 0.0
  minMatchingScore4VisualSimilarity: 0.7
  matchingScoreWeight4VisualSimilarity: 0.6
StateEstimator:
  stateEstimatorType: 1
  processNoiseVar4Loc: 2.0
  processNoiseVar4Size: 1.0
  processNoiseVar4Vel: 0.1
  measurementNoiseVar4Detector: 4.0
  measurementNoiseVar4Tracker: 16.0
VisualTracker:
  visualTrackerType: 1
  useColorNames: 1
  useHog: 0
  featureImgSizeLevel: 2
  featureFocusOffsetFactor_y: -0.2
  filterLr: 0.075
  filterChannelWeightsLr: 0.1
  gaussianSigma: 0.75
"""

MOT_NVDEEPSORT = """%YAML:1.0
BaseConfig:
  minDetectorConfidence: 0.0762
TargetManagement:
  maxTargetsPerStream: 150
  probationAge: 2
  maxShadowTrackingAge: 68
  earlyTerminationAge: 1
DataAssociator:
  associationMatcherType: 1
  checkClassMatch: 1
  thresholdMahalanobis: 12.1875
  minMatchingScore4ReidSimilarity: 0.75
  matchingScoreWeight4ReidSimilarity: 0.32
StateEstimator:
  stateEstimatorType: 2
ReID:
  reidType: 1
  batchSize: 100
  workspaceSize: 1000
  reidFeatureSize: 256
  inferDims: [3, 256, 128]
  offsets: [123.675, 116.28, 103.53]
  netScaleFactor: 0.01735207
  modelEngineFile: "/opt/nvidia/deepstream/deepstream/samples/models/Tracker/resnet50_market1501.etlt_b100_gpu0_fp16.engine"
"""

# (file, library, the fields it must set)
GENERATIONS = [
    ("5.0 NvDCF", NVDCF_50, "libnvds_nvdcf.so",
     {"algorithm": "bytetrack", "max_targets": 77, "max_shadow_age": 21, "probation_age": 4,
      "min_box_size": 5.0, "min_iou": 0.15, "min_detector_confidence": 0.0}),
    ("5.1 NvDCF", NVDCF_51, "libnvds_nvdcf.so",
     {"algorithm": "bytetrack", "max_targets": 99, "probation_age": 3, "global_matching": False,
      "min_iou": 0.1, "min_detector_confidence": 0.0}),
    ("5.x IOU (XML)", IOU_5X_XML, "libnvds_mot_iou.so", {"algorithm": "iou", "min_iou": 0.35}),
    ("6+ IOU", MOT_IOU, "libnvds_nvmultiobjecttracker.so",
     {"algorithm": "iou", "probation_age": 4, "max_shadow_age": 38, "max_targets": 150, "min_iou": 0.25,
      "check_class": True, "min_detector_confidence": 0.0}),
    ("6+ NvSORT", MOT_NVSORT, "libnvds_nvmultiobjecttracker.so",
     {"algorithm": "sort", "probation_age": 5, "max_shadow_age": 26, "max_targets": 300, "min_iou": 0.21,
      "check_class": False, "min_detector_confidence": 0.13}),
    ("6+ NvDCF", MOT_NVDCF, "libnvds_nvmultiobjecttracker.so",
     {"algorithm": "bytetrack", "probation_age": 3, "max_shadow_age": 30, "min_iou": 0.0}),
    ("6+ NvDeepSORT", MOT_NVDEEPSORT, "libnvds_nvmultiobjecttracker.so",
     {"algorithm": "bytetrack", "probation_age": 2, "max_shadow_age": 68,
      "min_detector_confidence": 0.0762}),
]


@pytest.fixture(autouse=True)
def _fresh_warnings():
    _warned.clear()
    yield
    _warned.clear()


@pytest.mark.parametrize("name,text,lib,expected", GENERATIONS, ids=[g[0] for g in GENERATIONS])
def test_every_generation_loads_with_its_keys_read_and_no_warning(tmp_path, name, text, lib, expected):
    p = tmp_path / "tracker.yml"
    p.write_text(text)
    notes = []
    cfg = element_config(f"/opt/nvidia/deepstream/deepstream/lib/{lib}", str(p), notes=notes)
    assert notes == []  # every key in these files is a documented one
    got = {k: getattr(cfg, k) for k in expected}
    assert got == expected


def test_unknown_keys_and_sections_warn_once_and_are_ignored(tmp_path, caplog):
    p = tmp_path / "future.yml"
    p.write_text("TargetManagement:\n  probationAge: 6\n  probationAgee: 9\n  brandNewKey2027: 1\n"
                 "FutureModule:\n  x: 1\n")
    notes = []
    cfg = load_tracker_config(str(p), notes=notes)
    assert cfg.probation_age == 6
    assert len(notes) == 3
    assert "[TargetManagement/probationAgee] unknown tracker config key 'probationAgee' ignored "\
           "(did you mean 'probationAge'?)" in notes[0]
    assert "brandNewKey2027" in notes[1] and "'FutureModule'" in notes[2]
    again = []
    load_tracker_config(str(p), notes=again)
    assert again == []  # once per file and key in a process
    _warned.clear()
    with caplog.at_level(logging.WARNING, logger="estuary.track"):
        load_tracker_config(str(p))  # no notes list: logged instead
    assert sum("probationAgee" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("data", [bytes(range(256)) * 4, b"\xff\xfe\x00N\x00v\x00D", b"NvDCF:\n  a: \x00\n"])
def test_binary_file_is_a_config_error_naming_the_file(tmp_path, data):
    p = tmp_path / "random.yml"
    p.write_bytes(data)
    with pytest.raises(ConfigError, match=r"random\.yml: not a text file") as exc:
        load_tracker_config(str(p))
    assert not isinstance(exc.value.__cause__, UnicodeDecodeError) and exc.value.path == str(p)


@pytest.mark.parametrize("text,key,message", [
    ("TargetManagement:\n  probationAge: -1\n", "TargetManagement/probationAge", "probationAge must be >= 0"),
    ("NvDCF:\n  probationAge: three\n", "NvDCF/probationAge", "invalid value 'three': expected a whole number"),
    ("NvDCF:\n  probationAge: 2.5\n", "NvDCF/probationAge", "expected a whole number"),
    ("DataAssociator:\n  minMatchingScore4Iou: 1.5\n", "DataAssociator/minMatchingScore4Iou",
     "minMatchingScore4Iou must be within 0..1"),
    ("DataAssociator:\n  checkClassMatch: maybe\n", "DataAssociator/checkClassMatch", "expected 0 or 1"),
    ("TargetManagement:\n  maxTargetsPerStream: [1, 2]\n", "TargetManagement/maxTargetsPerStream", "invalid value"),
    ("BaseConfig:\n  minDetectorConfidence: .nan\n", "BaseConfig/minDetectorConfidence", "finite number"),
    ("EstuaryTracker:\n  min_iou: 2\n", "EstuaryTracker/min_iou", "min_iou must be within 0..1"),
    ("EstuaryTracker:\n  algorithm: deepsort\n", "EstuaryTracker/algorithm", "unknown tracker algorithm"),
    ("config: [1, 2\n", None, "not valid YAML"),
    ("- a\n- b\n", None, "expected sections"),
    ("<config><iou-threshold>high</iou-threshold>\n", None, "not valid XML"),
])
def test_bad_values_are_reported_under_the_users_key(tmp_path, text, key, message):
    p = tmp_path / "t.yml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message) as exc:
        load_tracker_config(str(p))
    assert exc.value.key == key and exc.value.path == str(p)
    if key:
        assert f"[{key}]" in str(exc.value) and "probation_age" not in str(exc.value)


def test_klt_reads_no_config_and_iou_treats_a_missing_one_as_optional(tmp_path):
    # NVIDIA's 5.1 nvdsanalytics app: KLT with a tracker_config.yml it does not ship
    cfg = element_config("/opt/nvidia/deepstream/deepstream/lib/libnvds_mot_klt.so", str(tmp_path / "tracker_config.yml"))
    assert cfg.algorithm == "sort"
    # a file that exists is not read either (KLT has no settings): its keys cannot fail
    bad = tmp_path / "bad.yml"
    bad.write_text("NvDCF:\n  probationAge: -5\n")
    assert element_config("libnvds_mot_klt.so", str(bad)).probation_age == TrackerConfig().probation_age
    notes = []
    cfg = element_config("libnvds_mot_iou.so", str(tmp_path / "iou_config.txt"), notes=notes)
    assert cfg.algorithm == "iou" and len(notes) == 1 and "optional" in notes[0]
    # NvDCF and NvMultiObjectTracker need theirs
    for lib in ("libnvds_nvdcf.so", "libnvds_nvmultiobjecttracker.so", ""):
        with pytest.raises(ConfigError, match="tracker config file not found"):
            element_config(lib, str(tmp_path / "missing.yml"))
    assert element_config("libnvds_nvmultiobjecttracker.so", "").algorithm == "bytetrack"


def test_ll_lib_file_names(tmp_path):
    with pytest.raises(ConfigError, match=r"/nonexistent/libfoo\.so: \[ll-lib-file\] low-level tracker "
                                          r"library not found, and not one of DeepStream's.*libnvds_mot_klt\.so"):
        element_config("/nonexistent/libfoo.so")
    custom = tmp_path / "libmytracker.so"
    custom.write_bytes(b"\x7fELF")
    with pytest.raises(ConfigError, match="custom low-level tracker library cannot be loaded"):
        element_config(str(custom))
    # DeepStream's names map wherever their folder is (it does not exist here)
    assert element_config("/opt/nvidia/deepstream/deepstream-5.1/lib/libnvds_nvdcf.so").algorithm == "bytetrack"
    assert element_config("libnvds_nvmultiobjecttracker.so", algorithm="iou").algorithm == "iou"
    with pytest.raises(ConfigError, match=r"\[algorithm\] unknown tracker algorithm"):
        element_config("", algorithm="kcf")


def _state_change(props):
    el = Gst.ElementFactory.make("nvtracker", None)
    for k, v in props.items():
        el.set_property(k, v)
    pipe = Gst.Pipeline.new()
    pipe.add(el)
    ret = el.set_state(Gst.State.READY)
    msgs = []
    bus = pipe.get_bus()
    while (m := bus.pop()) is not None:
        msgs.append(m)
    el.set_state(Gst.State.NULL)
    return ret, msgs


def test_element_reports_bad_library_as_a_bus_error_and_unknown_keys_as_a_warning(tmp_path):
    import estuary.pyds  # noqa: F401 - registers the DeepStream names
    ret, msgs = _state_change({"ll-lib-file": "/nonexistent/libfoo.so"})
    assert ret == Gst.StateChangeReturn.FAILURE
    errors = [m.parse_error()[0].message for m in msgs if m.type == Gst.MessageType.ERROR]
    assert errors and "libfoo.so" in errors[0] and "ll-lib-file" in errors[0]
    p = tmp_path / "tracker_config.yml"
    p.write_text(NVDCF_51 + "  someFutureKey: 1\n")
    _warned.clear()
    ret, msgs = _state_change({"ll-lib-file": "/opt/nvidia/deepstream/deepstream/lib/libnvds_nvdcf.so",
                               "ll-config-file": str(p)})
    assert ret == Gst.StateChangeReturn.SUCCESS
    warnings = [m.parse_warning()[0].message for m in msgs if m.type == Gst.MessageType.WARNING]
    assert len(warnings) == 1 and "someFutureKey" in warnings[0]
    # KLT with a config it does not ship (NVIDIA's 5.1 nvdsanalytics app) reaches READY quietly
    ret, msgs = _state_change({"ll-lib-file": "/opt/nvidia/deepstream/deepstream/lib/libnvds_mot_klt.so",
                               "ll-config-file": str(tmp_path / "absent.yml")})
    assert ret == Gst.StateChangeReturn.SUCCESS and not [m for m in msgs if m.type == Gst.MessageType.ERROR]
