"""Broker adapters behind one seam: ``connect()``, ``send(payload, topic, key)`` (raises
:class:`~estuary.errors.BrokerError` when the broker did not take the message), ``close()``.

| DeepStream proto-lib | adapter | client |
|---|---|---|
| libnvds_kafka_proto.so | kafka | confluent-kafka |
| libnvds_mqtt_proto.so | mqtt | paho-mqtt |
| libnvds_amqp_proto.so | amqp | pika |
| libnvds_redis_proto.so | redis | redis-py (streams) |
| (tests) | memory | in-process list |
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import threading

from estuary.credentials import expand, resolve_config
from estuary.errors import BrokerError, BrokerRefusedError, ConfigError
from estuary.redact import redact

__all__ = ["Adapter", "MemoryAdapter", "MqttAdapter", "RedisAdapter", "AmqpAdapter", "KafkaAdapter",
           "adapter_for", "parse_broker_config", "tls_context", "ADAPTERS"]

log = logging.getLogger("estuary.messaging")


def parse_broker_config(path: str | None) -> dict:
    """The ``[message-broker]`` group of an adaptor config file, with ``${NAME}`` taken from the
    environment and ``password-file``-style keys read (see :mod:`estuary.credentials`)."""
    if not path:
        return {}
    from estuary.infer.keyfile import parse_keyfile
    kf = parse_keyfile(path)
    if "message-broker" not in kf.groups:
        raise ConfigError("no [message-broker] group (the adaptors find their settings by it)", path=path)
    return resolve_config({k: e.value for k, e in kf.groups["message-broker"].items()}, path)


_TRUE = ("1", "true", "yes", "on")


def _flag(cfg: dict, key: str) -> bool:
    return str(cfg.get(key, "")).strip().lower() in _TRUE


def tls_context(cfg: dict, broker: str) -> ssl.SSLContext | None:
    """The TLS context of a broker config (``enable-tls=1``), or None for plain TCP.

    The broker's certificate is verified against ``tls-cafile``/``tls-capath`` (the system's CAs
    when neither is set) and its host name checked; ``tls-certfile``/``tls-keyfile`` add a client
    certificate. Only ``tls-insecure=1`` turns verification off (and says so in the log)."""
    if not _flag(cfg, "enable-tls"):
        return None
    try:
        ctx = ssl.create_default_context(cafile=cfg.get("tls-cafile") or None, capath=cfg.get("tls-capath") or None)
        if cfg.get("tls-certfile"):
            ctx.load_cert_chain(cfg["tls-certfile"], cfg.get("tls-keyfile") or None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{broker}: cannot load the TLS files: {exc}",
                          key="tls-cafile/tls-certfile/tls-keyfile",
                          hint="PEM files readable by this user") from None
    if _flag(cfg, "tls-insecure"):
        log.warning("%s: tls-insecure is set: the broker's certificate is NOT verified", broker)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _tls_failure(exc: BaseException, broker: str) -> BrokerError | None:
    """A clear BrokerError for a TLS failure anywhere in ``exc``'s chain (clients wrap them)."""
    seen = exc
    while seen is not None:
        text = str(seen)
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in text:
            why = getattr(seen, "verify_message", None) or "certificate verify failed"
            return BrokerRefusedError(redact(f"{broker}: the broker's TLS certificate is not trusted ({why}); "
                                      "give its CA in tls-cafile (tls-insecure=1 skips the check: not recommended)"))
        if isinstance(seen, ssl.SSLError) or "SSL" in text and "handshake" in text.lower():
            return BrokerError(redact(f"{broker}: TLS handshake failed ({text}); is the port a TLS port?"))
        seen = seen.__cause__ or seen.__context__
    return None


