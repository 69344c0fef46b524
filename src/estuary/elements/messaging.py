"""``esmsgconv`` (alias ``nvmsgconv``) turns event message meta into DeepStream-schema payloads;
``esmsgbroker`` (alias ``nvmsgbroker``) sends them to Kafka, MQTT, AMQP or Redis through a
reliable sender (bounded queue, retries, at-least-once)."""

from __future__ import annotations

import logging
import os

from estuary.errors import ConfigError
from estuary.gst import Gst, GstBase, batchmeta
from estuary.gst.chain import ChainElement
from estuary.gst.element import ElementBase, Prop
from estuary.meta.enums import NvDsMetaType, NvDsPayloadType
from estuary.meta.schema import NvDsPayload
from estuary.messaging.schema import full_payload, load_msgconv_config, minimal_payload

__all__ = ["EsMsgConv", "EsMsgBroker"]

log = logging.getLogger("estuary.messaging")


class EsMsgConv(ElementBase, ChainElement, Gst.Element):
    """Builds payloads from ``NVDS_EVENT_MSG_META`` frame user meta."""

    __gtype_name__ = "EstuaryMsgConv"
    FACTORY = "esmsgconv"
    ALIASES = ("nvmsgconv",)
    METADATA = ("Estuary message converter", "Filter/Metadata",
                "Converts event message meta to DeepStream JSON payloads", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, "ANY", None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, "ANY", None))
    PROPS = (
        Prop("config", str, "", "msgconv config (sensors, places, analytics modules)"),
        Prop("payload-type", int, 0, "0 full schema, 1 minimal, 257 custom", 0, 0x7FFFFFFF),
        Prop("msg2p-lib", str, "", "Custom payload: a Python module:function (a .so name is refused)"),
        Prop("comp-id", int, 0, "Component id written into each payload", 0, 2**31 - 1),
        Prop("frame-interval", int, 1, "Convert every n-th frame", 1, 2**31 - 1),
        Prop("debug-payload-dir", str, "", "Also write every payload into this folder"),
        Prop("multiple-payloads", bool, False, "Accepted (6.x)"),
        Prop("msg2p-newapi", bool, False, "Accepted (6.x)"),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.init_pads()
        self._cfg = None
        self._hook = None
        self._n = 0

    def do_change_state(self, transition):
        if transition == Gst.StateChange.NULL_TO_READY:
            s = self.settings
            self._cfg = load_msgconv_config(s.config) if s.config else None
            if s.payload_type == NvDsPayloadType.NVDS_PAYLOAD_DEEPSTREAM and self._cfg is None:
                raise ConfigError(f"{self.get_name()}: the full schema needs a config file (set config=...)")
            if s.msg2p_lib:
                if ":" not in s.msg2p_lib:
                    raise ConfigError(f"msg2p-lib {s.msg2p_lib!r}: Estuary takes a Python module:function "
                                      "that returns payload bytes for (event metas, config)", key="msg2p-lib")
                from estuary.infer.parsers import load_python_hook
                self._hook = load_python_hook(s.msg2p_lib)
        return Gst.Element.do_change_state(self, transition)

    def process(self, buf):
        s = self.settings
        batch = batchmeta.get(buf)
        if batch is None:
            return [buf]
        self._n += 1
        if (self._n - 1) % s.frame_interval:
            return [buf]
        for f in batch.frames:
            events = [um.user_meta_data for um in f.user_meta
                      if um.meta_type == NvDsMetaType.NVDS_EVENT_MSG_META and um.user_meta_data is not None]
            if not events:
                continue
            if self._hook is not None:
                blobs = [bytes(self._hook(events, self._cfg))]
            elif s.payload_type == NvDsPayloadType.NVDS_PAYLOAD_DEEPSTREAM_MINIMAL:
                blobs = [minimal_payload(events, self._cfg)]
            elif s.payload_type == NvDsPayloadType.NVDS_PAYLOAD_CUSTOM:
                blobs = [b"CUSTOM Schema\0"]
            else:
                blobs = [full_payload(e, self._cfg) for e in events]
            for blob in blobs:
                p = NvDsPayload(payload=blob, payloadSize=len(blob), componentId=s.comp_id)
                um = batch.acquire_user()
                um.meta_type = NvDsMetaType.NVDS_PAYLOAD_META
                um.user_meta_data = p
                f.add_user_meta(um)
                if s.debug_payload_dir:
                    os.makedirs(s.debug_payload_dir, exist_ok=True)
                    self._dumped = getattr(self, "_dumped", 0) + 1
                    with open(os.path.join(s.debug_payload_dir, f"payload_{self._dumped:06d}.json"), "wb") as fh:
                        fh.write(blob)
        return [buf]


class EsMsgBroker(ElementBase, GstBase.BaseSink):
    """Sends payload meta to a broker. Never blocks the pipeline on a broker outage."""

    __gtype_name__ = "EstuaryMsgBroker"
    FACTORY = "esmsgbroker"
    ALIASES = ("nvmsgbroker",)
    METADATA = ("Estuary message broker", "Sink/Metadata",
                "Sends payloads to Kafka, MQTT, AMQP or Redis (at-least-once)", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, "ANY", None),)
    PROPS = (
        Prop("proto-lib", str, "", "Adaptor: libnvds_{kafka,mqtt,amqp,redis}_proto.so or kafka/mqtt/amqp/redis"),
        Prop("conn-str", str, "", "Connection string, e.g. 127.0.0.1;1883"),
        Prop("config", str, "", "Adaptor config file with a [message-broker] group"),
        Prop("topic", str, "", "Topic / stream / routing key"),
        Prop("comp-id", int, 0, "Send only payloads of this component id (0: all)", 0, 2**31 - 1),
        Prop("new-api", bool, False, "Accepted (6.x)"),
        Prop("queue-size", int, 10000, "Messages held while the broker is away", 1, 2**31 - 1),
        Prop("drop-policy", str, "drop-oldest", "When the queue is full: drop-oldest, drop-newest or block"),
        Prop("flush-timeout", int, 10, "Seconds to deliver queued messages at the end of the stream", 0, 3600),
    )

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.set_sync(False)
        self.sender = None

    def do_start(self):
        from estuary.messaging.adapters import adapter_for, parse_broker_config
        from estuary.messaging.sender import POLICIES, ReliableSender
        s = self.settings
        if not s.proto_lib:
            raise ConfigError(f"{self.get_name()}: set proto-lib (e.g. libnvds_mqtt_proto.so)")
        if s.drop_policy not in POLICIES:
            raise ConfigError(f"drop-policy must be one of {POLICIES}", key="drop-policy")
        cfg = parse_broker_config(s.config)
        cls = adapter_for(s.proto_lib)
        adapter = cls(s.conn_str, cfg, s.topic)
        adapter.validate()
        parts = s.conn_str.split(";") if s.conn_str else []
        self._topic = s.topic or (parts[2] if cls.name == "kafka" and len(parts) > 2 else "") or cfg.get("topic", "")
        if not self._topic:
            raise ConfigError(f"{self.get_name()}: no topic (set topic, or put it in conn-str/config)", key="topic")
        self.sender = ReliableSender(adapter, s.queue_size, s.drop_policy,
                                     on_error=lambda exc: self.post_error(exc, "message sender"))
        return True

    def do_render(self, buf):
        batch = batchmeta.get(buf)
        if batch is None or self.sender is None:
            return Gst.FlowReturn.OK
        cid = self.settings.comp_id
        for f in batch.frames:
            for um in f.user_meta:
                if um.meta_type != NvDsMetaType.NVDS_PAYLOAD_META:
                    continue
                p = um.user_meta_data
                if cid and p.componentId != cid:
                    continue
                self.sender.put(bytes(p.payload), self._topic)
        self._post_stats()
        return Gst.FlowReturn.OK

    def _post_stats(self):
        st = self.sender.stats
        self._renders = getattr(self, "_renders", 0) + 1
        if self._renders % 100 == 0:
            self.post_element_message("msgbroker-stats", sent=st.sent, queued=st.queued, retried=st.retried,
                                      dropped=st.dropped)

    def _finish(self):
        """Deliver what is queued within flush-timeout, then stop the sender and report."""
        if self.sender is None:
            return
        st = self.sender.close(self.settings.flush_timeout)
        self.sender = None
        self.post_element_message("msgbroker-stats", sent=st.sent, queued=st.queued, retried=st.retried,
                                  dropped=st.dropped)
        log.info("%s: sent %d, retried %d, dropped %d", self.get_name(), st.sent, st.retried, st.dropped)

    def do_event(self, event):
        if event.type == Gst.EventType.EOS:
            self._finish()
        return GstBase.BaseSink.do_event(self, event)

    def do_stop(self):
        self._finish()
        return True
