"""The camera table of one worker, engine-free: which cameras its assigned partitions hold, and
which cameras to start or stop as records, assignments and revocations arrive.

Hand-over is exact: a partition newly assigned is *loading* until it has been read to the high
watermark it had when it was assigned; records read meanwhile only update the table (the latest
record per camera wins, tombstones included), and the partition's cameras start only once it is
loaded. So a camera removed before the hand-over never starts on the new owner, and a camera
whose URI changed starts only with the new URI.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from estuary.fleet.topics import Camera


@dataclass
class _Partition:
    end: int                    # high watermark when assigned: loaded once read up to here
    loaded: bool
    cameras: dict[str, Camera] = field(default_factory=dict)


@dataclass(frozen=True)
class Action:
    """``start`` a camera (``camera`` set), ``stop`` one (``camera_id`` set) or ``update`` the
    record of a running one (its declared cost changed; nothing restarts)."""

    kind: str                   # "start" | "stop" | "update"
    camera_id: str
    camera: Camera | None = None


def start(cam: Camera) -> Action:
    return Action("start", cam.id, cam)


def stop(cam_id: str) -> Action:
    return Action("stop", cam_id)


class CameraTable:
    """Per-partition camera tables with the loading rule above. Every method returns the
    actions to apply, in order; the caller owns the running sources."""

    def __init__(self):
        self._parts: dict[int, _Partition] = {}

    # -- queries -----------------------------------------------------------------------------
    def partitions(self) -> list[int]:
        return sorted(self._parts)

    def loading(self) -> list[int]:
        return sorted(p for p, st in self._parts.items() if not st.loaded)

    def camera(self, cam_id: str) -> Camera | None:
        """The camera's current record on a *loaded* partition of this worker, if any."""
        for st in self._parts.values():
            if st.loaded and cam_id in st.cameras:
                return st.cameras[cam_id]
        return None

    def cameras(self) -> dict[str, Camera]:
        """Every camera on this worker's loaded partitions."""
        return {c.id: c for st in self._parts.values() if st.loaded for c in st.cameras.values()}

    # -- events ------------------------------------------------------------------------------
    def assigned(self, partition: int, low: int, high: int) -> list[Action]:
        """A partition was assigned; ``low``/``high`` are its watermarks at that moment. The
        caller then reads it from ``low`` (the compacted topic is the table)."""
        st = _Partition(end=high, loaded=high <= low)
        self._parts[partition] = st
        return []

    def revoked(self, partition: int) -> list[Action]:
        st = self._parts.pop(partition, None)
        if st is None or not st.loaded:
            return []
        return [stop(cid) for cid in st.cameras if self.camera(cid) is None]

    def record(self, partition: int, offset: int, cam_id: str, cam: Camera | None) -> list[Action]:
        """A record (``cam`` None: a tombstone) read at ``offset`` of ``partition``."""
        st = self._parts.get(partition)
        if st is None:
            return []  # a record fetched just before the partition was revoked
        old = st.cameras.get(cam_id)
        if cam is None:
            st.cameras.pop(cam_id, None)
        else:
            st.cameras[cam_id] = cam
        if not st.loaded:
            if offset + 1 >= st.end:
                return self._loaded(st)
            return []
        if cam is None:
            # a camera moved between two partitions of this worker (`estuary fleet balance`) keeps running
            return [stop(cam_id)] if old is not None and self.camera(cam_id) is None else []
        if old is None:
            return [start(cam)]
        if (old.uri, old.profile) != (cam.uri, cam.profile):
            return [stop(cam_id), start(cam)]  # a changed URI or profile: restart on the new one
        if old != cam:
            return [Action("update", cam_id, cam)]  # only its cost changed: keep it running
        return []

    def end_of_partition(self, partition: int) -> list[Action]:
        """The consumer reached the partition's end (librdkafka's PARTITION_EOF): loaded even if
        compaction removed the record just below the watermark."""
        st = self._parts.get(partition)
        if st is None or st.loaded:
            return []
        return self._loaded(st)

    @staticmethod
    def _loaded(st: _Partition) -> list[Action]:
        st.loaded = True
        return [start(c) for c in st.cameras.values()]
