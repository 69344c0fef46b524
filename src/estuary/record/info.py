"""``sr-done``'s first argument: DeepStream's ``NvDsSRRecordingInfo``, in C's layout, and a
Python reading of it.

DeepStream hands C apps a pointer to this struct; a Python handler receives it as a
``gobject.GPointer`` (whose ``hash()`` is the address). The struct is valid only while the
handler runs. :func:`recording_info` reads it into a :class:`RecordingInfo`; the same fields are
also posted on the bus as the element message ``estuary-sr-done``, which needs no pointer at all.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

__all__ = ["NvDsSRRecordingInfo", "RecordingInfo", "recording_info"]


class NvDsSRRecordingInfo(ctypes.Structure):
    """The struct's fields in DeepStream's order (6.x added the audio fields at the end)."""

    _fields_ = [
        ("ctx", ctypes.c_void_p),
        ("sessionId", ctypes.c_uint32),
        ("filename", ctypes.c_char_p),
        ("dirpath", ctypes.c_char_p),
        ("duration", ctypes.c_uint64),  # milliseconds
        ("containerType", ctypes.c_int),  # 0 MP4, 1 MKV
        ("width", ctypes.c_uint),
        ("height", ctypes.c_uint),
        ("containsVideo", ctypes.c_int),
        ("channels", ctypes.c_uint),
        ("samplingRate", ctypes.c_uint),
        ("containsAudio", ctypes.c_int),
    ]


@dataclass(frozen=True)
class RecordingInfo:
    """A finished recording: its session, where it is, how long (ms), its container (0 MP4, 1
    MKV) and frame size."""

    session_id: int
    filename: str
    dirpath: str
    duration_ms: int
    container: int
    width: int
    height: int

    @property
    def path(self) -> str:
        import os
        return os.path.join(self.dirpath, self.filename)


def recording_info(info: Any) -> RecordingInfo:
    """The recording ``sr-done`` reports, from its first argument (a ``gobject.GPointer``, a
    capsule or an int address) — read it inside the handler."""
    if isinstance(info, int):
        address = info
    elif type(info).__name__ == "PyCapsule":
        from estuary import capsule
        address = capsule.address(info)
    else:
        address = hash(info)  # gobject.GPointer: its hash is the pointer
    s = NvDsSRRecordingInfo.from_address(address)
    return RecordingInfo(int(s.sessionId), (s.filename or b"").decode(), (s.dirpath or b"").decode(),
                         int(s.duration), int(s.containerType), int(s.width), int(s.height))
