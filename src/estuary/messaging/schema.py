"""The DeepStream message schemas: the "full" JSON (one payload per event) and the "minimal"
JSON (one payload per frame) built from ``NvDsEventMsgMeta``, with static sensor/place/analytics
data from the nvmsgconv config file (key-file or CSV)."""

from __future__ import annotations

import csv
import json
import logging
import os
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from estuary.errors import ConfigError
from estuary.meta.enums import NvDsEventType as ET
from estuary.meta.enums import NvDsObjectType as OT

__all__ = ["MsgConvConfig", "load_msgconv_config", "full_payload", "minimal_payload", "fmt_num"]

log = logging.getLogger("estuary.messaging")


@dataclass
class MsgConvConfig:
    sensors: dict = field(default_factory=dict)
    places: dict = field(default_factory=dict)
    analytics: dict = field(default_factory=dict)


def _triple(v: str, where: str):
    parts = [p for p in v.split(";") if p.strip()]
    if len(parts) != 3:
        raise ConfigError(f"expected 3 ;-separated numbers, got {v!r}", path=where)
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"expected numbers, got {v!r}", path=where) from None


def load_msgconv_config(path: str) -> MsgConvConfig:
    """Read ``[sensorN]``/``[placeN]``/``[analyticsN]`` groups (or the CSV alternative)."""
    if not os.path.isfile(path):
        raise ConfigError("msgconv config file not found", path=path)
    cfg = MsgConvConfig()
    if path.endswith(".csv"):
        with open(path, newline="") as f:
            rows = list(csv.reader(f))[1:]
        for n, row in enumerate(rows):
            row = row + [""] * (7 - len(row))
            cfg.sensors[n] = {"id": row[1], "type": "Camera", "description": row[2],
                              "location": [0.0, 0.0, 0.0], "coordinate": [0.0, 0.0, 0.0]}
            cfg.places[n] = {"id": "Id", "name": "endeavor", "type": "building/garage",
                             "location": [0.0, 0.0, 0.0], "coordinate": [0.0, 0.0, 0.0],
                             "sub": [row[4], row[5], row[6]]}
            cfg.analytics[n] = {"id": "", "description": "", "source": "", "version": "1.0"}
        return cfg
    from estuary.infer.keyfile import parse_keyfile
    kf = parse_keyfile(path)
    import re
    for group, entries in kf.groups.items():
        m = re.match(r"^(sensor|place|analytics)(\d+)$", group)
        if not m:
            log.warning("Unknown group %s", group)
            continue
        kind, n = m.group(1), int(m.group(2))
        if entries.get("enable") is None or entries["enable"].value.strip().lower() not in ("1", "true"):
            continue
        target = {"sensor": cfg.sensors, "place": cfg.places, "analytics": cfg.analytics}[kind]
        if n in target:
            raise ConfigError(f"duplicate group [{group}]", path=path)
        d = {"location": [0.0, 0.0, 0.0], "coordinate": [0.0, 0.0, 0.0], "sub": ["", "", ""]}
        allowed = {"sensor": {"enable", "type", "id", "location", "description", "coordinate"},
                   "place": {"enable", "id", "type", "name", "location", "coordinate", "place-sub-field1",
                             "place-sub-field2", "place-sub-field3"},
                   "analytics": {"enable", "id", "description", "source", "version"}}[kind]
        for key, e in entries.items():
            if key not in allowed:
                log.warning("Unknown key %s for group [%s]", key, group)
                continue
            if key in ("location", "coordinate"):
                d[key] = _triple(e.value, f"{path}:{e.line}")
            elif key.startswith("place-sub-field"):
                d["sub"][int(key[-1]) - 1] = e.value
            elif key != "enable":
                d[key] = e.value
        target[n] = d
    return cfg


def _s(value) -> str:
    """A text field's plain value as str ("" for None; ``ts`` may hold a pyds buffer reader)."""
    return "" if value is None else str(value)


def _loc(v):
    return OrderedDict(lat=float(v[0]), lon=float(v[1]), alt=float(v[2]))


def _coord(v):
    return OrderedDict(x=float(v[0]), y=float(v[1]), z=float(v[2]))


_EVENT_NAMES = {ET.NVDS_EVENT_ENTRY: "entry", ET.NVDS_EVENT_EXIT: "exit", ET.NVDS_EVENT_MOVING: "moving",
                ET.NVDS_EVENT_STOPPED: "stopped", ET.NVDS_EVENT_PARKED: "parked", ET.NVDS_EVENT_EMPTY: "empty",
                ET.NVDS_EVENT_RESET: "reset"}


