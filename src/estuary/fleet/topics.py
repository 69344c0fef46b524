"""Topic names, record formats and topic creation for the fleet."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from estuary.errors import BrokerError, ConfigError

CAMERAS, EVENTS, STATUS = "estuary.cameras", "estuary.events", "estuary.status"
GROUP = "estuary-fleet"


@dataclass(frozen=True)
class Camera:
    """A camera record: its id (the record key), URI and pipeline profile."""

    id: str
    uri: str
    profile: str = "count"

    def value(self) -> bytes:
        d = asdict(self)
        d.pop("id")
        return json.dumps(d).encode()

    @classmethod
    def parse(cls, key: bytes, value: bytes | None) -> "Camera | None":
        """The camera of a record, or None for a tombstone."""
        if value is None or value == b"":
            return None
        try:
            d = json.loads(value)
            return cls(id=key.decode(), uri=d["uri"], profile=d.get("profile", "count"))
        except (ValueError, KeyError, AttributeError) as exc:
            raise ConfigError(f"camera record {key!r} is not valid JSON with a uri: {exc}") from None


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
