"""OpenCV's own thread pool in a pipeline process (``docs/cpu.md``, "OpenCV's threads").

Estuary's elements call OpenCV once per frame from many streaming threads at once (one per
source, the muxer's, the inference workers): the pipeline is already parallel. OpenCV's pool
would split each of those calls again over every core, and its threads spin (``sched_yield``)
between calls: on this project's 2-core machine that was 18 % of the CPU of decode → convert →
mux, 0.3 ms a frame, taken from the cores inference needs. So Estuary runs OpenCV on one
thread per call, from ``import estuary`` (or ``import pyds``) on.

``ESTUARY_OPENCV_THREADS``: ``1`` (default), another number of threads, or ``auto`` to leave
OpenCV's own setting (every core) alone. The setting is process-wide: an application's own
OpenCV calls get it too (set ``auto``, or call ``cv2.setNumThreads`` after importing Estuary).
"""

from __future__ import annotations

import logging
import os

__all__ = ["ENV", "DEFAULT", "threads_from_env", "apply"]

ENV = "ESTUARY_OPENCV_THREADS"
DEFAULT = 1
_log = logging.getLogger("estuary")


def threads_from_env(value: str | None) -> int | None:
    """The thread count ``ENV``'s value asks for: None leaves OpenCV alone (``auto``). An
    unusable value falls back to the default, with a warning (this runs on import: it must
    not fail)."""
    if value is None or not value.strip():
        return DEFAULT
    value = value.strip().lower()
    if value == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 1:
        _log.warning("%s=%r: not a thread count (1, 2, ...) or 'auto'; using %d", ENV, value, DEFAULT)
        return DEFAULT
    return n


def apply() -> int | None:
    """Set OpenCV's thread count from ``ENV``; returns what was set (None: left alone)."""
    n = threads_from_env(os.environ.get(ENV))
    if n is not None:
        import cv2
        cv2.setNumThreads(n)
    return n
