"""``estuary fleet worker``: run the cameras the Kafka consumer group assigns to this worker.

One live pipeline per worker: sources (``esurisrcbin``: files loop, network sources reconnect) →
nvstreammux → the profile's elements → fakesink (clock-paced). Sources are added and removed at run
time as partitions of the ``cameras`` topic are assigned and revoked (cooperative-sticky: a
rebalance only moves the partitions that change hands, the other cameras never stop).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time

from estuary.errors import ConfigError
from estuary.fleet.topics import CAMERAS, EVENTS, GROUP, STATUS, Camera, ensure_topics

log = logging.getLogger("estuary.fleet")

PROFILES = ("count", "detect")


class _Running:
    __slots__ = ("camera", "slot", "bin", "frames", "last_frames", "last_t", "fps")

    def __init__(self, camera, slot, source_bin):
        self.camera, self.slot, self.bin = camera, slot, source_bin
        self.frames = 0
        self.last_frames, self.last_t, self.fps = 0, time.monotonic(), 0.0


class Worker:
    """A fleet worker. ``run()`` blocks until ``stop()`` (or SIGINT/SIGTERM in the CLI)."""

    def __init__(self, bootstrap: str, worker_id: str | None = None, capacity: int = 8,
                 profile: str = "count", session_timeout_ms: int = 6000, status_every: float = 1.0,
                 event_every: int = 25, width: int = 640, height: int = 360):
        if profile not in PROFILES:
            raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
        if capacity < 1:
            raise ConfigError("capacity must be at least 1")
        self.bootstrap = bootstrap
        self.id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.capacity, self.profile = capacity, profile
        self.session_timeout_ms = session_timeout_ms
        self.status_every, self.event_every = status_every, event_every
        self.width, self.height = width, height
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._known: dict[int, dict[str, Camera]] = {}   # partition → cameras in it
        self._running: dict[str, _Running] = {}           # camera id → running source
        self._by_slot: dict[int, str] = {}
        self._pending: list[str] = []                      # assigned, but over capacity
        self._events_sent = 0

    # -- pipeline -------------------------------------------------------------------------------
    def _build(self):
        import pyds  # noqa: F401 - registers the elements
        from estuary import data
        from estuary.gst import Gst
        p = Gst.Pipeline.new(f"fleet-{self.id}")
        mux = Gst.ElementFactory.make("nvstreammux", "mux")
        for k, v in (("batch-size", self.capacity), ("width", self.width), ("height", self.height),
                     ("live-source", True), ("batched-push-timeout", 40000)):
            mux.set_property(k, v)
        chain = [mux]
        if self.profile == "detect":
            pgie = Gst.ElementFactory.make("nvinfer", "pgie")
            pgie.set_property("config-file-path", data.model_path("config_infer_primary_ds4.txt"))
            pgie.set_property("batch-size", self.capacity)
            tracker = Gst.ElementFactory.make("nvtracker", "tracker")
            chain += [pgie, tracker]
        sink = Gst.ElementFactory.make("fakesink", "sink")
        sink.set_property("sync", True)
        sink.set_property("qos", False)
        chain.append(sink)
        for e in chain:
            p.add(e)
        for a, b in zip(chain, chain[1:]):
            a.link(b)
        sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._on_batch)
        self.pipeline, self.mux = p, mux

    def _on_batch(self, pad, info):
        import pyds
        from estuary.gst import Gst
        bm = pyds.gst_buffer_get_nvds_batch_meta(hash(info.get_buffer()))
        for f in bm.frames:
            with self._lock:
                cam = self._by_slot.get(f.source_id)
                r = self._running.get(cam) if cam else None
                if r is None:
                    continue
                r.frames += 1
                n = r.frames
            if n % self.event_every == 1:
                ev = {"camera": cam, "worker": self.id, "frame": n, "objects": f.num_obj_meta,
                      "profile": r.camera.profile, "ts": time.time()}
                self.producer.produce(EVENTS, key=cam.encode(), value=json.dumps(ev).encode())
                self._events_sent += 1
        return Gst.PadProbeReturn.OK

    def _add(self, cam: Camera) -> bool:
        from estuary.elements.decoder import make_source_bin
        from estuary.gst import Gst
        free = [s for s in range(self.capacity) if s not in self._by_slot]
        if not free:
            if cam.id not in self._pending:
                self._pending.append(cam.id)
                log.warning("worker %s: at capacity (%d), camera %s waits", self.id, self.capacity, cam.id)
            return False
        slot = free[0]
        file_like = "://" not in cam.uri or cam.uri.startswith("file://")
        b = make_source_bin(slot, cam.uri, file_loop=file_like, reconnect_interval=0 if file_like else 5)
        b.set_name(f"source-bin-{slot:02d}-{cam.id}")
        self.pipeline.add(b)
        b.get_static_pad("src").link(self.mux.request_pad_simple(f"sink_{slot}"))
        with self._lock:
            self._running[cam.id] = _Running(cam, slot, b)
            self._by_slot[slot] = cam.id
        b.sync_state_with_parent()
        if self.pipeline.get_state(0)[1] != Gst.State.PLAYING:
            self.pipeline.set_state(Gst.State.PLAYING)
        log.info("worker %s: camera %s started (%s)", self.id, cam.id, cam.uri)
        return True

    def _remove(self, cam_id: str) -> None:
        from estuary.runner import drop_source
        if cam_id in self._pending:
            self._pending.remove(cam_id)
        with self._lock:
            r = self._running.pop(cam_id, None)
            if r is not None:
                self._by_slot.pop(r.slot, None)
        if r is not None:
            drop_source(self.pipeline, r.bin)
            log.info("worker %s: camera %s stopped", self.id, cam_id)
            self._fill()

    def _fill(self):
        """Start waiting cameras while there is room."""
        for cam_id in list(self._pending):
            cam = next((c[cam_id] for c in self._known.values() if cam_id in c), None)
            self._pending.remove(cam_id)
            if cam is not None and not self._add(cam):
                break

    # -- Kafka ----------------------------------------------------------------------------------
    def _on_assign(self, consumer, partitions):
        from confluent_kafka import OFFSET_BEGINNING
        for tp in partitions:
            self._known.setdefault(tp.partition, {})
            tp.offset = OFFSET_BEGINNING  # the compacted topic is the table: read it all
        consumer.incremental_assign(partitions)
        log.info("worker %s: assigned partitions %s", self.id, sorted(tp.partition for tp in partitions))

    def _on_revoke(self, consumer, partitions):
        for tp in partitions:
            for cam_id in list(self._known.pop(tp.partition, {})):
                self._remove(cam_id)
        consumer.incremental_unassign(partitions)
        log.info("worker %s: revoked partitions %s", self.id, sorted(tp.partition for tp in partitions))

    def _on_record(self, msg):
        cam_id = msg.key().decode() if msg.key() else None
        if cam_id is None:
            return
        cam = Camera.parse(msg.key(), msg.value())
        table = self._known.setdefault(msg.partition(), {})
        old = table.get(cam_id)
        if cam is None:
            table.pop(cam_id, None)
            self._remove(cam_id)
            return
        table[cam_id] = cam
        if old is not None and old != cam:
            self._remove(cam_id)
        if cam_id not in self._running and cam_id not in self._pending:
            self._add(cam)

    def _status(self):
        now = time.monotonic()
        cams = {}
        with self._lock:
            for cam_id, r in self._running.items():
                dt = now - r.last_t
                if dt >= 0.5:
                    r.fps, r.last_frames, r.last_t = (r.frames - r.last_frames) / dt, r.frames, now
                cams[cam_id] = {"uri": r.camera.uri, "frames": r.frames, "fps": round(r.fps, 1)}
        st = {"worker": self.id, "ts": time.time(), "capacity": self.capacity, "profile": self.profile,
              "cameras": cams, "pending": list(self._pending), "events": self._events_sent}
        self.producer.produce(STATUS, key=self.id.encode(), value=json.dumps(st).encode())

    def stop(self):
        self._stop.set()

    def run(self) -> int:
        from confluent_kafka import Consumer, Producer
        from estuary.gst import Gst
        ensure_topics(self.bootstrap)
        self._build()
        self.producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 20})
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": GROUP, "client.id": self.id,
            "partition.assignment.strategy": "cooperative-sticky",
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(100, self.session_timeout_ms // 10),
            "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        consumer.subscribe([CAMERAS], on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_revoke)
        bus = self.pipeline.get_bus()
        next_status = 0.0
        log.info("worker %s: joining group %s at %s (capacity %d, profile %s)", self.id, GROUP,
                 self.bootstrap, self.capacity, self.profile)
        try:
            while not self._stop.is_set():
                msg = consumer.poll(0.1)
                if msg is not None and not msg.error():
                    self._on_record(msg)
                    # commit once the record's source is running (or removed)
                    consumer.commit(message=msg, asynchronous=True)
                while True:
                    m = bus.pop()
                    if m is None:
                        break
                    if m.type == Gst.MessageType.ERROR:
                        self._source_failed(m)
                self.producer.poll(0)
                if time.monotonic() >= next_status:
                    self._status()
                    next_status = time.monotonic() + self.status_every
        finally:
            consumer.close()  # leaves the group: its partitions move at once
            self.pipeline.set_state(Gst.State.NULL)
            self.producer.flush(10)
        return 0

    def _source_failed(self, m):
        from estuary.runner import source_bin_of
        err, _ = m.parse_error()
        el = source_bin_of(m.src)
        cam_id = el.get_name().split("-", 3)[3] if el is not None else None
        log.error("worker %s: %s: %s", self.id, cam_id or m.src.get_name(), err.message)
        if cam_id and cam_id in self._running:
            self._remove(cam_id)  # reported in status as missing; `estuary fleet add` again to retry


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
