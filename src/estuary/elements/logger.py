"""``esdslogger`` (alias ``nvdslogger``): a passthrough that reports frames per second per source.

DeepStream 7.x's test3 inserts ``nvdslogger`` after the detector when run with
``--disable-probe``, to measure FPS without a Python probe. This one counts the frames of each
source in the batches passing through and, every ``fps-measurement-interval-sec`` seconds,
prints ``**PERF : FPS_<source> (<fps>) ...`` (the rate over the interval) and posts the same
figures as an ``esdslogger-fps`` element message."""

from __future__ import annotations

import sys
import threading
import time

from estuary.gst import Gst, GstBase, batchmeta
from estuary.gst.element import ElementBase, Prop

__all__ = ["EsDsLogger", "fps_line"]


def fps_line(counts: dict[int, int], seconds: float) -> str:
    """The report for frame ``counts`` per source over ``seconds``."""
    return "**PERF : " + " ".join(f"FPS_{sid} ({n / max(seconds, 1e-9):.2f})" for sid, n in sorted(counts.items()))


class EsDsLogger(ElementBase, GstBase.BaseTransform):
    """Counts frames per source; prints and posts FPS at an interval."""

    __gtype_name__ = "EstuaryDsLogger"
    FACTORY = "esdslogger"
    ALIASES = ("nvdslogger",)
    METADATA = ("Estuary FPS logger", "Filter/Video", "Reports frames per second per source", "Estuary")
    PAD_TEMPLATES = (("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, "ANY", None),
                     ("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, "ANY", None))
    PROPS = (Prop("fps-measurement-interval-sec", int, 5, "Seconds between reports", 1, 3600),)

    def __init__(self):
        super().__init__()
        self.init_settings()
        self.set_passthrough(True)
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}
        self._since = None

    def do_start(self):
        self._counts, self._since = {}, time.monotonic()
        return True

    def do_transform_ip(self, buf):
        batch = batchmeta.get(buf)
        now = time.monotonic()
        with self._lock:
            if self._since is None:
                self._since = now
            for f in (batch.frames if batch is not None else ()):
                self._counts[f.source_id] = self._counts.get(f.source_id, 0) + 1
            elapsed = now - self._since
            report = None
            if elapsed >= self.settings.fps_measurement_interval_sec and self._counts:
                report = dict(self._counts)
                self._counts = {sid: 0 for sid in self._counts}
                self._since = now
        if report is not None:
            sys.stdout.write(fps_line(report, elapsed) + "\n")
            sys.stdout.flush()
            self.post_element_message("esdslogger-fps", **{f"fps-{sid}": n / elapsed for sid, n in report.items()})
        return Gst.FlowReturn.OK
