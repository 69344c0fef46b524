"""Topic names, record formats and topic creation for the fleet."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass

from estuary.errors import BrokerError, ConfigError

CAMERAS, EVENTS, STATUS = "estuary.cameras", "estuary.events", "estuary.status"
GROUP = "estuary-fleet"


# the unit of cost: one 1080p stream at 30 frames/s (a camera that declares nothing costs 1)
UNIT_PIXELS_PER_S = 1920 * 1080 * 30


def _positive(name: str, v, kind=float):
    if v is None:
        return None
    try:
        x = kind(v)
    except (TypeError, ValueError):
        raise ConfigError(f"camera {name} must be a positive number, not {v!r}") from None
    if not (x > 0 and math.isfinite(x)) or isinstance(v, bool):
        raise ConfigError(f"camera {name} must be a positive number, not {v!r}")
    return x


@dataclass(frozen=True)
class Camera:
    """A camera record: its id (the record key), URI and pipeline profile, and optionally what it
    costs to run: an explicit ``cost`` or its ``width``×``height`` at ``fps`` (see :attr:`load`)."""

    id: str
    uri: str
    profile: str = "count"
    cost: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "cost", _positive("cost", self.cost))
        object.__setattr__(self, "width", _positive("width", self.width, int))
        object.__setattr__(self, "height", _positive("height", self.height, int))
        object.__setattr__(self, "fps", _positive("fps", self.fps))
        if self.cost is None and (self.width, self.height, self.fps).count(None) not in (0, 3):
            raise ConfigError(f"camera {self.id}: give width, height and fps together (or an explicit cost)")

    @property
    def load(self) -> float:
        """What the camera costs to run, in 1080p30 streams: ``cost`` when given, else
        width × height × fps / (1920 × 1080 × 30) when given, else 1 (placement then balances
        camera counts)."""
        if self.cost is not None:
            return self.cost
        if self.width is not None:
            return self.width * self.height * self.fps / UNIT_PIXELS_PER_S
        return 1.0

    def value(self) -> bytes:
        d = {k: v for k, v in asdict(self).items() if v is not None}
        d.pop("id")
        return json.dumps(d).encode()

    @classmethod
    def parse(cls, key: bytes, value: bytes | None) -> "Camera | None":
        """The camera of a record, or None for a tombstone."""
        if value is None or value == b"":
            return None
        try:
            d = json.loads(value)
            return cls(id=key.decode(), uri=d["uri"], profile=d.get("profile", "count"), cost=d.get("cost"),
                       width=d.get("width"), height=d.get("height"), fps=d.get("fps"))
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            raise ConfigError(f"camera record {key!r} is invalid (JSON with a uri; cost, width, height, fps "
                              f"optional): {exc}") from None


def ensure_topics(bootstrap: str, partitions: int = 12, timeout: float = 15.0) -> int:
    """Create the fleet's topics if they do not exist (``cameras`` compacted, with ``partitions``
    partitions); returns the number of partitions the cameras topic has."""
    from confluent_kafka.admin import AdminClient, NewTopic
    if partitions < 1:
        raise ConfigError("the cameras topic needs at least one partition")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        md = admin.list_topics(timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - librdkafka's KafkaException
        raise BrokerError(f"cannot reach Kafka at {bootstrap}: {exc}") from None
    existing = md.topics
    new = [NewTopic(CAMERAS, partitions, 1, config={"cleanup.policy": "compact"}),
           NewTopic(EVENTS, min(partitions, 64), 1), NewTopic(STATUS, 1, 1)]
    new = [t for t in new if t.topic not in existing]
    if new:
        for topic, fut in admin.create_topics(new).items():
            try:
                fut.result(timeout)
            except Exception as exc:  # noqa: BLE001
                if "already exists" not in str(exc).lower() and "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise BrokerError(f"cannot create topic {topic}: {exc}") from None
    if CAMERAS in existing:
        return len(existing[CAMERAS].partitions)
    return partitions


def read_topic(bootstrap: str, topic: str, last: int | None = None, timeout: float = 10.0) -> list:
    """Every record of ``topic`` up to its current end (only the ``last`` ones of each partition
    when given), as confluent-kafka messages in partition order; no consumer group is joined."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "estuary-fleet-reader", "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=timeout).topics[topic].partitions
        ends, tps = {}, []
        for p in parts:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            start = lo if last is None else max(lo, hi - last)
            if hi > start:
                ends[p] = hi
                tps.append(TopicPartition(topic, p, start))
        out = []
        if tps:
            c.assign(tps)
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            out.append(m)
            if m.offset() + 1 >= ends.get(m.partition(), 0):
                ends.pop(m.partition(), None)
        return out
    finally:
        c.close()
