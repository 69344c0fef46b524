"""Message-schema structs (``nvdsmeta_schema``): event messages and their extension objects."""

from __future__ import annotations

from estuary.meta.enums import NvDsEventType, NvDsObjectType
from estuary.meta.struct import Embedded, Items, Pointer, Scalar, Struct, Text

__all__ = [
    "NvDsRect", "NvDsGeoLocation", "NvDsCoordinate", "NvDsObjectSignature", "NvDsVehicleObject",
    "NvDsPersonObject", "NvDsFaceObject", "NvDsVehicleObjectExt", "NvDsPersonObjectExt",
    "NvDsFaceObjectWithExt", "NvDsEventMsgMeta", "NvDsEvent", "NvDsPayload",
]


class NvDsRect(Struct):
    top = Scalar(0.0)
    left = Scalar(0.0)
    width = Scalar(0.0)
    height = Scalar(0.0)


class NvDsGeoLocation(Struct):
    lat = Scalar(0.0)
    lon = Scalar(0.0)
    alt = Scalar(0.0)


class NvDsCoordinate(Struct):
    x = Scalar(0.0)
    y = Scalar(0.0)
    z = Scalar(0.0)


class NvDsObjectSignature(Struct):
    """``signature`` is the address of ``size`` doubles."""

    signature = Scalar(0)
    size = Scalar(0)


class NvDsVehicleObject(Struct):
    type = Text()
    make = Text()
    model = Text()
    color = Text()
    region = Text()
    license = Text()


class NvDsPersonObject(Struct):
    gender = Text()
    hair = Text()
    cap = Text()
    apparel = Text()
    age = Scalar(0)


class NvDsFaceObject(Struct):
    gender = Text()
    hair = Text()
    cap = Text()
    glasses = Text()
    facialhair = Text()
    name = Text()
    eyecolor = Text()
    age = Scalar(0)


class NvDsVehicleObjectExt(Struct):
    """6.0: string members read as str."""

    type = Scalar(None)
    make = Scalar(None)
    model = Scalar(None)
    color = Scalar(None)
    region = Scalar(None)
    license = Scalar(None)
    mask = Items()


class NvDsPersonObjectExt(Struct):
    gender = Scalar(None)
    hair = Scalar(None)
    cap = Scalar(None)
    apparel = Scalar(None)
    age = Scalar(0)
    mask = Items()


class NvDsFaceObjectWithExt(Struct):
    gender = Scalar(None)
    hair = Scalar(None)
    cap = Scalar(None)
    glasses = Scalar(None)
    facialhair = Scalar(None)
    name = Scalar(None)
    eyecolor = Scalar(None)
    age = Scalar(0)
    mask = Items()


class NvDsEventMsgMeta(Struct):
    """An event for the message converter. ``ts_str`` is the RFC 3339 timestamp (in pyds, ``ts`` is
    the address of a buffer the app fills; the model then holds a reader of that buffer)."""

    type = Scalar(NvDsEventType.NVDS_EVENT_ENTRY)
    objType = Scalar(NvDsObjectType.NVDS_OBJECT_TYPE_VEHICLE)
    bbox = Embedded(NvDsRect)
    location = Embedded(NvDsGeoLocation)
    coordinate = Embedded(NvDsCoordinate)
    objSignature = Embedded(NvDsObjectSignature)
    objClassId = Scalar(0)
    sensorId = Scalar(0)
    moduleId = Scalar(0)
    placeId = Scalar(0)
    componentId = Scalar(0)
    frameId = Scalar(0)
    confidence = Scalar(0.0)
    trackingId = Scalar(0)
    ts = Text("buffer")
    objectId = Text()
    sensorStr = Text()
    otherAttrs = Text()
    videoPath = Text()
    extMsg = Pointer()
    extMsgSize = Scalar(0)


class NvDsEvent(Struct):
    eventType = Scalar(NvDsEventType.NVDS_EVENT_ENTRY)
    metadata = Pointer()


class NvDsPayload(Struct):
    """A converted message: ``payload`` holds the bytes."""

    payload = Pointer()
    payloadSize = Scalar(0)
    componentId = Scalar(0)
