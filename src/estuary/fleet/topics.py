"""Topic names, record formats and topic creation for the fleet."""

from __future__ import annotations

import json
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


def ensure_topics(bootstrap: str, partitions: int = 12, timeout: float = 15.0) -> None:
    """Create the fleet's topics if they do not exist (``cameras`` compacted)."""
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except Exception as exc:  # noqa: BLE001 - librdkafka's KafkaException
        raise BrokerError(f"cannot reach Kafka at {bootstrap}: {exc}") from None
    new = [NewTopic(CAMERAS, partitions, 1, config={"cleanup.policy": "compact"}),
           NewTopic(EVENTS, partitions, 1), NewTopic(STATUS, 1, 1)]
    new = [t for t in new if t.topic not in existing]
    if not new:
        return
    for topic, fut in admin.create_topics(new).items():
        try:
            fut.result(timeout)
        except Exception as exc:  # noqa: BLE001
            if "already exists" not in str(exc).lower() and "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise BrokerError(f"cannot create topic {topic}: {exc}") from None
