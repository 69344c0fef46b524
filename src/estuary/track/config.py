"""Tracker configuration: Estuary's own keys, and DeepStream's low-level tracker files of every
generation (5.x NvDCF YAML and IOU XML, 6.0+ NvMultiObjectTracker YAML) mapped onto them.

The keys Estuary uses are read and validated (an error names the file and the key as the user
wrote it); keys DeepStream documents without an Estuary counterpart are accepted silently; any
other key or section is reported once as a warning, not an error, so that files from a newer or
older DeepStream release than the tables know still load (``estuary.track.dskeys``)."""

from __future__ import annotations

import difflib
import logging
import math
import os
import threading
from dataclasses import dataclass, fields

from estuary.errors import ConfigError
from estuary.track.dskeys import (ACCEPTED_KEYS, LIBRARIES, READ_KEYS, SECTIONS,
                                  algorithm_from_sections, library_for)

__all__ = ["TrackerConfig", "load_tracker_config", "element_config", "algorithm_for_lib"]

ALGORITHMS = ("iou", "sort", "bytetrack")
_log = logging.getLogger("estuary.track")


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

    def validate(self, where: str = "", keys: dict[str, str] | None = None) -> "TrackerConfig":
        """Check every value; ``keys`` maps a field to the key the user wrote it under
        (``TargetManagement/probationAge``), so errors name that key, not the field."""
        keys = keys or {}

        def fail(name: str, message: str):
            key = keys.get(name, name)
            raise ConfigError(message.replace("{key}", key.rsplit("/", 1)[-1]),
                              path=where or None, key=key)

        if self.min_detector_confidence is None:
            self.min_detector_confidence = 0.0
        if self.algorithm not in ALGORITHMS:
            fail("algorithm", f"unknown tracker algorithm {self.algorithm!r}; use one of {ALGORITHMS}")
        for name in ("probation_age", "max_shadow_age", "early_termination_age", "max_targets"):
            if getattr(self, name) < 0:
                fail(name, f"{{key}} must be >= 0, not {getattr(self, name)}")
        for name in ("min_iou", "min_iou_low", "high_threshold", "new_track_threshold"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:  # NaN fails too
                fail(name, f"{{key}} must be within 0..1, not {v}")
        for name in ("min_detector_confidence", "min_box_size"):
            if not math.isfinite(getattr(self, name)):
                fail(name, f"{{key}} must be a finite number, not {getattr(self, name)}")
        return self


_ESTUARY_KEYS = {f.name: (f.name, {"int": int, "float": float, "bool": bool, "str": str}.get(f.type, float))
                 for f in fields(TrackerConfig)}
_ESTUARY_KEYS["min_detector_confidence"] = ("min_detector_confidence", float)
_XML = "<iou-xml>"  # the section the 5.x XML form is read into
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")

# (path, key) pairs already warned about in this process: a file is reloaded at every
# NULL→READY and by every tracker instance; its unknown keys are news only once.
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def algorithm_for_lib(ll_lib_file: str) -> str | None:
    """The algorithm that replaces a DeepStream low-level tracker library (None: unknown, or
    NvMultiObjectTracker, whose config file chooses)."""
    lib = library_for(ll_lib_file)
    if lib is None:
        return None
    return lib.algorithm or "bytetrack"


def _convert(conv, value, path, key):
    try:
        if isinstance(value, (dict, list)):
            raise TypeError
        if conv is bool:
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
        if conv is int:
            f = float(value)
            if not f.is_integer():
                raise ValueError
            return int(f)
        return conv(value)
    except (TypeError, ValueError, OverflowError):
        want = {bool: "0 or 1", int: "a whole number", float: "a number"}.get(conv, conv.__name__)
        raise ConfigError(f"invalid value {value!r}: expected {want}", path=path, key=key) from None


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read(4 * 1024 * 1024 + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read the tracker config: {exc.strerror or exc}", path=path,
                          hint="check ll-config-file") from None
    if len(data) > 4 * 1024 * 1024:
        raise ConfigError("not a tracker config: larger than 4 MiB", path=path, hint="check ll-config-file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not a text file (byte {exc.start} is not UTF-8)", path=path,
                          hint="ll-config-file must name a YAML tracker config") from None
    if "\x00" in text:
        raise ConfigError("not a text file (it contains NUL bytes)", path=path,
                          hint="ll-config-file must name a YAML tracker config")
    return text


def _parse_xml(text: str, where: str) -> dict:
    """DeepStream 4/5's IOU library config: ``<config><iou-threshold>0.6</iou-threshold></config>``."""
    import xml.etree.ElementTree as ET
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConfigError(f"not valid XML: {exc}", path=where) from None
    return {_XML: {child.tag: (child.text or "").strip() for child in root}}


def _warn(where: str, key: str, message: str, notes: list[str] | None) -> None:
    with _warned_lock:
        if (where, key) in _warned:
            return
        _warned.add((where, key))
    if notes is not None:
        notes.append(message)
    else:
        _log.warning("%s", message)


def load_tracker_config(path: str | None = None, text: str | None = None,
                        base: TrackerConfig | None = None, *,
                        notes: list[str] | None = None) -> TrackerConfig:
    """Read a tracker config: YAML (``%YAML:1.0`` OpenCV files accepted) of any DeepStream
    generation, Estuary's ``EstuaryTracker:`` section, or DeepStream 5's IOU XML.

    Unknown keys and sections are warned about once per file (appended to ``notes`` when
    given, else logged); bad values raise :class:`ConfigError` naming the file and key."""
    import yaml
    cfg = TrackerConfig(**vars(base)) if base else TrackerConfig()
    where = path or "<string>"
    if text is None:
        if not path or not os.path.isfile(path):
            raise ConfigError("tracker config file not found", path=path,
                              hint="check ll-config-file")
        text = _read_text(path)
    origin: dict[str, str] = {}       # field → key as written, for error messages
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("<"):
        doc = _parse_xml(stripped, where)
    else:
        lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("%YAML")]
        try:
            doc = yaml.safe_load("\n".join(lines)) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {exc}", path=where) from None
        except (ValueError, TypeError, RecursionError) as exc:  # e.g. absurd numbers, deep nesting
            raise ConfigError(f"not a readable YAML tracker config: {exc}", path=where) from None
    if not isinstance(doc, dict):
        raise ConfigError("expected sections of key: value pairs", path=where,
                          hint="e.g. 'TargetManagement:' followed by indented 'probationAge: 3'")
    chosen = algorithm_from_sections(doc)
    if chosen is not None:  # a 6.0+ file's modules say which tracker it configures
        cfg.algorithm = chosen
    for section, body in doc.items():
        section = str(section)
        if section == _XML:
            for key, value in body.items():
                if key == "iou-threshold":
                    cfg.min_iou = _convert(float, value, where, f"config/{key}")
                    origin["min_iou"] = f"config/{key}"
                else:
                    _warn(where, key, f"{where}: unknown IOU tracker setting <{key}>: ignored", notes)
            continue
        if section not in SECTIONS:
            close = difflib.get_close_matches(section, SECTIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            _warn(where, section, f"{where}: unknown tracker config section {section!r} ignored{hint}",
                  notes)
            continue
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError("a section holds key: value pairs", path=where, key=section)
        for key, value in body.items():
            key = str(key)
            full = f"{section}/{key}"
            if section == "EstuaryTracker" and key in _ESTUARY_KEYS:
                name, conv = _ESTUARY_KEYS[key]
                if name == "algorithm":
                    value = str(value).strip().lower()
                setattr(cfg, name, _convert(conv, value, where, full))
                origin[name] = full
            elif key in READ_KEYS:
                name, conv = READ_KEYS[key]
                setattr(cfg, name, _convert(conv, value, where, full))
                origin[name] = full
            elif key in ACCEPTED_KEYS:
                continue
            else:
                known = list(READ_KEYS) + list(ACCEPTED_KEYS) + (
                    list(_ESTUARY_KEYS) if section == "EstuaryTracker" else [])
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                _warn(where, full, f"{where}: [{full}] unknown tracker config key {key!r} ignored{hint}",
                      notes)
    if cfg.min_detector_confidence is not None and cfg.min_detector_confidence < 0:
        cfg.min_detector_confidence = 0.0   # DeepStream's -1 means "keep every detection"
    return cfg.validate(where, origin)


def element_config(ll_lib_file: str = "", ll_config_file: str = "", algorithm: str = "", *,
                   notes: list[str] | None = None) -> TrackerConfig:
    """The configuration ``nvtracker`` runs with, from its ``ll-lib-file``, ``ll-config-file``
    and ``algorithm`` properties.

    ``ll-lib-file`` names one of DeepStream's libraries by file name (``dskeys.LIBRARIES``);
    its folder does not matter, since an unmodified app names ``/opt/nvidia/deepstream/...``,
    and the mapping is documented, so it is not warned about. Any other name is an error, not a
    silent fallback: a file that exists is a custom NvMOT library, which Estuary cannot load,
    and a file that does not is a typo; running a different tracker than the user chose, with
    only a log line to say so, would hide either.

    ``ll-config-file`` is read as that library reads it: never for KLT, optionally for 5.x IOU
    (a missing file means defaults, as NVIDIA documents), and a named file must exist for
    NvDCF and NvMultiObjectTracker (it holds their whole configuration)."""
    lib = library_for(ll_lib_file)
    if ll_lib_file and lib is None:
        names = ", ".join(sorted(LIBRARIES))
        if os.path.isfile(ll_lib_file):
            raise ConfigError("a custom low-level tracker library cannot be loaded by Estuary",
                              path=ll_lib_file, key="ll-lib-file",
                              hint=f"name one of DeepStream's libraries ({names}) or set the "
                                   "algorithm property to iou, sort or bytetrack")
        raise ConfigError("low-level tracker library not found, and not one of DeepStream's",
                          path=ll_lib_file, key="ll-lib-file",
                          hint=f"use one of {names} (any folder), or leave ll-lib-file empty")
    base = TrackerConfig(algorithm=(lib.algorithm if lib and lib.algorithm else "bytetrack"))
    mode = lib.config if lib else "required"
    cfg = base
    if ll_config_file:
        if mode == "ignored":
            _log.info("ll-config-file %s not read: %s reads no config file", ll_config_file, lib.name)
        elif mode == "optional" and not os.path.isfile(ll_config_file):
            _warn(ll_config_file, "<missing>",
                  f"{ll_config_file}: not found; {lib.name} runs with its defaults "
                  "(the file is optional for this library)", notes)
        else:
            cfg = load_tracker_config(ll_config_file, base=base, notes=notes)
    if algorithm:
        cfg.algorithm = algorithm.strip().lower()
        cfg.min_detector_confidence = None
        return cfg.validate(ll_config_file or "", {"algorithm": "algorithm"})
    return cfg
