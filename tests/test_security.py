"""Security: one redaction function for everything shown (URIs, connection strings, configs, free
text); secrets from the environment and files; end-to-end checks that a secret never leaks (a
pipeline with cameras, a broker and metrics; the fleet); brokers with TLS and logins against real
mosquitto, redis-server and RabbitMQ with a CA made by the test; the RTSP output's login and TLS;
model files that run no code."""

from __future__ import annotations

import io
import logging
import os
import re
import threading

import pytest

from estuary.credentials import expand, expand_uri, read_secret_file, resolve_config
from estuary.errors import ConfigError
from estuary.redact import RedactingFilter, RedactingStream, is_secret_key, redact, register_secret, uri_password

@pytest.fixture(autouse=True)
def _no_registered_secrets():
    """Each test starts with no registered secret (other tests' configs register theirs)."""
    import estuary.redact
    estuary.redact._secrets.clear()
    yield


# ---------------------------------------------------------------------------------------------
# redact(): one table, each row (what is shown, what it must become)
# ---------------------------------------------------------------------------------------------
REDACT_CASES = [
    # URIs: the user is kept, the password removed, the rest untouched
    ("rtsp://admin:s3cret@10.0.0.7:554/stream1", "rtsp://admin:***@10.0.0.7:554/stream1"),
    ("rtsps://admin:s3cret@cam.local/live", "rtsps://admin:***@cam.local/live"),
    ("http://u:p@example.com/x", "http://u:***@example.com/x"),
    ("redis://:hunter22@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("amqps://guest:guest@127.0.0.1:5671/%2F", "amqps://guest:***@127.0.0.1:5671/%2F"),
    ("mqtts://user:pa%40ss@broker:8883", "mqtts://user:***@broker:8883"),
    # an unencoded '@' in the password (cameras are configured that way)
    ("rtsp://admin:p@ss@w0rd@10.0.0.7/cam", "rtsp://admin:***@10.0.0.7/cam"),
    # no password: nothing to hide
    ("rtsp://admin@10.0.0.7/cam", "rtsp://admin@10.0.0.7/cam"),
    ("rtsp://10.0.0.7:554/cam", "rtsp://10.0.0.7:554/cam"),
    ("file:///data/video.mp4", "file:///data/video.mp4"),
    # query-string secrets
    ("https://api.example.com/v1?api_key=KEY123&x=1", "https://api.example.com/v1?api_key=***&x=1"),
    ("rtsp://10.0.0.7/cam?token=abc.def&channel=1", "rtsp://10.0.0.7/cam?token=***&channel=1"),
    ("http://h/s?user=bob&password=pw1&access_token=t0k", "http://h/s?user=bob&password=***&access_token=***"),
    # DeepStream conn-str and librdkafka proto-cfg forms
    ("127.0.0.1;9092;sasl.username=bob;sasl.password=hunter22",
     "127.0.0.1;9092;sasl.username=bob;sasl.password=***"),
    ("admin:s3cret@127.0.0.1;5672;admin", "admin:***@127.0.0.1;5672;admin"),
    ('"security.protocol=SASL_SSL;sasl.mechanisms=PLAIN;sasl.password=x1y2z3"',
     '"security.protocol=SASL_SSL;sasl.mechanisms=PLAIN;sasl.password=***"'),
    ("sasl.jaas.config=org.Plain required username=\"u\" password=\"p w\";",
     "sasl.jaas.config=org.Plain required username=\"u\" password=\"***\";"),
    # config dumps: keyfile lines, dict reprs, JSON
    ("password=abc\nusername=bob", "password=***\nusername=bob"),
    ("{'hostname': 'h', 'password': 'two words'}", "{'hostname': 'h', 'password': '***'}"),
    ('{"uri": "rtsp://a:b@h/c", "secret": "xyz"}', '{"uri": "rtsp://a:***@h/c", "secret": "***"}'),
    ("requirepass=foobar masterauth=bar2", "requirepass=*** masterauth=***"),
    ("x-api-key: abcd", "x-api-key: ***"),
    # headers
    ("Authorization: Basic YWRtaW46czNjcmV0", "Authorization: Basic ***"),
    ("authorization=Bearer eyJhbGciOi.x.y", "authorization=Bearer ***"),
    # free text holding URIs
    ("ERROR from estuaryurisrcbin0: source 0 (rtsp://admin:s3cret@127.0.0.1:9/cam) gave up after 1",
     "ERROR from estuaryurisrcbin0: source 0 (rtsp://admin:***@127.0.0.1:9/cam) gave up after 1"),
    ("source 0 (rtsp://cam:p@ss@host/live?token=abc) gave up", "source 0 (rtsp://cam:***@host/live?token=***) gave up"),
    ("two: rtsp://a:x1@h1/a and rtsp://b:y2@h2/b.", "two: rtsp://a:***@h1/a and rtsp://b:***@h2/b."),
    # keys that name no secret, and text that only looks like one, are left alone
    ("password-file=/run/secrets/mqtt", "password-file=/run/secrets/mqtt"),
    ("sasl.password-file=/run/secrets/kafka", "sasl.password-file=/run/secrets/kafka"),
    ("partition-key=sensor.id tls-keyfile=/etc/k.pem", "partition-key=sensor.id tls-keyfile=/etc/k.pem"),
    ("auth-method=basic sasl.mechanisms=SCRAM-SHA-256", "auth-method=basic sasl.mechanisms=SCRAM-SHA-256"),
    ("bypass=1 passthrough=true", "bypass=1 passthrough=true"),
    ("at 10:30 the muxer pushed 3 batches", "at 10:30 the muxer pushed 3 batches"),
    ("127.0.0.1;1883", "127.0.0.1;1883"),
    ("user@example.com wrote", "user@example.com wrote"),
    ("", ""),
]


@pytest.mark.parametrize("shown, expected", REDACT_CASES)
def test_redact(shown, expected):
    assert redact(shown) == expected
    assert redact(expected) == expected  # idempotent: redacting twice changes nothing


def test_redact_takes_none_and_non_strings():
    assert redact(None) == ""
    assert redact(ValueError("rtsp://a:zz9@h/c")) == "rtsp://a:***@h/c"
    assert redact(7) == "7"


def test_registered_secrets_are_masked_anywhere_even_encoded():
    register_secret("Z9-unique-secret/+")
    assert redact("librdkafka said: bad password Z9-unique-secret/+ for bob") == \
        "librdkafka said: bad password *** for bob"
    assert redact("rtsp://h/c?x=Z9-unique-secret%2F%2B") == "rtsp://h/c?x=***"
    register_secret("ab")  # too short to mask safely: ignored, the positional rules remain
    assert redact("a tab b") == "a tab b"


@pytest.mark.parametrize("key, secret", [
    ("password", True), ("sasl.password", True), ("requirepass", True), ("access_token", True),
    ("x-api-key", True), ("client_secret", True), ("pwd", True), ("masterauth", True),
    ("password-file", False), ("username", False), ("partition-key", False), ("tls-keyfile", False),
    ("bypass", False), ("auth-method", False), ("hostname", False), ("payloadkey", False),
])
def test_is_secret_key(key, secret):
    assert is_secret_key(key) is secret


def test_uri_password():
    assert uri_password("rtsp://admin:p%40ss@h/c") == "p@ss"
    assert uri_password("rtsp://admin@h/c") is None
    assert uri_password("") is None


def test_log_filter_redacts_messages_arguments_and_tracebacks():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    h = Keep()
    h.addFilter(RedactingFilter())
    log = logging.getLogger("estuary.test-redaction")
    log.addHandler(h)
    log.propagate = False
    try:
        log.warning("camera %s down", "rtsp://admin:hunter77@10.1.1.1/cam")
        try:
            raise ConnectionError("cannot reach amqp://guest:hunter77@127.0.0.1")
        except ConnectionError:
            log.exception("broker lost")
    finally:
        log.removeHandler(h)
    text = "\n".join(records)
    assert "hunter77" not in text
    assert "rtsp://admin:***@10.1.1.1/cam" in text
    assert "amqp://guest:***@127.0.0.1" in text and "Traceback" in text


def test_redacting_stream_keeps_each_threads_lines_whole():
    """print() writes each argument separately; a probe's per-frame line and the main loop's
    PERF line written at once must not be spliced (test3 lost a frame line in CI that way)."""
    out = io.StringIO()
    stream = RedactingStream(out)
    turn = [threading.Event() for _ in range(4)]

    def probe():  # the streaming thread: one line in pieces, the other thread writes between
        stream.write("Frame Number=")
        stream.write(" ")
        turn[0].set()
        turn[1].wait(5)
        stream.write("rtsp://admin:hunter77@10.1.1.1/cam")
        stream.write("\n")
        turn[2].set()
        turn[3].wait(5)
        stream.write("ended mid-line ")  # a thread that ends without its newline

    t = threading.Thread(target=probe)
    t.start()
    turn[0].wait(5)
    print("\n**PERF: ", {"stream0": 30.0}, "\n", file=stream)  # the main loop, meanwhile
    turn[1].set()
    turn[2].wait(5)
    stream.write("partial")
    stream.flush()  # the caller's partial line only: the other thread's is mid-line
    assert out.getvalue().endswith("partial")
    turn[3].set()
    t.join(5)
    stream.drain()
    assert out.getvalue().splitlines() == [
        "", "**PERF:  {'stream0': 30.0} ", "",
        "Frame Number= rtsp://admin:***@10.1.1.1/cam",
        "partialended mid-line "]


# ---------------------------------------------------------------------------------------------
# secrets from the environment and files
# ---------------------------------------------------------------------------------------------
def test_expand_takes_variables_from_the_environment(monkeypatch):
    monkeypatch.setenv("ESTUARY_T_PW", "env-secret-1")
    monkeypatch.setenv("ESTUARY_T_HOST", "10.2.3.4")
    uri = "rtsp://admin:${ESTUARY_T_PW}@${ESTUARY_T_HOST}/cam"
    real = expand_uri(uri)
    assert real == "rtsp://admin:env-secret-1@10.2.3.4/cam"
    # what is shown keeps the reference, and the value is masked wherever it turns up
    assert redact(uri) == uri  # references are not secrets
    assert redact("password=${ESTUARY_T_PW};token='${X}'") == "password=${ESTUARY_T_PW};token='${X}'"
    assert redact("client said env-secret-1") == "client said ***"
    assert redact("host 10.2.3.4") == "host 10.2.3.4"  # only the password is a secret
    assert expand("no reference $HOME {x}") == "no reference $HOME {x}"


def test_an_unset_variable_is_named_and_nothing_else(monkeypatch):
    monkeypatch.delenv("ESTUARY_T_MISSING", raising=False)
    with pytest.raises(ConfigError, match=r"ESTUARY_T_MISSING is not set \(referenced by cam1 uri\)") as ei:
        expand("rtsp://a:${ESTUARY_T_MISSING}@h/c", "cam1 uri")
    assert isinstance(ei.value, ValueError)


def test_secret_files(tmp_path, caplog):
    f = tmp_path / "pw"
    f.write_text("file-secret-42\nsecond line ignored\n")
    f.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="estuary.credentials"):
        assert read_secret_file(str(f)) == "file-secret-42"
    assert not caplog.records
    assert redact("echo file-secret-42") == "echo ***"
    f.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="estuary.credentials"):
        read_secret_file(str(f))
    assert "readable by other users (mode 644)" in caplog.text
    with pytest.raises(ConfigError, match="cannot read a secret from .*nope"):
        read_secret_file(str(tmp_path / "nope"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        read_secret_file(str(tmp_path / "empty"))


def test_broker_config_resolves_env_and_password_files(tmp_path, monkeypatch):
    from estuary.messaging.adapters import parse_broker_config
    monkeypatch.setenv("ESTUARY_T_KAFKA_PW", "kafka-env-pw-9")
    pw = tmp_path / "mqtt.pw"
    pw.write_text("mqtt-file-pw-8\n")
    pw.chmod(0o600)
    cfg = tmp_path / "cfg.txt"
    cfg.write_text("[message-broker]\nusername=bob\npassword-file=" + str(pw) + "\n"
                   'proto-cfg="security.protocol=SASL_PLAINTEXT;sasl.password=${ESTUARY_T_KAFKA_PW}"\n')
    got = parse_broker_config(str(cfg))
    assert got["password"] == "mqtt-file-pw-8"
    assert got["username"] == "bob"
    assert "sasl.password=kafka-env-pw-9" in got["proto-cfg"]
    shown = redact(repr(got))
    assert "mqtt-file-pw-8" not in shown and "kafka-env-pw-9" not in shown
    assert str(pw) in shown  # the path is not a secret, and helps
    with pytest.raises(ConfigError, match=r"ESTUARY_T_NOPE is not set \(referenced by .*cfg2.txt \[password\]\)"):
        cfg2 = tmp_path / "cfg2.txt"
        cfg2.write_text("[message-broker]\npassword=${ESTUARY_T_NOPE}\n")
        parse_broker_config(str(cfg2))


def test_resolve_config_leaves_plain_values_alone():
    assert resolve_config({"hostname": "h", "port": "1"}) == {"hostname": "h", "port": "1"}


# ---------------------------------------------------------------------------------------------
# end to end: a secret in every URI and config, looked for in everything Estuary shows
# ---------------------------------------------------------------------------------------------
SECRET = "Xy7-leak-canary-Qz"  # a password no ordinary output could contain by chance


def _message_texts(msg) -> list[str]:
    """Everything a bus message carries as text: its source path, type, structure, and the
    message and debug strings of errors, warnings and infos."""
    from estuary.gst import Gst
    out = [msg.src.get_path_string() if msg.src is not None else "", str(msg.type)]
    st = msg.get_structure()
    if st is not None:
        out.append(st.to_string())
    for kind, parse in ((Gst.MessageType.ERROR, msg.parse_error), (Gst.MessageType.WARNING, msg.parse_warning),
                        (Gst.MessageType.INFO, msg.parse_info)):
        if msg.type == kind:
            err, debug = parse()
            out += [err.message, debug or ""]
    return out


class _Logs(logging.Handler):
    """Every log record of every logger, formatted, with no redaction filter: what the code
    itself logs, whatever logging set-up an application has."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record):
        self.lines.append(self.format(record))


def test_a_secret_in_every_uri_and_config_shows_nowhere_while_everything_connects(tmp_path, capfd):
    import threading
    import time
    import urllib.request

    import paho.mqtt.client as mqtt

    import servers
    from estuary.elements.decoder import make_source_bin
    from estuary.gst import Gst
    from estuary.runner import run
    from estuary.testing import RtspTestServer
    from test_messaging import MSGCONV, vehicle_event
    import pyds

    msgconv = tmp_path / "msgconv.txt"
    msgconv.write_text(MSGCONV)
    broker_cfg = tmp_path / "broker.txt"
    broker_cfg.write_text(f"[message-broker]\nusername=estuary\npassword={SECRET}\nclient-id=leaktest\n")
    dead = servers.free_port()
    logs = _Logs()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(logs)
    root.setLevel(logging.DEBUG)
    with RtspTestServer(servers.free_port(), path="/cam", user="admin", password=SECRET) as cam, \
            servers.mosquitto(users={"estuary": SECRET, "reader": "reader-pw"}) as broker:
        # an authorised reader counts what arrives
        got = []
        reader = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        reader.username_pw_set("reader", "reader-pw")
        reader.on_message = lambda c, u, m: got.append(m.payload)
        reader.connect("127.0.0.1", broker.port)
        reader.subscribe("estuary/events", qos=1)
        reader.loop_start()

        uris = [cam.uri,                                                  # the camera, logged in
                f"rtsp://admin:{SECRET}@127.0.0.1:{dead}/cam",            # a camera that is down
                cam.uri.replace("admin:", "intruder:")]                   # the wrong user
        assert all(SECRET in u for u in uris)
        p = Gst.Pipeline.new("leak")
        mux = Gst.ElementFactory.make("nvstreammux", "m")
        for k, v in (("batch-size", 3), ("width", 320), ("height", 240), ("live-source", True),
                     ("batched-push-timeout", 40000)):
            mux.set_property(k, v)
        tail = Gst.parse_bin_from_description(
            f"identity name=add ! nvmsgconv config={msgconv} payload-type=1 ! nvmsgbroker name=broker "
            f"proto-lib=libnvds_mqtt_proto.so conn-str=127.0.0.1;{broker.port} config={broker_cfg} "
            "topic=estuary/events", True)
        p.add(mux)
        p.add(tail)
        mux.link(tail)
        for i, uri in enumerate(uris):
            b = make_source_bin(i, uri, reconnect_interval=1 if i == 1 else 0, reconnect_attempts=1)
            p.add(b)
            b.get_static_pad("src").link(mux.request_pad_simple(f"sink_{i}"))

        def add_event(pad, info):
            bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
            for f in bm.frames:
                um = pyds.nvds_acquire_user_meta_from_pool(bm)
                um.user_meta_data = vehicle_event(frame=f.frame_num)
                um.base_meta.meta_type = pyds.NvDsMetaType.NVDS_EVENT_MSG_META
                pyds.nvds_add_user_meta_to_frame(f, um)
            return Gst.PadProbeReturn.OK

        p.get_by_name("add").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, add_event)
        metrics_port = servers.free_port()
        scrapes: list[str] = []

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
                return r.read().decode()

        def finish():
            # end once the camera ran, both bad sources were dropped and events arrived
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                time.sleep(0.5)
                try:
                    text = scrape()
                except OSError:
                    continue
                scrapes.append(text)
                frames = re.search(r'estuary_frames_total\{source="0"\} (\d+)', text)
                dropped = p.get_by_name("source-bin-01") is None and p.get_by_name("source-bin-02") is None
                if frames and int(frames.group(1)) >= 60 and dropped and len(got) >= 20:
                    break
            # the end of the stream, given downstream of the muxer: a pipeline-wide EOS goes to
            # rtspsrc, which does not pass it on (a live camera has no end)
            p.get_by_name("add").get_static_pad("sink").send_event(Gst.Event.new_eos())

        bus_texts: list[str] = []
        threading.Thread(target=finish, daemon=True).start()
        try:
            rc = run(p, on_message=lambda m: bus_texts.extend(_message_texts(m)),
                     continue_on_source_error=True, metrics_port=metrics_port)
        finally:
            root.removeHandler(logs)
            root.setLevel(old_level)
        time.sleep(0.5)
        reader.loop_stop()
        reader.disconnect()
    out, err = capfd.readouterr()

    # it all connected: the camera with its password, the broker with its password
    assert rc == 0, err
    assert scrapes and re.search(r'estuary_frames_total\{source="0"\} ([6-9]\d|\d{3,})', scrapes[-1]), scrapes[-1:]
    stats = [t for t in bus_texts if t.startswith("msgbroker-stats")]
    sent = int(re.search(r"sent=\(int\)(\d+)", stats[-1]).group(1))
    assert sent >= 20 and len(got) == sent, (sent, len(got))
    # the failing sources were named, with their passwords masked
    assert f"rtsp://admin:***@127.0.0.1:{dead}/cam" in err + "".join(bus_texts)
    assert "source 2 (source-bin-02) failed" in err and "source 1 (source-bin-01) failed" in err
    # ... and the secret is nowhere
    everything = {"stdout": out, "stderr": err, "logs": "\n".join(logs.lines), "bus": "\n".join(bus_texts),
                  "metrics": "\n".join(scrapes), "events": b"\n".join(got).decode(errors="replace")}
    leaks = {where: text[max(0, text.find(SECRET) - 80): text.find(SECRET) + 40]
             for where, text in everything.items() if SECRET in text}
    assert not leaks, leaks
    assert len(bus_texts) > 50 and logs.lines  # there was output to look through


# ---------------------------------------------------------------------------------------------
# brokers with TLS and a login, against real servers configured by the test
# ---------------------------------------------------------------------------------------------
BROKER_PW = "brk-Pw-77-canary"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    import servers
    d = str(tmp_path_factory.mktemp("certs"))
    return servers.make_certs(d, "good"), servers.make_certs(d, "rogue")


def _broker_server(kind, certs_, password=BROKER_PW):
    import servers
    good, _ = certs_
    if kind == "mqtt":
        return servers.mosquitto(users={"estuary": password}, tls=good)
    return servers.redis_server(password=password, tls=good)


def _cfg_text(kind, ca, pw_file, extra=""):
    user = "username=estuary\n" if kind == "mqtt" else ""
    return (f"[message-broker]\n{user}password-file={pw_file}\nenable-tls=1\ntls-cafile={ca}\n"
            f"payloadkey=metadata\n{extra}")


def _adapter(kind, port, cfg_path, topic="estuary/events"):
    from estuary.messaging.adapters import adapter_for, parse_broker_config
    return adapter_for(kind)(f"127.0.0.1;{port}", parse_broker_config(str(cfg_path)), topic)


def _pw_file(tmp_path, pw):
    f = tmp_path / f"pw-{abs(hash(pw))}"
    f.write_text(pw + "\n")
    f.chmod(0o600)
    return f


def _redis_stream(port, ca):
    """The payloads of the estuary-events stream, read by a client that logs in over TLS."""
    import redis
    r = redis.Redis(port=port, password=BROKER_PW, ssl=True, ssl_ca_certs=ca)
    return [f[b"metadata"] for _, f in r.xrange("estuary-events")]


@pytest.mark.parametrize("kind", ["mqtt", "redis"])
def test_tls_and_login_deliver_every_event(kind, certs, tmp_path):
    import json
    import threading
    import time

    from conftest import run_pipeline
    from estuary.gst import Gst
    from test_messaging import MSGCONV, event_pipeline
    good, _ = certs
    msgconv = tmp_path / "msgconv.txt"
    msgconv.write_text(MSGCONV)
    cfg = tmp_path / "broker.txt"
    cfg.write_text(_cfg_text(kind, good.ca, _pw_file(tmp_path, BROKER_PW)))
    topic = "estuary/events" if kind == "mqtt" else "estuary-events"
    with _broker_server(kind, certs) as srv:
        got = []
        if kind == "mqtt":
            import paho.mqtt.client as mqtt
            ready = threading.Event()
            reader = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
            reader.username_pw_set("estuary", BROKER_PW)
            reader.tls_set(ca_certs=good.ca)
            reader.on_message = lambda c, u, m: got.append(m.payload)
            reader.on_subscribe = lambda *a: ready.set()
            reader.connect("127.0.0.1", srv.port)
            reader.subscribe(topic, qos=1)
            reader.loop_start()
            assert ready.wait(10)
        p = event_pipeline(str(msgconv), f"proto-lib={kind} conn-str=127.0.0.1;{srv.port} config={cfg} "
                                         f"topic={topic}", payload_type=1)
        assert run_pipeline(p).type == Gst.MessageType.EOS
        if kind == "mqtt":
            end = time.time() + 10
            while len(got) < 40 and time.time() < end:
                time.sleep(0.05)
            reader.loop_stop()
        else:
            got = _redis_stream(srv.port, good.ca)
    assert sorted(json.loads(g)["id"] for g in got) == list(range(40))


@pytest.mark.parametrize("kind", ["mqtt", "redis"])
def test_a_wrong_password_is_a_clear_error_naming_the_broker(kind, certs, tmp_path):
    from estuary.errors import BrokerError
    good, _ = certs
    wrong = "wrong-Pw-55-canary"
    cfg = tmp_path / "broker.txt"
    cfg.write_text(_cfg_text(kind, good.ca, _pw_file(tmp_path, wrong)))
    with _broker_server(kind, certs) as srv:
        a = _adapter(kind, srv.port, cfg)
        with pytest.raises(BrokerError) as ei:
            a.connect()
    text = str(ei.value)
    name = {"mqtt": "MQTT broker", "redis": "Redis"}[kind]
    assert text.startswith(f"{name} 127.0.0.1:{srv.port}"), text
    assert "refused" in text and "password" in text, text
    assert wrong not in text and BROKER_PW not in text


@pytest.mark.parametrize("kind", ["mqtt", "redis"])
def test_a_wrong_password_stops_the_pipeline_with_an_error_naming_the_broker(kind, certs, tmp_path):
    """A login the broker refuses from the start is a setting, not an outage: the pipeline gets
    a bus ERROR naming the broker (not the secret) instead of retrying for ever in a log."""
    from conftest import run_pipeline
    from estuary.gst import Gst
    from test_messaging import MSGCONV, event_pipeline
    good, _ = certs
    wrong = "wrong-Pw-55-canary"
    msgconv = tmp_path / "msgconv.txt"
    msgconv.write_text(MSGCONV)
    cfg = tmp_path / "broker.txt"
    cfg.write_text(_cfg_text(kind, good.ca, _pw_file(tmp_path, wrong)))
    with _broker_server(kind, certs) as srv:
        p = event_pipeline(str(msgconv), f"proto-lib={kind} conn-str=127.0.0.1;{srv.port} config={cfg} "
                                         "topic=estuary-events", payload_type=1)
        msg = run_pipeline(p)
    assert msg.type == Gst.MessageType.ERROR
    text = msg.parse_error()[0].message
    assert f"127.0.0.1:{srv.port}" in text and "refused" in text, text
    assert wrong not in text and BROKER_PW not in text


@pytest.mark.parametrize("kind", ["mqtt", "redis"])
def test_an_untrusted_certificate_is_refused_by_default(kind, certs, tmp_path):
    from estuary.errors import BrokerError
    _, rogue = certs
    cfg = tmp_path / "broker.txt"
    cfg.write_text(_cfg_text(kind, rogue.ca, _pw_file(tmp_path, BROKER_PW)))  # trusts another CA
    with _broker_server(kind, certs) as srv:
        with pytest.raises(BrokerError, match="TLS certificate is not trusted") as ei:
            _adapter(kind, srv.port, cfg).connect()
        assert f"127.0.0.1:{srv.port}" in str(ei.value) and BROKER_PW not in str(ei.value)
        # turning verification off is explicit, and then it connects
        cfg.write_text(_cfg_text(kind, rogue.ca, _pw_file(tmp_path, BROKER_PW), "tls-insecure=1\n"))
        a = _adapter(kind, srv.port, cfg)
        a.connect()
        a.send(b'{"id": 1}', "estuary-events")
        a.close()


def test_amqp_tls_and_login_against_rabbitmq(certs, tmp_path):
    """One RabbitMQ node (slow to start) with a TLS listener and one account: every event arrives
    over TLS with the right login; a wrong password and an untrusted CA are clear errors."""
    import json
    import ssl
    import time

    import pika

    import servers
    from conftest import run_pipeline
    from estuary.errors import BrokerError
    from estuary.gst import Gst
    from test_messaging import MSGCONV, event_pipeline
    good, rogue = certs
    msgconv = tmp_path / "msgconv.txt"
    msgconv.write_text(MSGCONV)

    def cfg(pw, ca):
        f = tmp_path / f"amqp-{abs(hash((pw, ca)))}.txt"
        f.write_text(f"[message-broker]\nusername=estuary\npassword-file={_pw_file(tmp_path, pw)}\n"
                     f"enable-tls=1\ntls-cafile={ca}\nexchange=amq.topic\n")
        return f

    with servers.rabbitmq(user=("estuary", BROKER_PW), tls=good) as srv:
        ctx = ssl.create_default_context(cafile=good.ca)
        conn = pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", srv.port, credentials=pika.PlainCredentials("estuary", BROKER_PW),
            ssl_options=pika.SSLOptions(ctx, "127.0.0.1")))
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, "amq.topic", routing_key="estuary.events")
        p = event_pipeline(str(msgconv), f"proto-lib=amqp conn-str=127.0.0.1;{srv.port} "
                                         f"config={cfg(BROKER_PW, good.ca)} topic=estuary.events", payload_type=1)
        assert run_pipeline(p, timeout=60).type == Gst.MessageType.EOS
        got, end = [], time.time() + 10
        while len(got) < 40 and time.time() < end:
            method, _props, body = ch.basic_get(q, auto_ack=True)
            if method is None:
                time.sleep(0.05)
                continue
            got.append(json.loads(body)["id"])
        conn.close()
        assert sorted(got) == list(range(40))
        with pytest.raises(BrokerError, match=rf"^AMQP broker 127.0.0.1:{srv.port} \(user estuary\) refused "
                                              r"the login: .*ACCESS_REFUSED.*check username and password"):
            _adapter("amqp", srv.port, cfg("wrong-Pw-55-canary", good.ca)).connect()
        with pytest.raises(BrokerError, match="TLS certificate is not trusted") as ei:
            _adapter("amqp", srv.port, cfg(BROKER_PW, rogue.ca)).connect()
        assert BROKER_PW not in str(ei.value)


@pytest.mark.parametrize("kind", ["mqtt", "redis", "amqp"])
def test_with_tls_nothing_goes_out_in_clear_text(kind, certs, tmp_path):
    """A listener that records what it receives: the client's first bytes are a TLS handshake
    record and neither the login nor anything else readable follows."""
    import socket
    import threading

    from estuary.errors import BrokerError
    good, _ = certs
    cfg = tmp_path / "broker.txt"
    cfg.write_text(_cfg_text(kind, good.ca, _pw_file(tmp_path, BROKER_PW), "connect-timeout=2\n"))
    received = bytearray()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def record():
        conn, _ = srv.accept()
        conn.settimeout(3)
        try:
            while chunk := conn.recv(65536):
                received.extend(chunk)
        except OSError:
            pass
        conn.close()

    t = threading.Thread(target=record, daemon=True)
    t.start()
    with pytest.raises(BrokerError):
        _adapter(kind, port, cfg).connect()
    t.join(5)
    srv.close()
    assert received[:1] == b"\x16" and received[1:2] == b"\x03", bytes(received[:16])  # TLS handshake
    assert BROKER_PW.encode() not in received and b"estuary" not in received


# ---------------------------------------------------------------------------------------------
# RTSP output with a login
# ---------------------------------------------------------------------------------------------
def _rtsp_client(uri: str, seconds: float = 6.0, ca: str | None = None, protocols: str = "tcp"):
    """(frames decoded, error text or None) for an rtspsrc client of ``uri`` (trusting the CA
    file ``ca`` for rtsps://)."""
    import time

    from estuary.gst import Gst
    client = Gst.parse_launch(f"rtspsrc name=src location={uri} latency=100 protocols={protocols} ! "
                              "rtph264depay ! h264parse ! avdec_h264 ! fakesink name=out sync=false")
    if ca is not None:
        from gi.repository import Gio
        client.get_by_name("src").set_property("tls-database", Gio.TlsFileDatabase.new(ca))
    frames = []
    client.get_by_name("out").get_static_pad("sink").add_probe(
        Gst.PadProbeType.BUFFER, lambda pad, info: frames.append(1) or Gst.PadProbeReturn.OK)
    client.set_state(Gst.State.PLAYING)
    deadline, error = time.time() + seconds, None
    while time.time() < deadline and len(frames) < 10 and error is None:
        msg = client.get_bus().timed_pop_filtered(100 * Gst.MSECOND, Gst.MessageType.ERROR)
        if msg is not None:
            error = msg.parse_error()[0].message
    client.set_state(Gst.State.NULL)
    return len(frames), error


@pytest.mark.parametrize("method", ["digest", "basic"])
def test_rtsp_output_serves_only_clients_that_log_in(method):
    import threading
    import time

    import servers
    from estuary.gst import GLib, Gst
    from estuary.outputs import rtsp_sink_description, start_rtsp_server
    loop = GLib.MainLoop()
    rtsp_port, udp_port = servers.free_port(), servers.free_port()
    server = start_rtsp_server(rtsp_port=rtsp_port, udp_port=udp_port, path="/estuary",
                               user="viewer", password="view-Pw-3", auth_method=method)
    threading.Thread(target=loop.run, daemon=True).start()
    src = Gst.parse_launch(
        "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! m.sink_0 "
        "nvstreammux name=m batch-size=1 width=320 height=240 live-source=1 ! nvvideoconvert ! "
        f"video/x-raw,format=I420 ! {rtsp_sink_description(udp_port)}")
    src.set_state(Gst.State.PLAYING)
    time.sleep(0.5)
    try:
        url = f"127.0.0.1:{rtsp_port}/estuary"
        assert _rtsp_client(f"rtsp://{url}") == (0, "Unauthorized")
        assert _rtsp_client(f"rtsp://viewer:wrong-pw@{url}") == (0, "Unauthorized")
        frames, error = _rtsp_client(f"rtsp://viewer:view-Pw-3@{url}")
        assert error is None and frames >= 10
    finally:
        src.set_state(Gst.State.NULL)
        loop.quit()
        del server


def test_rtsp_output_over_tls(certs):
    """rtsps:// with a login: a client that trusts the CA and logs in gets frames; without the
    login, trusting another CA, speaking plain RTSP or asking for RTP over UDP (which would leave
    TLS) it gets nothing."""
    import threading

    import servers
    from estuary.gst import GLib
    from estuary.outputs import serve_rtsp_launch
    good, rogue = certs
    port = servers.free_port()
    server = serve_rtsp_launch(
        "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc "
        "tune=zerolatency speed-preset=ultrafast ! rtph264pay name=pay0 pt=96 config-interval=1 )",
        port, "/s", user="viewer", password="tls-Pw-6", tls_certfile=good.cert, tls_keyfile=good.key)
    loop = GLib.MainLoop()
    threading.Thread(target=loop.run, daemon=True).start()
    try:
        url = f"127.0.0.1:{port}/s"
        frames, error = _rtsp_client(f"rtsps://viewer:tls-Pw-6@{url}", ca=good.ca)
        assert error is None and frames >= 10
        assert _rtsp_client(f"rtsps://{url}", ca=good.ca) == (0, "Unauthorized")
        assert _rtsp_client(f"rtsps://viewer:tls-Pw-6@{url}", ca=rogue.ca)[0] == 0
        assert _rtsp_client(f"rtsp://viewer:tls-Pw-6@{url}")[0] == 0
        assert _rtsp_client(f"rtsps://viewer:tls-Pw-6@{url}", ca=good.ca, protocols="udp")[0] == 0
    finally:
        loop.quit()
        del server


def test_rtsp_out_sample_with_a_login(tmp_path):
    """``estuary run test1-rtsp-out ... --rtsp-user viewer --rtsp-password-file F``: the password
    is never on a command line; viewers without it are refused, with it they get frames."""
    import subprocess
    import sys

    import servers
    from estuary import data
    pw = _pw_file(tmp_path, "sample-Pw-8")
    rtsp, udp = servers.free_port(), servers.free_port()
    proc = subprocess.Popen([sys.executable, "-m", "estuary.cli", "run", "test1-rtsp-out", "-i",
                             data.media_path("bikes.h264"), "--rtsp-port", str(rtsp), "--udp-port", str(udp),
                             "--rtsp-user", "viewer", "--rtsp-password-file", str(pw)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        servers.wait_port(rtsp, 60)
        url = f"127.0.0.1:{rtsp}/ds-test"
        assert _rtsp_client(f"rtsp://{url}") == (0, "Unauthorized")
        frames, error = _rtsp_client(f"rtsp://viewer:sample-Pw-8@{url}", seconds=20)
        assert error is None and frames >= 10
    finally:
        proc.kill()
        out, err = proc.communicate(timeout=10)
    assert "sample-Pw-8" not in out + err


def test_rtsp_out_sample_needs_both_login_options():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "estuary.cli", "run", "test1-rtsp-out", "-i", "x.h264",
                        "--rtsp-user", "viewer"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--rtsp-user and --rtsp-password-file go together" in r.stderr


def test_rtsp_output_login_needs_user_and_password():
    from estuary.outputs import serve_rtsp_launch
    with pytest.raises(ConfigError, match="both a user and a password"):
        serve_rtsp_launch("( videotestsrc ! rtpvrawpay name=pay0 )", 0, "/x", user="viewer")
    with pytest.raises(ConfigError, match="auth method"):
        serve_rtsp_launch("( videotestsrc ! rtpvrawpay name=pay0 )", 0, "/x", user="v", password="p",
                          auth_method="ntlm")


def test_kafka_with_sasl_ssl_sends_only_a_tls_handshake_and_names_the_cause(tmp_path):
    """Kafka TLS/SASL is librdkafka's (configured through proto-cfg); Tansu 0.6 offers no usable
    TLS listener (its --cert and --key options exclude each other), so this checks the client side
    against a listener that records what it gets and hangs up: only a TLS handshake goes out (no
    login, no event), and the error names the broker and the TLS cause, never the password."""
    import socket
    import threading

    import servers
    from estuary.errors import BrokerError
    from estuary.messaging.adapters import KafkaAdapter
    good = servers.make_certs(str(tmp_path), "k")
    received = bytearray()
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.5)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def record():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            conn.settimeout(0.5)
            try:
                while chunk := conn.recv(65536):
                    received.extend(chunk)
            except OSError:
                pass
            conn.close()  # hang up: the client's handshake fails

    t = threading.Thread(target=record, daemon=True)
    t.start()
    a = KafkaAdapter(f"127.0.0.1;{port}", {
        "username": "estuary", "password": BROKER_PW,
        "proto-cfg": f"security.protocol=SASL_SSL;sasl.mechanisms=SCRAM-SHA-256;ssl.ca.location={good.ca};"
                     "message.timeout.ms=3000"}, "events")
    try:
        a.connect()
        with pytest.raises(BrokerError) as ei:
            a.send(b'{"id": "event-body"}', "events")
    finally:
        stop.set()
        t.join(3)
        srv.close()
    text = str(ei.value)
    assert text.startswith(f"Kafka 127.0.0.1:{port} (user estuary): delivery failed"), text
    assert "SSL" in text and BROKER_PW not in text, text
    assert received[:2] == b"\x16\x03", bytes(received[:16])
    assert BROKER_PW.encode() not in received and b"event-body" not in received and b"estuary" not in received


# ---------------------------------------------------------------------------------------------
# what Estuary trusts: a model file is data, never code
# ---------------------------------------------------------------------------------------------
class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("where", ["header", "body", "keys"])
def test_a_crafted_legacy_torch_checkpoint_runs_no_code(tmp_path, where):
    import pickle

    from estuary.errors import ModelError
    from estuary_build.torchfile import load_state_dict
    marker = str(tmp_path / "pwned")
    path = tmp_path / "model.pt"
    parts = [0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"w": 1}, ["0"]]  # legacy layout
    parts[{"header": 0, "body": 3, "keys": 4}[where]] = _RunsCode(marker)
    with open(path, "wb") as f:
        for part in parts:
            pickle.dump(part, f)
    with pytest.raises(ModelError, match="posix.mkdir|os.mkdir"):
        load_state_dict(str(path))
    assert not os.path.exists(marker)


# ---------------------------------------------------------------------------------------------
# the fleet: topics, worker logs and `estuary fleet` output
# ---------------------------------------------------------------------------------------------
def test_the_fleet_never_shows_a_camera_password(tmp_path):
    """Two password-protected cameras: one added with its password in the URI, one with
    ``${NAME}`` taken from the worker's environment. Both run; the environment's secret is in no
    topic, log or output; the literal one only in the cameras record it was written into (and
    ``fleet add`` warns about that)."""
    import signal
    import subprocess
    import sys
    import time

    import servers
    from estuary.fleet.topics import CAMERAS, EVENTS, STATUS, ensure_topics, read_topic
    from estuary.fleet.worker import fleet_status
    from estuary.testing import RtspTestServer
    lit, env_pw = "Lit-canary-4417", "Env-canary-9931"

    def estuary(*args, env=None):
        r = subprocess.run([sys.executable, "-m", "estuary", *args], capture_output=True, text=True,
                           timeout=60, env=env)
        return r.returncode, r.stdout + r.stderr

    with RtspTestServer(servers.free_port(), path="/a", user="admin", password=lit) as cam_a, \
            RtspTestServer(servers.free_port(), path="/b", user="admin", password=env_pw) as cam_b, \
            servers.kafka() as k:
        bootstrap = f"127.0.0.1:{k.port}"
        ensure_topics(bootstrap, partitions=2)
        outputs = []
        rc, out = estuary("fleet", "--bootstrap", bootstrap, "add", "cam-lit", cam_a.uri)
        assert rc == 0 and "stored in clear in the cameras topic" in out, out
        outputs.append(out)
        env_uri = cam_b.uri.replace(env_pw, "${ESTUARY_T_CAM_PW}")
        rc, out = estuary("fleet", "--bootstrap", bootstrap, "add", "cam-env", env_uri)
        assert rc == 0 and "stored in clear" not in out, out
        outputs.append(out)
        log_path = tmp_path / "worker.log"
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "estuary", "--log-level", "DEBUG", "fleet", "--bootstrap", bootstrap,
                 "worker", "--id", "w1", "--capacity", "4", "--session-timeout-ms", "3000"],
                stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, ESTUARY_T_CAM_PW=env_pw))
        try:
            deadline, cams = time.monotonic() + 90, {}
            while time.monotonic() < deadline:
                st = fleet_status(bootstrap, seconds=2)
                cams = st.get("w1", {}).get("cameras", {})
                if sorted(cams) == ["cam-env", "cam-lit"] and all(c["frames"] > 10 for c in cams.values()):
                    break
                time.sleep(0.5)
            assert sorted(cams) == ["cam-env", "cam-lit"] and all(c["frames"] > 10 for c in cams.values()), cams
            for args in (("status",), ("status", "--json"), ("list",)):
                rc, out = estuary("fleet", "--bootstrap", bootstrap, *args)
                assert rc == 0, out
                outputs.append(out)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(30)
        topics = {t: [(m.key() or b"") + b" " + (m.value() or b"") for m in read_topic(bootstrap, t)]
                  for t in (CAMERAS, STATUS, EVENTS)}
    shown = "\n".join(outputs)
    assert f"rtsp://admin:***@127.0.0.1:{cam_a.port}/a" in shown  # the cameras are named, masked
    assert "${ESTUARY_T_CAM_PW}" in shown
    everything = {"cli": shown, "worker log": log_path.read_text(errors="replace"),
                  **{t: b"\n".join(v).decode(errors="replace") for t, v in topics.items()}}
    assert topics[STATUS] and topics[EVENTS]
    assert not [w for w, text in everything.items() if env_pw in text]
    assert [w for w, text in everything.items() if lit in text] == [CAMERAS]


