"""``estuary fleet add | remove | list | status``: manage cameras (records and tombstones on the
compacted ``cameras`` topic) and read the workers' heartbeats."""

from __future__ import annotations

import time

from estuary.errors import BrokerError
from estuary.fleet.topics import CAMERAS, Camera, ensure_topics


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
    from confluent_kafka import Consumer, TopicPartition
    ensure_topics(bootstrap)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "estuary-fleet-admin", "enable.auto.commit": False})
    parts = c.list_topics(CAMERAS, timeout=timeout).topics[CAMERAS].partitions
    ends, tps = {}, []
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(CAMERAS, p), timeout=timeout)
        if hi > lo:
            ends[p] = hi
            tps.append(TopicPartition(CAMERAS, p, lo))
    table: dict[str, Camera] = {}
    if tps:
        c.assign(tps)
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            cam = Camera.parse(m.key(), m.value())
            if cam is None:
                table.pop(m.key().decode(), None)
            else:
                table[cam.id] = cam
            if m.offset() + 1 >= ends.get(m.partition(), 0):
                ends.pop(m.partition(), None)
    c.close()
    return table
