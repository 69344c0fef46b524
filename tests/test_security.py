"""Security: one redaction function for everything shown (URIs, connection strings, configs, free
text), secrets from the environment and files, and end-to-end checks that a secret never leaks."""

from __future__ import annotations

import logging
import os

import pytest

from estuary.credentials import expand, expand_uri, read_secret_file, resolve_config
from estuary.errors import ConfigError
from estuary.redact import RedactingFilter, is_secret_key, redact, register_secret, uri_password

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
    assert redact(uri) == "rtsp://admin:***@${ESTUARY_T_HOST}/cam"
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