class Adapter:
    name = "base"
    default_port = 0  # 0: the adapter takes no host/port

    def __init__(self, conn_str: str = "", cfg: dict | None = None, topic: str = ""):
        # conn-str may take ${NAME} from the environment; messages show it through redact()
        self.conn_str, self.cfg, self.topic = expand(conn_str or "", "conn-str"), dict(cfg or {}), topic

    def _hostport(self, default_port: int):
        parts = [p for p in self.conn_str.split(";")] if self.conn_str else []
        host = parts[0] if parts and parts[0] else self.cfg.get("hostname", "localhost")
        try:
            port = int(parts[1]) if len(parts) > 1 and parts[1] else int(self.cfg.get("port", default_port))
        except ValueError:
            raise ConfigError(f"bad port in conn-str {redact(self.conn_str)!r}", key="conn-str",
                              hint="use host;port[;topic]") from None
        if not 0 < port < 65536:
            raise ConfigError(f"port {port} out of range (1..65535) in conn-str {self.conn_str!r}",
                              key="conn-str", hint="use host;port[;topic]")
        return host, port, parts[2:] if len(parts) > 2 else []

    def validate(self) -> None:
        """Raise :class:`ConfigError` for settings that no retry can mend (called at start)."""
        if self.default_port:
            self._hostport(self.default_port)
        tls_context(self.cfg, f"{self.name} broker")  # unreadable CA/cert files: no retry mends them

    def connect(self) -> None:
        pass

    def send(self, payload: bytes, topic: str, key: str | None = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class MemoryAdapter(Adapter):
    """Keeps messages in a list; ``fail`` makes sends raise (to simulate an outage)."""

    name = "memory"
    broker: dict = {}

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.messages = MemoryAdapter.broker.setdefault(self.conn_str or "default", [])
        self.fail = False

    def send(self, payload, topic, key=None):
        if self.fail:
            raise BrokerError("memory broker is down")
        self.messages.append((topic, key, bytes(payload)))


class MqttAdapter(Adapter):
    """MQTT 3.1.1 (paho): ``username``/``password`` (or ``password-file``), TLS with
    ``enable-tls``/``tls-cafile``/``tls-certfile``/``tls-keyfile``; ``connect()`` returns once the
    broker accepted the login (a refusal is a BrokerError naming the broker)."""

    name = "mqtt"
    default_port = 1883

    def connect(self):
        import paho.mqtt.client as mqtt
        host, port, _ = self._hostport(1883)
        user = self.cfg.get("username")
        where = f"MQTT broker {host}:{port}" + (f" (user {user})" if user else "")
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.cfg.get("client-id", ""))
        if user:
            c.username_pw_set(user, self.cfg.get("password"))
        ctx = tls_context(self.cfg, where)
        if ctx is not None:
            c.tls_set_context(ctx)
        answered, result = threading.Event(), []

        def on_connect(client, userdata, flags, reason_code, properties):
            result.append(reason_code)
            answered.set()

        c.on_connect = on_connect
        try:
            c.connect(host, port, keepalive=int(self.cfg.get("keep-alive", 60)))
        except OSError as exc:
            raise _tls_failure(exc, where) or BrokerError(redact(f"{where} unreachable: {exc}")) from None
        c.loop_start()
        # the CONNACK says whether the login was accepted: wait for it rather than publish into
        # a connection the broker is about to close
        if not answered.wait(float(self.cfg.get("connect-timeout", 10))) or result[0].is_failure:
            c.loop_stop()
            c.disconnect()
            why = str(result[0]) if result else "no answer to CONNECT"
            hint = "check username and password" if result else "is it an MQTT port?"
            cls = BrokerRefusedError if result else BrokerError  # an answer is a refusal, silence is not
            raise cls(redact(f"{where} refused the connection: {why} ({hint})"))
        self.client = c

    def send(self, payload, topic, key=None):
        try:
            info = self.client.publish(topic, payload, qos=1)
            info.wait_for_publish(timeout=5)
        except Exception as exc:  # noqa: BLE001 - paho raises RuntimeError/ValueError
            raise BrokerError(redact(f"MQTT publish failed: {exc}")) from None
        if not info.is_published():
            raise BrokerError(redact(f"MQTT publish not acknowledged (rc={info.rc})"))

    def close(self):
        c = getattr(self, "client", None)
        if c is not None:
            c.loop_stop()
            c.disconnect()


