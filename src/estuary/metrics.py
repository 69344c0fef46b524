"""Pipeline metrics for Prometheus (``--metrics-port``, ``--metrics-host``), through
``prometheus_client``.

:class:`PipelineMetrics` watches a running pipeline from the outside — pad probes, bus messages
and the inference elements' timers, no element changes — and is a ``prometheus_client``
collector: each scrape reads the counters then. :func:`serve` exposes it on
``http://HOST:PORT/metrics`` (127.0.0.1 unless told otherwise). Names follow Prometheus'
conventions (counters end in ``_total``, units in the name):

* ``estuary_frames_total{source}``, ``estuary_source_fps{source}`` — frames the muxer batched;
* ``estuary_latency_seconds`` (summary: ``_sum``/``_count``), ``estuary_latency_last_seconds``
  — muxer output to sink input;
* ``estuary_inference_seconds{element}`` (summary) — time each nvinfer spent inferring batches;
* ``estuary_objects_total{element,class}`` — objects each nvinfer detected, per class label;
* ``estuary_dropped_frames_total`` — buffers dropped for lateness (QoS messages from sinks);
* ``estuary_source_errors_total`` / ``estuary_reconnects_total`` — from the bus;
* ``estuary_broker_queued{element}`` (gauge) and ``estuary_broker_{sent,retried,dropped,
  reconnects}_total{element}`` — from ``msgbroker-stats`` messages.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

from estuary.meta.arrays import FrameObjects
from estuary.redact import redact

__all__ = ["PipelineMetrics", "serve"]

_MUX_FACTORIES = ("esmux", "nvstreammux")
_INFER_FACTORIES = ("esinfer", "nvinfer", "esinferserver", "nvinferserver")
_BROKER_COUNTERS = ("sent", "retried", "dropped", "reconnects")


def _factory_name(el) -> str:
    f = el.get_factory()
    return f.get_name() if f is not None else ""


class PipelineMetrics:
    """Counters for one pipeline; thread-safe; a ``prometheus_client`` collector
    (:attr:`registry` holds it; :meth:`render` gives the text exposition)."""

    def __init__(self, pipeline, window: float = 5.0):
        from estuary.gst import Gst, all_elements, leaf_sinks
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
        self.objects: dict[tuple[str, str], int] = {}  # (element, class label) → count
        self._pushed: dict[int, float] = {}
        self._first: dict[int, float] = {}
        elements = all_elements(pipeline)
        muxes = [el for el in elements if _factory_name(el) in _MUX_FACTORIES]
        if not muxes:
            raise ValueError("metrics: the pipeline has no nvstreammux/esmux to count frames at")
        for mux in muxes:
            mux.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self._on_batch)
        for sink in leaf_sinks(pipeline):
            sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._on_sink)
        self.infers = [el for el in elements if _factory_name(el) in _INFER_FACTORIES]
        for el in self.infers:
            el.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, self._on_inferred, el)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

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

    def _on_inferred(self, pad, info, element):
        """Objects this inference element added (its gie-unique-id), per class label."""
        from estuary.gst import batchmeta
        batch = batchmeta.get(info.get_buffer())
        cfg = getattr(element, "cfg", None)
        if batch is None or cfg is None:
            return self._Gst.PadProbeReturn.OK
        uid, name = cfg.gie_unique_id, element.get_name()
        counts: dict[str, int] = {}
        for f in batch.frames:
            fo = FrameObjects.from_frame(f)  # arrays: counting makes no object structs
            for k in np.flatnonzero(fo.component_id == uid).tolist():
                label = fo.labels[k] or str(int(fo.class_id[k]))
                counts[label] = counts.get(label, 0) + 1
        if counts:
            with self._lock:
                for label, n in counts.items():
                    self.objects[(name, label)] = self.objects.get((name, label), 0) + n
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
                        k: int(st.get_value(k)) for k in ("queued", *_BROKER_COUNTERS) if st.has_field(k)}
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

    # --- prometheus_client collector ---
    def collect(self):
        """The metric families at this moment (called by ``prometheus_client`` on each scrape)."""
        fps = self.fps()
        with self._lock:
            frames = CounterMetricFamily("estuary_frames", "Frames batched by the muxer, per source.",
                                         labels=["source"])
            for s, n in sorted(self.frames.items()):
                frames.add_metric([str(s)], n)
            rate = GaugeMetricFamily("estuary_source_fps",
                                     f"Frames per second per source over the last {self.window:g} s.",
                                     labels=["source"])
            for s, v in sorted(fps.items()):
                rate.add_metric([str(s)], round(v, 3))
            latency = SummaryMetricFamily("estuary_latency_seconds", "Muxer output to sink input, seconds.",
                                          count_value=self.latency_count, sum_value=self.latency_sum)
            last = GaugeMetricFamily("estuary_latency_last_seconds", "Latency of the last buffer to reach a sink.",
                                     value=self.latency_last)
            objects = CounterMetricFamily("estuary_objects", "Objects detected, per inference element and class.",
                                          labels=["element", "class"])
            for (el, label), n in sorted(self.objects.items()):
                objects.add_metric([el, label], n)
            dropped = CounterMetricFamily("estuary_dropped_frames", "Buffers dropped for lateness (QoS).",
                                          value=self.dropped)
            errors = CounterMetricFamily("estuary_source_errors", "ERROR messages on the bus.",
                                         value=self.source_errors)
            reconnects = CounterMetricFamily("estuary_reconnects", "Source reconnections.", value=self.reconnects)
            queued = GaugeMetricFamily("estuary_broker_queued", "Messages waiting in a broker's queue.",
                                       labels=["element"])
            broker = {k: CounterMetricFamily(f"estuary_broker_{k}", f"Broker messages {k} (reconnections for "
                                             "reconnects)." if k == "reconnects" else f"Broker messages {k}.",
                                             labels=["element"]) for k in _BROKER_COUNTERS}
            for el, st in sorted(self.broker.items()):
                queued.add_metric([el], st.get("queued", 0))
                for k, fam in broker.items():
                    fam.add_metric([el], st.get(k, 0))
        inference = SummaryMetricFamily("estuary_inference_seconds",
                                        "Time each inference element spent inferring batches, seconds.",
                                        labels=["element"])
        for el in self.infers:
            n, seconds = getattr(el, "infer_time", (0, 0.0))
            inference.add_metric([el.get_name()], count_value=n, sum_value=seconds)
        families = (frames, rate, latency, last, inference, objects, dropped, errors, reconnects, queued,
                    *broker.values())
        for fam in families:  # label values name sources and elements: never let one carry a password
            fam.samples = [smp._replace(labels={k: redact(v) for k, v in smp.labels.items()})
                           for smp in fam.samples]
        yield from families

    def render(self) -> str:
        """The Prometheus text exposition."""
        return generate_latest(self.registry).decode()


class _Handler(BaseHTTPRequestHandler):
    metrics: PipelineMetrics

    def do_GET(self):  # noqa: N802 - http.server API
        if self.path.split("?")[0] not in ("/metrics", "/"):
            self.send_error(404, "try /metrics")
            return
        body = self.metrics.render().encode()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep stderr for the pipeline's own output
        pass


def serve(metrics: PipelineMetrics, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """Serve ``metrics`` on ``http://host:port/metrics`` from a daemon thread; ``.shutdown()`` stops it.
    Port 0 picks a free port (``server.server_address[1]``); host ``0.0.0.0`` listens on every
    interface (for a scraper on another machine)."""
    handler = type("MetricsHandler", (_Handler,), {"metrics": metrics})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="estuary-metrics", daemon=True).start()
    return server
