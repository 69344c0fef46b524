"""Events to the outside world, engine-free: DeepStream message schemas (full and minimal JSON),
broker adapters (Kafka, MQTT, AMQP, Redis, in-memory) and a reliable sender (bounded queue,
retries with backoff, at-least-once delivery, counters)."""

from estuary.messaging.schema import MsgConvConfig, load_msgconv_config, full_payload, minimal_payload
from estuary.messaging.sender import ReliableSender, SenderStats

__all__ = ["MsgConvConfig", "load_msgconv_config", "full_payload", "minimal_payload",
           "ReliableSender", "SenderStats"]
