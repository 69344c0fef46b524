"""The nvdsanalytics config file: per-stream ROIs, overcrowding regions, crossing lines and
directions, in a reference coordinate space scaled to each stream's frame size."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from estuary.errors import ConfigError
from estuary.infer.keyfile import KeyFile, parse_keyfile

__all__ = ["AnalyticsConfig", "StreamRules", "Roi", "Line", "Direction", "load_analytics_config"]

MODES = {"loose": 0.0, "balanced": float(np.cos(np.radians(45))), "strict": float(np.cos(np.radians(22.5)))}


@dataclass
class Roi:
    label: str
    polygon: np.ndarray          # (N, 2) in reference coordinates
    class_ids: list[int] | None  # None = all
    inverse: bool = False
    threshold: int = 0           # overcrowding only
    time_threshold_ms: int = 0   # overcrowding only


@dataclass
class Line:
    label: str
    direction: np.ndarray  # (2, 2): from, to
    segment: np.ndarray    # (2, 2)
    class_ids: list[int] | None
    extended: bool = False
    mode: str = "balanced"


@dataclass
class Direction:
    label: str
    vector: np.ndarray  # (2, 2)
    class_ids: list[int] | None


@dataclass
class StreamRules:
    roi: list[Roi] = field(default_factory=list)
    overcrowding: list[Roi] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    directions: list[Direction] = field(default_factory=list)


@dataclass
class AnalyticsConfig:
    path: str
    enable: bool = True
    width: int = 1920
    height: int = 1080
    osd_mode: int = 2
    font_size: int = 12
    display_obj_cnt: bool = False
    streams: dict[int, StreamRules] = field(default_factory=dict)

    def rules(self, source_id: int) -> StreamRules:
        return self.streams.get(source_id, StreamRules())


_GROUP = re.compile(r"^(roi-filtering|overcrowding|line-crossing|direction-detection)-stream-(\d+)$")


def _ints(kf: KeyFile, group: str, key: str, n: int | None = None, even: bool = False) -> list[int]:
    e = kf.groups[group][key]
    try:
        vals = [int(float(v)) for v in e.value.split(";") if v.strip()]
    except ValueError:
        raise ConfigError(f"expected ;-separated numbers, got {e.value!r}", path=kf.path, line=e.line,
                          key=f"{group}/{key}") from None
    if n is not None and len(vals) != n:
        raise ConfigError(f"expected {n} numbers, got {len(vals)}", path=kf.path, line=e.line,
                          key=f"{group}/{key}")
    if even and (len(vals) < 6 or len(vals) % 2):
        raise ConfigError("a polygon needs at least 3 x;y points", path=kf.path, line=e.line,
                          key=f"{group}/{key}")
    return vals


def _classes(kf, group) -> list[int] | None:
    if "class-id" not in kf.groups[group]:
        return None
    vals = _ints(kf, group, "class-id")
    return None if not vals or -1 in vals else vals


def _bool(kf, group, key, default=False) -> bool:
    e = kf.groups[group].get(key)
    if e is None:
        return default
    v = e.value.strip().lower()
    if v not in ("0", "1", "true", "false"):
        raise ConfigError(f"expected 0/1/true/false, got {e.value!r}", path=kf.path, line=e.line,
                          key=f"{group}/{key}")
    return v in ("1", "true")


def _unknown(kf, group, key, allowed):
    e = kf.groups[group][key]
    raise ConfigError(f"unknown key {key!r}", path=kf.path, line=e.line, key=f"{group}/{key}",
                      hint="allowed: " + ", ".join(sorted(allowed)))


def load_analytics_config(path: str | None = None, text: str | None = None) -> AnalyticsConfig:
    kf = parse_keyfile(path, text)
    cfg = AnalyticsConfig(path=kf.path)
    if "property" not in kf.groups:
        raise ConfigError("no [property] group", path=kf.path)
    prop = kf.groups["property"]
    allowed = {"enable", "config-width", "config-height", "osd-mode", "display-font-size",
               "display-obj-cnt", "obj-cnt-win-in-ms"}
    for key in prop:
        if key not in allowed:
            _unknown(kf, "property", key, allowed)
    cfg.enable = _bool(kf, "property", "enable", True)
    if "config-width" in prop:
        cfg.width = _ints(kf, "property", "config-width", 1)[0]
    if "config-height" in prop:
        cfg.height = _ints(kf, "property", "config-height", 1)[0]
    if cfg.width <= 0 or cfg.height <= 0:
        raise ConfigError("config-width and config-height must be > 0", path=kf.path, key="property")
    if "osd-mode" in prop:
        cfg.osd_mode = _ints(kf, "property", "osd-mode", 1)[0]
        if cfg.osd_mode not in (0, 1, 2):
            raise ConfigError("osd-mode must be 0, 1 or 2", path=kf.path, line=prop["osd-mode"].line,
                              key="property/osd-mode")
    if "display-font-size" in prop:
        cfg.font_size = _ints(kf, "property", "display-font-size", 1)[0]
    cfg.display_obj_cnt = _bool(kf, "property", "display-obj-cnt")
    for group, entries in kf.groups.items():
        if group == "property":
            continue
        m = _GROUP.match(group)
        if not m:
            raise ConfigError(f"unknown group [{group}]", path=kf.path,
                              hint="groups are [property], [roi-filtering-stream-N], "
                                   "[overcrowding-stream-N], [line-crossing-stream-N], "
                                   "[direction-detection-stream-N]")
        kind, sid = m.group(1), int(m.group(2))
        rules = cfg.streams.setdefault(sid, StreamRules())
        if not _bool(kf, group, "enable", True):
            continue
        classes = _classes(kf, group)
        for key, e in entries.items():
            if key in ("enable", "class-id"):
                continue
            if kind == "roi-filtering":
                if key == "inverse-roi":
                    continue
                if not key.startswith("roi-"):
                    _unknown(kf, group, key, {"enable", "class-id", "inverse-roi", "roi-<label>"})
                pts = np.array(_ints(kf, group, key, even=True), float).reshape(-1, 2)
                rules.roi.append(Roi(key[4:], pts, classes, _bool(kf, group, "inverse-roi")))
            elif kind == "overcrowding":
                if key in ("object-threshold", "time-threshold"):
                    continue
                if not key.startswith("roi-"):
                    _unknown(kf, group, key, {"enable", "class-id", "object-threshold", "time-threshold",
                                              "roi-<label>"})
                pts = np.array(_ints(kf, group, key, even=True), float).reshape(-1, 2)
                thr = _ints(kf, group, "object-threshold", 1)[0] if "object-threshold" in entries else 1
                tt = _ints(kf, group, "time-threshold", 1)[0] if "time-threshold" in entries else 0
                rules.overcrowding.append(Roi(key[4:], pts, classes, False, thr, tt))
            elif kind == "line-crossing":
                if key in ("extended", "mode"):
                    continue
                if not key.startswith("line-crossing-"):
                    _unknown(kf, group, key, {"enable", "class-id", "extended", "mode", "line-crossing-<label>"})
                v = np.array(_ints(kf, group, key, 8), float).reshape(4, 2)
                mode = entries["mode"].value.strip() if "mode" in entries else "balanced"
                if mode not in MODES:
                    raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}", path=kf.path,
                                      line=entries["mode"].line, key=f"{group}/mode")
                rules.lines.append(Line(key[len("line-crossing-"):], v[:2], v[2:], classes,
                                        _bool(kf, group, "extended"), mode))
            elif kind == "direction-detection":
                if not key.startswith("direction-"):
                    _unknown(kf, group, key, {"enable", "class-id", "direction-<label>"})
                v = np.array(_ints(kf, group, key, 4), float).reshape(2, 2)
                rules.directions.append(Direction(key[len("direction-"):], v, classes))
    return cfg