def _place(meta, cfg: MsgConvConfig):
    p = cfg.places.get(meta.placeId)
    if p is None:
        print(f"No entry for place{meta.placeId} in configuration file")
        return None
    out = OrderedDict(id=p.get("id", ""), name=p.get("name", ""), type=p.get("type", ""),
                      location=_loc(p["location"]))
    t, ot = int(meta.type), int(meta.objType)
    sub = p["sub"]
    if t in (ET.NVDS_EVENT_MOVING, ET.NVDS_EVENT_STOPPED) or (
            t in (ET.NVDS_EVENT_ENTRY, ET.NVDS_EVENT_EXIT) and ot == OT.NVDS_OBJECT_TYPE_VEHICLE):
        out["aisle"] = OrderedDict(id=sub[0], name=sub[1], level=sub[2], coordinate=_coord(p["coordinate"]))
    elif t in (ET.NVDS_EVENT_EMPTY, ET.NVDS_EVENT_PARKED):
        out["parkingSpot"] = OrderedDict(id=sub[0], type=sub[1], level=sub[2], coordinate=_coord(p["coordinate"]))
    elif t in (ET.NVDS_EVENT_ENTRY, ET.NVDS_EVENT_EXIT):
        out["entrance"] = OrderedDict(name=sub[0], lane=sub[1], level=sub[2], coordinate=_coord(p["coordinate"]))
    else:
        print("Event type not implemented")
    return out


def _typed_object(meta):
    ot = int(meta.objType)
    ext = meta.extMsg if meta.extMsgSize > 0 else None
    conf = float(meta.confidence)
    if ot == OT.NVDS_OBJECT_TYPE_VEHICLE:
        if ext is None and meta.extMsgSize > 0:
            return "vehicle", OrderedDict()
        g = (lambda k: _s(getattr(ext, k + "_str"))) if ext is not None else (lambda k: "")
        return "vehicle", OrderedDict(type=g("type"), make=g("make"), model=g("model"), color=g("color"),
                                      licenseState=g("region"), license=g("license"),
                                      confidence=conf if ext is not None else 1.0)
    if ot == OT.NVDS_OBJECT_TYPE_PERSON:
        if ext is None and meta.extMsgSize > 0:
            return "person", OrderedDict()
        g = (lambda k: _s(getattr(ext, k + "_str"))) if ext is not None else (lambda k: "")
        return "person", OrderedDict(age=int(ext.age) if ext is not None else 0, gender=g("gender"),
                                     hair=g("hair"), cap=g("cap"), apparel=g("apparel"),
                                     confidence=conf if ext is not None else 1.0)
    if ot == OT.NVDS_OBJECT_TYPE_FACE:
        if ext is None and meta.extMsgSize > 0:
            return "face", OrderedDict()
        g = (lambda k: _s(getattr(ext, k + "_str"))) if ext is not None else (lambda k: "")
        return "face", OrderedDict(age=int(ext.age) if ext is not None else 0, gender=g("gender"),
                                   hair=g("hair"), cap=g("cap"), glasses=g("glasses"),
                                   facialhair=g("facialhair"), name=g("name"), eyecolor=g("eyecolor"),
                                   confidence=conf if ext is not None else 1.0)
    if ot == OT.NVDS_OBJECT_TYPE_UNKNOWN:
        oid = _s(meta.objectId_str)
        return (oid, OrderedDict()) if oid else (None, None)
    print("Object type not implemented")
    return None, None