class RedisAdapter(Adapter):
    """Redis Streams: ``XADD <topic> * <payloadkey> <payload>`` (capped at ``streamsize``).
    ``password`` (and ``username`` for an ACL user) log in with AUTH; ``enable-tls`` and the
    ``tls-*`` keys as for MQTT."""

    name = "redis"
    default_port = 6379

    def connect(self):
        import redis
        host, port, _ = self._hostport(6379)
        user = self.cfg.get("username") or None
        where = f"Redis {host}:{port}" + (f" (user {user})" if user else "")
        tls = tls_context(self.cfg, where) is not None  # validates the files and the flags
        kw = {}
        if tls:
            insecure = _flag(self.cfg, "tls-insecure")
            kw = {"ssl": True, "ssl_ca_certs": self.cfg.get("tls-cafile") or None,
                  "ssl_ca_path": self.cfg.get("tls-capath") or None,
                  "ssl_certfile": self.cfg.get("tls-certfile") or None,
                  "ssl_keyfile": self.cfg.get("tls-keyfile") or None,
                  "ssl_cert_reqs": "none" if insecure else "required", "ssl_check_hostname": not insecure}
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        # no retries inside the client: the reliable sender retries with its own backoff, and a
        # refused login or certificate must surface at once
        self.client = redis.Redis(host=host, port=port, username=user, password=self.cfg.get("password"),
                                  socket_timeout=5, socket_connect_timeout=5, retry=Retry(NoBackoff(), 0), **kw)
        self.field = self.cfg.get("payloadkey", "metadata")
        self.maxlen = int(self.cfg.get("streamsize", 10000))
        try:
            self.client.ping()
        except redis.AuthenticationError as exc:
            raise BrokerRefusedError(redact(f"{where} refused the login: {exc} (check username and password)")) from None
        except redis.ResponseError as exc:
            if "NOAUTH" in str(exc):
                raise BrokerRefusedError(redact(f"{where} needs a password: {exc} (set password)")) from None
            raise BrokerError(redact(f"{where}: {exc}")) from None
        except Exception as exc:  # noqa: BLE001
            raise _tls_failure(exc, where) or BrokerError(redact(f"{where} unreachable: {exc}")) from None

    def send(self, payload, topic, key=None):
        try:
            self.client.xadd(topic, {self.field: payload}, maxlen=self.maxlen, approximate=True)
        except Exception as exc:  # noqa: BLE001
            raise BrokerError(redact(f"Redis XADD failed: {exc}")) from None

    def close(self):
        c = getattr(self, "client", None)
        if c is not None:
            c.close()


class AmqpAdapter(Adapter):
    """AMQP 0-9-1: publish to ``exchange`` (amq.topic) with the topic as routing key, confirmed."""

    name = "amqp"
    default_port = 5672

    def connect(self):
        import pika
        host, port, rest = self._hostport(5672)
        user = rest[0] if rest else self.cfg.get("username", "guest")
        where = f"AMQP broker {host}:{port} (user {user})"
        creds = pika.PlainCredentials(user, self.cfg.get("password", "guest"))
        ctx = tls_context(self.cfg, where)
        params = pika.ConnectionParameters(host=host, port=port, credentials=creds,
                                           heartbeat=int(self.cfg.get("amqp-heartbeat", 30)),
                                           blocked_connection_timeout=10, connection_attempts=1,
                                           socket_timeout=5,
                                           ssl_options=pika.SSLOptions(ctx, host) if ctx is not None else None)
        try:
            self.conn = pika.BlockingConnection(params)
            self.channel = self.conn.channel()
            self.channel.confirm_delivery()
        except pika.exceptions.ProbableAuthenticationError as exc:
            raise BrokerRefusedError(redact(f"{where} refused the login: {exc} (check username and password)")) from None
        except Exception as exc:  # noqa: BLE001
            raise _tls_failure(exc, where) or BrokerError(redact(f"{where} unreachable: {exc!r}")) from None
        self.exchange = self.cfg.get("exchange", "amq.topic")

    def send(self, payload, topic, key=None):
        import pika
        try:
            self.channel.basic_publish(self.exchange, self.cfg.get("topic", topic) if not topic else topic,
                                       payload, properties=pika.BasicProperties(delivery_mode=2),
                                       mandatory=False)
        except Exception as exc:  # noqa: BLE001
            raise BrokerError(redact(f"AMQP publish failed: {exc}")) from None

    def close(self):
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001
            pass