def test_unreadable_tls_files_are_a_config_error_at_start(tmp_path):
    from estuary.messaging.adapters import MqttAdapter
    a = MqttAdapter("127.0.0.1;8883", {"enable-tls": "1", "tls-cafile": str(tmp_path / "missing-ca.pem")}, "t")
    with pytest.raises(ConfigError, match=r"mqtt broker: cannot load the TLS files"):
        a.validate()


def test_estuary_run_failure_summary_masks_the_camera_password():
    """``estuary run`` names the inputs of a failed run: a camera URI appears masked."""
    import subprocess
    import sys

    import servers
    dead = servers.free_port()
    r = subprocess.run([sys.executable, "-m", "estuary.cli", "run", "test3",
                        f"rtsp://admin:{SECRET}@127.0.0.1:{dead}/cam"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert f"rtsp://admin:***@127.0.0.1:{dead}/cam" in r.stdout + r.stderr, r.stderr[-2000:]
    assert SECRET not in r.stdout + r.stderr, (r.stdout + r.stderr)[-2000:]


def test_estuary_launch_verbose_never_prints_the_camera_password():
    """The issue's reproduction, with ``-v`` (every property change printed): the failure names
    the source with its password masked, and exits non-zero."""
    import subprocess
    import sys

    import servers
    dead = servers.free_port()
    uri = f"rtsp://admin:{SECRET}@127.0.0.1:{dead}/cam"
    r = subprocess.run([sys.executable, "-m", "estuary.cli", "launch", "-v",
                        f"nvurisrcbin uri={uri} rtsp-reconnect-interval=1 rtsp-reconnect-attempts=1 ! m.sink_0 "
                        "nvstreammux name=m batch-size=1 width=320 height=240 live-source=1 ! fakesink"],
                       capture_output=True, text=True, timeout=120)
    text = r.stdout + r.stderr
    assert r.returncode == 1, text[-2000:]
    assert f"source 0 (rtsp://admin:***@127.0.0.1:{dead}/cam) gave up after 1 reconnection attempts" in text
    assert "async-handling = True" in text  # -v printed the property changes
    assert SECRET not in text, text[text.find(SECRET) - 200:][:400]
