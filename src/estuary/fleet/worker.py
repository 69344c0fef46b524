"""``estuary fleet worker``: run the cameras the Kafka consumer group assigns to this worker.

The worker joins the group on the ``cameras`` topic with the cooperative-sticky assignor (a
rebalance only moves the partitions that change hands: the other cameras never stop). A newly
assigned partition is read from its beginning to the high watermark it had when assigned before
any of its cameras starts (:mod:`estuary.fleet.table`): the latest record per camera wins,
tombstones included. What runs for each camera is a backend (:mod:`estuary.fleet.backends`): the
live GStreamer pipeline, or stand-ins in ``dry`` mode for simulating large fleets.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time

from estuary.errors import BrokerError, ConfigError
from estuary.fleet.table import CameraTable
from estuary.fleet.topics import CAMERAS, GROUP, STATUS, Camera, ensure_topics
from estuary.redact import redact

log = logging.getLogger("estuary.fleet")

PROFILES = ("count", "detect")
_INSTANCE_ID = re.compile(r"[A-Za-z0-9._-]{1,249}")
FETCH_WAIT_MS = 100


class _Running:
    __slots__ = ("camera", "slot", "handle", "frames", "last_frames", "last_t", "fps", "since")

    def __init__(self, camera, slot, handle):
        self.camera, self.slot, self.handle = camera, slot, handle
        self.frames = 0
        self.last_frames, self.last_t, self.fps = 0, time.monotonic(), 0.0
        self.since = time.time()


class Worker:
    """A fleet worker. ``run()`` blocks until ``stop()`` (or SIGINT/SIGTERM in the CLI).

    ``session_timeout_ms``/``heartbeat_ms``: how long the group waits for a silent worker before
    moving its cameras, and how often a worker says it is alive (default a tenth of the former).
    ``instance_id`` sets ``group.instance.id`` (static membership, KIP-345: a worker restarted
    within the session timeout takes its partitions back without a rebalance, on brokers that
    implement it; see docs/fleet.md for Tansu). ``dry``: stand-ins instead of pipelines.
    ``record_dir``: also record each camera to an MP4 there, closed through EOS. ``journal``: append
    one JSON line per camera start/stop (time, worker, camera) to that file, for measuring
    hand-overs. ``metrics_port``: Prometheus metrics and ``/healthz`` on that port."""

    def __init__(self, bootstrap: str, worker_id: str | None = None, capacity: int = 8,
                 profile: str = "count", session_timeout_ms: int = 6000, status_every: float = 1.0,
                 event_every: int = 25, width: int = 640, height: int = 360, *,
                 heartbeat_ms: int | None = None, instance_id: str | None = None, dry: bool = False,
                 record_dir: str | None = None, journal: str | None = None,
                 metrics_port: int | None = None, metrics_host: str = "127.0.0.1"):
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
        if capacity < 1:
            raise ConfigError("capacity must be at least 1")
        if session_timeout_ms < 1000:
            raise ConfigError("session timeout must be at least 1000 ms")
        heartbeat_ms = heartbeat_ms or max(100, session_timeout_ms // 10)
        if not 0 < heartbeat_ms < session_timeout_ms:
            raise ConfigError(f"heartbeat interval ({heartbeat_ms} ms) must be below the session "
                              f"timeout ({session_timeout_ms} ms)")
        if instance_id is not None and not _INSTANCE_ID.fullmatch(instance_id):
            raise ConfigError(f"instance id {instance_id!r}: use 1 to 249 letters, digits, '.', '_' or '-' "
                              "(Kafka's rule for group.instance.id), e.g. the pod name")
        if dry and record_dir:
            raise ConfigError("a dry worker decodes nothing, so it cannot record")
        self.bootstrap = bootstrap
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.capacity, self.profile = capacity, profile
        self.session_timeout_ms, self.heartbeat_ms = session_timeout_ms, heartbeat_ms
        self.instance_id = instance_id
        self.status_every, self.event_every = status_every, event_every
        self.width, self.height = width, height
        self.dry, self.metrics_port, self.metrics_host = dry, metrics_port, metrics_host
        self._journal_path, self._journal_file = journal, None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._table = CameraTable()
        self._running: dict[str, _Running] = {}           # camera id → running source
        self._by_slot: dict[int, str] = {}
        self._pending: list[str] = []                      # assigned, but over capacity
        self._events_sent = 0
        self._assignments = 0                              # rebalances that gave this worker partitions
        self._late: set[int] = set()                       # partitions received after the first assignment
        self.stats = {"started": 0, "stopped": 0, "taken_over": 0, "rebalances": 0, "failed": 0}
        self.last_loop = time.monotonic()
        if dry:
            from estuary.fleet.backends import DryBackend
            self.backend = DryBackend(self)
        else:
            from estuary.fleet.backends import PipelineBackend
            self.backend = PipelineBackend(self, record_dir=record_dir)

    # -- cameras --------------------------------------------------------------------------------
    def _journal(self, ev: str, cam_id: str | None = None, **extra) -> None:
        """A journal line: camera ``start``/``stop``, or the group's ``assign``/``revoke`` with the
        partitions (for measuring where a hand-over's time goes)."""
        if self._journal_file is not None:
            rec = {"t": time.time(), "w": self.id, "ev": ev}
            if cam_id is not None:
                rec["cam"] = cam_id
            rec.update(extra)
            self._journal_file.write(json.dumps(rec) + "\n")
            self._journal_file.flush()

    def _add(self, cam: Camera) -> bool:
        free = [s for s in range(self.capacity) if s not in self._by_slot]
        if not free:
            if cam.id not in self._pending:
                self._pending.append(cam.id)
                log.warning("worker %s: at capacity (%d), camera %s waits", self.id, self.capacity, cam.id)
            return False
        slot = free[0]
        with self._lock:
            self._by_slot[slot] = cam.id  # before the source runs: its first batch finds it
            self._running[cam.id] = r = _Running(cam, slot, None)
        r.handle = self.backend.start(slot, cam)
        self.stats["started"] += 1
        self._journal("start", cam.id)
        log.info("worker %s: camera %s started (%s)", self.id, cam.id, redact(cam.uri))
        return True

    def _remove(self, cam_id: str) -> None:
        if cam_id in self._pending:
            self._pending.remove(cam_id)
        with self._lock:
            r = self._running.pop(cam_id, None)
            if r is not None:
                self._by_slot.pop(r.slot, None)
        if r is not None:
            self.backend.stop(r.handle)
            self.stats["stopped"] += 1
            self._journal("stop", cam_id)
            log.info("worker %s: camera %s stopped", self.id, cam_id)
            self._fill()

    def _fill(self):
        """Start waiting cameras while there is room."""
        for cam_id in list(self._pending):
            cam = self._table.camera(cam_id)
            self._pending.remove(cam_id)
            if cam is not None and not self._add(cam):
                break

    def _apply(self, actions, partition: int | None = None) -> None:
        for a in actions:
            if a.kind == "stop":
                self._remove(a.camera_id)
            elif a.kind == "update":
                with self._lock:
                    if a.camera_id in self._running:
                        self._running[a.camera_id].camera = a.camera
            elif a.camera_id not in self._running and a.camera_id not in self._pending:
                if self._add(a.camera) and partition in self._late:
                    self.stats["taken_over"] += 1

    # -- Kafka ----------------------------------------------------------------------------------
    def _on_assign(self, consumer, partitions):
        from confluent_kafka import OFFSET_BEGINNING
        t0 = time.time()
        if partitions:
            self.stats["rebalances"] += 1
        for tp in partitions:
            # read to the end it has now before starting any of its cameras (exact hand-over)
            lo, hi = consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            self._table.assigned(tp.partition, lo, hi)
            if self._assignments:
                self._late.add(tp.partition)
            tp.offset = OFFSET_BEGINNING  # the compacted topic is the table: read it all
        if partitions:
            self._assignments += 1
        consumer.incremental_assign(partitions)
        if partitions:
            self._journal("assign", parts=sorted(tp.partition for tp in partitions), t0=t0)
        log.info("worker %s: assigned partitions %s", self.id, sorted(tp.partition for tp in partitions))

    def _on_revoke(self, consumer, partitions):
        for tp in partitions:
            self._apply(self._table.revoked(tp.partition))
            self._late.discard(tp.partition)
        consumer.incremental_unassign(partitions)
        if partitions:
            self._journal("revoke", parts=sorted(tp.partition for tp in partitions))
        log.info("worker %s: revoked partitions %s", self.id, sorted(tp.partition for tp in partitions))

    def _on_message(self, msg) -> None:
        from confluent_kafka import KafkaError
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                self._apply(self._table.end_of_partition(msg.partition()), msg.partition())
            else:
                log.warning("worker %s: %s", self.id, err)
            return
        if not msg.key():
            return
        cam_id = msg.key().decode()
        try:
            cam = Camera.parse(msg.key(), msg.value())
        except ConfigError as exc:
            log.error("worker %s: %s (ignored)", self.id, exc)
            return
        self._apply(self._table.record(msg.partition(), msg.offset(), cam_id, cam), msg.partition())

    def status(self) -> dict:
        """This worker's heartbeat, as sent on the status topic."""
        now = time.monotonic()
        cams = {}
        with self._lock:
            for cam_id, r in self._running.items():
                dt = now - r.last_t
                if dt >= 0.5:
                    r.fps, r.last_frames, r.last_t = (r.frames - r.last_frames) / dt, r.frames, now
                cams[cam_id] = {"uri": redact(r.camera.uri), "frames": r.frames, "fps": round(r.fps, 1),
                                "cost": round(r.camera.load, 4)}
        return {"worker": self.id, "ts": time.time(), "capacity": self.capacity, "profile": self.profile,
                "dry": self.dry, "cameras": cams, "cost": round(sum(c["cost"] for c in cams.values()), 4),
                "pending": list(self._pending), "events": self._events_sent,
                "partitions": self._table.partitions(), "taken_over": self.stats["taken_over"],
                "rebalances": self.stats["rebalances"]}

    def _status(self):
        st = self.status()
        self.producer.produce(STATUS, key=self.id.encode(), value=json.dumps(st).encode())

    def stop(self):
        self._stop.set()

    def consumer_config(self) -> dict:
        conf = {
            "bootstrap.servers": self.bootstrap, "group.id": GROUP, "client.id": self.id,
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": self.heartbeat_ms,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": True,  # marks a partition loaded when compaction ate its last offset
            # a newly assigned partition is fetched only once the consumer's pending long-poll fetch
            # returns: with the default 500 ms every hand-over waited 0.5-1 s before reading the
            # moved partitions (measured in bench/fleet_sim.py). The cameras topic is nearly idle,
            # so polling it 10 times a second costs the broker little.
            "fetch.wait.max.ms": FETCH_WAIT_MS}
        if self.instance_id:
            conf["group.instance.id"] = self.instance_id
        return conf

    def run(self) -> int:
        from confluent_kafka import Consumer, Producer
        ensure_topics(self.bootstrap)
        self._journal_file = open(self._journal_path, "a") if self._journal_path else None
        self.backend.setup()
        server = None
        if self.metrics_port is not None:
            from estuary.fleet.ops import serve_worker_metrics
            server = serve_worker_metrics(self, self.metrics_port, self.metrics_host)
        self.producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 20})
        try:
            consumer = Consumer(self.consumer_config())
        except Exception as exc:  # noqa: BLE001 - librdkafka's KafkaException on a bad setting
            raise BrokerError(f"cannot create the Kafka consumer: {exc}") from None
        consumer.subscribe([CAMERAS], on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_revoke)
        next_status = 0.0
        log.info("worker %s: joining group %s at %s (capacity %d, profile %s%s)", self.id, GROUP,
                 self.bootstrap, self.capacity, self.profile, ", dry" if self.dry else "")
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.1)
                if msg is not None:
                    self._on_message(msg)
                for cam_id in self.backend.tick(self._running):
                    self.stats["failed"] += 1
                    self._remove(cam_id)
                self.producer.poll(0)
                self.last_loop = time.monotonic()
                if self.last_loop >= next_status:
                    self._status()
                    next_status = time.monotonic() + self.status_every
        finally:
            # recordings get EOS (playable files) while the sources still run; then leave the
            # group: a dynamic member's partitions move at once (a static one's after the timeout)
            self.backend.shutdown()
            for cam_id in list(self._running):
                self._journal("stop", cam_id)
            self._running.clear()
            consumer.close()
            self.producer.flush(10)
            if server is not None:
                server.shutdown()
            if self._journal_file is not None:
                self._journal_file.close()
        return 0