class KafkaAdapter(Adapter):
    """Kafka with delivery reports: a send returns once the broker acknowledged it.

    TLS and SASL are librdkafka settings in ``proto-cfg`` (``security.protocol=SASL_SSL;
    sasl.mechanisms=SCRAM-SHA-256;ssl.ca.location=...``); ``username`` and ``password`` (or
    ``password-file``) in the config become ``sasl.username``/``sasl.password``. librdkafka
    verifies the broker's certificate and host name by default."""

    name = "kafka"
    default_port = 9092

    def connect(self):
        from confluent_kafka import Producer
        host, port, rest = self._hostport(9092)
        if rest and rest[0]:
            self.topic = self.topic or rest[0]
        conf = {"bootstrap.servers": f"{host}:{port}", "acks": "all", "message.timeout.ms": 10000,
                "socket.timeout.ms": 5000, "enable.idempotence": True}
        for item in self.cfg.get("proto-cfg", "").strip('"').split(";"):
            if "=" in item:
                k, v = item.split("=", 1)
                conf[k.strip()] = v.strip()
        for key, value in self.cfg.items():  # librdkafka keys in the config (sasl.password-file read)
            if key.startswith(("sasl.", "ssl.", "security.")) and not key.endswith("-file"):
                conf.setdefault(key, value)
        for key, rd in (("username", "sasl.username"), ("password", "sasl.password")):
            if self.cfg.get(key) and rd not in conf:
                conf[rd] = self.cfg[key]
        self.where = f"Kafka {host}:{port}" + (f" (user {conf['sasl.username']})" if conf.get("sasl.username") else "")
        # the broker-side cause (SASL refused, TLS handshake failed) only reaches error_cb; a
        # failed delivery quotes the last one
        self._last_error = None
        conf["error_cb"] = lambda e: setattr(self, "_last_error", e)
        self.partition_key = self.cfg.get("partition-key")
        self.producer = Producer(conf)

    def send(self, payload, topic, key=None):
        err = []
        if key is None and self.partition_key:
            key = _json_path(payload, self.partition_key)
        done = threading.Event()

        def report(e, msg):
            if e is not None:
                err.append(e)
            done.set()

        try:
            self.producer.produce(topic, payload, key=key, on_delivery=report)
            while not done.is_set():
                if self.producer.poll(1.0) == 0 and self.producer.flush(0) == 0 and not done.is_set():
                    pass
        except Exception as exc:  # noqa: BLE001
            raise BrokerError(redact(f"{self.where}: produce failed: {exc}")) from None
        if err:
            cause = f" (last broker error: {self._last_error.str()})" if self._last_error is not None else ""
            raise BrokerError(redact(f"{self.where}: delivery failed: {err[0].str()}{cause}"))

    def close(self):
        p = getattr(self, "producer", None)
        if p is not None:
            p.flush(5)


def _json_path(payload: bytes, path: str):
    try:
        v = json.loads(payload)
        for part in path.split("."):
            v = v[part]
        return str(v)
    except Exception:  # noqa: BLE001
        return None


ADAPTERS = {"kafka": KafkaAdapter, "mqtt": MqttAdapter, "amqp": AmqpAdapter, "redis": RedisAdapter,
            "memory": MemoryAdapter}


def adapter_for(proto_lib: str) -> type[Adapter]:
    """The adapter for a DeepStream ``proto-lib`` value (a library path) or an adapter name."""
    name = os.path.basename(proto_lib or "").lower()
    for key, cls in ADAPTERS.items():
        if key == name or f"_{key}_" in name or name.startswith(f"libnvds_{key}"):
            return cls
    raise ConfigError(f"unknown proto-lib {proto_lib!r}", key="proto-lib",
                      hint="use libnvds_kafka_proto.so, libnvds_mqtt_proto.so, libnvds_amqp_proto.so, "
                           "libnvds_redis_proto.so (or kafka/mqtt/amqp/redis)")