def full_payload(meta, cfg: MsgConvConfig) -> bytes:
    """The full DeepStream schema for one event (pretty-printed UTF-8 JSON)."""
    doc = OrderedDict()
    doc["messageid"] = str(uuid.uuid4())
    doc["mdsversion"] = "1.0"
    doc["@timestamp"] = _s(meta.ts_str)
    place = _place(meta, cfg)
    if place is not None:
        doc["place"] = place
    s = cfg.sensors.get(meta.sensorId)
    if s is None:
        print(f"No entry for sensor{meta.sensorId} in configuration file")
    else:
        doc["sensor"] = OrderedDict(id=s.get("id", ""), type=s.get("type", ""), description=s.get("description", ""),
                                    location=_loc(s["location"]), coordinate=_coord(s["coordinate"]))
    a = cfg.analytics.get(meta.moduleId)
    if a is None:
        print(f"No entry for analytics{meta.moduleId} in configuration file")
    else:
        doc["analyticsModule"] = OrderedDict(id=a.get("id", ""), description=a.get("description", ""),
                                             source=a.get("source", ""), version=a.get("version", ""),
                                             confidence=float(meta.confidence))
    obj = OrderedDict(id=str(int(_signed32(meta.trackingId))), speed=0.0, direction=0.0, orientation=0.0)
    key, val = _typed_object(meta)
    if key is not None:
        obj[key] = val
    b = meta.bbox
    obj["bbox"] = OrderedDict(topleftx=int(b.left), toplefty=int(b.top), bottomrightx=int(b.left + b.width),
                              bottomrighty=int(b.top + b.height))
    sig = meta.objSignature
    if sig.size > 0 and sig.signature:
        import ctypes
        obj["signature"] = list((ctypes.c_double * int(sig.size)).from_address(int(sig.signature)))
    obj["location"] = _loc([meta.location.lat, meta.location.lon, meta.location.alt])
    obj["coordinate"] = _coord([meta.coordinate.x, meta.coordinate.y, meta.coordinate.z])
    doc["object"] = obj
    ev = OrderedDict(id=str(uuid.uuid4()))
    name = _EVENT_NAMES.get(int(meta.type))
    if name is None:
        print("Unknown event type")
    else:
        ev["type"] = name
    doc["event"] = ev
    doc["videoPath"] = _s(meta.videoPath_str)
    return json.dumps(doc, indent=2).encode("utf-8")


def _signed32(v: int) -> int:
    v = int(v)
    if -(2**31) <= v < 2**31:
        return v
    v &= 0xFFFFFFFF
    return v - 2**32 if v >= 2**31 else v


def fmt_num(v: float) -> str:
    """A float as C++ streams print it by default (6 significant digits, no trailing zeros)."""
    s = f"{float(v):.6g}"
    return s


_TYPE_NAMES = {OT.NVDS_OBJECT_TYPE_VEHICLE: "Vehicle", OT.NVDS_OBJECT_TYPE_PERSON: "Person",
               OT.NVDS_OBJECT_TYPE_FACE: "Face", OT.NVDS_OBJECT_TYPE_BAG: "Bag",
               OT.NVDS_OBJECT_TYPE_BICYCLE: "Bicycle", OT.NVDS_OBJECT_TYPE_ROADSIGN: "RoadSign",
               OT.NVDS_OBJECT_TYPE_CUSTOM: "Custom"}


def _object_string(meta) -> str:
    b = meta.bbox
    ot = int(meta.objType)
    if ot == OT.NVDS_OBJECT_TYPE_UNKNOWN:
        tname = _s(meta.objectId_str) or "Unknown"
    else:
        tname = _TYPE_NAMES.get(ot, "Unknown")
    parts = [str(_signed32(meta.trackingId)), fmt_num(b.left), fmt_num(b.top), fmt_num(b.left + b.width),
             fmt_num(b.top + b.height), tname]
    ext = meta.extMsg if meta.extMsgSize > 0 else None
    if ext is not None:
        c = fmt_num(meta.confidence)
        if ot == OT.NVDS_OBJECT_TYPE_VEHICLE:
            parts += ["#", _s(ext.type_str), _s(ext.make_str), _s(ext.model_str), _s(ext.color_str), _s(ext.license_str),
                      _s(ext.region_str), c]
        elif ot == OT.NVDS_OBJECT_TYPE_PERSON:
            parts += ["#", _s(ext.gender_str), str(int(ext.age)), _s(ext.hair_str), _s(ext.cap_str), _s(ext.apparel_str), c]
        elif ot == OT.NVDS_OBJECT_TYPE_FACE:
            parts += ["#", _s(ext.gender_str), str(int(ext.age)), _s(ext.hair_str), _s(ext.cap_str), _s(ext.glasses_str),
                      _s(ext.facialhair_str), _s(ext.name_str), "", _s(ext.eyecolor_str), c]
        else:
            print(f"Object type ({ot}) not implemented")
    return "|".join(parts)


def minimal_payload(metas: list, cfg: MsgConvConfig | None) -> bytes:
    """The minimal DeepStream schema for the events of one frame."""
    first = metas[0]
    sensor = _s(first.sensorStr_str)
    if not sensor:
        if cfg is not None:
            sensor = cfg.sensors.get(first.sensorId, {}).get("id", "")
        else:
            sensor = "0"
    doc = OrderedDict()
    doc["version"] = "4.0"
    doc["id"] = int(first.frameId)
    doc["@timestamp"] = _s(first.ts_str)
    doc["sensorId"] = sensor
    doc["objects"] = [_object_string(m) for m in metas]
    return json.dumps(doc, indent=2).encode("utf-8")
