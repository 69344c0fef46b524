"""A fleet worker's ``--metrics-port``: Prometheus metrics on ``/metrics`` and a liveness answer
on ``/healthz`` (200 while the worker's Kafka loop turns, 503 once it has been stuck for
``stall_after`` seconds: a Kubernetes liveness probe then restarts the pod)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def render(worker) -> str:
    """The worker's metrics in the Prometheus text exposition format."""
    lines: list[str] = []

    def metric(name, kind, help_, samples):
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lab = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
            lines.append(f"{name}{lab} {value}")

    w = {"worker": worker.id}
    with worker._lock:
        frames = {cam: r.frames for cam, r in worker._running.items()}
    st = worker.stats
    metric("estuary_fleet_cameras", "gauge", "Cameras this worker runs.", [(w, len(frames))])
    metric("estuary_fleet_cameras_waiting", "gauge", "Cameras assigned but over capacity.",
           [(w, len(worker._pending))])
    metric("estuary_fleet_capacity", "gauge", "Most cameras this worker runs.", [(w, worker.capacity)])
    metric("estuary_fleet_partitions", "gauge", "Partitions of the cameras topic assigned here.",
           [(w, len(worker._table.partitions()))])
    metric("estuary_fleet_frames_total", "counter", "Frames processed, per camera (since it started here).",
           [({**w, "camera": cam}, n) for cam, n in sorted(frames.items())])
    metric("estuary_fleet_camera_starts_total", "counter", "Cameras started.", [(w, st["started"])])
    metric("estuary_fleet_camera_stops_total", "counter", "Cameras stopped.", [(w, st["stopped"])])
    metric("estuary_fleet_failovers_total", "counter",
           "Cameras taken over from another worker (partitions received after the first assignment).",
           [(w, st["taken_over"])])
    metric("estuary_fleet_rebalances_total", "counter", "Assignments received from the group.",
           [(w, st["rebalances"])])
    metric("estuary_fleet_source_failures_total", "counter", "Camera sources that failed.", [(w, st["failed"])])
    metric("estuary_fleet_loop_age_seconds", "gauge", "Seconds since the worker's Kafka loop last turned.",
           [(w, round(time.monotonic() - worker.last_loop, 3))])
    return "\n".join(lines) + "\n"


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
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
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