def fleet_status(bootstrap: str, seconds: float = 5.0, timeout: float = 10.0) -> dict:
    """The latest status of each worker heard from in the last ``seconds``:
    {worker: status dict}."""
    from estuary.fleet.topics import read_topic
    latest: dict[str, dict] = {}
    for m in read_topic(bootstrap, STATUS, last=500, timeout=timeout):
        st = json.loads(m.value())
        if time.time() - st["ts"] <= seconds:
            latest[st["worker"]] = st
    return latest


def _cost(s: dict) -> float:
    """A worker's total camera cost from its heartbeat (older workers sent none: 1 per camera)."""
    return round(sum(c.get("cost", 1.0) for c in s["cameras"].values()), 3)


def render_status(st: dict, known: dict | None = None, per_camera: bool = True) -> str:
    """``estuary fleet status`` as text: per worker its load (cameras/capacity, fps, waiting),
    optionally each camera, then the balance over workers and the cameras running nowhere."""
    lines, where = [], {}
    for wid, s in sorted(st.items()):
        cams = s["cameras"]
        fps = sum(c["fps"] for c in cams.values())
        load = 100.0 * len(cams) / s["capacity"] if s["capacity"] else 0.0
        lines.append(f"worker {wid}: {len(cams)}/{s['capacity']} cameras ({load:.0f} %), cost {_cost(s):g}, "
                     f"{fps:.1f} fps, {len(s.get('partitions', []))} partitions, profile {s['profile']}"
                     + (", dry" if s.get("dry") else "")
                     + (f", waiting: {', '.join(s['pending'])}" if s["pending"] else ""))
        for cam, c in sorted(cams.items()):
            where.setdefault(cam, []).append(wid)
            if per_camera:
                lines.append(f"  {cam:<16} {c['fps']:>6.1f} fps {c['frames']:>8} frames  cost {c.get('cost', 1):<6g} "
                             f"{c['uri']}")
    if st:
        counts = [len(s["cameras"]) for s in st.values()]
        costs = [_cost(s) for s in st.values()]
        largest = max((c.get("cost", 1.0) for s in st.values() for c in s["cameras"].values()), default=0.0)
        lines.append(f"{len(st)} workers, {sum(counts)} cameras running; per worker min {min(counts)}, "
                     f"max {max(counts)}; cost per worker min {min(costs):g}, max {max(costs):g} "
                     f"(spread {max(costs) - min(costs):g}, bound {largest:g}: the largest camera)")
    doubles = sorted(c for c, ws in where.items() if len(ws) > 1)
    if doubles:
        lines.append(f"running on more than one worker: {', '.join(doubles)}")
    if known is not None:
        missing = sorted(set(known) - set(where))
        if missing:
            lines.append(f"not running anywhere: {', '.join(missing)}")
    return "\n".join(lines) + "\n"
