"""Pipeline metrics served in the Prometheus text format (``--metrics-port``).

:class:`PipelineMetrics` watches a running pipeline from the outside — pad probes and bus
messages, no element changes — and :func:`serve` exposes it on ``http://127.0.0.1:PORT/metrics``:

* ``estuary_frames_total{source}`` and ``estuary_source_fps{source}`` (frames the muxer batched);
* ``estuary_latency_seconds`` — muxer output to sink input, last and mean (``_sum``/``_count``);
* ``estuary_dropped_frames_total`` — buffers dropped for lateness (QoS messages from sinks);
* ``estuary_source_errors_total`` / ``estuary_reconnects_total`` — from the bus;
* ``estuary_broker_{queued,sent,retried,dropped,reconnects}`` — from ``msgbroker-stats`` messages.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["PipelineMetrics", "serve"]

_MUX_FACTORIES = ("esmux", "nvstreammux")


def _factory_name(el) -> str:
    f = el.get_factory()
    return f.get_name() if f is not None else ""


class PipelineMetrics:
    """Counters for one pipeline; thread-safe; :meth:`render` gives the Prometheus exposition."""

    def __init__(self, pipeline, window: float = 5.0):
        from estuary.gst import Gst
        self._Gst = Gst
        self.window = window
        self._lock = threading.Lock()
        self.frames: dict[int, int] = {}
        self._recent: dict[int, list[float]] = {}
        self.latency_last = 0.0
        self.latency_sum = 0.0
        self.latency_count = 0
        self.dropped = 0
        self.source_errors = 0
        self.reconnects = 0
        self.broker: dict[str, dict[str, int]] = {}
        self._pushed: dict[int, float] = {}
        self._first: dict[int, float] = {}
        muxes = list(_iterate(pipeline, _MUX_FACTORIES))
        if not muxes:
            raise ValueError("metrics: the pipeline has no nvstreammux/esmux to count frames at")
        for mux in muxes:
            mux.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self._on_batch)
        for sink in _sinks(pipeline):
            sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._on_sink)

    # --- probes (streaming threads) ---
    def _on_batch(self, pad, info):
        from estuary.gst import batchmeta
        buf = info.get_buffer()
        batch = batchmeta.get(buf)
        now = time.monotonic()
        with self._lock:
            if batch is not None:
                for f in batch.frames:
                    self.frames[f.source_id] = self.frames.get(f.source_id, 0) + 1
                    self._recent.setdefault(f.source_id, []).append(now)
                    self._first.setdefault(f.source_id, now)
            if buf.pts != self._Gst.CLOCK_TIME_NONE:
                self._pushed[buf.pts] = now
                if len(self._pushed) > 4096:  # buffers that never reach a sink (dropped) age out
                    for k in list(self._pushed)[:2048]:
                        del self._pushed[k]
        return self._Gst.PadProbeReturn.OK

    def _on_sink(self, pad, info):
        buf = info.get_buffer()
        now = time.monotonic()
        with self._lock:
            t = self._pushed.pop(buf.pts, None)
            if t is not None:
                self.latency_last = now - t
                self.latency_sum += self.latency_last
                self.latency_count += 1
        return self._Gst.PadProbeReturn.OK

    # --- bus (main thread) ---
    def on_message(self, msg) -> None:
        """Feed every bus message here (``runner.run(..., on_message=metrics.on_message)``)."""
        Gst = self._Gst
        with self._lock:
            if msg.type == Gst.MessageType.QOS:
                self.dropped += 1
            elif msg.type == Gst.MessageType.ERROR:
                self.source_errors += 1
            elif msg.type == Gst.MessageType.ELEMENT:
                st = msg.get_structure()
                if st is None:
                    return
                if st.get_name() == "msgbroker-stats":
                    self.broker[msg.src.get_name()] = {
                        k: int(st.get_value(k)) for k in ("queued", "sent", "retried", "dropped", "reconnects")
                        if st.has_field(k)}
                elif st.get_name() in ("estuary-source-reconnect", "source-reconnect"):
                    self.reconnects += 1

    def fps(self) -> dict[int, float]:
        now = time.monotonic()
        out = {}
        with self._lock:
            for s, ts in self._recent.items():
                ts[:] = [t for t in ts if now - t <= self.window]
                # a source younger than the window is measured over its own age
                span = min(self.window, max(now - self._first[s], 1e-3))
                out[s] = len(ts) / span
        return out

    def render(self) -> str:
        fps = self.fps()
        lines = []

        def metric(name, kind, help_, samples):
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in samples:
                lab = "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
                lines.append(f"{name}{lab} {value}")

        with self._lock:
            metric("estuary_frames_total", "counter", "Frames batched by the muxer, per source.",
                   [({"source": s}, n) for s, n in sorted(self.frames.items())])
            metric("estuary_source_fps", "gauge", f"Frames per second per source over the last {self.window:g} s.",
                   [({"source": s}, round(v, 3)) for s, v in sorted(fps.items())])
            metric("estuary_latency_seconds", "summary", "Muxer output to sink input, seconds.", [])
            lines.append(f"estuary_latency_seconds_sum {self.latency_sum:.6f}")
            lines.append(f"estuary_latency_seconds_count {self.latency_count}")
            metric("estuary_latency_last_seconds", "gauge", "Latency of the last buffer to reach a sink.",
                   [({}, f"{self.latency_last:.6f}")])
            metric("estuary_dropped_frames_total", "counter", "Buffers dropped for lateness (QoS).",
                   [({}, self.dropped)])
            metric("estuary_source_errors_total", "counter", "ERROR messages on the bus.",
                   [({}, self.source_errors)])
            metric("estuary_reconnects_total", "counter", "Source reconnections.", [({}, self.reconnects)])
            for field in ("queued", "sent", "retried", "dropped", "reconnects"):
                kind = "gauge" if field == "queued" else "counter"
                metric(f"estuary_broker_{field}", kind, f"Message broker {field} ({kind}).",
                       [({"element": el}, st.get(field, 0)) for el, st in sorted(self.broker.items())])
        return "\n".join(lines) + "\n"


def _iterate(bin_, factories):
    for el in _all_elements(bin_):
        if _factory_name(el) in factories:
            yield el


def _all_elements(bin_):
    from estuary.gst import Gst
    out = []
    it = bin_.iterate_recurse()
    while True:
        res, el = it.next()
        if res == Gst.IteratorResult.OK:
            out.append(el)
        elif res == Gst.IteratorResult.RESYNC:
            it.resync()
            out.clear()
        else:
            return out


def _sinks(bin_):
    from estuary.gst import Gst
    for el in _all_elements(bin_):
        if el.get_static_pad("sink") is not None and not el.srcpads \
                and isinstance(el, Gst.Element) and not isinstance(el, Gst.Bin):
            yield el


class _Handler(BaseHTTPRequestHandler):
    metrics: PipelineMetrics

    def do_GET(self):  # noqa: N802 - http.server API
        if self.path.split("?")[0] not in ("/metrics", "/"):
            self.send_error(404, "try /metrics")
            return
        body = self.metrics.render().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep stderr for the pipeline's own output
        pass


def serve(metrics: PipelineMetrics, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve ``metrics`` on ``http://host:port/metrics`` from a daemon thread; ``.shutdown()`` stops it.
    Port 0 picks a free port (``server.server_address[1]``)."""
    handler = type("MetricsHandler", (_Handler,), {"metrics": metrics})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="estuary-metrics", daemon=True).start()
    return server
