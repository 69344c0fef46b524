"""Per-source FPS meter, printing DeepStream-style ``**PERF:`` lines."""

from __future__ import annotations

import threading
import time

__all__ = ["FpsMeter", "PipelineProgress"]


class FpsMeter:
    """Counts frames per source; :meth:`report` gives fps since the last report and overall."""

    def __init__(self, interval: float = 5.0, printer=print):
        self.interval = interval
        self.printer = printer
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}
        self._totals: dict[int, int] = {}
        self._t0 = self._last = time.monotonic()

    def tick(self, source_id: int, n: int = 1) -> None:
        with self._lock:
            self._counts[source_id] = self._counts.get(source_id, 0) + n
            self._totals[source_id] = self._totals.get(source_id, 0) + n
        now = time.monotonic()
        if self.printer is not None and now - self._last >= self.interval:
            self.printer(self.format(self.report()))

    def report(self) -> dict[int, tuple[float, float]]:
        """source → (fps over the last interval, average fps)."""
        now = time.monotonic()
        with self._lock:
            dt = max(now - self._last, 1e-9)
            total_dt = max(now - self._t0, 1e-9)
            out = {s: (self._counts.get(s, 0) / dt, self._totals[s] / total_dt) for s in self._totals}
            self._counts = {}
            self._last = now
        return out

    @property
    def totals(self) -> dict[int, int]:
        with self._lock:
            return dict(self._totals)

    @staticmethod
    def format(report) -> str:
        parts = ", ".join(f"'stream{s}': {cur:.2f} ({avg:.2f})" for s, (cur, avg) in sorted(report.items()))
        return f"**PERF:  {{{parts}}}"


class PipelineProgress:
    """Counts what reaches a pipeline's sinks (frames: the frames of a batch, else buffers) and
    prints a progress line every ``interval`` seconds from a thread: elapsed time, frames, fps
    over the last interval and overall (``estuary launch``)."""

    def __init__(self, pipeline, interval: float = 2.0, printer=None):
        import sys
        from estuary.gst import Gst, leaf_sinks
        self._Gst = Gst
        self.interval = interval
        self.printer = printer or (lambda line: print(line, file=sys.stderr, flush=True))
        self._lock = threading.Lock()
        self.frames = 0
        self._t0 = None
        self._stop = threading.Event()
        self._thread = None
        self.sinks = leaf_sinks(pipeline)
        for sink in self.sinks:
            sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, self._on_buffer)

    def _on_buffer(self, pad, info):
        from estuary.gst import batchmeta
        batch = batchmeta.get(info.get_buffer())
        with self._lock:
            self.frames += len(batch.frames) if batch is not None else 1
        return self._Gst.PadProbeReturn.OK

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="estuary-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        last_t, last_n = self._t0, 0
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            with self._lock:
                n = self.frames
            self.printer(f"progress: {now - self._t0:6.1f} s  {n} frames  "
                         f"{(n - last_n) / max(now - last_t, 1e-9):.1f} fps "
                         f"(average {n / max(now - self._t0, 1e-9):.1f})")
            last_t, last_n = now, n

    def stop(self) -> str:
        """Stop printing; returns the summary line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        dt = time.monotonic() - (self._t0 or time.monotonic())
        with self._lock:
            n = self.frames
        return f"done: {n} frames in {dt:.1f} s ({n / max(dt, 1e-9):.1f} fps)"
