"""``estuary fleet init | add | remove | list | status``: manage cameras (records and tombstones on
the compacted ``cameras`` topic) and read the workers' heartbeats.

Camera-aware placement (:mod:`estuary.fleet.placement`): the consumer group balances
*partitions* over workers, so ``add`` chooses the partition, not the key hash: one of the worker
with the least total cost (the workers' partitions come from their heartbeats), or with no
worker running the partition holding the fewest cameras. ``balance`` moves cameras (stop, then
start) when membership changes have opened the spread beyond the largest camera cost. A camera
keeps its partition when its record changes, and its tombstone goes to the partition holding it.
"""

from __future__ import annotations

from estuary.errors import BrokerError, ConfigError
from estuary.fleet.placement import Layout, Move, place, plan
from estuary.fleet.topics import CAMERAS, Camera, ensure_topics, read_topic


def _producer(bootstrap):
    from confluent_kafka import Producer
    return Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                     "linger.ms": 5})


def _deliver(p, timeout=15.0):
    if p.flush(timeout) != 0:
        raise BrokerError("the camera record was not acknowledged by Kafka in time")


def choose_partition(counts: list[int]) -> int:
    """The partition for a new camera when no worker runs: the one holding the fewest cameras
    (the lowest of those)."""
    if not counts:
        raise ConfigError("the cameras topic has no partitions")
    return min(range(len(counts)), key=lambda p: (counts[p], p))


def placement(bootstrap: str, timeout: float = 10.0) -> tuple[dict[str, tuple[int, Camera]], int]:
    """({camera id: (partition, camera)}, number of partitions) from the topic read to its end.
    Each partition is read on its own (the latest record per camera wins, a tombstone removes
    it); a camera live in two partitions (a move interrupted half-way) is where it was written
    last."""
    from confluent_kafka import Consumer
    ensure_topics(bootstrap)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "estuary-fleet-admin"})
    try:
        n = len(c.list_topics(CAMERAS, timeout=timeout).topics[CAMERAS].partitions)
    finally:
        c.close()
    per_part: dict[tuple[int, str], tuple[int, Camera | None]] = {}
    for m in read_topic(bootstrap, CAMERAS, timeout=timeout):
        per_part[(m.partition(), m.key().decode())] = (m.timestamp()[1], Camera.parse(m.key(), m.value()))
    table: dict[str, tuple[int, Camera]] = {}
    when: dict[str, int] = {}
    for (part, key), (ts, cam) in sorted(per_part.items()):
        if cam is not None and ts >= when.get(key, -1):
            table[key], when[key] = (part, cam), ts
    return table, n


def owners(bootstrap: str, seconds: float = 5.0) -> dict[int, str]:
    """{partition: worker} from the workers' heartbeats of the last ``seconds`` (empty when no
    worker runs)."""
    from estuary.fleet.worker import fleet_status
    out = {}
    for wid, st in sorted(fleet_status(bootstrap, seconds=seconds).items(), key=lambda kv: kv[1]["ts"]):
        for part in st.get("partitions", []):
            out[part] = wid
    return out


def layout(bootstrap: str) -> tuple[Layout, dict[str, tuple[int, Camera]]]:
    """The placement :class:`Layout` (cameras with their cost, the workers' partitions) and the
    camera table it was made from."""
    table, n = placement(bootstrap)
    lay = Layout(n, {cid: (part, cam.load) for cid, (part, cam) in table.items()}, owners(bootstrap))
    return lay, table


def add_many(bootstrap: str, cams: list[Camera]) -> dict[str, int]:
    """Add or change cameras (placed as the module says); returns {camera id: partition}."""
    lay, table = layout(bootstrap)
    p = _producer(bootstrap)
    out = {}
    for cam in cams:
        if cam.id in table:
            part = table[cam.id][0]
            lay.cameras[cam.id] = (part, cam.load)
        else:
            part = place(lay, cam.id, cam.load)
            table[cam.id] = (part, cam)
        p.produce(CAMERAS, key=cam.id.encode(), value=cam.value(), partition=part)
        out[cam.id] = part
        p.poll(0)
    _deliver(p, timeout=max(15.0, len(cams) / 100))
    return out


def add(bootstrap: str, cam: Camera) -> int:
    """Add (or change) one camera; returns its partition."""
    return add_many(bootstrap, [cam])[cam.id]


def balance(bootstrap: str, apply: bool = True, wait: float = 30.0) -> tuple[list[Move], Layout]:
    """Plan (and with ``apply`` make) the moves that bring the spread of cost per worker within
    the bound (:func:`estuary.fleet.placement.plan`); returns the moves and the layout after them.

    A move is stop-then-start, never twice at once: the tombstones go first, then, once no
    worker's heartbeat shows the moved cameras running (at most ``wait`` seconds), the records
    go to their new partitions."""
    import time

    from estuary.fleet.worker import fleet_status
    lay, table = layout(bootstrap)
    moves = plan(lay)
    if not apply or not moves:
        return moves, lay
    p = _producer(bootstrap)
    for mv in moves:
        p.produce(CAMERAS, key=mv.camera.encode(), value=None, partition=mv.source)
    _deliver(p)
    moved = {mv.camera for mv in moves}
    deadline = time.monotonic() + wait
    time.sleep(1.0)  # a heartbeat sent before the tombstones were read may still show them
    while time.monotonic() < deadline:
        running = {cam for st in fleet_status(bootstrap, seconds=1.5).values() for cam in st["cameras"]}
        if not running & moved:
            break
        time.sleep(0.3)
    else:
        raise BrokerError(f"the moved cameras did not stop within {wait:.0f} s; they are removed, add "
                          f"them again: {', '.join(sorted(moved))}")
    for mv in moves:
        p.produce(CAMERAS, key=mv.camera.encode(), value=table[mv.camera][1].value(), partition=mv.target)
    _deliver(p)
    return moves, lay


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
