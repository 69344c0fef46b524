"""Frames in flight per stream, engine-free: the bookkeeping behind ``nvstreammux``'s
``max-frames-in-flight`` (see ``docs/cpu.md``, "Bounded latency").

A frame is *in flight* from the moment the muxer admits it on its sink pad until the batch buffer
that carries it is freed (it has passed the whole pipeline: sinks, tees and all). A file source
is held back while its stream has ``limit`` frames in flight, so that a decoder that runs 50×
faster than the detector does not fill the queues between them with frames that then wait there
(latency grows with every frame waiting; throughput does not). A live source cannot be held back
(it keeps producing), so its frames over the bound are dropped instead, freshest-first kept.

:class:`StreamBudget` counts one stream's frames; :class:`FlightLimiter` owns one budget per
stream, the generation (a budget reset by a flush or a restart ignores releases of frames from
before it) and the batches' releases.
"""

from __future__ import annotations

import threading
import time

__all__ = ["StreamBudget", "FlightLimiter", "HOLD_POLL_S"]

#: how often a held-back thread looks at ``cancelled`` (a pad being deactivated cannot wake us)
HOLD_POLL_S = 0.05


class StreamBudget:
    """One stream's frames in flight: ``queued`` (admitted, not yet in a batch) plus ``batched``
    (in a batch that has not been freed). ``limit`` 0 means unbounded."""

    def __init__(self, limit: int = 0):
        self.limit = int(limit)
        self.queued = 0
        self.batched = 0
        self.dropped = 0
        self.overruns = 0  # frames let in over the bound after waiting HOLD_TIMEOUT_S
        self.peak = 0
        self.flushing = False
        self._cond = threading.Condition()

    @property
    def in_flight(self) -> int:
        return self.queued + self.batched

    def full(self) -> bool:
        return self.limit > 0 and self.in_flight >= self.limit

    def wait_room(self, timeout: float | None = None, cancelled=None) -> bool:
        """Block until the stream has room for one more frame. False when flushing, when
        ``cancelled()`` became true, or after ``timeout`` seconds (the frame goes on anyway:
        something downstream keeps more buffers than the bound allows, and a held pipeline
        would never free them)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self.full() and not self.flushing:
                if cancelled is not None and cancelled():
                    return False
                left = HOLD_POLL_S if deadline is None else min(HOLD_POLL_S, deadline - time.monotonic())
                if left <= 0:
                    return False
                self._cond.wait(left)
            return not self.flushing

    def admit(self) -> None:
        with self._cond:
            self.queued += 1
            self.peak = max(self.peak, self.in_flight)

    def drop(self) -> None:
        with self._cond:
            self.dropped += 1

    def batch(self, n: int = 1) -> None:
        """``n`` admitted frames went into a batch."""
        with self._cond:
            n = min(n, self.queued)
            self.queued -= n
            self.batched += n

    def release(self, n: int = 1) -> None:
        """``n`` batched frames' batch was freed."""
        with self._cond:
            self.batched = max(0, self.batched - n)
            self._cond.notify_all()

    def set_flushing(self, flushing: bool) -> None:
        """Flush start wakes every held thread; flush stop forgets the queued frames (the
        muxer's pad dropped them)."""
        with self._cond:
            self.flushing = flushing
            if not flushing:
                self.queued = 0
            self._cond.notify_all()

    def reset(self) -> None:
        with self._cond:
            self.queued = self.batched = self.dropped = self.overruns = self.peak = 0
            self.flushing = False
            self._cond.notify_all()


class FlightLimiter:
    """The budgets of all streams of one muxer, keyed by source index."""

    def __init__(self, limit: int = 0):
        self.limit = int(limit)
        self.generation = 0
        self._lock = threading.Lock()
        self._budgets: dict[int, StreamBudget] = {}

    def budget(self, index: int) -> StreamBudget:
        b = self._budgets.get(index)
        if b is None:
            with self._lock:
                b = self._budgets.setdefault(index, StreamBudget(self.limit))
        return b

    def set_limit(self, limit: int) -> None:
        self.limit = int(limit)
        for b in list(self._budgets.values()):
            with b._cond:
                b.limit = self.limit
                b._cond.notify_all()

    def batched(self, indices) -> tuple[int, tuple[int, ...]]:
        """Frames of ``indices`` (source indices, one per frame) went into a batch: returns the
        token to hand to :meth:`release` when the batch is freed."""
        indices = tuple(indices)
        for i in indices:
            self.budget(i).batch()
        return self.generation, indices

    def release(self, token) -> None:
        gen, indices = token
        if gen != self.generation:
            return  # a batch from before a restart: its budget was reset
        for i in indices:
            self.budget(i).release()

    def reset(self) -> None:
        """A restart: every budget empty, releases of older batches ignored."""
        with self._lock:
            self.generation += 1
            for b in self._budgets.values():
                b.reset()

    def peaks(self) -> dict[int, int]:
        return {i: b.peak for i, b in self._budgets.items()}
