"""``estuary fleet init | add | remove | list | status``: manage cameras (records and tombstones on
the compacted ``cameras`` topic) and read the workers' heartbeats.

Camera-aware placement: the consumer group balances *partitions* over workers, so ``add`` puts a
new camera in the partition holding the fewest cameras (the lowest such partition), not where its
key hashes. With at least as many partitions as cameras, each partition holds at most one camera
and the group's balance of partitions (±1 per worker) is a balance of cameras. A camera keeps its
partition when its record changes, and its tombstone goes to the partition that holds it.
"""

from __future__ import annotations

from estuary.errors import BrokerError, ConfigError
from estuary.fleet.topics import CAMERAS, Camera, ensure_topics, read_topic


def _producer(bootstrap):
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                     "linger.ms": 5})


def _deliver(p, timeout=15.0):
    if p.flush(timeout) != 0:
        raise BrokerError("the camera record was not acknowledged by Kafka in time")


def choose_partition(counts: list[int]) -> int:
    """The partition for a new camera: the one holding the fewest cameras (the lowest of those)."""
    if not counts:
        raise ConfigError("the cameras topic has no partitions")
    return min(range(len(counts)), key=lambda p: (counts[p], p))


def placement(bootstrap: str, timeout: float = 10.0) -> tuple[dict[str, tuple[int, Camera]], int]:
    """({camera id: (partition, camera)}, number of partitions) from the topic read to its end.
    The latest record per (partition, camera) wins; a tombstone removes it."""
    from confluent_kafka import Consumer
    ensure_topics(bootstrap)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "estuary-fleet-admin"})
    try:
        n = len(c.list_topics(CAMERAS, timeout=timeout).topics[CAMERAS].partitions)
    finally:
        c.close()
    table: dict[str, tuple[int, Camera]] = {}
    for m in read_topic(bootstrap, CAMERAS, timeout=timeout):
        cam = Camera.parse(m.key(), m.value())
        key = m.key().decode()
        if cam is None:
            if key in table and table[key][0] == m.partition():
                del table[key]
        else:
            table[key] = (m.partition(), cam)
    return table, n


def add_many(bootstrap: str, cams: list[Camera]) -> dict[str, int]:
    """Add or change cameras (placed as the module says); returns {camera id: partition}."""
    table, n = placement(bootstrap)
    counts = [0] * n
    for part, _ in table.values():
        counts[part] += 1
    p = _producer(bootstrap)
    out = {}
    for cam in cams:
        if cam.id in table:
            part = table[cam.id][0]
        else:
            part = choose_partition(counts)
            counts[part] += 1
            table[cam.id] = (part, cam)
        p.produce(CAMERAS, key=cam.id.encode(), value=cam.value(), partition=part)
        out[cam.id] = part
        p.poll(0)
    _deliver(p, timeout=max(15.0, len(cams) / 100))
    return out


def add(bootstrap: str, cam: Camera) -> int:
    """Add (or change) one camera; returns its partition."""
    return add_many(bootstrap, [cam])[cam.id]


def remove(bootstrap: str, cam_id: str) -> None:
    table, _ = placement(bootstrap)
    if cam_id not in table:
        raise ConfigError(f"no camera {cam_id!r} in the fleet (see `estuary fleet list`)")
    p = _producer(bootstrap)
    p.produce(CAMERAS, key=cam_id.encode(), value=None, partition=table[cam_id][0])  # a tombstone
    _deliver(p)


def cameras(bootstrap: str, timeout: float = 10.0) -> dict[str, Camera]:
    """The current camera table (the compacted topic read to its end)."""
    table, _ = placement(bootstrap, timeout=timeout)
    return {cid: cam for cid, (_, cam) in table.items()}
