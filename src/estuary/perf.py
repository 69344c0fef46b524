"""Per-source FPS meter, printing DeepStream-style ``**PERF:`` lines."""

from __future__ import annotations

import threading
import time

__all__ = ["FpsMeter"]


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
