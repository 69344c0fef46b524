"""A fleet worker's ``--metrics-port``: Prometheus metrics on ``/metrics`` and a liveness answer
on ``/healthz`` (200 while the worker's Kafka loop turns, 503 once it has been stuck for
``stall_after`` seconds: a Kubernetes liveness probe then restarts the pod)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class WorkerCollector:
    """A ``prometheus_client`` collector of one worker's state, read at each scrape."""

    def __init__(self, worker):
        self.worker = worker

    def collect(self):
        worker = self.worker
        w = [worker.id]

        def gauge(name, help_, value):
            g = GaugeMetricFamily(name, help_, labels=["worker"])
            g.add_metric(w, value)
            return g

        def counter(name, help_, value):
            c = CounterMetricFamily(name, help_, labels=["worker"])
            c.add_metric(w, value)
            return c

        with worker._lock:
            frames = {cam: r.frames for cam, r in worker._running.items()}
        st = worker.stats
        per_camera = CounterMetricFamily("estuary_fleet_frames",
                                         "Frames processed, per camera (since it started here).",
                                         labels=["worker", "camera"])
        for cam, n in sorted(frames.items()):
            per_camera.add_metric([worker.id, cam], n)
        yield gauge("estuary_fleet_cameras", "Cameras this worker runs.", len(frames))
        yield gauge("estuary_fleet_cameras_waiting", "Cameras assigned but over capacity.", len(worker._pending))
        yield gauge("estuary_fleet_capacity", "Most cameras this worker runs.", worker.capacity)
        yield gauge("estuary_fleet_partitions", "Partitions of the cameras topic assigned here.",
                    len(worker._table.partitions()))
        yield per_camera
        yield counter("estuary_fleet_camera_starts", "Cameras started.", st["started"])
        yield counter("estuary_fleet_camera_stops", "Cameras stopped.", st["stopped"])
        yield counter("estuary_fleet_failovers",
                      "Cameras taken over from another worker (partitions received after the first "
                      "assignment).", st["taken_over"])
        yield counter("estuary_fleet_rebalances", "Assignments received from the group.", st["rebalances"])
        yield counter("estuary_fleet_source_failures", "Camera sources that failed.", st["failed"])
        yield gauge("estuary_fleet_loop_age_seconds", "Seconds since the worker's Kafka loop last turned.",
                    round(time.monotonic() - worker.last_loop, 3))


def render(worker) -> str:
    """The worker's metrics in the Prometheus text exposition format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(worker))
    return generate_latest(registry).decode()


class _Handler(BaseHTTPRequestHandler):
    worker = None
    stall_after = 30.0

    def do_GET(self):  # noqa: N802 - http.server API
        path = self.path.split("?")[0]
        if path in ("/metrics", "/"):
            code, body = 200, render(self.worker).encode()
        elif path == "/healthz":
            age = time.monotonic() - self.worker.last_loop
            code = 200 if age < self.stall_after else 503
            body = (f"ok: loop turned {age:.1f} s ago\n" if code == 200
                    else f"stalled: loop last turned {age:.1f} s ago\n").encode()
        else:
            self.send_error(404, "try /metrics or /healthz")
            return
        self.send_response(code)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_worker_metrics(worker, port: int, host: str = "127.0.0.1",
                         stall_after: float = 30.0) -> ThreadingHTTPServer:
    """Serve ``worker``'s metrics from a daemon thread; ``.shutdown()`` stops it. Port 0 picks one."""
    handler = type("FleetHandler", (_Handler,), {"worker": worker, "stall_after": stall_after})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="estuary-fleet-metrics", daemon=True).start()
    return server
