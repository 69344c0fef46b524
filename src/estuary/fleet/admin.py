"""``estuary fleet add | remove | list | status``: manage cameras (records and tombstones on the
compacted ``cameras`` topic) and read the workers' heartbeats."""

from __future__ import annotations

from estuary.errors import BrokerError
from estuary.fleet.topics import CAMERAS, Camera, ensure_topics, read_topic


def _producer(bootstrap):
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})


def _deliver(p, timeout=15.0):
    if p.flush(timeout) != 0:
        raise BrokerError("the camera record was not acknowledged by Kafka in time")


def add(bootstrap: str, cam: Camera) -> None:
    ensure_topics(bootstrap)
    p = _producer(bootstrap)
    p.produce(CAMERAS, key=cam.id.encode(), value=cam.value())
    _deliver(p)


def remove(bootstrap: str, cam_id: str) -> None:
    ensure_topics(bootstrap)
    p = _producer(bootstrap)
    p.produce(CAMERAS, key=cam_id.encode(), value=None)  # a tombstone
    _deliver(p)


def cameras(bootstrap: str, timeout: float = 10.0) -> dict[str, Camera]:
    """The current camera table (the compacted topic read to its end)."""
    ensure_topics(bootstrap)
    table: dict[str, Camera] = {}
    for m in read_topic(bootstrap, CAMERAS, timeout=timeout):
        cam = Camera.parse(m.key(), m.value())
        if cam is None:
            table.pop(m.key().decode(), None)
        else:
            table[cam.id] = cam
    return table
